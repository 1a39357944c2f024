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
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/conformance"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

// client returns a client of addr that is closed when t ends.
func client(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{addr}})
	t.Cleanup(func() { c.Close() })
	return c
}

func open(t testing.TB, st *redisstore.Store, opts queue.Options, o redisq.Options) *redisq.Queue {
	t.Helper()
	q, err := redisq.New(st, opts, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// openOn opens a queue on a new store on c under prefix ("" is the
// default).
func openOn(t testing.TB, c redis.UniversalClient, prefix string, opts queue.Options, o redisq.Options) *redisq.Queue {
	t.Helper()
	return open(t, newStore(t, c, prefix), opts, o)
}

func TestConformance(t *testing.T) {
	srv := testenv.Redis(t)
	var (
		n      atomic.Int64
		mu     sync.Mutex
		stores = map[queue.Queue]store.Store{}
	)
	conformance.RunTests(t, conformance.Backend{
		New: func(t *testing.T, opts queue.Options) queue.Queue {
			// A prefix per test: the tests share one server.
			st := newStore(t, client(t, srv.Addr()), fmt.Sprintf("conf%d", n.Add(1)))
			q := open(t, st, opts, redisq.Options{Registerer: prometheus.NewRegistry()})
			mu.Lock()
			stores[q] = st
			mu.Unlock()
			return q
		},
		Store: func(t *testing.T, q queue.Queue) store.Store {
			mu.Lock()
			defer mu.Unlock()
			return stores[q]
		},
		Reopen: func(t *testing.T, q queue.Queue, opts queue.Options) queue.Queue {
			// A restarted process: a new client and queue on the same data.
			if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			st := newStore(t, client(t, srv.Addr()), fmt.Sprintf("conf%d", n.Load()))
			q = open(t, st, opts, redisq.Options{})
			mu.Lock()
			stores[q] = st
			mu.Unlock()
			return q
		},
	})
}

// TestAckMany checks that AckMany acks each job it holds, as Ack would,
// and reports the others as lost without failing the rest.
func TestAckMany(t *testing.T) {
	srv := testenv.Redis(t)
	clock := conformance.NewClock(conformance.T0)
	reg := prometheus.NewRegistry()
	q := openOn(t, client(t, srv.Addr()), "", queue.Options{Now: clock.Now}, redisq.Options{Registerer: reg})
	ctx := t.Context()
	scheduleN(t, q, 1500, conformance.T0)
	var jobs []queue.Job
	for len(jobs) < 1500 {
		got, err := q.Claim(ctx, redisq.MaxClaim, time.Minute)
		if err != nil || len(got) == 0 {
			t.Fatalf("Claim = %d jobs, %v", len(got), err)
		}
		jobs = append(jobs, got...)
	}
	if err := q.Schedule(ctx, "k0001", conformance.T0.Add(time.Hour)); err != nil { // pending
		t.Fatal(err)
	}
	forged := jobs[2]
	forged.Lease += "x"
	// The first 1000 go in one call, the rest in a second one: a forged
	// lease and a job given twice are lost in the first, the rest acked.
	batch := append([]queue.Job{jobs[0], jobs[1], forged, jobs[0]}, jobs[3:]...)
	err := q.AckMany(ctx, batch)
	if !errors.Is(err, queue.ErrLeaseLost) || strings.Count(err.Error(), "lease lost") != 2 {
		t.Errorf("AckMany = %v, want two lost leases", err)
	}
	if e, err := q.Get(ctx, "k0001"); err != nil || e.State != queue.Scheduled || !e.Due.Equal(conformance.T0.Add(time.Hour)) {
		t.Errorf("k0001 = %+v, %v; want scheduled at its pending due", e, err)
	}
	if e, err := q.Get(ctx, "k0002"); err != nil || e.State != queue.InFlight {
		t.Errorf("k0002 = %+v, %v; want still in flight", e, err)
	}
	want := queue.Counts{Scheduled: 1, InFlight: 1, OldestDue: conformance.T0.Add(time.Hour)}
	if c, err := q.Counts(ctx); err != nil || c != want {
		t.Errorf("Counts = %+v, %v; want %+v", c, err, want)
	}
	if err := q.AckMany(ctx, nil); err != nil {
		t.Errorf("AckMany(nil) = %v", err)
	}
	if n := counterValue(t, reg, "tenure_queue_acks_total"); n != 1499 {
		t.Errorf("acks_total = %v, want 1499", n)
	}
}

// TestLeaseExpiryMetrics checks the counters of leases that run out, and
// of the dead letters they make past the retry horizon.
func TestLeaseExpiryMetrics(t *testing.T) {
	srv := testenv.Redis(t)
	clock := conformance.NewClock(conformance.T0)
	reg := prometheus.NewRegistry()
	q := openOn(t, client(t, srv.Addr()), "", queue.Options{Now: clock.Now, RetryHorizon: time.Hour}, redisq.Options{Registerer: reg})
	ctx := t.Context()
	for _, k := range []string{"a", "b"} {
		if err := q.Schedule(ctx, k, conformance.T0); err != nil {
			t.Fatal(err)
		}
	}
	// One Claim(1) every 40m, each lease 40m long: a is claimed at 0, 40m
	// and 80m, its leases running out at 40m (its first failure), 80m and
	// 120m, when it has been failing for 80m and dies; b is claimed at
	// 120m and again at 160m, when its lease has run out.
	for range 5 {
		if _, err := q.Claim(ctx, 1, 40*time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(40 * time.Minute)
	}
	for name, want := range map[string]float64{
		"tenure_queue_lease_expiries_total": 4,
		"tenure_queue_dead_letters_total":   1,
		"tenure_queue_claims_total":         5,
	} {
		if n := counterValue(t, reg, name); n != want {
			t.Errorf("%s = %v, want %v", name, n, want)
		}
	}
	if e, err := q.Get(ctx, "a"); err != nil || e.State != queue.Dead || e.LastError != queue.LeaseExpiredError || e.Attempts != 3 {
		t.Errorf("a = %+v, %v; want dead of expired leases after 3 attempts", e, err)
	}
}

// scheduleN schedules n keys k0000, k0001, … due at due.
func scheduleN(t *testing.T, q *redisq.Queue, n int, due time.Time) {
	t.Helper()
	items := make([]redisq.Due, n)
	for i := range items {
		items[i] = redisq.Due{Key: fmt.Sprintf("k%04d", i), Due: due}
	}
	if err := q.ScheduleMany(t.Context(), items); err != nil {
		t.Fatal(err)
	}
}

// counterValue reads the counter name from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// TestScriptsRunOnce checks that a script the client gave up waiting for
// is not sent again: go-redis resends a command after a read timeout, on
// another pooled connection, and a resent Claim would lease a second
// batch. Another client keeps the server busy with a script for a second,
// longer than the impatient client's read timeout and all its retries;
// the server then runs every Claim that reached it, and one did.
func TestScriptsRunOnce(t *testing.T) {
	srv := testenv.Redis(t)
	ctx := t.Context()
	admin := client(t, srv.Addr())
	q := openOn(t, admin, "", queue.Options{}, redisq.Options{})
	scheduleN(t, q, 5, time.Now())
	impatient := redis.NewClient(&redis.Options{MaintNotificationsConfig: testenv.RedisNoMaint(), Addr: srv.Addr(), ReadTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { impatient.Close() })
	q2 := openOn(t, impatient, "", queue.Options{}, redisq.Options{})
	var warm sync.WaitGroup // idle connections for resends to go out on
	for range 4 {
		warm.Go(func() {
			if _, err := q2.Claim(ctx, 0, time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	warm.Wait()
	busy := make(chan error, 1)
	go func() {
		busy <- admin.Eval(ctx, `
local t = redis.call('TIME')
local stop = t[1] * 1000000 + t[2] + tonumber(ARGV[1])
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] > stop
return 1`, nil, 1_000_000).Err()
	}()
	time.Sleep(200 * time.Millisecond)
	if jobs, err := q2.Claim(ctx, 1, time.Minute); err == nil {
		t.Fatalf("Claim while the server was busy = %+v, want a timeout", jobs)
	}
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	if c, err := q.Counts(ctx); err != nil || c.InFlight != 1 {
		t.Errorf("Counts = %+v, %v; want the one Claim that was sent to have run, once", c, err)
	}

	// A server without the script (after a restart, a failover) still runs
	// it: EVALSHA falls back to EVAL.
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 10, time.Minute)
	if err != nil || len(jobs) != 4 {
		t.Fatalf("Claim after SCRIPT FLUSH = %+v, %v", jobs, err)
	}
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := q.AckMany(ctx, jobs); err != nil {
		t.Errorf("AckMany after SCRIPT FLUSH: %v", err)
	}
}

// TestAckGroupCommit checks that concurrent Acks share script calls, and
// that each still gets its own outcome.
func TestAckGroupCommit(t *testing.T) {
	srv := testenv.Redis(t)
	ctx := t.Context()
	c := client(t, srv.Addr())
	q := openOn(t, c, "", queue.Options{}, redisq.Options{})
	scheduleN(t, q, 200, time.Now())
	jobs, err := q.Claim(ctx, 200, time.Minute)
	if err != nil || len(jobs) != 200 {
		t.Fatalf("Claim = %d jobs, %v", len(jobs), err)
	}
	jobs[7].Lease += "x" // forged: lost, the others acked
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, j := range jobs {
		wg.Go(func() {
			<-start
			errs[i] = q.Ack(ctx, j)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if lost := errors.Is(err, queue.ErrLeaseLost); (i == 7) != lost || (i != 7 && err != nil) {
			t.Errorf("Ack(%s) = %v", jobs[i].Key, err)
		}
	}
	if n, err := q.Counts(ctx); err != nil || n.InFlight != 1 || n.Scheduled != 0 {
		t.Errorf("Counts = %+v, %v; want only the forged job's key in flight", n, err)
	}
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := -1
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			fmt.Sscanf(rest, "%d", &calls)
		}
	}
	t.Logf("200 concurrent Acks took %d script calls", calls)
	if calls < 1 || calls > 50 {
		t.Errorf("200 concurrent Acks took %d script calls, want them to share calls", calls)
	}
}
