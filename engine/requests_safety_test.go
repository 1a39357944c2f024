package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// lastTrail is the last line of a request's trail.
func lastTrail(r *engine.Request) engine.TrailEntry {
	if len(r.Trail) == 0 {
		return engine.TrailEntry{}
	}
	return r.Trail[len(r.Trail)-1]
}

// TestRequestLeaverClosesPending: a pending request closes in its
// subject's leaver write, so nobody approves it for someone gone, nor
// after a rehire; one waiting when a termination dated later takes effect
// is refused and closed from then on.
func TestRequestLeaverClosesPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		r := e.request("vpn", c.ada, c.ada)
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace("active", false))
		if got := e.req(r.ID); got.State != engine.RequestRevoked || lastTrail(got).Detail != "the person left" {
			t.Errorf("after the leaver's write: %s %+v", got.State, got.Trail)
		}
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace("active", true))
		e.run()
		if _, err := e.decide(r.ID, c.boss, true); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("approval of the old job's request after the rehire: %v", err)
		}
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")

		r2 := e.request("vpn", c.ada, c.ada)
		e.patch(c.ada, replace(tenureURN+":endDate", "2026-11-03"))
		view, err := e.eng.Identity(context.Background(), c.ada)
		if err != nil || view.Record.End.IsZero() {
			t.Fatalf("the termination: %+v, %v", view, err)
		}
		end := view.Record.End
		e.at(end.Add(-time.Second))
		if got := e.req(r2.ID).State; got != engine.RequestPending {
			t.Errorf("before the termination: %s", got)
		}
		e.clock.Set(end)
		if _, err := e.decide(r2.ID, c.boss, true); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("approval once the termination took effect: %v", err)
		}
		e.run()
		if got := e.req(r2.ID); got.State != engine.RequestRevoked || lastTrail(got).Detail != "the person left" {
			t.Errorf("at the termination: %s %+v", got.State, got.Trail)
		}
	})
}
