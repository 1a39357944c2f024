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
	if !j2.Due.Equal(j1.Due) || j2.Attempts != j1.Attempts {
		t.Errorf("reclaimed job Due, Attempts = %s, %d; want %s, %d (as first claimed)",
			fmtTime(j2.Due), j2.Attempts, fmtTime(j1.Due), j1.Attempts)
	}
	if j2.Lease == j1.Lease {
		t.Errorf("reclaimed job has the expired lease token %q", j1.Lease)
	}
	h.staleHolder(j1)
	// The stale holder's calls left the new lease alone.
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(61 * time.Second)})
	h.ack(j2)
	h.absent("k")

	// A lease that has run out is lost before any Claim returns its key,
	// and the failed calls do not keep the key from being claimed again.
	h.schedule("m", h.now())
	j3 := h.claimOne("m", 10*time.Second)
	h.clock.Advance(10*time.Second + time.Millisecond)
	h.staleHolder(j3)
	j4 := h.claimOne("m", 10*time.Second)
	if !j4.Due.Equal(j3.Due) {
		t.Errorf("reclaimed m Due = %s, want %s", fmtTime(j4.Due), fmtTime(j3.Due))
	}
	h.ack(j4)
	h.expectCounts(queue.Counts{})
}

func testLeaseExpiryPending(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	// A failed attempt first, to see that an expiry keeps the failure record.
	h.schedule("k", h.at(0))
	h.retry(h.claimOne("k", time.Minute), 0, "ldap: busy")
	j := h.claimOne("k", time.Minute)
	if j.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", j.Attempts)
	}
	h.schedule("k", h.at(time.Hour)) // pending, later than the claimed due
	h.set(2 * time.Minute)
	j2 := h.claimOne("k", time.Minute) // the lease ran out: back at the earlier due
	if !j2.Due.Equal(h.at(0)) || j2.Attempts != 1 {
		t.Errorf("reclaimed Due, Attempts = %s, %d; want T0, 1", fmtTime(j2.Due), j2.Attempts)
	}
	h.expect("k", queue.Entry{State: queue.InFlight, Due: h.at(3 * time.Minute), Attempts: 1,
		FirstFail: h.at(0), LastError: "ldap: busy"})
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
	h.expect("p", queue.Entry{State: queue.InFlight, Due: h.at(80 * time.Minute)})
	h.expectCounts(queue.Counts{Scheduled: 1, InFlight: 1, OldestDue: h.at(15 * time.Minute)})
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
