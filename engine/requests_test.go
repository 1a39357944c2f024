package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/notifytest"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/targets"
)

// requestsYAML is the requests section the tests share: vpn needs the
// manager, then falls back to the security officer after 48h; db needs
// the manager and a member of the DBA group; nobody decides "lonely"
// (no manager step resolves for a subject without one).
const requestsYAML = `
requests:
  catalog:
    - name: vpn
      target: dir
      entitlements: [vpn]
      fallback: "user:sec.officer"
      max_duration: 240h
      reminder_after: 24h
      escalate_after: 48h
      expire_after: 120h
    - name: db
      target: dir
      entitlements: [db]
      approval:
        - {mode: all, approvers: [manager, "group:DBAs"]}
      reminder_after: 0s
      expire_after: 72h
    - name: staff
      target: dir
      entitlements: [staff]
  review: {reviewers: new_manager, expire_after: 96h, default: revoke}
`

// people makes the cast: a manager, a second manager, the security
// officer, a DBA, an outsider and the subject (managed by boss).
type cast struct{ boss, boss2, sec, dba, eve, ada string }

func (e *env) cast() cast {
	e.t.Helper()
	c := cast{
		boss:  e.user("boss.one", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "B1", "department": "Engineering"}}),
		boss2: e.user("boss.two", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "B2", "department": "Sales"}}),
		sec:   e.user("sec.officer", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "S1"}}),
		dba:   e.user("dee.dba", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "D1"}}),
		eve:   e.user("eve.outsider", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "X1"}}),
	}
	c.ada = e.user("ada.subject", map[string]any{enterpriseURN: map[string]any{
		"employeeNumber": "E1", "department": "Engineering", "manager": map[string]any{"value": c.boss}}})
	e.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "DBAs", "members": []map[string]any{{"value": c.dba}}}, 201)
	e.run()
	return c
}

func (e *env) request(item, subject, requester string) *engine.Request {
	e.t.Helper()
	r, err := e.eng.CreateRequest(context.Background(), engine.RequestInput{Item: item, Subject: subject, Requester: requester,
		Reason: "needed for the migration", Channel: "test"})
	if err != nil {
		e.t.Fatalf("request %s: %v", item, err)
	}
	return r
}

func (e *env) decide(id, actor string, approve bool) (*engine.Request, error) {
	return e.eng.DecideRequest(context.Background(), id, engine.Decision{Approve: approve, Actor: actor, Reason: "ok", Channel: "test"})
}

func (e *env) req(id string) *engine.Request {
	e.t.Helper()
	r, err := e.eng.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// wantEvents checks what the recording channel delivered about id, with
// the recipients of the last.
func wantEvents(t *testing.T, rec *notifytest.Recording, id string, want ...string) {
	t.Helper()
	if got := rec.Events(id); !slices.Equal(got, want) {
		t.Errorf("notifications of %s: %v, want %v", id, got, want)
	}
}

func recipients(rec *notifytest.Recording, id, event string) []string {
	var out []string
	for _, m := range rec.Messages() {
		if (m.Request == id || m.Review == id) && m.Event == event {
			for _, p := range m.Recipients {
				out = append(out, p.UserName)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestRequestLifecycleInDirectory is acceptance (a) and (f) on both
// backends into a real slapd: a request is reminded, escalated to the
// fallback and approved by it; a restart between the decision and the
// converge loses nothing; one converge puts the group in LDAP; it is
// revoked at its max_duration. (e): a decision by someone who is not an
// approver is refused and audited.
func TestRequestLifecycleInDirectory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := slapdDirectory(t).fixture(t)
		f.add(ldapsync.JoinDN(ldapsync.RDN("cn", "vpn"), f.groups), f.group("vpn"))
		e := newEnvWith(t, b, f.policy+requestsYAML, map[string]targets.Target{"dir": f.target()})
		rec := &notifytest.Recording{}
		e.eng.SetNotifiers([]notify.Notifier{rec})
		c := e.cast()
		f.want("E1", "Engineering", true, "engineering", "staff")

		t0 := T0.Add(time.Hour)
		e.clock.Set(t0)
		r := e.request("vpn", c.ada, c.ada)
		e.run()
		wantEvents(t, rec, r.ID, notify.EventCreated)
		if got := recipients(rec, r.ID, notify.EventCreated); !slices.Equal(got, []string{"boss.one"}) {
			t.Errorf("created: to %v, want the manager", got)
		}
		if ent, err := e.q.Get(context.Background(), engine.RequestKey(r.ID)); err != nil || !ent.Due.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("the request's boundary: %+v, %v; want the reminder at +24h", ent, err)
		}

		e.at(t0.Add(24*time.Hour - time.Second))
		wantEvents(t, rec, r.ID, notify.EventCreated)
		e.at(t0.Add(24 * time.Hour))
		wantEvents(t, rec, r.ID, notify.EventCreated, notify.EventReminder)

		// (e) the fallback cannot decide before the escalation; an
		// outsider and the subject never can; each refusal is audited.
		for _, who := range []string{c.sec, c.eve, c.ada} {
			if _, err := e.decide(r.ID, who, true); !errors.Is(err, engine.ErrNotApprover) {
				t.Errorf("decision by %s before the escalation: %v, want ErrNotApprover", who, err)
			}
		}
		if got := e.req(r.ID); got.State != engine.RequestPending || countAction(got, "refused approve") != 3 {
			t.Errorf("after refused decisions: %s, trail %+v", got.State, got.Trail)
		}

		e.at(t0.Add(48 * time.Hour))
		wantEvents(t, rec, r.ID, notify.EventCreated, notify.EventReminder, notify.EventEscalated)
		if got := recipients(rec, r.ID, notify.EventEscalated); !slices.Equal(got, []string{"sec.officer"}) {
			t.Errorf("escalated: to %v, want the fallback", got)
		}
		decided := t0.Add(50 * time.Hour)
		e.clock.Set(decided)
		got, err := e.decide(r.ID, "hr/sec.officer", true)
		if err != nil || got.State != engine.RequestApproved || !got.End.Equal(decided.Add(240*time.Hour)) {
			t.Fatalf("approval by the fallback: %+v, %v", got, err)
		}

		if n := e.metric("tenure_requests_decided_total", "item", "vpn", "decision", "approved"); n != 1 {
			t.Errorf("decided approved: %v", n)
		}
		// (f) a restart between the decision and the converge.
		e.restart()
		e.eng.SetNotifiers([]notify.Notifier{rec})
		f.want("E1", "Engineering", true, "engineering", "staff")
		e.run()
		f.want("E1", "Engineering", true, "engineering", "staff", "vpn")
		wantEvents(t, rec, r.ID, notify.EventCreated, notify.EventReminder, notify.EventEscalated, notify.EventApproved)
		view, err := e.eng.Identity(context.Background(), c.ada)
		if err != nil || len(view.Record.Requested) != 1 || view.Record.Requested[0].Request != r.ID {
			t.Errorf("identity show: requested %+v, %v", view.Record.Requested, err)
		}

		// The reminder due at +72h is left to run: it finds nothing due,
		// sends nothing, and the next boundary is the grant's end.
		e.at(t0.Add(72 * time.Hour))
		wantEvents(t, rec, r.ID, notify.EventCreated, notify.EventReminder, notify.EventEscalated, notify.EventApproved)
		if ent, err := e.q.Get(context.Background(), engine.RequestKey(r.ID)); err != nil || !ent.Due.Equal(got.End) {
			t.Errorf("after the old reminder's time the boundary is %+v, %v; want the grant's end", ent, err)
		}

		e.at(got.End.Add(-time.Second))
		f.want("E1", "Engineering", true, "engineering", "staff", "vpn")
		e.at(got.End)
		f.want("E1", "Engineering", true, "engineering", "staff")
		if end := e.req(r.ID); end.State != engine.RequestEnded {
			t.Errorf("at the end: %s", end.State)
		}
	})
}

func countAction(r *engine.Request, action string) int {
	n := 0
	for _, t := range r.Trail {
		if t.Action == action {
			n++
		}
	}
	return n
}

const recordingRequests = `
lifecycle: {timezone: UTC, prehire_lead: 0s, mover_grace: 24h}
birthright:
  - {name: staff, when: 'true', grants: {dir: [staff]}}
targets:
  - name: dir
    kind: test
    attributes: {uid: user.userName}
` + requestsYAML

// TestRequestExpires is acceptance (b): an undecided request closes as
// expired at expire_after, is counted, and a decision after that is refused.
func TestRequestExpires(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		rec := &notifytest.Recording{}
		e.eng.SetNotifiers([]notify.Notifier{rec})
		c := e.cast()
		r := e.request("db", c.ada, c.boss)
		e.run()
		if _, err := e.eng.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.metric("tenure_requests_open", "item", "db"); n != 1 {
			t.Errorf("open: %v", n)
		}
		e.at(r.Created.Add(72*time.Hour - time.Second))
		if got := e.req(r.ID).State; got != engine.RequestPending {
			t.Errorf("before the expiry: %s", got)
		}
		e.at(r.Created.Add(72 * time.Hour))
		got := e.req(r.ID)
		if got.State != engine.RequestExpired || !got.Next.IsZero() {
			t.Errorf("at the expiry: %s next %s", got.State, got.Next)
		}
		wantEvents(t, rec, r.ID, notify.EventCreated, notify.EventExpired)
		if _, err := e.decide(r.ID, c.boss, true); !errors.Is(err, engine.ErrRequestClosed) {
			t.Errorf("a decision after the expiry: %v", err)
		}
		if _, err := e.q.Get(context.Background(), engine.RequestKey(r.ID)); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("the expired request still has a job: %v", err)
		}
		if n := e.metric("tenure_requests_expired_total", "item", "db"); n != 1 {
			t.Errorf("expired_total: %v", n)
		}
		if ent := ent(e.acct("dir", c.ada)); slices.Contains(ent, "db") {
			t.Errorf("an expired request granted: %v", ent)
		}
	})
}

// TestRequestAllOfAndBirthright: an all-of step needs the manager and a
// DBA; access held by birthright is answered at once; a second open
// request for one item is refused; withdrawing revokes.
func TestRequestAllOfAndBirthright(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		if r := e.request("staff", c.ada, c.ada); r.State != engine.RequestFulfilled || !strings.Contains(r.Trail[len(r.Trail)-1].Detail, "staff") {
			t.Errorf("staff by birthright: %s %+v", r.State, r.Trail)
		}
		r := e.request("db", c.ada, c.ada)
		if _, err := e.eng.CreateRequest(context.Background(), engine.RequestInput{Item: "db", Subject: c.ada, Requester: c.boss, Channel: "test"}); !errors.Is(err, engine.ErrDuplicate) {
			t.Errorf("a second open request: %v", err)
		}
		if _, err := e.eng.CreateRequest(context.Background(), engine.RequestInput{Item: "db", Subject: c.ada, Requester: c.eve, Channel: "test"}); !errors.Is(err, engine.ErrNotAllowed) {
			t.Errorf("a request by someone the allow refuses: %v", err)
		}
		if got, err := e.decide(r.ID, c.boss, true); err != nil || got.State != engine.RequestPending {
			t.Errorf("the manager's approval alone: %v, %v", got.State, err)
		}
		if _, err := e.decide(r.ID, c.boss, true); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("the manager again: %v", err)
		}
		if got, err := e.decide(r.ID, c.dba, true); err != nil || got.State != engine.RequestApproved {
			t.Errorf("with the DBA: %v, %v", got.State, err)
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff")
		if _, err := e.eng.WithdrawRequest(context.Background(), r.ID, c.eve, "no", "test", "test proof"); !errors.Is(err, engine.ErrNotAllowed) {
			t.Errorf("withdraw by an outsider: %v", err)
		}
		got, err := e.eng.WithdrawRequest(context.Background(), r.ID, c.ada, "done", "test", "test proof")
		if err != nil || got.State != engine.RequestWithdrawn {
			t.Fatalf("withdraw: %v, %v", got, err)
		}
		// Both trail lines, the refusal and the withdrawal, keep the
		// channel's proof, as a decision's do.
		for _, action := range []string{"refused withdraw", "withdrew"} {
			i := slices.IndexFunc(got.Trail, func(l engine.TrailEntry) bool { return l.Action == action })
			if i < 0 || got.Trail[i].Proof != "test proof" {
				t.Errorf("trail line %q: %+v, want it with the proof", action, got.Trail)
			}
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}

// TestMoverReview is acceptance (c): a mover's two requested grants are
// reviewed by the new manager, who keeps one with a new end; the other,
// undecided, is revoked at the review's expiry; the old manager may not
// decide; a leaver loses what was kept.
func TestMoverReview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		rec := &notifytest.Recording{}
		e.eng.SetNotifiers([]notify.Notifier{rec})
		c := e.cast()
		vpn, db := e.request("vpn", c.ada, c.ada), e.request("db", c.ada, c.ada)
		for _, d := range []struct{ id, who string }{{vpn.ID, c.boss}, {db.ID, c.boss}, {db.ID, c.dba}} {
			if _, err := e.decide(d.id, d.who, true); err != nil {
				t.Fatal(err)
			}
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff", "vpn")

		moved := T0.Add(2 * time.Hour)
		e.clock.Set(moved)
		e.patch(c.ada, replace(enterpriseURN+":department", "Sales"), replace(enterpriseURN+":manager", map[string]any{"value": c.boss2}))
		e.run()
		revs, err := e.eng.Reviews(context.Background(), true)
		if err != nil || len(revs) != 1 || len(revs[0].Items) != 2 {
			t.Fatalf("reviews: %+v, %v", revs, err)
		}
		rv := revs[0]
		if got := recipients(rec, rv.ID, notify.EventReview); !slices.Equal(got, []string{"boss.two"}) {
			t.Errorf("review to %v, want the new manager", got)
		}
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff", "vpn") // kept until decided
		if _, err := e.eng.DecideReview(context.Background(), rv.ID, engine.ReviewDecision{Request: vpn.ID, Keep: true, Actor: c.boss, Channel: "test"}); !errors.Is(err, engine.ErrNotApprover) {
			t.Errorf("the old manager's decision: %v", err)
		}
		newEnd := moved.Add(30 * 24 * time.Hour)
		if _, err := e.eng.DecideReview(context.Background(), rv.ID, engine.ReviewDecision{Request: vpn.ID, Keep: true, NewEnd: newEnd, Actor: c.boss2, Channel: "test"}); err != nil {
			t.Fatal(err)
		}
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff", "vpn")
		e.at(moved.Add(96*time.Hour - time.Second))
		wantAccount(t, e.acct("dir", c.ada), true, "", "db", "staff", "vpn")
		e.at(moved.Add(96 * time.Hour))
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff", "vpn")
		closed, _ := e.eng.GetReview(context.Background(), rv.ID)
		if closed.Closed.IsZero() || e.req(db.ID).State != engine.RequestRevoked || e.req(vpn.ID).State != engine.RequestApproved {
			t.Errorf("after the expiry: review closed %v, db %s, vpn %s", closed.Closed, e.req(db.ID).State, e.req(vpn.ID).State)
		}
		e.at(newEnd)
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
		if got := e.req(vpn.ID).State; got != engine.RequestEnded {
			t.Errorf("vpn at its new end: %s", got)
		}
	})
}

// TestLeaverRevokesRequests: a leaver's granted request is revoked, and a
// rehire does not bring it back.
func TestLeaverRevokesRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		c := e.cast()
		r := e.request("vpn", c.ada, c.ada)
		if _, err := e.decide(r.ID, c.boss, true); err != nil {
			t.Fatal(err)
		}
		e.run()
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace("active", false))
		e.run()
		if got := e.req(r.ID); got.State != engine.RequestRevoked {
			t.Errorf("after the leaver: %s %+v", got.State, got.Trail)
		}
		e.clock.Add(time.Hour)
		e.patch(c.ada, replace("active", true))
		e.run()
		wantAccount(t, e.acct("dir", c.ada), true, "", "staff")
	})
}
