package conformance

import (
	"slices"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// testLifecycle walks one account through a joiner's create, attribute
// changes, a rename, a move with a disable and back, group swaps and a
// leaver's delete, each converge applied twice.
func testLifecycle(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	g := r.f.Groups()
	eng, ops, sales, other := g[0], g[1], g[2], g[3]
	p := Person{Name: "jdoe", Key: "E100", Title: "Engineer", Groups: []string{eng, ops}}
	var link *targets.Link
	var applied *targets.Account
	var id string
	step := func(name string, next Person, joined []string, check func(t *testing.T, s *State)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			desired := r.f.Account(next)
			link = r.apply(t, "p1", link, desired, plan(applied, desired))
			applied = desired
			if id == "" {
				id = link.ID
			} else if link.ID != id {
				t.Errorf("anchor changed from %s to %s", id, link.ID)
			}
			s := r.wantState(t, link.ID, next, slices.Sorted(slices.Values(append(slices.Clone(next.Groups), joined...))))
			if !r.equalRef(s.Ref, link.Ref) {
				t.Errorf("the account is at %s, its link says %s", s.Ref, link.Ref)
			}
			if check != nil {
				check(t, s)
			}
			p = next
		})
	}
	step("create with groups", p, nil, func(t *testing.T, s *State) {
		// The dry run finds the account by its link.
		m, err := r.find(t, "p1", link, r.f.Account(p))
		if err != nil || m == nil || m.ID != link.ID || !r.equalRef(m.Ref, link.Ref) || m.By != "link" {
			t.Errorf("find with the link: %+v %v", m, err)
		}
	})
	changed := p
	changed.Title = "Staff Engineer"
	step("attribute change", changed, nil, nil)
	cleared := changed
	cleared.Title = ""
	step("attribute removed", cleared, nil, nil)
	renamed := cleared
	renamed.Name = "jane.doe"
	step("rename", renamed, nil, nil)
	if c := r.f.Container(); c != "" {
		moved := renamed
		moved.Container, moved.Disabled = c, true
		step("move and disable", moved, nil, nil)
		step("enable and move back", renamed, nil, nil)
	}
	disabled := renamed
	disabled.Disabled = true
	step("disable", disabled, nil, nil)
	step("enable", renamed, nil, nil)
	// A membership Tenure never granted stays through the swaps.
	t.Run("join by hand", func(t *testing.T) {
		r.f.Join(t, id, other)
	})
	swapped := renamed
	swapped.Groups = []string{ops, sales}
	step("group swap", swapped, []string{other}, nil)
	granted := swapped
	granted.Groups = []string{eng, ops, sales}
	step("grant", granted, []string{other}, nil)
	none := granted
	none.Groups = nil
	step("revoke all", none, []string{other}, nil)
	step("grant again", swapped, []string{other}, nil)
	t.Run("delete", func(t *testing.T) {
		link = r.apply(t, "p1", link, &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}})
		if s := r.f.Read(t, id); s != nil {
			t.Errorf("the account still exists: %+v", s)
		}
	})
	t.Run("delete again", func(t *testing.T) {
		r.apply(t, "p1", link, &targets.Account{}, nil)
		r.apply(t, "p1", nil, &targets.Account{}, nil)
	})
}

// testManager sets a manager reference to another account's Ref as the
// engine resolves it, follows the manager's rename and clears it.
func testManager(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	bossP := Person{Name: "boss", Key: "M1"}
	boss := r.apply(t, "boss", nil, r.f.Account(bossP), plan(nil, r.f.Account(bossP)))
	reportP := Person{Name: "report", Key: "R1", Manager: boss.Ref}
	report := r.apply(t, "report", nil, r.f.Account(reportP), plan(nil, r.f.Account(reportP)))
	r.wantState(t, report.ID, reportP, nil)

	renamedP := bossP
	renamedP.Name = "boss.renamed"
	prev := boss.Applied
	boss = r.apply(t, "boss", boss, r.f.Account(renamedP), plan(prev, r.f.Account(renamedP)))
	// The report follows: an update of the reference, or nothing where
	// the server rewrote it (AD's linked attributes) or the Ref did not
	// change (a SCIM id).
	followP := reportP
	followP.Manager = boss.Ref
	prev = report.Applied
	report = r.apply(t, "report", report, r.f.Account(followP), plan(prev, r.f.Account(followP)), nil)
	r.wantState(t, report.ID, followP, nil)

	clearedP := followP
	clearedP.Manager = ""
	prev = report.Applied
	report = r.apply(t, "report", report, r.f.Account(clearedP), plan(prev, r.f.Account(clearedP)))
	r.wantState(t, report.ID, clearedP, nil)
}

// testDrift changes an account behind Tenure's back and checks that the
// next converge repairs it, and that an account deleted behind its back is
// created again.
func testDrift(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	g := r.f.Groups()
	p := Person{Name: "drift", Key: "D1", Title: "Engineer", Groups: []string{g[0], g[1]}}
	desired := r.f.Account(p)
	link := r.apply(t, "p1", nil, desired, plan(nil, desired))

	changed := r.f.Drift(t, link.ID, g[0])
	if len(changed) == 0 {
		t.Fatal("Drift changed no mapped attribute")
	}
	if s := r.read(t, link.ID); s.Enabled || slices.Contains(s.Groups, g[0]) || s.Extra == "" {
		t.Fatalf("Drift did not drift the account: %+v", s)
	}
	want := []targets.Op{{Kind: targets.OpUpdate, Detail: opDetail(changed)}, {Kind: targets.OpEnable}}
	if !k.NoMembershipDrift {
		want = append(want, targets.Op{Kind: targets.OpGrant, Detail: g[0]})
	}
	link = r.apply(t, "p1", link, desired, want)
	var groups []string // p's
	if k.NoMembershipDrift {
		groups = []string{g[1]} // the drift stays unseen
	}
	s := r.wantState(t, link.ID, p, groups)
	if s.Extra == "" {
		t.Error("the attribute Tenure does not map was removed")
	}

	// Deleted behind Tenure's back: created again, under a new anchor.
	old := link.ID
	r.f.Remove(t, old)
	link = r.apply(t, "p1", link, desired, plan(nil, desired))
	if link.ID == old {
		t.Errorf("the new account kept the old anchor %s", old)
	}
	r.wantState(t, link.ID, p, nil)
}

// opDetail is an update's detail for the keys: "[a b]".
func opDetail(keys []string) string {
	s := "["
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += k
	}
	return s + "]"
}
