package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
)

// The drift pass against real directories (issue 14 item 3): the periodic
// pass repairs what was changed by hand without a manual reconcile and
// counts the repairs per class; a member added by hand to an exclusive
// group is removed; removals count against the guard and wait for an
// approval when it trips.

// driftPolicy is the fixture's policy with a drift pass, the engineering
// group exclusive and a guard of threshold.
func driftPolicy(t *testing.T, f *dirFixture, threshold int) string {
	t.Helper()
	p := strings.NewReplacer(
		"  prehire_lead: 0s\n", fmt.Sprintf("  prehire_lead: 0s\n  guard: {threshold: %d, window: 1h}\n", threshold),
		"    kind: test-directory", "    drift: {interval: 24h, spread: 1h}\n    exclusive_groups: [engineering]\n    kind: test-directory",
	).Replace(f.policy)
	if !strings.Contains(p, "exclusive_groups") || !strings.Contains(p, "guard:") {
		t.Fatal("policy not patched")
	}
	return p
}

// driftEmp is a person's extension attributes.
func driftEmp(num, dept string) map[string]any {
	return map[string]any{enterpriseURN: map[string]any{"employeeNumber": num, "department": dept}}
}

// driftHandEntry adds an account by hand (no person's) in ou=Sales.
func driftHandEntry(f *dirFixture, name string) string {
	f.t.Helper()
	dn := ldapsync.JoinDN(ldapsync.RDN(f.rdn, name), ldapsync.JoinDN(ldapsync.RDN("ou", "Sales"), f.base))
	attrs := map[string][]string{"cn": {name}, "sn": {"Hand"}}
	if f.name == "ad" {
		attrs["objectClass"] = []string{"top", "person", "organizationalPerson", "user"}
		attrs["sAMAccountName"] = []string{strings.ReplaceAll(name, " ", "-")}
		attrs["userAccountControl"] = []string{"514"}
	} else {
		attrs["objectClass"] = []string{"inetOrgPerson"}
		attrs["uid"] = []string{name}
	}
	f.add(dn, attrs)
	return dn
}

// driftGroup is the DN of one of the fixture's groups.
func driftGroup(f *dirFixture, name string) string {
	return ldapsync.JoinDN(ldapsync.RDN("cn", name), f.groups)
}

// driftAddMembers adds dns to a group by hand.
func driftAddMembers(f *dirFixture, group string, dns ...string) {
	f.t.Helper()
	err := f.p.Do(f.t.Context(), "modify", func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(driftGroup(f, group), nil)
		m.Add("member", dns)
		return c.Modify(m)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// driftMembers reads a group's member DNs.
func driftMembers(f *dirFixture, group string) []string {
	f.t.Helper()
	req := ldap.NewSearchRequest(driftGroup(f, group), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"member"}, nil)
	es, err := f.p.SearchAll(f.t.Context(), req, 0)
	if err != nil || len(es) != 1 {
		f.t.Fatalf("read %s: %v", group, err)
	}
	return es[0].GetAttributeValues("member")
}

// driftIsMember reports whether dn is among the group's members.
func driftIsMember(f *dirFixture, group, dn string) bool {
	return slices.ContainsFunc(driftMembers(f, group), func(m string) bool { return ldapsync.EqualDN(m, dn) })
}

// driftPass runs the passes due now and returns the one for dir.
func driftPass(t *testing.T, e *env) *engine.DriftReport {
	t.Helper()
	reps, err := e.eng.DriftDue(t.Context())
	if err != nil {
		t.Fatalf("DriftDue: %v", err)
	}
	if len(reps) != 1 || reps[0].Target != "dir" {
		t.Fatalf("DriftDue ran %+v, want one pass on dir", reps)
	}
	return reps[0]
}

var _ engine.GroupLister = (*ldapsync.Directory)(nil)

func TestDriftDirectories(t *testing.T) {
	for name, start := range map[string]func(*testing.T) *directory{"openldap": slapdDirectory, "ad": sambaDirectory} {
		t.Run(name, func(t *testing.T) {
			t.Run("PeriodicPassRepairs", func(t *testing.T) { driftPeriodic(t, start(t)) })
			t.Run("ExclusiveGroup", func(t *testing.T) { driftExclusive(t, start(t)) })
			t.Run("ExclusiveRemovalsPassTheGuard", func(t *testing.T) { driftExclusiveGuard(t, start(t)) })
		})
	}
}

// driftPeriodic: a title changed, an account disabled and a membership
// removed by hand are repaired by the next periodic pass (not before it,
// and with no reconcile), each counted in its class.
func driftPeriodic(t *testing.T, d *directory) {
	f := d.fixture(t)
	e := newEnvWith(t, backends(t)[0], driftPolicy(t, f, 50), map[string]targets.Target{"dir": f.target()})
	e.user("ada.drift", map[string]any{"title": "Engineer", enterpriseURN: map[string]any{"employeeNumber": "D1", "department": "Engineering"}})
	e.user("bob.drift", driftEmp("D2", "Sales"))
	e.user("cy.drift", driftEmp("D3", "Engineering"))
	e.run()
	// The first pass runs at once, spread over an hour, and finds nothing
	// (the inventory lists the users OU, ou=Engineering).
	rep := driftPass(t, e)
	if rep.Scheduled != 3 || !rep.Until.After(T0) || rep.Until.After(T0.Add(time.Hour)) || rep.Listed != 2 || rep.Orphans != 0 {
		t.Errorf("first pass %+v", rep)
	}
	e.at(T0.Add(time.Hour))
	for _, class := range engine.DriftClasses {
		if v := e.metric("tenure_engine_drift_repairs_total", "target", "dir", "class", class); v != 0 {
			t.Errorf("repairs{%s} = %v after a pass over nothing changed", class, v)
		}
	}

	// Behind Tenure's back.
	ada, bob, cy := f.find("D1"), f.find("D2"), f.find("D3")
	err := f.p.Do(t.Context(), "modify", func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(ada.dn, nil)
		m.Replace("title", []string{"Chief Everything"})
		if err := c.Modify(m); err != nil {
			return err
		}
		m = ldap.NewModifyRequest(bob.dn, nil)
		f.dialect.SetEnabled(m, bob.attrs, false)
		if err := c.Modify(m); err != nil {
			return err
		}
		m = ldap.NewModifyRequest(driftGroup(f, "staff"), nil)
		m.Delete("member", []string{cy.dn})
		return c.Modify(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	// No pass is due before the interval: nothing is repaired.
	e.clock.Set(T0.Add(12 * time.Hour))
	if reps, err := e.eng.DriftDue(t.Context()); err != nil || len(reps) != 0 {
		t.Fatalf("DriftDue before the interval = %+v, %v", reps, err)
	}
	e.run()
	if got := f.find("D1").attrs.GetAttributeValue("title"); got != "Chief Everything" {
		t.Fatalf("title %q repaired before any pass", got)
	}

	e.clock.Set(T0.Add(24 * time.Hour))
	rep = driftPass(t, e)
	if rep.Scheduled != 3 {
		t.Errorf("second pass scheduled %d, want 3", rep.Scheduled)
	}
	e.at(T0.Add(25 * time.Hour))
	if got := f.find("D1").attrs.GetAttributeValue("title"); got != "Engineer" {
		t.Errorf("title %q after the pass, want Engineer", got)
	}
	f.want("D2", "Sales", true, "sales, EMEA", "staff")
	f.want("D3", "Engineering", true, "engineering", "staff")
	want := map[string]float64{engine.DriftAttribute: 1, engine.DriftStatus: 1, engine.DriftMembership: 1}
	for _, class := range engine.DriftClasses {
		if v := e.metric("tenure_engine_drift_repairs_total", "target", "dir", "class", class); v != want[class] {
			t.Errorf("repairs{%s} = %v, want %v", class, v, want[class])
		}
	}
	// The tally in the store says the same, for tenure reconcile.
	v, err := e.eng.Drift(t.Context(), "dir", T0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Tally.Repairs; r[engine.DriftAttribute] != 1 || r[engine.DriftStatus] != 1 || r[engine.DriftMembership] != 1 || len(r) != 3 {
		t.Errorf("tally %v", r)
	}
	if v.Pending != 0 || v.Linked != 3 || !v.Next.Equal(T0.Add(48*time.Hour)) || v.Report == nil || v.Report.Scheduled != 3 {
		t.Errorf("drift view %+v", v)
	}
}

// driftExclusive: the drift pass removes from the exclusive engineering
// group a hand-made entry and a managed account whose person is not in
// engineering, keeps the engineer (and OpenLDAP's placeholder), audits
// the removal in the owner's log and leaves a group that is not exclusive
// alone.
func driftExclusive(t *testing.T, d *directory) {
	f := d.fixture(t)
	e := newEnvWith(t, backends(t)[0], driftPolicy(t, f, 50), map[string]targets.Target{"dir": f.target()})
	e.user("eve.engineer", driftEmp("X1", "Engineering"))
	sales := e.user("sam.sales", driftEmp("X2", "Sales"))
	e.run()
	engineer, salesman := f.find("X1"), f.find("X2")
	hand := driftHandEntry(f, "hand made")
	driftAddMembers(f, "engineering", hand, salesman.dn)
	driftAddMembers(f, "staff", hand) // not exclusive: stays

	rep := driftPass(t, e)
	if len(rep.Exclusive) != 1 {
		t.Fatalf("exclusive report %+v", rep.Exclusive)
	}
	g := rep.Exclusive[0]
	removed := map[string]string{}
	for _, m := range g.Removed {
		removed[strings.ToLower(m.Value)] = m.Owner
	}
	person := func(scimID string) string {
		v, err := e.eng.Identity(t.Context(), scimID)
		if err != nil {
			t.Fatal(err)
		}
		return v.Record.ID
	}
	if g.Error != "" || len(g.Held) != 0 || len(g.Failed) != 0 || len(removed) != 2 ||
		removed[strings.ToLower(salesman.dn)] != person(sales) || removed[strings.ToLower(hand)] != "" {
		t.Errorf("exclusive group %+v, want the hand-made entry and sam removed", g)
	}
	if driftIsMember(f, "engineering", hand) || driftIsMember(f, "engineering", salesman.dn) || !driftIsMember(f, "engineering", engineer.dn) {
		t.Errorf("engineering members after the pass: %v", driftMembers(f, "engineering"))
	}
	if f.name == "openldap" && !driftIsMember(f, "engineering", testenv.SlapdBindDN) {
		t.Error("the groupOfNames placeholder (the bind DN) was removed")
	}
	if !driftIsMember(f, "staff", hand) {
		t.Error("a member of a group that is not exclusive was removed")
	}
	if v := e.metric("tenure_engine_drift_repairs_total", "target", "dir", "class", engine.DriftExclusive); v != 2 {
		t.Errorf("repairs{exclusive} = %v, want 2", v)
	}
	if v := e.metric("tenure_engine_operations_total", "target", "dir", "op", "remove_member", "result", "ok"); v != 2 {
		t.Errorf("operations{remove_member} = %v, want 2", v)
	}
	if gs, err := e.eng.Guard(t.Context(), "dir"); err != nil || gs.Tripped || len(gs.Counted) != 2 {
		t.Errorf("guard %+v, %v: want the two removals counted", gs, err)
	}
	v, err := e.eng.Identity(t.Context(), sales)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(v.Events, func(ev engine.Event) bool {
		return ev.Kind == engine.EventApplied && len(ev.Ops) == 1 && ev.Ops[0].Kind == engine.OpRemoveMember
	}) {
		t.Errorf("sam's audit log lacks the removal: %+v", v.Events)
	}
	// Sam's converges (the pass scheduled everyone) do not put him back,
	// and a second pass finds nothing to remove.
	e.at(T0.Add(time.Hour))
	f.want("X2", "Sales", true, "sales, EMEA", "staff")
	e.clock.Set(T0.Add(24 * time.Hour))
	if g := driftPass(t, e).Exclusive[0]; len(g.Removed)+len(g.Held)+len(g.Failed) != 0 {
		t.Errorf("second pass %+v", g)
	}
	if v := e.metric("tenure_engine_drift_repairs_total", "target", "dir", "class", engine.DriftMembership); v != 0 {
		t.Errorf("repairs{membership} = %v: a removal was put back", v)
	}
}

// driftExclusiveGuard: four hand-added members and a guard of two: two
// are removed, the guard trips and holds the other two (audited, listed),
// and an approval releases them at the next cleanup without tripping
// again.
func driftExclusiveGuard(t *testing.T, d *directory) {
	f := d.fixture(t)
	e := newEnvWith(t, backends(t)[0], driftPolicy(t, f, 2), map[string]targets.Target{"dir": f.target()})
	e.user("eve.engineer", driftEmp("X1", "Engineering"))
	e.run()
	var hands []string
	for i := range 4 {
		hands = append(hands, driftHandEntry(f, fmt.Sprintf("hand %d", i)))
	}
	driftAddMembers(f, "engineering", hands...)

	g := driftPass(t, e).Exclusive[0]
	if len(g.Removed) != 2 || len(g.Held) != 2 || len(g.Failed) != 0 {
		t.Fatalf("exclusive group %+v, want 2 removed and 2 held", g)
	}
	left := 0
	for _, h := range hands {
		if driftIsMember(f, "engineering", h) {
			left++
		}
	}
	if left != 2 {
		t.Errorf("%d hand-added members left, want the 2 held", left)
	}
	gs, err := e.eng.Guard(t.Context(), "dir")
	if err != nil {
		t.Fatal(err)
	}
	if !gs.Tripped || len(gs.Held) != 2 || !strings.HasPrefix(gs.Held[0], "member ") {
		t.Fatalf("guard %+v, want tripped holding the 2 members", gs)
	}
	if v := e.metric("tenure_engine_guard_tripped", "target", "dir"); v != 1 {
		t.Errorf("guard gauge %v", v)
	}
	// Nothing more is removed while the guard holds them.
	e.clock.Add(time.Minute)
	if reps, err := e.eng.DriftDue(t.Context()); err != nil || len(reps) != 0 {
		t.Errorf("DriftDue while held = %+v, %v", reps, err)
	}

	if _, err := e.eng.ApproveGuard(t.Context(), "dir", "test"); err != nil {
		t.Fatal(err)
	}
	rep := driftPass(t, e) // the cleanup the approval asked for
	if rep.Scheduled != 0 || len(rep.Exclusive) != 1 || len(rep.Exclusive[0].Removed) != 2 || len(rep.Exclusive[0].Held) != 0 {
		t.Fatalf("cleanup after the approval %+v", rep)
	}
	for _, h := range hands {
		if driftIsMember(f, "engineering", h) {
			t.Errorf("%s still in engineering after the approval", h)
		}
	}
	gs, err = e.eng.Guard(t.Context(), "dir")
	if err != nil {
		t.Fatal(err)
	}
	if gs.Tripped || len(gs.Approved) != 0 {
		t.Errorf("guard after the released removals %+v: want untripped with the approvals spent", gs)
	}
	if v := e.metric("tenure_engine_drift_repairs_total", "target", "dir", "class", engine.DriftExclusive); v != 4 {
		t.Errorf("repairs{exclusive} = %v, want 4", v)
	}
}
