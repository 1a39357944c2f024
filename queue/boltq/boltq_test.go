package boltq_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/queue/conformance"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

func openStore(t testing.TB, path string) *boltdb.Store {
	t.Helper()
	st, err := boltdb.Open(path, boltdb.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newQueue(t testing.TB, st *boltdb.Store, opts queue.Options, reg prometheus.Registerer) *boltq.Queue {
	t.Helper()
	q, err := boltq.New(st, opts, nil, reg)
	if err != nil {
		t.Fatalf("boltq.New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	stores := make(map[queue.Queue]*boltdb.Store)
	open := func(t *testing.T, path string, opts queue.Options) queue.Queue {
		st := openStore(t, path)
		q := newQueue(t, st, opts, prometheus.NewRegistry())
		mu.Lock()
		stores[q] = st
		mu.Unlock()
		return q
	}
	conformance.RunTests(t, conformance.Backend{
		New: func(t *testing.T, opts queue.Options) queue.Queue {
			return open(t, filepath.Join(t.TempDir(), "tenure.db"), opts)
		},
		Reopen: func(t *testing.T, q queue.Queue, opts queue.Options) queue.Queue {
			mu.Lock()
			st := stores[q]
			mu.Unlock()
			path := st.DB().Path()
			if err := errors.Join(q.Close(), st.Close()); err != nil {
				t.Fatalf("close: %v", err)
			}
			return open(t, path, opts)
		},
		Store: func(t *testing.T, q queue.Queue) store.Store {
			mu.Lock()
			defer mu.Unlock()
			return stores[q]
		},
	})
}

func createUser(tx store.Tx, id string) error {
	return tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "okta", Name: id})
}

// TestScheduleTx checks that jobs scheduled in a store transaction commit
// with it, and vanish with it when it aborts.
func TestScheduleTx(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	clock := conformance.NewClock(conformance.T0)
	q := newQueue(t, st, queue.Options{Now: clock.Now}, nil)
	ctx := t.Context()

	err := st.Update(ctx, func(tx store.Tx) error {
		if err := createUser(tx, "u1"); err != nil {
			return err
		}
		// Twice in one transaction: the earlier due wins, as with Schedule.
		return errors.Join(
			q.ScheduleTx(tx, "ldap/u1", conformance.T0.Add(time.Hour)),
			q.ScheduleTx(tx, "ldap/u1", conformance.T0),
			q.ScheduleTx(tx, "scim/u1", conformance.T0.Add(time.Minute)),
		)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if e, err := q.Get(ctx, "ldap/u1"); err != nil || e.State != queue.Scheduled || !e.Due.Equal(conformance.T0) {
		t.Errorf("Get(ldap/u1) = %+v, %v; want scheduled at T0", e, err)
	}
	if c, _ := q.Counts(ctx); c.Scheduled != 2 {
		t.Errorf("Counts = %+v, want 2 scheduled", c)
	}

	boom := errors.New("boom")
	err = st.Update(ctx, func(tx store.Tx) error {
		if err := createUser(tx, "u2"); err != nil {
			return err
		}
		if err := q.ScheduleTx(tx, "ldap/u2", conformance.T0); err != nil {
			return err
		}
		if err := q.ScheduleTx(tx, "ldap/u1", conformance.T0.Add(-time.Hour)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("aborted Update = %v, want boom", err)
	}
	if _, err := q.Get(ctx, "ldap/u2"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get(ldap/u2) after an aborted Update: %v, want ErrNotFound", err)
	}
	if e, _ := q.Get(ctx, "ldap/u1"); !e.Due.Equal(conformance.T0) {
		t.Errorf("ldap/u1 due %v after an aborted Update, want T0 still", e.Due)
	}
	if _, err := store.Get(ctx, st, store.KindUser, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user u2 after an aborted Update: %v", err)
	}
	if c, _ := q.Counts(ctx); c.Scheduled != 2 || c.InFlight != 0 {
		t.Errorf("Counts after an aborted Update = %+v, want 2 scheduled", c)
	}

	// In flight: ScheduleTx records the pending due, as Schedule does.
	jobs, err := q.Claim(ctx, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Claim = %v, %v", jobs, err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error {
		return q.ScheduleTx(tx, "ldap/u1", conformance.T0.Add(time.Hour))
	}); err != nil {
		t.Fatal(err)
	}
	if e, _ := q.Get(ctx, "ldap/u1"); e.State != queue.InFlight || !e.Pending.Equal(conformance.T0.Add(time.Hour)) {
		t.Errorf("ldap/u1 = %+v, want in flight with the pending due", e)
	}
}

// TestScheduleTxBatchReruns runs concurrent store Updates, some of which
// fail after scheduling. bbolt then rolls back their shared batch and runs
// the others again; each surviving job must be there exactly once.
func TestScheduleTxBatchReruns(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	q := newQueue(t, st, queue.Options{}, nil)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := st.Update(t.Context(), func(tx store.Tx) error {
				id := fmt.Sprintf("u%02d", i)
				if err := createUser(tx, id); err != nil {
					return err
				}
				if err := q.ScheduleTx(tx, "ldap/"+id, time.Now()); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("fail %d", i)
				}
				return nil
			})
			if (err != nil) != (i%3 == 0) {
				t.Errorf("Update %d = %v", i, err)
			}
		})
	}
	wg.Wait()
	want := n - (n+2)/3
	c, err := q.Counts(t.Context())
	if err != nil || c.Scheduled != want {
		t.Errorf("Counts = %+v, %v; want %d scheduled", c, err, want)
	}
	list, err := q.List(t.Context(), queue.Scheduled, 0, 100)
	if err != nil || len(list) != want {
		t.Errorf("List = %d entries, %v; want %d", len(list), err, want)
	}
	for _, e := range list {
		var i int
		fmt.Sscanf(e.Key, "ldap/u%d", &i)
		if i%3 == 0 {
			t.Errorf("%s scheduled by an Update that failed", e.Key)
		}
	}
}

type foreignTx struct{ store.Tx }

func TestScheduleTxWrongTx(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	other := openStore(t, filepath.Join(t.TempDir(), "b.db"))
	q := newQueue(t, st, queue.Options{}, nil)

	err := q.ScheduleTx(foreignTx{}, "k", time.Now())
	if err == nil || !strings.Contains(err.Error(), "not a boltdb transaction") {
		t.Errorf("ScheduleTx with a foreign Tx = %v", err)
	}
	err = other.Update(t.Context(), func(tx store.Tx) error { return q.ScheduleTx(tx, "k", time.Now()) })
	if err == nil || !strings.Contains(err.Error(), "another file") {
		t.Errorf("ScheduleTx in another file's transaction = %v", err)
	}
	err = st.View(t.Context(), func(r store.Reader) error { return q.ScheduleTx(r.(store.Tx), "k", time.Now()) })
	if err == nil {
		t.Error("ScheduleTx in a read-only transaction succeeded")
	}
	err = st.Update(t.Context(), func(tx store.Tx) error { return q.ScheduleTx(tx, "", time.Now()) })
	if err == nil {
		t.Error("ScheduleTx of an empty key succeeded")
	}
	if c, _ := q.Counts(t.Context()); c != (queue.Counts{}) {
		t.Errorf("Counts = %+v after failed ScheduleTx calls", c)
	}
}

// TestRestart copies the file while the queue is running, as a crash
// would leave it after the last commit, and opens the copy: a job
// scheduled with its SCIM write and then claimed is in flight under the
// same lease, and comes back when the lease runs out.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "tenure.db"))
	clock := conformance.NewClock(conformance.T0)
	opts := queue.Options{Now: clock.Now}
	q := newQueue(t, st, opts, nil)
	ctx := t.Context()
	if err := st.Update(ctx, func(tx store.Tx) error {
		return errors.Join(createUser(tx, "u1"), q.ScheduleTx(tx, "ldap/u1", clock.Now()), q.ScheduleTx(tx, "scim/u1", clock.Now()))
	}); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 1, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].Key != "ldap/u1" {
		t.Fatalf("Claim = %+v, %v", jobs, err)
	}
	if err := q.Schedule(ctx, "ldap/u1", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// The "crash": no Close, the file as the last commit left it.
	data, err := os.ReadFile(st.DB().Path())
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(crashed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st2 := openStore(t, crashed)
	q2 := newQueue(t, st2, opts, nil)

	if _, err := store.Get(ctx, st2, store.KindUser, "u1"); err != nil {
		t.Errorf("user after restart: %v", err)
	}
	e, err := q2.Get(ctx, "ldap/u1")
	if err != nil || e.State != queue.InFlight || !e.Due.Equal(jobs[0].LeaseEnd) || !e.Pending.Equal(conformance.T0.Add(time.Hour)) {
		t.Errorf("ldap/u1 after restart = %+v, %v; want in flight until %v with pending T0+1h", e, err, jobs[0].LeaseEnd)
	}
	if e, err := q2.Get(ctx, "scim/u1"); err != nil || e.State != queue.Scheduled {
		t.Errorf("scim/u1 after restart = %+v, %v", e, err)
	}

	clock.Advance(2 * time.Minute)
	again, err := q2.Claim(ctx, 2, time.Minute)
	if err != nil || len(again) != 2 || again[0].Key != "ldap/u1" || !again[0].Due.Equal(jobs[0].Due) {
		t.Fatalf("Claim after the lease ran out = %+v, %v; want ldap/u1 due %v first", again, err, jobs[0].Due)
	}
	if err := q2.Ack(ctx, jobs[0]); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Ack by the crashed worker = %v, want ErrLeaseLost", err)
	}
	for _, j := range again {
		if err := q2.Ack(ctx, j); err != nil {
			t.Errorf("Ack(%s): %v", j.Key, err)
		}
	}
	if c, _ := q2.Counts(ctx); c != (queue.Counts{}) {
		t.Errorf("Counts = %+v, want an empty queue", c)
	}
}

// TestMetrics drives every counted transition and reads the registry.
func TestMetrics(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	clock := conformance.NewClock(conformance.T0)
	reg := prometheus.NewRegistry()
	q := newQueue(t, st, queue.Options{Now: clock.Now, RetryHorizon: time.Hour}, reg)
	ctx := t.Context()
	claim := func(n int) []queue.Job {
		t.Helper()
		jobs, err := q.Claim(ctx, n, time.Minute)
		if err != nil || len(jobs) != n {
			t.Fatalf("Claim(%d) = %+v, %v", n, jobs, err)
		}
		return jobs
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := q.Schedule(ctx, k, conformance.T0); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Schedule(ctx, "later", conformance.T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	jobs := claim(4)
	errs := []error{
		q.Ack(ctx, jobs[0]),
		q.Retry(ctx, jobs[1], 0, errors.New("busy")),
		q.Kill(ctx, jobs[2], errors.New("bad")),
	}
	clock.Advance(2 * time.Minute) // d's lease runs out
	claim(2)                       // b again, and d
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Lateness: the oldest scheduled key, "later", is due in 58 minutes.
	want := `
# HELP tenure_queue_acks_total Jobs finished by Ack.
# TYPE tenure_queue_acks_total counter
tenure_queue_acks_total{backend="boltdb"} 1
# HELP tenure_queue_claims_total Jobs handed to workers by Claim.
# TYPE tenure_queue_claims_total counter
tenure_queue_claims_total{backend="boltdb"} 6
# HELP tenure_queue_dead_letters_total Jobs made dead letters: by Kill, or by Retry or an expired lease past the retry horizon.
# TYPE tenure_queue_dead_letters_total counter
tenure_queue_dead_letters_total{backend="boltdb"} 1
# HELP tenure_queue_jobs Keys in the queue by state (scheduled, inflight, dead).
# TYPE tenure_queue_jobs gauge
tenure_queue_jobs{backend="boltdb",state="dead"} 1
tenure_queue_jobs{backend="boltdb",state="inflight"} 2
tenure_queue_jobs{backend="boltdb",state="scheduled"} 1
# HELP tenure_queue_lease_expiries_total Leases that ran out before their holder finished; each is a failed attempt of its key.
# TYPE tenure_queue_lease_expiries_total counter
tenure_queue_lease_expiries_total{backend="boltdb"} 1
# HELP tenure_queue_oldest_due_lateness_seconds How long the earliest scheduled key has been due; 0 when none is overdue.
# TYPE tenure_queue_oldest_due_lateness_seconds gauge
tenure_queue_oldest_due_lateness_seconds{backend="boltdb"} 0
# HELP tenure_queue_retries_total Failed jobs returned to the schedule by Retry.
# TYPE tenure_queue_retries_total counter
tenure_queue_retries_total{backend="boltdb"} 1
# HELP tenure_queue_scrape_errors_total Scrapes whose Counts call failed or timed out; those scrapes lack the queue gauges.
# TYPE tenure_queue_scrape_errors_total counter
tenure_queue_scrape_errors_total{backend="boltdb"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	clock.Advance(time.Hour) // "later" is now 2 minutes overdue
	want = `
# HELP tenure_queue_oldest_due_lateness_seconds How long the earliest scheduled key has been due; 0 when none is overdue.
# TYPE tenure_queue_oldest_due_lateness_seconds gauge
tenure_queue_oldest_due_lateness_seconds{backend="boltdb"} 120
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_queue_oldest_due_lateness_seconds"); err != nil {
		t.Error(err)
	}

	// Close unregisters, so the file can be opened again on the same registry.
	q.Close()
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("after Close: %d metrics, %v", n, err)
	}
	newQueue(t, st, queue.Options{}, reg)
}

func TestNewErrors(t *testing.T) {
	if _, err := boltq.New(nil, queue.Options{}, nil, nil); err == nil {
		t.Error("New(nil store) succeeded")
	}
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	if _, err := boltq.New(st, queue.Options{RetryHorizon: -time.Second}, nil, nil); err == nil {
		t.Error("New with a negative horizon succeeded")
	}
	reg := prometheus.NewRegistry()
	newQueue(t, st, queue.Options{}, reg)
	if _, err := boltq.New(st, queue.Options{}, nil, reg); err == nil {
		t.Error("a second queue registered its metrics on the same registry")
	}
}

func TestStoreClosed(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	q := newQueue(t, st, queue.Options{}, nil)
	st.Close()
	err := q.Schedule(t.Context(), "k", time.Now())
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Schedule after the store closed = %v, want store.ErrClosed", err)
	}
}

// TestRefusalKeepsBatch checks that an Ack refused with ErrLeaseLost does
// not fail the bolt batch it shares with store writes: bbolt would roll
// the batch back and run every other call in it again.
func TestRefusalKeepsBatch(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := newQueue(t, st, queue.Options{}, nil)
	ctx := t.Context()
	if err := q.Schedule(ctx, "k", time.Now()); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Claim = %v, %v", jobs, err)
	}
	stale := jobs[0]
	if err := q.Ack(ctx, stale); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if err := st.Update(ctx, func(tx store.Tx) error { return createUser(tx, fmt.Sprint("u", i)) }); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := q.Ack(ctx, stale); !errors.Is(err, queue.ErrLeaseLost) {
				t.Errorf("stale Ack = %v", err)
			}
		})
	}
	wg.Wait()
	want := `
# HELP tenure_store_boltdb_update_reruns_total Extra runs of Update functions: a failing function aborts its whole batch, which runs again without it.
# TYPE tenure_store_boltdb_update_reruns_total counter
tenure_store_boltdb_update_reruns_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_store_boltdb_update_reruns_total"); err != nil {
		t.Error(err)
	}
}

// TestClaimTxMetrics: jobs claimed in a store transaction are counted once
// handed out; the conformance suite checks the rest of ClaimTx.
func TestClaimTxMetrics(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "tenure.db"))
	reg := prometheus.NewRegistry()
	q := newQueue(t, st, queue.Options{Now: conformance.NewClock(conformance.T0).Now}, reg)
	if err := q.Schedule(t.Context(), "ldap/u1", conformance.T0); err != nil {
		t.Fatal(err)
	}
	var claimed func() []queue.Job
	err := st.Update(t.Context(), func(tx store.Tx) error {
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
tenure_queue_claims_total{backend="boltdb"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_queue_claims_total"); err != nil {
		t.Error(err)
	}
}
