package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
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

// dutiesRequests adds items decided by the manager and the Leads group:
// both at once (pair, pair2), or one after the other (chain).
var dutiesRequests = strings.Replace(recordingRequests, "  review:", `    - name: pair
      target: dir
      entitlements: [pair]
      approval: [{mode: all, approvers: [manager, "group:Leads"]}]
      reminder_after: 0s
    - name: pair2
      target: dir
      entitlements: [pair2]
      approval: [{mode: all, approvers: [manager, "group:Leads"]}]
      reminder_after: 0s
    - name: chain
      target: dir
      entitlements: [chain]
      approval: [{approvers: [manager]}, {approvers: ["group:Leads"]}]
      reminder_after: 0s
  review:`, 1)

// TestRequestOnePersonOneApproval: one click is one approval, even by a
// manager who is also in the step's group; nobody approves one step twice
// (not after joining the group either), nor two steps of one request.
func TestRequestOnePersonOneApproval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, dutiesRequests)
		c := e.cast()
		leads := e.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Leads", "members": []map[string]any{{"value": c.dba}}}, 201)["id"].(string)
		e.run()

		r := e.request("pair", c.ada, c.ada)
		if got, err := e.decide(r.ID, c.boss, true); err != nil || got.State != engine.RequestPending {
			t.Fatalf("the manager's approval: %v, %v", got, err)
		}
		e.do("PATCH", "/Groups/"+leads, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "add", "path": "members", "value": []map[string]any{{"value": c.boss}}}}}, 204)
		e.run()
		if _, err := e.decide(r.ID, c.boss, true); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("the manager again, now in Leads: %v", err)
		}
		if got, err := e.decide(r.ID, c.dba, true); err != nil || got.State != engine.RequestApproved {
			t.Errorf("with a lead: %v, %v", got, err)
		}

		r2 := e.request("pair2", c.ada, c.ada)
		got, err := e.decide(r2.ID, c.boss, true)
		if err != nil || got.State != engine.RequestPending || len(got.Approvals) != 1 {
			t.Errorf("one click by the manager who is a lead: %+v, %v", got, err)
		}

		r3 := e.request("chain", c.ada, c.ada)
		if got, err := e.decide(r3.ID, c.boss, true); err != nil || got.Step != 1 {
			t.Fatalf("step 1 by the manager: %+v, %v", got, err)
		}
		if _, err := e.decide(r3.ID, c.boss, true); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("step 2 by the manager who approved step 1: %v", err)
		}
		if got, err := e.decide(r3.ID, c.dba, true); err != nil || got.State != engine.RequestApproved {
			t.Errorf("step 2 by another lead: %v, %v", got, err)
		}
	})
}

// TestRequestLeaversDecideNothing: someone who has left neither approves,
// withdraws nor reviews, and a manager who left does not count as someone
// who can decide: the fallback may decide at once.
func TestRequestLeaversDecideNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		byBoss, err := e.eng.CreateRequest(context.Background(), engine.RequestInput{Item: "db", Subject: c.ada, Requester: c.boss, Channel: "test"})
		if err != nil {
			t.Fatal(err)
		}
		vpn := e.request("vpn", c.ada, c.ada)
		e.clock.Add(time.Hour)
		e.patch(c.boss, replace("active", false))
		e.run()
		if _, err := e.decide(vpn.ID, c.boss, true); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("approval by the manager who left: %v", err)
		}
		if got, err := e.decide(vpn.ID, c.sec, true); err != nil || got.State != engine.RequestApproved {
			t.Errorf("the fallback, the manager having left: %v, %v", got, err)
		}
		if _, err := e.eng.WithdrawRequest(context.Background(), byBoss.ID, c.boss, "gone", "test", "test proof"); !errors.Is(err, engine.ErrNotAllowed) {
			t.Errorf("withdrawal by a requester who left: %v", err)
		}

		e.patch(c.ada, replace(enterpriseURN+":department", "Sales"), replace(enterpriseURN+":manager", map[string]any{"value": c.boss2}))
		e.run()
		revs, err := e.eng.Reviews(context.Background(), true)
		if err != nil || len(revs) != 1 {
			t.Fatalf("reviews: %+v, %v", revs, err)
		}
		e.clock.Add(time.Hour)
		e.patch(c.boss2, replace("active", false))
		e.run()
		if _, err := e.eng.DecideReview(context.Background(), revs[0].ID, engine.ReviewDecision{Request: vpn.ID, Keep: true, Actor: c.boss2, Channel: "test"}); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("review by the new manager who left: %v", err)
		}
	})
}

// setPolicy reloads the policy, as `tenure serve` does on a validated
// change.
func (e *env) setPolicy(policyYAML string) {
	e.t.Helper()
	cfg, err := config.Parse([]byte("sources: [{name: hr, token: {env: TEST_SCIM_TOKEN}}]\nadmin: {token: {env: TEST_ADMIN_TOKEN}}\n" + policyYAML))
	if err != nil {
		e.t.Fatalf("config: %v", err)
	}
	if e.pol, err = mapper.Compile("test.yaml", cfg); err != nil {
		e.t.Fatalf("policy: %v", err)
	}
	if err := e.eng.SetPolicy(e.pol); err != nil {
		e.t.Fatal(err)
	}
}

// TestRequestStepGone: a reload that removes the step a request waits at
// closes it ungranted, at a decision and at its boundary, instead of
// indexing a step that is not there.
func TestRequestStepGone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, dutiesRequests)
		c := e.cast()
		e.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Leads", "members": []map[string]any{{"value": c.dba}}}, 201)
		bob := e.user("bob.subject", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "E2", "manager": map[string]any{"value": c.boss}}})
		e.run()
		var reqs []*engine.Request
		for _, who := range []string{c.ada, bob} {
			r := e.request("chain", who, who)
			if got, err := e.decide(r.ID, c.boss, true); err != nil || got.Step != 1 {
				t.Fatalf("step 1: %+v, %v", got, err)
			}
			reqs = append(reqs, r)
		}
		e.setPolicy(strings.Replace(dutiesRequests, `approval: [{approvers: [manager]}, {approvers: ["group:Leads"]}]
      reminder_after: 0s`, `approval: [{approvers: [manager]}]
      reminder_after: 1h`, 1))
		e.clock.Add(2 * time.Hour)
		if _, err := e.decide(reqs[0].ID, c.dba, true); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("a decision of a step the policy no longer has: %v", err)
		}
		if err := e.q.Schedule(context.Background(), engine.RequestKey(reqs[1].ID), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.run()
		for _, r := range reqs {
			if got := e.req(r.ID); got.State != engine.RequestExpired || !strings.Contains(lastTrail(got).Detail, "step 2 is gone") {
				t.Errorf("%s after the reload: %s %+v", r.Subject, got.State, lastTrail(got))
			}
		}
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}

// panicTarget panics: a bug met by one job.
type panicTarget struct{}

func (panicTarget) Converge(context.Context, *targets.Request) (*targets.Result, error) {
	panic("a bug in a target")
}

// TestJobPanicFailsTheJob: a job that panics fails, is retried and then
// dead-lettered with the panic as its error; the process (here RunDue, in
// serve a worker) goes on.
func TestJobPanicFailsTheJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnvWith(t, b, recordingRequests, map[string]targets.Target{"dir": panicTarget{}})
		id := e.user("pat.panic", nil)
		for i := 1; i <= 3; i++ {
			e.run()
			ent, err := e.q.Get(context.Background(), engine.Key("dir", id))
			want := queue.Scheduled
			if i == 3 {
				want = queue.Dead
			}
			if err != nil || ent.State != want || !strings.Contains(ent.LastError, "panic: a bug in a target") {
				t.Fatalf("after run %d: %+v, %v; want %s with the panic", i, ent, err, want)
			}
			e.clock.Add(time.Hour)
		}
	})
}

// grantVPNAndDB has vpn and db requested for ada and approved.
func (e *env) grantVPNAndDB(c cast) (vpn, db *engine.Request) {
	e.t.Helper()
	vpn, db = e.request("vpn", c.ada, c.ada), e.request("db", c.ada, c.ada)
	for _, d := range []struct{ id, who string }{{vpn.ID, c.boss}, {db.ID, c.boss}, {db.ID, c.dba}} {
		if _, err := e.decide(d.id, d.who, true); err != nil {
			e.t.Fatal(err)
		}
	}
	return vpn, db
}

// TestMoverReviewSuperseded: a second move closes the first move's review,
// its undecided items carried over to the new one, so the old review's
// default does not revoke what the current manager kept.
func TestMoverReviewSuperseded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		vpn, db := e.grantVPNAndDB(c)
		moved := T0.Add(2 * time.Hour)
		e.clock.Set(moved)
		e.patch(c.ada, replace(enterpriseURN+":department", "Sales"), replace(enterpriseURN+":manager", map[string]any{"value": c.boss2}))
		e.run()
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace(enterpriseURN+":department", "Engineering"), replace(enterpriseURN+":manager", map[string]any{"value": c.boss}))
		e.run()
		revs, err := e.eng.Reviews(context.Background(), false)
		if err != nil || len(revs) != 2 {
			t.Fatalf("reviews: %+v, %v", revs, err)
		}
		first, second := revs[0], revs[1]
		if first.Closed.IsZero() || first.SupersededBy != second.ID || len(second.Items) != 2 || !second.Closed.IsZero() {
			t.Fatalf("after the second move: first %+v, second %+v", first, second)
		}
		for _, id := range []string{vpn.ID, db.ID} {
			if _, err := e.eng.DecideReview(context.Background(), second.ID, engine.ReviewDecision{Request: id, Keep: true, Actor: c.boss, Channel: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.eng.DecideReview(context.Background(), first.ID, engine.ReviewDecision{Request: vpn.ID, Actor: c.boss2, Channel: "test"}); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("a decision in the superseded review: %v", err)
		}
		e.at(moved.Add(96 * time.Hour))
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff", "vpn")
		if e.req(vpn.ID).State != engine.RequestApproved || e.req(db.ID).State != engine.RequestApproved {
			t.Errorf("at the first review's expiry: vpn %s, db %s", e.req(vpn.ID).State, e.req(db.ID).State)
		}
	})
}

// TestConversionRevokesRequested: a conversion with revoke_all (the
// default) revokes requested access in its own write: a contractor keeps
// nothing of the employee's access.
func TestConversionRevokesRequested(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		vpn := e.request("vpn", c.ada, c.ada)
		if _, err := e.decide(vpn.ID, c.boss, true); err != nil {
			t.Fatal(err)
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff", "vpn")
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace("userType", "Contractor"))
		if got := e.req(vpn.ID); got.State != engine.RequestRevoked {
			t.Errorf("after the conversion's write: %s %+v", got.State, lastTrail(got))
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
		if revs, err := e.eng.Reviews(context.Background(), true); err != nil || len(revs) != 0 {
			t.Errorf("a review of revoked access: %+v, %v", revs, err)
		}
	})
}

// TestRequestDecisionAfterExpiry: a decision at the expiry is refused and
// expires the request, even if the expiry job has not run yet.
func TestRequestDecisionAfterExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		r := e.request("vpn", c.ada, c.ada)
		e.clock.Set(r.Created.Add(120 * time.Hour))
		if _, err := e.decide(r.ID, c.boss, true); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("a decision at the expiry, before its job ran: %v", err)
		}
		if got := e.req(r.ID); got.State != engine.RequestExpired {
			t.Errorf("after it: %s %+v", got.State, lastTrail(got))
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}

// TestRequestItemGone: after a reload removes catalog items, a grant of
// one can still be withdrawn, and the sweep closes the others, revoking
// their grants, even one without an end.
func TestRequestItemGone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		vpn, db := e.grantVPNAndDB(c)
		e.run()
		e.setPolicy(strings.Replace(recordingRequests, requestsYAML, "\nrequests: {catalog: [{name: staff, target: dir, entitlements: [staff]}]}\n", 1))
		e.clock.Add(time.Hour)
		if got, err := e.eng.WithdrawRequest(context.Background(), vpn.ID, c.ada, "done", "test", "test proof"); err != nil || got.State != engine.RequestWithdrawn {
			t.Errorf("withdrawing a grant of a removed item: %v, %v", got, err)
		}
		if _, err := e.eng.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.run()
		if got := e.req(db.ID); got.State != engine.RequestRevoked {
			t.Errorf("a grant without an end of a removed item, after the sweep: %s %+v", got.State, lastTrail(got))
		}
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}

// TestMoverReviewKeepCapped: a review that keeps a grant with a new end
// cannot take it past the item's max_duration from the grant's start.
func TestMoverReviewKeepCapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		vpn := e.request("vpn", c.ada, c.ada)
		got, err := e.decide(vpn.ID, c.boss, true)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace(enterpriseURN+":department", "Sales"), replace(enterpriseURN+":manager", map[string]any{"value": c.boss2}))
		e.run()
		revs, err := e.eng.Reviews(context.Background(), true)
		if err != nil || len(revs) != 1 {
			t.Fatalf("reviews: %+v, %v", revs, err)
		}
		if _, err := e.eng.DecideReview(context.Background(), revs[0].ID, engine.ReviewDecision{Request: vpn.ID, Keep: true,
			NewEnd: got.Start.Add(365 * 24 * time.Hour), Actor: c.boss2, Channel: "test"}); err != nil {
			t.Fatal(err)
		}
		limit := got.Start.Add(240 * time.Hour)
		if end := e.req(vpn.ID).End; !end.Equal(limit) {
			t.Errorf("the kept grant ends %s, want %s (max_duration from its start)", end, limit)
		}
		e.at(limit)
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}

// TestFindPersonUserWithoutPerson: "<source>/<userName>" naming a SCIM
// user that is no person is ErrNoIdentity, not a nil person.
func TestFindPersonUserWithoutPerson(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		err := e.st.Update(context.Background(), func(tx store.Tx) error {
			return tx.Create(&store.Resource{Kind: store.KindUser, ID: "ghost-1", Source: "hr", Name: "ghost.user",
				Attributes: map[string]any{"userName": "ghost.user"}})
		})
		if err != nil {
			t.Fatal(err)
		}
		r := e.request("vpn", c.ada, c.ada)
		if _, err := e.decide(r.ID, "hr/ghost.user", true); !errors.Is(err, engine.ErrNoIdentity) {
			t.Errorf("a decision by a user who is no person: %v", err)
		}
		if _, err := e.eng.CreateRequest(context.Background(), engine.RequestInput{Item: "vpn", Subject: "hr/ghost.user", Requester: c.ada, Channel: "test"}); !errors.Is(err, engine.ErrNoIdentity) {
			t.Errorf("a request for a user who is no person: %v", err)
		}
	})
}
