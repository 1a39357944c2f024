package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// txStore returns the store whose transactions h's queue joins, or nil if
// the queue implements none of the Tx interfaces (the test then has nothing
// to check). A queue that implements one while Backend.Store is nil fails.
func (h *harness) txStore() store.Store {
	h.t.Helper()
	_, acks := h.q.(queue.TxAcker)
	_, claims := h.q.(queue.TxClaimer)
	if !acks && !claims {
		return nil
	}
	if h.b.Store == nil {
		h.t.Fatal("the queue joins store transactions but Backend.Store is nil")
	}
	return h.b.Store(h.t, h.q)
}

// user is a store write for the transactions the queue joins.
func user(id string) *store.Resource {
	return &store.Resource{Kind: store.KindUser, ID: id, Source: "conformance", Name: id}
}

// testAckTx: an ack written in a store transaction commits with it (a
// boundary scheduled after it in the same transaction becomes the next
// due), vanishes with it when it aborts, and a lease lost meanwhile is no
// error and acks nothing while the store's write still commits.
func testAckTx(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	st := h.txStore()
	acker, ok := h.q.(queue.TxAcker)
	if st == nil || !ok {
		t.Log("the queue is no TxAcker")
		return
	}
	sched, _ := h.q.(queue.TxScheduler)
	ctx := t.Context()
	h.schedule("ldap/u1", T0)
	h.schedule("ldap/u2", T0)
	jobs := h.claim(2, time.Minute)
	if len(jobs) != 2 {
		t.Fatalf("claimed %v, want 2 jobs", jobs)
	}
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := acker.AckTx(tx, jobs[0]); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("aborted Update = %v", err)
	}
	if e, _ := h.q.Get(ctx, jobs[0].Key); e.State != queue.InFlight {
		t.Errorf("after an aborted AckTx: %+v, want in flight", e)
	}
	next := h.at(time.Hour)
	err = st.Update(ctx, func(tx store.Tx) error {
		err := errors.Join(tx.Create(user("u1")), acker.AckTx(tx, jobs[0]))
		if err == nil && sched != nil {
			err = sched.ScheduleTx(tx, jobs[0].Key, next)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := queue.Entry{Key: jobs[0].Key, State: queue.Scheduled, Due: next}
	if sched == nil {
		want = queue.Entry{}
	}
	if e, _ := h.q.Get(ctx, jobs[0].Key); e.Key != want.Key || e.State != want.State || !e.Due.Equal(want.Due) || e.Attempts != 0 {
		t.Errorf("after AckTx (+ ScheduleTx): %+v, want %+v", e, want)
	}
	h.set(2 * time.Minute)
	again := h.claim(1, time.Minute)
	if len(again) != 1 || again[0].Key != jobs[1].Key {
		t.Fatalf("re-claim after the lease expired = %v, want %s", again, jobs[1].Key)
	}
	err = st.Update(ctx, func(tx store.Tx) error { return errors.Join(tx.Create(user("u2")), acker.AckTx(tx, jobs[1])) })
	if err != nil {
		t.Fatalf("AckTx with a lost lease: %v", err)
	}
	if e, _ := h.q.Get(ctx, jobs[1].Key); e.State != queue.InFlight {
		t.Errorf("the new holder's job after a stale AckTx: %+v, want in flight", e)
	}
	if _, err := store.Get(ctx, st, store.KindUser, "u2"); err != nil {
		t.Errorf("the store write with a stale AckTx: %v", err)
	}
}

// testClaimTx: a claim written in a store transaction hands out its jobs
// once the transaction has committed (with the ack of the job before it),
// claims nothing when the transaction aborts, and ends expired leases
// first, as Claim does.
func testClaimTx(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	st := h.txStore()
	claimer, ok := h.q.(queue.TxClaimer)
	if st == nil || !ok {
		t.Log("the queue is no TxClaimer")
		return
	}
	ctx := t.Context()
	for _, k := range []string{"ldap/u1", "ldap/u2", "ldap/u3"} {
		h.schedule(k, T0)
	}
	held := h.claim(1, time.Minute)
	if len(held) != 1 || held[0].Key != "ldap/u1" {
		t.Fatalf("claimed %v, want ldap/u1", held)
	}
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx store.Tx) error {
		if _, err := claimer.ClaimTx(tx, 1, time.Minute); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("aborted Update = %v", err)
	}
	if e, _ := h.q.Get(ctx, "ldap/u2"); e.State != queue.Scheduled {
		t.Errorf("after an aborted ClaimTx: %+v, want scheduled", e)
	}

	var claimed func() []queue.Job
	err = st.Update(ctx, func(tx store.Tx) error {
		err := tx.Create(user("u1"))
		if acker, ok := h.q.(queue.TxAcker); ok && err == nil {
			err = acker.AckTx(tx, held[0])
		}
		if err != nil {
			return err
		}
		claimed, err = claimer.ClaimTx(tx, 1, time.Minute)
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	jobs := claimed()
	if len(jobs) != 1 || jobs[0].Key != "ldap/u2" || !jobs[0].LeaseEnd.Equal(h.at(time.Minute)) {
		t.Fatalf("ClaimTx = %+v, want ldap/u2 leased until T0+1m", jobs)
	}
	if e, _ := h.q.Get(ctx, "ldap/u2"); e.State != queue.InFlight {
		t.Errorf("the claimed job: %+v, want in flight", e)
	}
	// The job is the holder's: its lease token works.
	if _, err := h.q.Extend(ctx, jobs[0], time.Minute); err != nil {
		t.Errorf("Extend the claimed job: %v", err)
	}

	h.set(2 * time.Minute)
	err = st.Update(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = claimer.ClaimTx(tx, 2, time.Minute)
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	jobs = claimed()
	if len(jobs) != 2 || jobs[0].Key != "ldap/u2" || jobs[0].Attempts != 1 || jobs[1].Key != "ldap/u3" {
		t.Fatalf("ClaimTx after an expired lease = %+v, want ldap/u2 (1 attempt) then ldap/u3", jobs)
	}
}
