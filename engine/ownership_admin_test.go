package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
)

// TestOwnershipOperator: a naming collision with a hand-made entry parks
// the person (shown on their identity, in the conflicts list, in the
// metrics and the audit log) and writes nothing; an operator resolves it
// by linking the person to an account, and can unlink; linking an account
// another person holds is refused.
func TestOwnershipOperator(t *testing.T) {
	f := slapdDirectory(t).fixture(t)
	forEachBackend(t, func(t *testing.T, b backend) {
		f.t = t
		e := newEnvWith(t, b, f.policy, map[string]targets.Target{"dir": f.target()})
		ctx := t.Context()
		users := ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base)
		name := "victim." + b.name
		dn := ldapsync.JoinDN(ldapsync.RDN("uid", name), users)
		f.add(dn, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {name}, "cn": {"By Hand"}, "sn": {"Hand"},
			"employeeNumber": {"H-" + b.name}})
		before := f.find("H-" + b.name)

		id := e.user(name, map[string]any{enterpriseURN: map[string]any{"employeeNumber": "V-" + b.name, "department": "Engineering"}})
		e.run()
		after := f.find("H-" + b.name)
		if after == nil || after.attrs.GetAttributeValue("entryCSN") != before.attrs.GetAttributeValue("entryCSN") || len(after.groups) != 0 {
			t.Fatalf("the hand-made entry changed: %+v", after)
		}
		if f.find("V-"+b.name) != nil {
			t.Fatal("the colliding person got an account somewhere")
		}
		v, err := e.eng.Identity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		link := v.Targets["dir"].Link
		if link == nil || link.Conflict == nil || link.Conflict.Reason != targets.ConflictCollision || link.Conflict.ID != before.anchor {
			t.Fatalf("identity shows link %+v, want a collision over %s", link, before.anchor)
		}
		person := v.Record.ID
		cs, err := e.eng.Conflicts(ctx)
		if err != nil || !slices.ContainsFunc(cs, func(c engine.ConflictView) bool { return c.Person == person && c.Target == "dir" }) {
			t.Errorf("conflicts %+v %v: %s not listed", cs, err, person)
		}
		if got := e.metric("tenure_engine_conflicts_total", "target", "dir", "reason", "collision"); got != 1 {
			t.Errorf("conflicts_total = %v, want 1", got)
		}
		if !slices.ContainsFunc(v.Events, func(ev engine.Event) bool { return ev.Kind == engine.EventConflict }) {
			t.Errorf("no conflict event in %+v", v.Events)
		}
		// Parked, not spinning: running again does nothing until the
		// recheck; the sweep counts it.
		if n := e.run(); n != 0 {
			t.Errorf("%d converges ran for a parked key", n)
		}
		if _, err := e.eng.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.metric("tenure_engine_account_conflicts", "target", "dir"); got != 1 {
			t.Errorf("account_conflicts = %v, want 1", got)
		}

		// A second person cannot be linked to an account the first holds
		// once the operator gives it to the first.
		ls, err := e.eng.Link(ctx, "dir", id, before.anchor, dn, "alice")
		if err != nil || ls.ID != before.anchor || ls.Conflict != nil {
			t.Fatalf("link: %+v %v", ls, err)
		}
		e.run()
		adopted := f.find("V-" + b.name)
		if adopted == nil || adopted.anchor != before.anchor || !slices.Contains(adopted.groups, "staff") {
			t.Fatalf("after the operator's link the person's account is %+v", adopted)
		}
		v, _ = e.eng.Identity(ctx, id)
		if l := v.Targets["dir"].Link; l.Conflict != nil || l.ID != before.anchor || l.Result != "ok" {
			t.Errorf("after link and converge: %+v", l)
		}
		if !slices.ContainsFunc(v.Events, func(ev engine.Event) bool { return ev.Kind == engine.EventResolved }) ||
			!slices.ContainsFunc(v.Events, func(ev engine.Event) bool { return ev.Kind == engine.EventAdmin && ev.Actor == "alice" }) {
			t.Errorf("no resolved/admin events in %+v", v.Events)
		}
		other := e.user("other."+b.name, map[string]any{enterpriseURN: map[string]any{"employeeNumber": "O-" + b.name, "department": "Engineering"}})
		e.run()
		if _, err := e.eng.Link(ctx, "dir", other, before.anchor, "", "alice"); !errors.Is(err, engine.ErrOwned) {
			t.Errorf("linking another's account: %v, want ErrOwned", err)
		}
		// Unlink: nothing is written to the account; the owner index frees it.
		csn := f.find("V-" + b.name).attrs.GetAttributeValue("entryCSN")
		if _, err := e.eng.Unlink(ctx, "dir", id, "alice"); err != nil {
			t.Fatal(err)
		}
		e.run()
		if got := f.find("V-" + b.name); got == nil || got.attrs.GetAttributeValue("entryCSN") != csn {
			t.Errorf("unlink wrote to the account: %+v", got)
		}
		// Once free, the account can be given to someone else (their own
		// account is released from the index).
		if _, err := e.eng.Link(ctx, "dir", other, before.anchor, "", "alice"); err != nil {
			t.Errorf("linking a freed account: %v", err)
		}
	})
}

// TestOwnershipPlan: the dry run reads the directory for a person who has
// no account yet: an entry with their correlation value is "link
// existing", an entry in the way of their name is the conflict the
// converge would stop at, and the real converge then agrees.
func TestOwnershipPlan(t *testing.T) {
	f := slapdDirectory(t).fixture(t)
	b := backends(t)[0]
	e := newEnvWith(t, b, f.policy, map[string]targets.Target{"dir": f.target()})
	ctx := t.Context()
	users := ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base)
	hand := func(uid, num string) string {
		dn := ldapsync.JoinDN(ldapsync.RDN("uid", uid), users)
		f.add(dn, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {"By Hand"}, "sn": {"Hand"}, "employeeNumber": {num}})
		return dn
	}
	predates := hand("pre.dates", "PL-1")
	taken := hand("taken", "PL-other")
	doc := func(userName, num string) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName, "active": true,
			"name": map[string]any{"givenName": "P", "familyName": "L"}, enterpriseURN: map[string]any{"employeeNumber": num, "department": "Engineering"}}
	}
	p, err := e.eng.Plan(ctx, engine.PlanRequest{User: doc("new.name", "PL-1"), Source: "hr"})
	if err != nil {
		t.Fatal(err)
	}
	if tp := p.Targets[0]; tp.Conflict != nil || len(tp.Ops) == 0 || tp.Ops[0].Kind != targets.OpLink ||
		!strings.HasSuffix(tp.Ops[0].Detail, " (by correlation employeeNumber)") ||
		!ldapsync.EqualDN(strings.TrimSuffix(strings.TrimPrefix(tp.Ops[0].Detail, "existing "), " (by correlation employeeNumber)"), predates) {
		t.Errorf("plan for the person an entry predates: %+v", tp)
	}
	p, err = e.eng.Plan(ctx, engine.PlanRequest{User: doc("taken", "PL-2"), Source: "hr"})
	if err != nil {
		t.Fatal(err)
	}
	if tp := p.Targets[0]; tp.Conflict == nil || tp.Conflict.Reason != targets.ConflictCollision || !ldapsync.EqualDN(tp.Conflict.Ref, taken) {
		t.Errorf("plan for a person whose name is taken: %+v", tp)
	}
	// The converges do what the plans said.
	e.do("POST", "/Users", doc("new.name", "PL-1"), 201)
	id := e.user("taken", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "PL-2", "department": "Engineering"}})
	e.run()
	if got := f.find("PL-1"); got == nil || got.attrs.GetAttributeValue("uid") != "new.name" {
		t.Errorf("the predating entry was not linked and renamed: %+v", got)
	}
	v, err := e.eng.Identity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if l := v.Targets["dir"].Link; l == nil || l.Conflict == nil || !ldapsync.EqualDN(l.Conflict.Ref, taken) {
		t.Errorf("the colliding person: %+v", l)
	}
	// A plan for the parked person shows the parked conflict.
	p, err = e.eng.Plan(ctx, engine.PlanRequest{ID: id})
	if err != nil || p.Targets[0].Conflict == nil {
		t.Errorf("plan of the parked person: %+v %v", p, err)
	}
}

// TestOwnershipCollisionOwner: a naming collision with an account another
// person links names that person, so the conflict shows on both.
func TestOwnershipCollisionOwner(t *testing.T) {
	f := slapdDirectory(t).fixture(t)
	pol := strings.Replace(f.policy, `uid: 'user.userName'`, `uid: 'user.userName.split("@")[0]'`, 1)
	if pol == f.policy {
		t.Fatal("policy not patched")
	}
	e := newEnvWith(t, backends(t)[0], pol, map[string]targets.Target{"dir": f.target()})
	ctx := t.Context()
	a := e.user("coll@a.example", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "CO-1", "department": "Engineering"}})
	e.run()
	b := e.user("coll@b.example", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "CO-2", "department": "Engineering"}})
	e.run()
	va, err := e.eng.Identity(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := e.eng.Identity(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	c := vb.Targets["dir"].Link.Conflict
	if c == nil || c.Reason != targets.ConflictCollision || c.Owner != va.Record.ID || c.ID != va.Targets["dir"].Link.ID {
		t.Fatalf("the second person's conflict %+v, want a collision naming %s", c, va.Record.ID)
	}
	if !slices.Contains(va.Contests, engine.Contest{Target: "dir", Person: vb.Record.ID}) {
		t.Errorf("the owner's contests %+v do not list %s", va.Contests, vb.Record.ID)
	}
	if !slices.ContainsFunc(va.Events, func(ev engine.Event) bool { return ev.Kind == engine.EventConflict }) {
		t.Errorf("no conflict event on the owner")
	}
	if got := f.find("CO-1"); got == nil || got.anchor != va.Targets["dir"].Link.ID {
		t.Errorf("the owner's account: %+v", got)
	}
}
