package redisq_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
)

// Environment of the helper process TestHelperClaimer.
const (
	envAddr = "REDISQ_HELPER_ADDR"  // the server
	envOut  = "REDISQ_HELPER_OUT"   // file to write holds to
	envRun  = "REDISQ_HELPER_UNTIL" // Unix nanoseconds to stop at
)

// TestProcessesNeverShareKey runs two OS processes that claim, reschedule
// and ack the same keys on one Redis as fast as they can. Each records
// when it held which key; no two holds of a key may overlap.
//
// A hold is recorded from after Claim returned to before Ack is sent, so
// the recorded interval lies inside the real one: an overlap of recorded
// intervals is an overlap of real holds. Both processes read the same
// system clock.
func TestProcessesNeverShareKey(t *testing.T) {
	srv := testenv.Redis(t)
	q := openOn(t, client(t, srv.Addr()), "", queue.Options{}, redisq.Options{})
	const keys = 40
	var items []redisq.Due
	for i := range keys {
		items = append(items, redisq.Due{Key: fmt.Sprintf("ldap/u%02d", i), Due: time.Now()})
	}
	if err := q.ScheduleMany(t.Context(), items); err != nil {
		t.Fatal(err)
	}

	until := time.Now().Add(3 * time.Second)
	dir := t.TempDir()
	var procs []*exec.Cmd
	for p := range 2 {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperClaimer$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			envAddr+"="+srv.Addr(),
			envOut+"="+filepath.Join(dir, fmt.Sprintf("holds-%d", p)),
			envRun+"="+strconv.FormatInt(until.UnixNano(), 10),
		)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	for p, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", p, err)
		}
	}

	type hold struct {
		proc       int
		start, end int64
	}
	byKey := map[string][]hold{}
	lostLeases := 0
	for p := range procs {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("holds-%d", p)))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var h hold
			var key string
			var lost int
			if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d", &key, &h.start, &h.end, &lost); err != nil {
				t.Fatalf("process %d: line %q: %v", p, sc.Text(), err)
			}
			lostLeases += lost
			h.proc = p
			byKey[key] = append(byKey[key], h)
			n++
		}
		f.Close()
		t.Logf("process %d held keys %d times", p, n)
		if n < 200 {
			t.Errorf("process %d held keys only %d times: too little contention to show anything", p, n)
		}
	}
	overlaps, shared := 0, 0
	for key, hs := range byKey {
		slices.SortFunc(hs, func(a, b hold) int { return int(a.start - b.start) })
		procs := map[int]bool{}
		var last hold // the hold that ends last among those before h
		for i, h := range hs {
			procs[h.proc] = true
			if i > 0 && h.start < last.end {
				overlaps++
				if overlaps <= 5 {
					t.Errorf("%s held by process %d from %d to %d and by process %d from %d",
						key, last.proc, last.start, last.end, h.proc, h.start)
				}
			}
			if h.end > last.end {
				last = h
			}
		}
		if len(procs) == 2 {
			shared++
		}
	}
	if overlaps > 0 {
		t.Errorf("%d overlapping holds", overlaps)
	}
	if lostLeases > 0 {
		t.Errorf("%d Acks failed with ErrLeaseLost under one-minute leases", lostLeases)
	}
	if shared < keys/2 {
		t.Errorf("only %d of %d keys were held by both processes", shared, keys)
	}
}

// TestHelperClaimer is the helper process of TestProcessesNeverShareKey;
// run on its own, it does nothing.
func TestHelperClaimer(t *testing.T) {
	addr := os.Getenv(envAddr)
	if addr == "" {
		t.Skip("helper process of TestProcessesNeverShareKey")
	}
	ns, err := strconv.ParseInt(os.Getenv(envRun), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Unix(0, ns)
	out, err := os.Create(os.Getenv(envOut))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	q := openOn(t, client(t, addr), "", queue.Options{}, redisq.Options{})
	ctx := t.Context()
	var b strings.Builder
	for time.Now().Before(until) {
		jobs, err := q.Claim(ctx, 4, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			start := time.Now().UnixNano()
			// Run again right after this run, as a SCIM write landing
			// mid-run would make it.
			if err := q.Schedule(ctx, j.Key, time.Now()); err != nil {
				t.Fatal(err)
			}
			end := time.Now().UnixNano()
			// A lost lease is recorded, not fatal: the parent reports it,
			// and the overlap it implies.
			lost := 0
			if err := q.Ack(ctx, j); errors.Is(err, queue.ErrLeaseLost) {
				lost = 1
			} else if err != nil {
				t.Fatal(err)
			}
			b.Reset()
			fmt.Fprintf(&b, "%s %d %d %d\n", j.Key, start, end, lost)
			w.WriteString(b.String())
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Environment of the helper process TestHelperHolder.
const envHold = "REDISQ_HELPER_HOLD" // the key to claim and hold

// reclaimLease is the lease of TestKilledWorkerReclaim: the engine's
// default (engine.DefaultLease).
const reclaimLease = 15 * time.Second

// TestKilledWorkerReclaim measures how long a key stays stuck when the
// worker process holding it dies: a helper process claims the key with the
// engine's default lease and reports it; this process kills it with
// SIGKILL at once (the worst case: a whole lease is left) and polls Claim
// every 100ms, as an idle worker would, until it gets the key back. The
// time from the kill to the re-claim must stay within twice the lease,
// and the re-claim counts the lost run as a failed attempt. Redis keeps
// the time (Options.Now is nil), so nothing here mocks the clock.
func TestKilledWorkerReclaim(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	q := openOn(t, client(t, srv.Addr()), "", queue.Options{}, redisq.Options{})
	ctx := t.Context()
	const key = "ldap/poison"
	if err := q.Schedule(ctx, key, time.Now()); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAddr+"="+srv.Addr(), envHold+"="+key)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The helper prints "claimed <lease end in Unix ms>" once it holds the key.
	var leaseEnd int64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "claimed %d", &leaseEnd); err == nil {
			break
		}
	}
	if leaseEnd == 0 {
		cmd.Process.Kill()
		t.Fatalf("helper exited without claiming: %v", errors.Join(sc.Err(), cmd.Wait()))
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed := time.Now()
	cmd.Wait()
	t.Logf("killed the holder %v before its lease end", time.UnixMilli(leaseEnd).Sub(killed).Round(time.Millisecond))

	deadline := killed.Add(2*reclaimLease + 5*time.Second)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		jobs, err := q.Claim(ctx, 1, reclaimLease)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			took := time.Since(killed)
			t.Logf("re-claimed %s %v after the SIGKILL (lease %v, polling every 100ms)", jobs[0].Key, took.Round(time.Millisecond), reclaimLease)
			if took > 2*reclaimLease {
				t.Errorf("re-claim took %v, more than twice the lease", took)
			}
			if jobs[0].Key != key || jobs[0].Attempts != 1 {
				t.Errorf("re-claimed %+v, want %s after 1 failed attempt", jobs[0], key)
			}
			e, err := q.Get(ctx, key)
			if err != nil || e.LastError != queue.LeaseExpiredError {
				t.Errorf("Get = %+v, %v; want LastError %q", e, err, queue.LeaseExpiredError)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not re-claimed %v after the SIGKILL", time.Since(killed).Round(time.Millisecond))
		}
		<-poll.C
	}
}

// TestHelperHolder is the helper process of TestKilledWorkerReclaim: it
// claims the key, reports it and hangs until killed. Run on its own, it
// does nothing.
func TestHelperHolder(t *testing.T) {
	addr, key := os.Getenv(envAddr), os.Getenv(envHold)
	if addr == "" || key == "" {
		t.Skip("helper process of TestKilledWorkerReclaim")
	}
	q := openOn(t, client(t, addr), "", queue.Options{}, redisq.Options{})
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		jobs, err := q.Claim(t.Context(), 1, reclaimLease)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 && jobs[0].Key == key {
			fmt.Printf("claimed %d\n", jobs[0].LeaseEnd.UnixMilli())
			time.Sleep(time.Minute) // a worker stuck in its job, until the SIGKILL
			t.Fatal("not killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("never claimed " + key)
}
