package conformance

import (
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
)

func testLeaseExpiry(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	j1 := h.claimOne("k", 30*time.Second)
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(30 * time.Second)})
	h.set(29 * time.Second)
	h.claimNone() // a held lease keeps its key

	h.set(31 * time.Second)
	j2 := h.claimOne("k", 30*time.Second)
	if !j2.Due.Equal(j1.Due) || j2.Attempts != j1.Attempts+1 {
		t.Errorf("reclaimed job Due, Attempts = %s, %d; want %s, %d (as first claimed, one failed attempt more)",
			fmtTime(j2.Due), j2.Attempts, fmtTime(j1.Due), j1.Attempts+1)
	}
	if j2.Lease == j1.Lease {
		t.Errorf("reclaimed job has the expired lease token %q", j1.Lease)
	}
	h.staleHolder(j1)
	// The stale holder's calls left the new lease alone. The failure is
	// dated at the lease end, not at the Claim that found it.
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(61 * time.Second),
		Attempts: 1, FirstFail: h.at(30 * time.Second), LastError: queue.LeaseExpiredError})
	h.ack(j2)
	h.absent("k")

	// A lease that has run out is lost before any Claim returns its key,
	// and the failed calls do not keep the key from being claimed again,
	// nor count as failures of their own.
	h.schedule("m", h.now())
	j3 := h.claimOne("m", 10*time.Second)
	h.clock.Advance(10*time.Second + time.Millisecond)
	h.staleHolder(j3)
	j4 := h.claimOne("m", 10*time.Second)
	if !j4.Due.Equal(j3.Due) || j4.Attempts != 1 {
		t.Errorf("reclaimed m Due, Attempts = %s, %d; want %s, 1", fmtTime(j4.Due), j4.Attempts, fmtTime(j3.Due))
	}
	h.expect("m", queue.Entry{State: queue.InFlight, Due: h.now().Add(10 * time.Second),
		Attempts: 1, FirstFail: j3.LeaseEnd, LastError: queue.LeaseExpiredError})
	h.ack(j4) // Ack ends the run of failures
	h.expectCounts(queue.Counts{})
	h.schedule("m", h.now())
	if j := h.claimOne("m", time.Minute); j.Attempts != 0 {
		t.Errorf("m claimed after Ack with Attempts = %d, want 0", j.Attempts)
	}
}

func testLeaseExpiryPending(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	// A failed attempt first, to see that an expiry adds to the failure
	// record and keeps its first failure.
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), 0, "ldap: busy")
	j := h.claimOne("k", time.Minute)
	if j.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", j.Attempts)
	}
	h.schedule("k", h.at(time.Hour)) // pending, later than the claimed due
	h.set(2 * time.Minute)
	j2 := h.claimOne("k", time.Minute) // the lease ran out: back at the earlier due
	if !j2.Due.Equal(h.at(0)) || j2.Attempts != 2 {
		t.Errorf("reclaimed Due, Attempts = %s, %d; want T0, 2", fmtTime(j2.Due), j2.Attempts)
	}
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(3 * time.Minute), Attempts: 2,
		FirstFail: h.at(0), LastError: queue.LeaseExpiredError})
	h.ack(j2)
	h.absent("k")

	// A pending due earlier than the claimed due wins.
	h.schedule("p", h.at(10*time.Minute))
	h.schedule("q", h.at(15*time.Minute))
	h.set(10 * time.Minute)
	h.claimOne("p", time.Minute)
	h.schedule("p", h.at(5*time.Minute))
	h.set(20 * time.Minute)
	if j := h.claimOne("p", time.Hour); !j.Due.Equal(h.at(5 * time.Minute)) {
		t.Errorf("reclaimed p Due = %s, want its pending due T0+5m", fmtTime(j.Due))
	}
	h.expect("p", queue.Entry{State: queue.InFlight, Due: h.at(80 * time.Minute),
		Attempts: 1, FirstFail: h.at(11 * time.Minute), LastError: queue.LeaseExpiredError})
	h.expectCounts(queue.Counts{Scheduled: 1, InFlight: 1, OldestDue: h.at(15 * time.Minute)})
}

// testLeaseExpiryHorizon: a key whose lease keeps running out (a job that
// crashes or hangs its worker every time) becomes a dead letter once it
// has been failing for longer than the retry horizon, as Retry would make
// it; the failures are dated at the lease ends.
func testLeaseExpiryHorizon(t *testing.T, b Backend) {
	h := open(t, b, time.Hour)
	const lease = 20 * time.Minute
	h.schedule("k", h.at(0))
	h.claimOne("k", lease)
	// Each round the lease runs out and the next Claim hands the key out
	// again: failures at 20m (the first), 40m, 60m and 80m; at 80m it has
	// been failing for exactly the horizon, which is not longer.
	for i, at := range []time.Duration{20 * time.Minute, 40 * time.Minute, 60 * time.Minute, 80 * time.Minute} {
		h.set(at)
		j := h.claimOne("k", lease)
		if !j.Due.Equal(h.at(0)) || j.Attempts != i+1 {
			t.Errorf("claim at %s: Due, Attempts = %s, %d; want T0, %d", fmtTime(h.now()), fmtTime(j.Due), j.Attempts, i+1)
		}
	}
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(100 * time.Minute),
		Attempts: 4, FirstFail: h.at(20 * time.Minute), LastError: queue.LeaseExpiredError})

	// A Claim long after a lease ran out dates the failure at the lease
	// end: at 100m the key has failed for 80m, past the horizon, though the
	// Claim comes at 1000h. It dies at its lease end, its pending due
	// dropped, and is not handed out.
	h.schedule("k", h.at(90*time.Minute)) // pending
	h.schedule("other", h.at(0))
	h.set(1000 * time.Hour)
	h.claimKeys(10, lease, "other")
	dead := queue.Entry{State: queue.Dead, Due: h.at(100 * time.Minute),
		Attempts: 5, FirstFail: h.at(20 * time.Minute), LastError: queue.LeaseExpiredError}
	h.expect("k", dead)
	h.expectCounts(queue.Counts{InFlight: 1, Dead: 1})
	checkKeys(t, "List(dead)", keysOf(h.list(queue.Dead, 0, 10)), "k")
	h.schedule("k", h.now()) // dead stays dead
	h.expect("k", dead)

	// Replay gives it the whole horizon again.
	h.replay("k")
	j := h.claimOne("k", lease)
	if j.Attempts != 0 {
		t.Errorf("replayed k Attempts = %d, want 0", j.Attempts)
	}
	h.set(1000*time.Hour + lease)
	h.claimKeys(10, lease, "other", "k") // both leases ran out; "other" is due first
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.now().Add(lease),
		Attempts: 1, FirstFail: h.at(1000*time.Hour + lease), LastError: queue.LeaseExpiredError})

	// Expiries after a Retry keep the Retry's first failure: the horizon
	// runs from there.
	h = open(t, b, time.Hour)
	h.schedule("r", h.at(0))
	h.retry(h.claimOne("r", lease), 0, "ldap: busy") // first failure at T0
	h.claimOne("r", lease)
	h.set(lease)
	h.claimOne("r", lease) // failed at 20m, 20m into the run
	h.set(2 * lease)
	h.claimOne("r", time.Hour) // failed at 40m
	h.set(2*lease + time.Hour + time.Millisecond)
	h.claimNone() // failed at 100m, 100m into the run: dead
	h.expect("r", queue.Entry{State: queue.Dead, Due: h.at(2*lease + time.Hour),
		Attempts: 4, FirstFail: h.at(0), LastError: queue.LeaseExpiredError})
}

func testExtend(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	j := h.claimOne("k", 10*time.Second)
	h.set(8 * time.Second)
	j2 := h.extend(j, 10*time.Second)
	if j2.Key != "k" || !j2.Due.Equal(j.Due) || !j2.LeaseEnd.Equal(h.at(18*time.Second)) {
		t.Errorf("Extend = %+v, want key k, Due %s, LeaseEnd T0+18s", j2, fmtTime(j.Due))
	}
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(18 * time.Second)})
	h.set(15 * time.Second) // past the first lease end
	h.claimNone()
	j3 := h.extend(j2, 5*time.Second) // a shorter lease is allowed
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(20 * time.Second)})
	h.ack(j3)
	h.absent("k")
	_, err := h.q.Extend(t.Context(), j3, time.Minute)
	lost(t, "Extend after Ack", err)
}

func testScheduleInFlight(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("a", h.at(0))
	h.schedule("b", h.at(0))
	ja := h.claimOne("a", time.Hour)
	jb := h.claimOne("b", time.Hour)

	// Pending due times: the earliest wins.
	h.schedule("a", h.at(2*time.Hour))
	h.schedule("a", h.at(time.Hour))
	h.schedule("a", h.at(3*time.Hour))
	h.expect("a", queue.Entry{State: queue.InFlight, Due: h.at(time.Hour), Pending: h.at(time.Hour)})

	// A pending due time that is due now does not make the key claimable
	// while it is in flight.
	h.schedule("b", h.now())
	h.expect("b", queue.Entry{State: queue.InFlight, Due: h.at(time.Hour), Pending: h.at(0)})
	h.claimNone()
	h.expectCounts(queue.Counts{InFlight: 2})

	// Ack puts each key back at its pending due.
	h.ack(ja)
	h.ack(jb)
	h.expect("a", queue.Entry{State: queue.Scheduled, Due: h.at(time.Hour)})
	h.expect("b", queue.Entry{State: queue.Scheduled, Due: h.at(0)})
	h.expectCounts(queue.Counts{Scheduled: 2, OldestDue: h.at(0)})
	h.claimKeys(10, 2*time.Hour, "b")
	h.set(time.Hour)
	if j := h.claimOne("a", time.Minute); !j.Due.Equal(h.at(time.Hour)) {
		t.Errorf("a claimed with Due %s, want its pending due T0+1h", fmtTime(j.Due))
	}
}

func testAckRemoves(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	j := h.claimOne("k", time.Minute)
	h.ack(j)
	h.absent("k")
	h.expectCounts(queue.Counts{})
	lost(t, "second Ack", h.q.Ack(t.Context(), j))

	h.schedule("k", h.at(0))
	j2 := h.claimOne("k", time.Minute)
	forged := j2
	forged.Lease = "forged-" + j2.Lease
	lost(t, "Ack with a forged lease", h.q.Ack(t.Context(), forged))
	lost(t, "Ack of the previous run's job", h.q.Ack(t.Context(), j))
	lost(t, "Ack of a key never scheduled", h.q.Ack(t.Context(), queue.Job{Key: "nope", Lease: j2.Lease}))
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(time.Minute)})
	h.ack(j2)
	h.absent("k")
}

func testAckClearsFailures(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), time.Second, "first")
	h.set(time.Second)
	h.retry(h.claimOne("k", time.Minute), time.Second, "second")
	h.set(2 * time.Second)
	j := h.claimOne("k", time.Minute)
	if j.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", j.Attempts)
	}
	h.schedule("k", h.at(time.Hour))
	h.ack(j)
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(time.Hour)})
	h.set(time.Hour)
	if j := h.claimOne("k", time.Minute); j.Attempts != 0 {
		t.Errorf("Attempts after Ack = %d, want 0", j.Attempts)
	}
}
