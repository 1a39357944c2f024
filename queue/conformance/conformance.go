// Package conformance is the test suite every queue backend passes. A
// backend's tests call RunTests with a Backend that opens fresh queues:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunTests(t, conformance.Backend{New: ..., Reopen: ...})
//	}
//
// The suite drives time through Options.Now with a Clock of its own, so
// due times, leases and the retry horizon are tested without sleeping; a
// backend must take every time it acts on from Options.Now when it is set.
//
// Beyond the rules queue.go states, the suite pins down these, which the
// engine and the jobs CLI rely on:
//
//   - Times are compared as instants and are whole milliseconds, so a
//     backend may keep them at millisecond resolution.
//   - A key is due when its due time is at or before now; a zero due time
//     is due at once.
//   - Claim hands out keys earliest due first, and keys due at the same
//     time in byte order of the key. List orders each state by Entry.Due
//     and then by key in the same way; it treats offset < 0 as 0 and
//     returns nothing for limit <= 0.
//   - A lease is lost as soon as its end has passed, even before a Claim
//     returns the key: Ack, Retry, Kill and Extend then fail with
//     ErrLeaseLost, as they do for any Job that is not the key's current
//     lease (acked already, forged, or claimed again).
//   - Retry, Kill and an expired lease each count a failed attempt;
//     FirstFail is the time of the first failure since the key was last
//     acked or replayed. Retry makes the key a dead letter when
//     now − FirstFail exceeds the horizon (exceeds: a key failing for
//     exactly the horizon is retried). A dead key's Entry.Due is the time
//     it died; it has no pending due.
//   - An expired lease is a failed attempt dated at its lease end, however
//     much later a Claim finds it: LastError becomes
//     queue.LeaseExpiredError, and the key becomes a dead letter, dying at
//     its lease end, when lease end − FirstFail exceeds the horizon.
//     Otherwise the key returns at the earlier of the due time it was
//     claimed at and its pending due time, claimable at once.
//   - Replay resets Attempts, FirstFail and LastError, so a replayed key
//     gets the whole retry horizon again.
//   - Cancel of a key the queue does not hold returns nil or ErrNotFound.
//   - Schedule rejects an empty key. Any other string is a key, including
//     slashes, spaces, non-ASCII text and keys of a few kilobytes.
//   - Every method called with a context that is already done fails with
//     an error wrapping the context's error and changes nothing.
//   - Close may be called twice; other calls after Close fail.
//   - A queue that is a queue.TxAcker or queue.TxClaimer (Backend.Store
//     gives the store it joins): what it writes in a store transaction
//     commits with it or not at all, a lost lease makes AckTx ack nothing
//     without failing the transaction, and ClaimTx claims as Claim does.
package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// Backend opens the queues under test.
type Backend struct {
	// New returns a new, empty queue that takes its time from opts.Now.
	// The suite closes the queue; New registers the cleanup of anything
	// else it opens (files, connections, servers) with t.
	New func(t *testing.T, opts queue.Options) queue.Queue
	// Reopen closes q and everything under it and opens the same data
	// again with opts, as a restarted process would. The suite closes the
	// queue it returns. nil skips the tests of durability across restarts.
	Reopen func(t *testing.T, q queue.Queue, opts queue.Options) queue.Queue
	// Store returns the store whose transactions q joins through
	// queue.TxAcker and queue.TxClaimer (and TxScheduler). It must be set
	// for a queue that implements either.
	Store func(t *testing.T, q queue.Queue) store.Store
}

// RunTests runs the suite against b, each test on a queue of its own.
func RunTests(t *testing.T, b Backend) {
	if b.New == nil {
		t.Fatal("conformance: Backend.New is nil")
	}
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"ClaimOrder", testClaimOrder},
		{"ScheduleKeepsEarliest", testScheduleKeepsEarliest},
		{"NotYetDue", testNotYetDue},
		{"ClaimLimit", testClaimLimit},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseExpiryPending", testLeaseExpiryPending},
		{"LeaseExpiryHorizon", testLeaseExpiryHorizon},
		{"Extend", testExtend},
		{"ScheduleInFlight", testScheduleInFlight},
		{"AckRemoves", testAckRemoves},
		{"AckClearsFailures", testAckClearsFailures},
		{"Retry", testRetry},
		{"RetryHorizon", testRetryHorizon},
		{"RetryHorizonDefault", testRetryHorizonDefault},
		{"Kill", testKill},
		{"Replay", testReplay},
		{"ScheduleDead", testScheduleDead},
		{"Cancel", testCancel},
		{"Inspect", testInspect},
		{"ListPaging", testListPaging},
		{"DeadLettersKept", testDeadLettersKept},
		{"Reopen", testReopen},
		{"ContextDone", testContextDone},
		{"OddKeys", testOddKeys},
		{"EmptyKey", testEmptyKey},
		{"Close", testClose},
		{"AckTx", testAckTx},
		{"ClaimTx", testClaimTx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// T0 is where every test's clock starts: a whole millisecond, far enough
// ahead that no real clock a backend consults by mistake reaches it.
var T0 = time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)

// defaultHorizon is the retry horizon the suite's queues use unless a test
// says otherwise.
const defaultHorizon = 24 * time.Hour

// harness is one test's queue and clock, with helpers that fail the test
// on unexpected errors.
type harness struct {
	t     *testing.T
	b     Backend
	clock *Clock
	opts  queue.Options
	q     queue.Queue
}

// open returns a harness on a new queue with the given retry horizon; the
// queue is closed when t ends.
func open(t *testing.T, b Backend, horizon time.Duration) *harness {
	t.Helper()
	clock := NewClock(T0)
	h := &harness{t: t, b: b, clock: clock, opts: queue.Options{RetryHorizon: horizon, Now: clock.Now}}
	h.q = b.New(t, h.opts)
	if h.q == nil {
		t.Fatal("Backend.New returned nil")
	}
	t.Cleanup(func() { h.q.Close() })
	return h
}

// reopen restarts the queue on the same data, or skips the test.
func (h *harness) reopen() {
	h.t.Helper()
	if h.b.Reopen == nil {
		h.t.Skip("backend does not support Reopen")
	}
	h.q = h.b.Reopen(h.t, h.q, h.opts)
	if h.q == nil {
		h.t.Fatal("Backend.Reopen returned nil")
	}
}

// at is T0 + d; set moves the clock there.
func (h *harness) at(d time.Duration) time.Time { return T0.Add(d) }
func (h *harness) set(d time.Duration)          { h.clock.Set(T0.Add(d)) }
func (h *harness) now() time.Time               { return h.clock.Now() }

func (h *harness) schedule(key string, due time.Time) {
	h.t.Helper()
	if err := h.q.Schedule(h.t.Context(), key, due); err != nil {
		h.t.Fatalf("Schedule(%q, %v): %v", key, due, err)
	}
}

func (h *harness) claim(n int, lease time.Duration) []queue.Job {
	h.t.Helper()
	jobs, err := h.q.Claim(h.t.Context(), n, lease)
	if err != nil {
		h.t.Fatalf("Claim(%d, %v): %v", n, lease, err)
	}
	for _, j := range jobs {
		if want := h.now().Add(lease); !j.LeaseEnd.Equal(want) {
			h.t.Errorf("Claim: job %q LeaseEnd = %v, want now + lease = %v", j.Key, j.LeaseEnd, want)
		}
		if j.Lease == "" {
			h.t.Errorf("Claim: job %q has no lease token", j.Key)
		}
	}
	return jobs
}

// claimKeys claims up to n keys and checks which, in order. A test cannot
// go on sensibly after a wrong claim, so a mismatch ends it.
func (h *harness) claimKeys(n int, lease time.Duration, want ...string) []queue.Job {
	h.t.Helper()
	jobs := h.claim(n, lease)
	if got := keysOf(jobs); !(len(got) == 0 && len(want) == 0) && !slices.Equal(got, want) {
		h.t.Fatalf("at %s Claim(%d) = %q, want %q", fmtTime(h.now()), n, got, want)
	}
	return jobs
}

// claimOne claims exactly key.
func (h *harness) claimOne(key string, lease time.Duration) queue.Job {
	h.t.Helper()
	jobs := h.claimKeys(1, lease, key)
	return jobs[0]
}

func (h *harness) claimNone() {
	h.t.Helper()
	h.claimKeys(100, time.Minute)
}

func (h *harness) ack(j queue.Job) {
	h.t.Helper()
	if err := h.q.Ack(h.t.Context(), j); err != nil {
		h.t.Fatalf("Ack(%q): %v", j.Key, err)
	}
}

func (h *harness) retry(j queue.Job, after time.Duration, msg string) {
	h.t.Helper()
	if err := h.q.Retry(h.t.Context(), j, after, errors.New(msg)); err != nil {
		h.t.Fatalf("Retry(%q): %v", j.Key, err)
	}
}

func (h *harness) kill(j queue.Job, msg string) {
	h.t.Helper()
	if err := h.q.Kill(h.t.Context(), j, errors.New(msg)); err != nil {
		h.t.Fatalf("Kill(%q): %v", j.Key, err)
	}
}

func (h *harness) extend(j queue.Job, lease time.Duration) queue.Job {
	h.t.Helper()
	j2, err := h.q.Extend(h.t.Context(), j, lease)
	if err != nil {
		h.t.Fatalf("Extend(%q): %v", j.Key, err)
	}
	return j2
}

func (h *harness) replay(key string) {
	h.t.Helper()
	if err := h.q.Replay(h.t.Context(), key); err != nil {
		h.t.Fatalf("Replay(%q): %v", key, err)
	}
}

func (h *harness) cancel(key string) {
	h.t.Helper()
	if err := h.q.Cancel(h.t.Context(), key); err != nil {
		h.t.Fatalf("Cancel(%q): %v", key, err)
	}
}

func (h *harness) get(key string) queue.Entry {
	h.t.Helper()
	e, err := h.q.Get(h.t.Context(), key)
	if err != nil {
		h.t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

// expect checks that key is described exactly by want (want.Key is set here).
func (h *harness) expect(key string, want queue.Entry) {
	h.t.Helper()
	want.Key = key
	checkEntry(h.t, "Get("+key+")", h.get(key), want)
}

// absent checks that the queue does not hold key.
func (h *harness) absent(key string) {
	h.t.Helper()
	e, err := h.q.Get(h.t.Context(), key)
	if !errors.Is(err, queue.ErrNotFound) {
		h.t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", key, e, err)
	}
}

func (h *harness) list(state queue.State, offset, limit int) []queue.Entry {
	h.t.Helper()
	es, err := h.q.List(h.t.Context(), state, offset, limit)
	if err != nil {
		h.t.Fatalf("List(%s, %d, %d): %v", state, offset, limit, err)
	}
	for _, e := range es {
		if e.State != state {
			h.t.Errorf("List(%s) returned %q in state %s", state, e.Key, e.State)
		}
	}
	return es
}

func (h *harness) counts() queue.Counts {
	h.t.Helper()
	c, err := h.q.Counts(h.t.Context())
	if err != nil {
		h.t.Fatalf("Counts: %v", err)
	}
	return c
}

// expectCounts checks the state sizes and the oldest due time.
func (h *harness) expectCounts(want queue.Counts) {
	h.t.Helper()
	got := h.counts()
	if got.Scheduled != want.Scheduled || got.InFlight != want.InFlight || got.Dead != want.Dead ||
		!got.OldestDue.Equal(want.OldestDue) {
		h.t.Errorf("Counts = %s, want %s", fmtCounts(got), fmtCounts(want))
	}
}

// lost checks that err says the job's lease is gone.
func lost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("%s: error %v, want one wrapping ErrLeaseLost", what, err)
	}
}

// staleHolder checks that every call of a holder whose lease is gone fails
// with ErrLeaseLost.
func (h *harness) staleHolder(j queue.Job) {
	h.t.Helper()
	ctx := h.t.Context()
	_, err := h.q.Extend(ctx, j, time.Hour)
	lost(h.t, "Extend of a lost lease", err)
	lost(h.t, "Ack of a lost lease", h.q.Ack(ctx, j))
	lost(h.t, "Retry of a lost lease", h.q.Retry(ctx, j, time.Minute, errors.New("late")))
	lost(h.t, "Kill of a lost lease", h.q.Kill(ctx, j, errors.New("late")))
}

func checkEntry(t *testing.T, what string, got, want queue.Entry) {
	t.Helper()
	if got.Key != want.Key || got.State != want.State || !got.Due.Equal(want.Due) ||
		!got.Pending.Equal(want.Pending) || got.Attempts != want.Attempts ||
		!got.FirstFail.Equal(want.FirstFail) || got.LastError != want.LastError {
		t.Errorf("%s =\n\t%s\nwant\n\t%s", what, fmtEntry(got), fmtEntry(want))
	}
}

func checkKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func keysOf[E queue.Job | queue.Entry](xs []E) []string {
	keys := make([]string, len(xs))
	for i, x := range xs {
		switch x := any(x).(type) {
		case queue.Job:
			keys[i] = x.Key
		case queue.Entry:
			keys[i] = x.Key
		}
	}
	return keys
}
