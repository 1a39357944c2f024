package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// References follow the account they name (issue 14): a manager's move
// or rename updates every report at once, references resolve through the
// person (a rehire's old SCIM id, Okta's own ids as externalId), an id
// that names nobody yet waits visibly and resolves when the user appears,
// and the dry run resolves references as a worker does.
func TestReferencesFollow(t *testing.T) {
	for name, start := range map[string]func(*testing.T) *directory{"openldap": slapdDirectory, "ad": sambaDirectory} {
		t.Run(name, func(t *testing.T) {
			f := start(t).fixture(t)
			pol := strings.Replace(f.policy, "  mover_grace: 72h\n", "  mover_grace: 72h\n  correlation: 'enterprise.?employeeNumber.orValue(\"\")'\n", 1)
			e := newEnvWith(t, backends(t)[0], pol, map[string]targets.Target{"dir": f.target()})
			ctx := t.Context()
			emp := func(num, dept string, extra map[string]any) map[string]any {
				ent := map[string]any{"employeeNumber": num, "department": dept}
				for k, v := range extra {
					ent[k] = v
				}
				return map[string]any{enterpriseURN: ent}
			}
			boss := e.user("dave.boss", emp("R0", "Engineering", nil))
			var reports []string
			for _, n := range []string{"ann.one", "bob.two", "cat.three"} {
				reports = append(reports, e.user(n, emp("R"+n[:1], "Engineering", map[string]any{"manager": map[string]any{"value": boss}})))
			}
			e.run()
			managerOf := func(num string) string {
				t.Helper()
				got := f.find(num)
				if got == nil {
					t.Fatalf("no account %s", num)
				}
				return got.attrs.GetAttributeValue("manager")
			}
			bossDN := f.find("R0").dn
			for _, n := range []string{"Ra", "Rb", "Rc"} {
				if m := managerOf(n); !ldapsync.EqualDN(m, bossDN) {
					t.Fatalf("%s manager %q, want %q", n, m, bossDN)
				}
			}
			// The plan of a report with nothing to change changes nothing.
			p, err := e.eng.Plan(ctx, engine.PlanRequest{ID: reports[0]})
			if err != nil || len(p.Targets[0].Ops) != 0 {
				t.Errorf("plan of an unchanged report: %+v %v", p.Targets[0].Ops, err)
			}

			// The manager moves to Sales: every report follows in the
			// same run, with no reconcile.
			e.clock.Add(time.Hour)
			e.patch(boss, replace(enterpriseURN+":department", "Sales"))
			e.run()
			moved := f.find("R0").dn
			if ldapsync.EqualDN(moved, bossDN) {
				t.Fatalf("the manager did not move: %s", moved)
			}
			for _, n := range []string{"Ra", "Rb", "Rc"} {
				if m := managerOf(n); !ldapsync.EqualDN(m, moved) {
					t.Errorf("%s manager %q after the move, want %q", n, m, moved)
				}
			}

			// The manager leaves and comes back through a new SCIM record
			// (a rehire by correlation): a new report naming the old id
			// resolves to the same account.
			e.clock.Add(time.Hour)
			e.patch(boss, replace("active", false))
			e.run()
			e.clock.Add(24 * time.Hour)
			boss2 := e.user("dave.boss2", emp("R0", "Sales", nil))
			e.run()
			if boss2 == boss {
				t.Fatal("the rehire kept the SCIM id; the test wants a new record")
			}
			late := e.user("dan.four", emp("Rd", "Engineering", map[string]any{"manager": map[string]any{"value": boss}}))
			e.run()
			back := f.find("R0")
			if m := managerOf("Rd"); !ldapsync.EqualDN(m, back.dn) {
				t.Errorf("a reference to the rehired manager's old id resolved to %q, want %q", m, back.dn)
			}

			// Okta's own id (the manager's externalId) and an id that names
			// nobody yet: the second waits, visibly, until that user is
			// written.
			okta := e.user("ed.okta", map[string]any{"externalId": "00u-okta-ed", enterpriseURN: map[string]any{"employeeNumber": "Re", "department": "Engineering"}})
			viaOkta := e.user("fay.five", emp("Rf", "Engineering", map[string]any{"manager": map[string]any{"value": "00u-okta-ed"}}))
			early := e.user("gil.six", emp("Rg", "Engineering", map[string]any{"manager": map[string]any{"value": "00u-okta-hal"}}))
			e.run()
			if m := managerOf("Rf"); !ldapsync.EqualDN(m, f.find("Re").dn) {
				t.Errorf("a manager named by externalId resolved to %q", m)
			}
			if m := managerOf("Rg"); m != "" {
				t.Errorf("a manager nobody is has DN %q", m)
			}
			v, err := e.eng.Identity(ctx, early)
			if err != nil || v.Targets["dir"].Link.Unresolved["manager"] != "00u-okta-hal" {
				t.Errorf("identity does not show the unresolved manager: %+v %v", v.Targets["dir"].Link, err)
			}
			if got := e.metric("tenure_engine_unresolved_references_total", "target", "dir", "attribute", "manager"); got != 1 {
				t.Errorf("unresolved_references_total = %v, want 1", got)
			}
			e.clock.Add(time.Hour)
			e.user("hal.seven", map[string]any{"externalId": "00u-okta-hal", enterpriseURN: map[string]any{"employeeNumber": "Rh", "department": "Engineering"}})
			e.run()
			if m := managerOf("Rg"); !ldapsync.EqualDN(m, f.find("Rh").dn) {
				t.Errorf("after the manager appeared, manager %q, want %q", m, f.find("Rh").dn)
			}
			_, _, _ = okta, viaOkta, late
		})
	}
}

// TestReferencesStayInSource: a reference never crosses sources. A user of
// source crm naming an hr person's SCIM id (or person id) as manager gets
// no manager; the same id from hr resolves.
func TestReferencesStayInSource(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		boss := e.user("boss.hr", nil)
		e.run()
		bossRef := e.acct("dir", boss)
		if bossRef == nil {
			t.Fatal("no account for the manager")
		}
		// A crm user written the way the SCIM server writes one.
		crmUser := &store.Resource{Kind: store.KindUser, ID: "crm-1", Source: "crm", Name: "rep.crm",
			Attributes: map[string]any{"active": true, "name": map[string]any{"givenName": "Rep", "familyName": "Crm"},
				enterpriseURN: map[string]any{"manager": map[string]any{"value": boss}}}}
		err := e.st.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.Create(crmUser); err != nil {
				return err
			}
			_, err := e.eng.OnWrite(tx, nil, crmUser)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		hrRep := e.user("rep.hr", map[string]any{enterpriseURN: map[string]any{"manager": map[string]any{"value": boss}}})
		e.run()
		v, err := e.eng.Identity(t.Context(), "crm-1")
		if err != nil {
			t.Fatal(err)
		}
		l := v.Targets["dir"].Link
		if l == nil || l.Unresolved["manager"] != boss || len(l.Refs) != 0 {
			t.Errorf("crm user's link %+v: the hr manager must not resolve across sources", l)
		}
		if a := e.acct("dir", v.Record.ID); a == nil || a.References["manager"] != "" {
			t.Errorf("crm user's account %+v has a manager from another source", a)
		}
		if a := e.acct("dir", hrRep); a == nil || a.References["manager"] == "" {
			t.Errorf("hr user's account %+v lacks its manager", a)
		}
	})
}
