package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
)

func testRetry(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	j := h.claimOne("k", time.Minute)
	h.set(time.Second)
	h.retry(j, 5*time.Minute, "ldap: busy")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(5*time.Minute + time.Second),
		Attempts: 1, FirstFail: h.at(time.Second), LastError: "ldap: busy"})
	h.set(5 * time.Minute)
	h.claimNone() // not before now + after

	h.set(5*time.Minute + time.Second)
	j = h.claimOne("k", time.Minute)
	if j.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", j.Attempts)
	}
	h.retry(j, 10*time.Minute, "ldap: down")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(15*time.Minute + time.Second),
		Attempts: 2, FirstFail: h.at(time.Second), LastError: "ldap: down"})

	// A pending due earlier than now + after wins...
	h.set(15*time.Minute + time.Second)
	j = h.claimOne("k", time.Minute)
	h.schedule("k", h.now().Add(time.Minute))
	h.retry(j, time.Hour, "timeout")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.now().Add(time.Minute),
		Attempts: 3, FirstFail: h.at(time.Second), LastError: "timeout"})

	// ...and a later one does not.
	h.clock.Advance(time.Minute)
	j = h.claimOne("k", time.Minute)
	h.schedule("k", h.now().Add(time.Hour))
	h.retry(j, time.Minute, "timeout again")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.now().Add(time.Minute),
		Attempts: 4, FirstFail: h.at(time.Second), LastError: "timeout again"})
	h.expectCounts(queue.Counts{Scheduled: 1, OldestDue: h.now().Add(time.Minute)})

	err := h.q.Retry(t.Context(), j, time.Minute, errors.New("twice"))
	lost(t, "second Retry of the same job", err)
}

func testRetryHorizon(t *testing.T, b Backend) {
	h := open(t, b, time.Hour)
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), time.Minute, "e1") // first failure at T0
	h.set(59 * time.Minute)
	h.retry(h.claimOne("k", time.Minute), time.Minute, "e2")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(time.Hour),
		Attempts: 2, FirstFail: h.at(0), LastError: "e2"})

	h.set(61 * time.Minute)
	h.schedule("k", h.at(0)) // an earlier due changes nothing about the horizon
	j := h.claimOne("k", time.Minute)
	h.schedule("k", h.at(62*time.Minute)) // pending: dropped when the key dies
	h.retry(j, time.Minute, "e3")
	h.expect("k", queue.Entry{State: queue.Dead, Due: h.at(61 * time.Minute),
		Attempts: 3, FirstFail: h.at(0), LastError: "e3"})
	h.expectCounts(queue.Counts{Dead: 1})
	h.set(1000 * time.Hour)
	h.claimNone()

	// Ack ends a run of failures: the horizon counts from the next one.
	base := 1000 * time.Hour
	h.schedule("r", h.at(base))
	h.retry(h.claimOne("r", time.Minute), time.Minute, "e1")
	h.set(base + 30*time.Minute)
	j = h.claimOne("r", time.Minute)
	h.schedule("r", h.at(base+2*time.Hour))
	h.ack(j)
	h.set(base + 2*time.Hour)
	h.retry(h.claimOne("r", time.Minute), time.Minute, "e2")
	h.expect("r", queue.Entry{State: queue.Scheduled, Due: h.at(base + 2*time.Hour + time.Minute),
		Attempts: 1, FirstFail: h.at(base + 2*time.Hour), LastError: "e2"})
}

func testRetryHorizonDefault(t *testing.T, b Backend) {
	h := open(t, b, 0) // queue.DefaultRetryHorizon, 72h
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), time.Minute, "e1")
	h.set(71 * time.Hour)
	h.retry(h.claimOne("k", time.Minute), time.Minute, "e2")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(71*time.Hour + time.Minute),
		Attempts: 2, FirstFail: h.at(0), LastError: "e2"})
	h.set(73 * time.Hour)
	h.retry(h.claimOne("k", time.Minute), time.Minute, "e3")
	h.expect("k", queue.Entry{State: queue.Dead, Due: h.at(73 * time.Hour),
		Attempts: 3, FirstFail: h.at(0), LastError: "e3"})
}

func testKill(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	h.schedule("other", h.at(time.Hour))
	j := h.claimOne("k", time.Minute)
	h.schedule("k", h.at(time.Minute)) // pending: dropped by Kill
	h.set(time.Second)
	h.kill(j, "permanent: invalid DN")
	h.expect("k", queue.Entry{State: queue.Dead, Due: h.at(time.Second),
		Attempts: 1, FirstFail: h.at(time.Second), LastError: "permanent: invalid DN"})
	lost(t, "second Kill", h.q.Kill(t.Context(), j, errors.New("again")))
	h.expectCounts(queue.Counts{Scheduled: 1, Dead: 1, OldestDue: h.at(time.Hour)})

	// Kill after failed attempts keeps counting them.
	h.set(time.Hour)
	h.retry(h.claimOne("other", time.Minute), time.Minute, "busy")
	h.set(2 * time.Hour)
	h.kill(h.claimOne("other", time.Minute), "gone")
	h.expect("other", queue.Entry{State: queue.Dead, Due: h.at(2 * time.Hour),
		Attempts: 2, FirstFail: h.at(time.Hour), LastError: "gone"})

	h.set(365 * 24 * time.Hour)
	h.claimNone()
	h.expectCounts(queue.Counts{Dead: 2})
}

func testReplay(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), time.Minute, "busy")
	h.set(time.Minute)
	h.kill(h.claimOne("k", time.Minute), "bad")

	// Long after the horizon has passed since the first failure.
	h.set(100 * time.Hour)
	h.replay("k")
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(100 * time.Hour)})
	h.expectCounts(queue.Counts{Scheduled: 1, OldestDue: h.at(100 * time.Hour)})
	j := h.claimOne("k", time.Minute)
	if j.Attempts != 0 {
		t.Errorf("replayed job Attempts = %d, want 0", j.Attempts)
	}
	h.retry(j, time.Minute, "busy again") // the horizon starts afresh
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(100*time.Hour + time.Minute),
		Attempts: 1, FirstFail: h.at(100 * time.Hour), LastError: "busy again"})

	// Only a dead key can be replayed; others are left as they are.
	notFound := func(key string) {
		t.Helper()
		before, beforeErr := h.q.Get(t.Context(), key)
		if err := h.q.Replay(t.Context(), key); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Replay(%q) = %v, want ErrNotFound", key, err)
		}
		after, afterErr := h.q.Get(t.Context(), key)
		switch {
		case errors.Is(beforeErr, queue.ErrNotFound):
			if !errors.Is(afterErr, queue.ErrNotFound) {
				t.Errorf("after Replay(%q): Get = %+v, %v; want ErrNotFound", key, after, afterErr)
			}
		case beforeErr != nil || afterErr != nil:
			t.Fatalf("Get(%q): %v, then %v", key, beforeErr, afterErr)
		default:
			checkEntry(t, "after Replay("+key+")", after, before)
		}
	}
	notFound("k") // scheduled
	h.schedule("f", h.at(0))
	h.claimOne("f", time.Hour)
	notFound("f") // in flight
	notFound("never-scheduled")
}

func testScheduleDead(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	h.kill(h.claimOne("k", time.Minute), "bad")
	dead := queue.Entry{State: queue.Dead, Due: h.at(0), Attempts: 1, FirstFail: h.at(0), LastError: "bad"}
	h.schedule("k", h.at(-time.Hour))
	h.schedule("k", h.at(0))
	h.schedule("k", h.at(time.Hour))
	h.expect("k", dead)
	h.expectCounts(queue.Counts{Dead: 1})
	h.set(2 * time.Hour)
	h.claimNone()
}

func testCancel(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("sched", h.at(time.Hour))
	h.schedule("dead", h.at(0))
	h.schedule("busy", h.at(0))
	h.schedule("plain", h.at(0))
	h.kill(h.claimOne("busy", time.Hour), "x") // "busy" < "dead": claimed first
	h.cancel("busy")
	h.absent("busy")
	jd := h.claimOne("dead", time.Hour)
	jp := h.claimOne("plain", time.Hour)
	h.kill(jd, "y")
	h.schedule("busy", h.at(0))
	jb := h.claimOne("busy", time.Hour)
	h.schedule("busy", h.at(time.Minute))

	h.cancel("sched")
	h.absent("sched")
	h.cancel("dead")
	h.absent("dead")
	// In flight: the run goes on, its pending due is dropped.
	h.cancel("busy")
	h.expect("busy", queue.Entry{State: queue.InFlight, Due: h.at(time.Hour)})
	h.cancel("plain")
	h.expect("plain", queue.Entry{State: queue.InFlight, Due: h.at(time.Hour)})
	h.expectCounts(queue.Counts{InFlight: 2})
	h.ack(jb)
	h.ack(jp)
	h.absent("busy")
	h.absent("plain")
	h.expectCounts(queue.Counts{})

	if err := h.q.Cancel(t.Context(), "never-scheduled"); err != nil && !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Cancel of an absent key = %v, want nil or ErrNotFound", err)
	}
	h.set(2 * time.Hour)
	h.claimNone()
}
