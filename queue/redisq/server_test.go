package redisq_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/conformance"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

func newStore(t testing.TB, c redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func user(id, name string) *store.Resource {
	return &store.Resource{Kind: store.KindUser, ID: id, Source: "hr", Name: name}
}

// TestScheduleTx checks that a store write and the jobs it schedules
// commit in one MULTI/EXEC: together, or not at all.
func TestScheduleTx(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv.Addr())
	ctx := t.Context()
	s := newStore(t, c, "")
	q := open(t, s, queue.Options{}, redisq.Options{})
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(user("u1", "alice")); err != nil {
			return err
		}
		return errors.Join(q.ScheduleTx(tx, "ldap/u1", due), q.ScheduleTx(tx, "scim/u1", due.Add(time.Hour)))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	for key, want := range map[string]time.Time{"ldap/u1": due, "scim/u1": due.Add(time.Hour)} {
		if e, err := q.Get(ctx, key); err != nil || e.State != queue.Scheduled || !e.Due.Equal(want) {
			t.Errorf("Get(%s) = %+v, %v; want scheduled at %v", key, e, err, want)
		}
	}

	// An update function that fails takes its schedules with it.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := q.ScheduleTx(tx, "ldap/u2", due); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Errorf("Update = %v, want boom", err)
	}
	if _, err := q.Get(ctx, "ldap/u2"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get of a job scheduled in an aborted Update: %v, want ErrNotFound", err)
	}

	// A conflict runs the function again; the schedule lands once, with
	// the due time of the run that committed.
	runs := 0
	err = s.Update(ctx, func(tx store.Tx) error {
		runs++
		if _, err := tx.Get(store.KindUser, "u1"); err != nil {
			return err
		}
		if runs == 1 {
			// Another client changes u1 between this run's read and its EXEC.
			if _, err := store.Modify(ctx, newStore(t, client(t, srv.Addr()), ""), store.KindUser, "u1",
				func(r *store.Resource) error { r.Name = "alicia"; return nil }); err != nil {
				return err
			}
		}
		return q.ScheduleTx(tx, "ldap/u3", due.Add(time.Duration(runs)*time.Minute))
	})
	if err != nil || runs != 2 {
		t.Fatalf("Update = %v after %d runs, want success after 2", err, runs)
	}
	if e, _ := q.Get(ctx, "ldap/u3"); !e.Due.Equal(due.Add(2 * time.Minute)) {
		t.Errorf("ldap/u3 due %v, want the second run's %v", e.Due, due.Add(2*time.Minute))
	}

	// After a restart the server has no scripts cached: the EVAL inside
	// MULTI and the EVALSHA fallback of the other calls still work.
	srv.Restart(t)
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(user("u4", "dave")); err != nil {
			return err
		}
		return q.ScheduleTx(tx, "ldap/u4", due)
	})
	if err != nil {
		t.Fatalf("Update after restart: %v", err)
	}
	if e, err := q.Get(ctx, "ldap/u4"); err != nil || e.State != queue.Scheduled {
		t.Errorf("ldap/u4 after restart: %+v, %v", e, err)
	}
	if err := q.ScheduleMany(ctx, []redisq.Due{{Key: "bulk/1", Due: due}, {Key: "bulk/2", Due: due}}); err != nil {
		t.Errorf("ScheduleMany after restart: %v", err)
	}
	srv.Restart(t)
	if err := q.ScheduleMany(ctx, []redisq.Due{{Key: "bulk/3", Due: due}}); err != nil {
		t.Errorf("ScheduleMany after another restart: %v", err)
	}
	if n, err := q.Counts(ctx); err != nil || n.Scheduled != 7 {
		t.Errorf("Counts = %+v, %v; want 7 scheduled", n, err)
	}

	// A queue under another hash tag than the store's is refused.
	other := openOn(t, c, "other", queue.Options{}, redisq.Options{})
	err = s.Update(ctx, func(tx store.Tx) error { return other.ScheduleTx(tx, "k", due) })
	if err == nil || !strings.Contains(err.Error(), "another store") {
		t.Errorf("ScheduleTx in another store's transaction = %v, want an error", err)
	}
}

// TestServerClock runs the queue without Options.Now: times come from the
// server's TIME.
func TestServerClock(t *testing.T) {
	srv := testenv.Redis(t)
	q := openOn(t, client(t, srv.Addr()), "", queue.Options{}, redisq.Options{})
	ctx := t.Context()
	before := time.Now()
	if err := q.Schedule(ctx, "now", before.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := q.Schedule(ctx, "later", before.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Key != "now" {
		t.Fatalf("Claim = %+v, want only the key due now", jobs)
	}
	claimed := jobs[0].LeaseEnd.Add(-time.Minute)
	if claimed.Before(before.Add(-time.Second)) || claimed.After(time.Now().Add(time.Second)) {
		t.Errorf("claimed at %v by the server's clock, want about %v", claimed, before)
	}
	j, err := q.Extend(ctx, jobs[0], time.Hour)
	if err != nil || !j.LeaseEnd.After(jobs[0].LeaseEnd) {
		t.Errorf("Extend = %+v, %v", j, err)
	}
	if err := q.Retry(ctx, j, 0, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	if e, err := q.Get(ctx, "now"); err != nil || e.Attempts != 1 || e.FirstFail.IsZero() {
		t.Errorf("after Retry: %+v, %v", e, err)
	}
}

// TestKillRestart kills Redis with SIGKILL while producers schedule and
// workers claim and ack, and restarts it from its AOF (appendfsync always):
// every key whose Schedule succeeded must be claimed afterwards, and no key
// whose Ack succeeded may come back.
func TestKillRestart(t *testing.T) {
	srv := testenv.Redis(t, testenv.AppendfsyncAlways())
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(),
		Addrs: []string{srv.Addr()}, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	t.Cleanup(func() { c.Close() })
	q := openOn(t, c, "", queue.Options{}, redisq.Options{})
	ctx := t.Context()
	const lease = 2 * time.Second

	var (
		mu        sync.Mutex
		scheduled = map[string]bool{} // Schedule returned nil
		claimed   = map[string]int{}  // times Claim handed it out
		acked     = map[string]bool{} // Ack returned nil
		back      []string            // claimed again after a successful Ack
		errs      atomic.Int64
	)
	stopProducing := make(chan struct{})
	var producers sync.WaitGroup
	for p := range 2 {
		producers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopProducing:
					return
				default:
				}
				key := fmt.Sprintf("p%d/k%06d", p, i)
				if err := q.Schedule(ctx, key, time.Now()); err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				scheduled[key] = true
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				jobs, err := q.Claim(ctx, 50, lease)
				if err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if len(jobs) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				for _, j := range jobs {
					mu.Lock()
					claimed[j.Key]++
					if acked[j.Key] {
						back = append(back, j.Key)
					}
					mu.Unlock()
					if err := q.Ack(ctx, j); err != nil {
						errs.Add(1)
						continue
					}
					mu.Lock()
					acked[j.Key] = true
					mu.Unlock()
				}
			}
		})
	}

	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(scheduled)
	}
	// Enough work on each side of the crash, however loaded the machine:
	// wait for it rather than for a fixed time.
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); count() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d keys scheduled in 30s, want %d", count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(100)
	srv.Kill()
	atKill := count()
	// Longer than go-redis's own retries last, so that calls fail.
	time.Sleep(1500 * time.Millisecond)
	srv.Restart(t)
	atRestart := count()
	waitFor(atRestart + 100)
	close(stopProducing)
	producers.Wait()

	// Drain: keys whose Claim reply was lost in the crash come back when
	// their lease ends.
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		mu.Lock()
		missing = missing[:0]
		for k := range scheduled {
			if claimed[k] == 0 {
				missing = append(missing, k)
			}
		}
		mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(lease + 500*time.Millisecond) // let every lease lost in the crash run out and be acked
	close(done)
	workers.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d keys scheduled (%d before the kill, %d more after the restart), %d claimed, %d acked; %d calls failed around the crash",
		len(scheduled), atKill, len(scheduled)-atRestart, len(claimed), len(acked), errs.Load())
	if atKill < 100 || len(scheduled)-atRestart < 100 {
		t.Errorf("%d keys scheduled before the kill, %d after the restart: the test did too little", atKill, len(scheduled)-atRestart)
	}
	if len(missing) > 0 {
		t.Errorf("%d scheduled keys never claimed after the restart, e.g. %s", len(missing), missing[0])
	}
	if len(back) > 0 {
		t.Errorf("%d keys claimed again after a successful Ack, e.g. %s", len(back), back[0])
	}
	n, err := q.Counts(ctx)
	if err != nil || n.Dead != 0 {
		t.Errorf("Counts = %+v, %v; want no dead letters", n, err)
	}
}

// TestSentinelFailover writes through a Sentinel-backed client, fails the
// master over to the replica and checks that the data is there and that
// the same client goes on writing.
func TestSentinelFailover(t *testing.T) {
	env := testenv.Sentinel(t)
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(),
		Addrs: env.SentinelAddrs(), MasterName: testenv.SentinelMasterName,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	s := newStore(t, c, "")
	q := open(t, s, queue.Options{}, redisq.Options{})

	createWithJob := func(id string) error {
		return s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Create(user(id, "name-"+id)); err != nil {
				return err
			}
			return q.ScheduleTx(tx, "ldap/"+id, time.Now())
		})
	}
	if err := createWithJob("u1"); err != nil {
		t.Fatal(err)
	}
	// Replication is asynchronous: wait until the replica has the write,
	// as a failover of a healthy master would.
	if n, err := c.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}

	start := time.Now()
	newMaster := env.Failover(t)
	t.Logf("failed over to %s in %v", newMaster, time.Since(start))
	start = time.Now()

	// The client finds the new master; calls may fail until it has.
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for {
		if err = createWithJob("u2"); err == nil || errors.Is(err, store.ErrConflict) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful write within 30s of the failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first write after the failover succeeded after %v", time.Since(start))
	for _, id := range []string{"u1", "u2"} {
		if _, err := store.Get(ctx, s, store.KindUser, id); err != nil {
			t.Errorf("Get %s after failover: %v", id, err)
		}
	}
	jobs, err := q.Claim(ctx, 10, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("Claim after failover = %+v, %v; want both jobs", jobs, err)
	}
	for _, j := range jobs {
		if err := q.Ack(ctx, j); err != nil {
			t.Errorf("Ack %s: %v", j.Key, err)
		}
	}
	// The writes went to the promoted server.
	direct := client(t, newMaster)
	if n, err := direct.Exists(ctx, "{tenure}:res:User:u2").Result(); err != nil || n != 1 {
		t.Errorf("u2 on the new master %s: %d, %v", newMaster, n, err)
	}
}

// TestClaimTxMetrics: jobs claimed in the store's EXEC are counted once
// handed out; the conformance suite checks the rest of ClaimTx.
func TestClaimTxMetrics(t *testing.T) {
	c := client(t, testenv.Redis(t).Addr())
	s := newStore(t, c, "")
	reg := prometheus.NewRegistry()
	q := open(t, s, queue.Options{Now: conformance.NewClock(conformance.T0).Now}, redisq.Options{Registerer: reg})
	if err := q.Schedule(t.Context(), "ldap/u1", conformance.T0); err != nil {
		t.Fatal(err)
	}
	var claimed func() []queue.Job
	err := s.Update(t.Context(), func(tx store.Tx) error {
		var err error
		claimed, err = q.ClaimTx(tx, 1, time.Minute)
		return err
	})
	if err != nil || len(claimed()) != 1 {
		t.Fatalf("ClaimTx: %v", err)
	}
	want := `
# HELP tenure_queue_claims_total Jobs handed to workers by Claim.
# TYPE tenure_queue_claims_total counter
tenure_queue_claims_total{backend="redis"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_queue_claims_total"); err != nil {
		t.Error(err)
	}
}
