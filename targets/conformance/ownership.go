package conformance

import (
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// testLinkExisting: an account made by hand with the person's name and
// correlation value is linked (Find says so first), claimed before
// anything is written to it, and converged from what it held.
func testLinkExisting(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	g := r.f.Groups()
	planted := Person{Name: "pre", Key: "E1", Title: "Planted"}
	id, made := r.f.Plant(t, planted)
	before := r.f.Raw(t, id)
	hired := planted
	hired.Title, hired.Groups = "Hired", []string{g[0]}
	desired := r.f.Account(hired)
	m, err := r.find(t, "p1", nil, desired)
	if err != nil || m == nil || m.ID != id || m.Renamed || m.By == "" {
		t.Errorf("find: %+v %v, want the planted account %s", m, err, id)
	}
	if raw := r.f.Raw(t, id); raw != before {
		t.Errorf("find changed the account:\n%s\n->\n%s", before, raw)
	}
	link := r.apply(t, "p1", nil, desired, plan(made, desired))
	if link.ID != id {
		t.Fatalf("linked %s, want the planted account %s", link.ID, id)
	}
	r.mu.Lock()
	raw, claimed := r.claims[id]
	r.mu.Unlock()
	switch {
	case !claimed:
		t.Error("the account was linked without a claim")
	case raw != before:
		t.Errorf("the account was written to before its claim:\n%s\n->\n%s", before, raw)
	}
	if o := r.owner(id); o != "p1" {
		t.Errorf("owner %q, want p1", o)
	}
	r.wantState(t, id, hired, nil)
}

// testOwned: a second person with an active person's name and correlation
// value (a duplicate record) finds that person's account and must not
// take it: not to converge it, disable it or delete it.
func testOwned(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	ctx := t.Context()
	g := r.f.Groups()
	bob := Person{Name: "bob", Key: "E200", Title: "Engineer", Groups: []string{g[0]}}
	a := r.apply(t, "bob", nil, r.f.Account(bob), plan(nil, r.f.Account(bob)))
	before := r.f.Raw(t, a.ID)
	dup := Person{Name: "bob", Key: "E200", Title: "Impostor", Groups: []string{g[1]}}
	disabled := dup
	disabled.Disabled = true
	gone := r.f.Account(dup)
	gone.Exists, gone.Enabled, gone.Entitlements = false, false, nil
	for _, tc := range []struct {
		name string
		d    *targets.Account
	}{{"converge", r.f.Account(dup)}, {"disable", r.f.Account(disabled)}, {"delete", gone}} {
		d := tc.d
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.converge(t, ctx, "bob2", nil, d)
			cf := wantConflict(t, err, targets.ConflictOwned)
			if cf.Owner != "bob" || cf.ID != a.ID {
				t.Errorf("conflict %+v, want bob's %s", cf, a.ID)
			}
			if res != nil && len(res.Ops) > 0 {
				t.Errorf("did %v on bob's account", res.Ops)
			}
		})
	}
	// A delete with nothing to find the account by (the engine's, for a
	// person with no link) finds nothing to delete.
	if res, err := r.converge(t, ctx, "bob2", nil, &targets.Account{}); err != nil || len(res.Ops) != 0 {
		t.Errorf("delete without a link: %+v %v", res, err)
	}
	// The dry run names bob's account: the engine's index says whose.
	if m, err := r.find(t, "bob2", nil, r.f.Account(dup)); err != nil || m == nil || m.ID != a.ID {
		t.Errorf("find: %+v %v, want bob's %s", m, err, a.ID)
	}
	if raw := r.f.Raw(t, a.ID); raw != before {
		t.Errorf("bob's account changed:\n%s\n->\n%s", before, raw)
	}
	if o := r.owner(a.ID); o != "bob" {
		t.Errorf("owner %q, want bob", o)
	}
	r.wantState(t, a.ID, bob, nil)
}

// testCollision: an account made by hand at the person's name with another
// correlation value is never adopted; the kind's collision rule decides
// between a conflict and a numbered name.
func testCollision(t *testing.T, k Kind) {
	rules := k.Collisions
	if len(rules) == 0 {
		rules = []string{CollisionFail}
	}
	for _, rule := range rules {
		t.Run(rule, func(t *testing.T) {
			r := newRun(t, k, Options{Collision: rule})
			g := r.f.Groups()
			victim := Person{Name: "victim", Key: "V1", Title: "Made by hand"}
			id, _ := r.f.Plant(t, victim)
			before := r.f.Raw(t, id)
			p := Person{Name: "victim", Key: "E77", Groups: []string{g[0]}}
			switch rule {
			case CollisionFail:
				collisionFail(t, r, id, p)
			case CollisionSuffix:
				collisionSuffix(t, r, id, p)
			default:
				t.Fatalf("conformance: unknown collision rule %q", rule)
			}
			if raw := r.f.Raw(t, id); raw != before {
				t.Errorf("the account made by hand changed:\n%s\n->\n%s", before, raw)
			}
			if o := r.owner(id); o != "" {
				t.Errorf("the account made by hand was claimed by %s", o)
			}
			if s := r.read(t, id); len(s.Groups) != 0 {
				t.Errorf("the account made by hand is in %q", s.Groups)
			}
		})
	}
}

func collisionFail(t *testing.T, r *run, id string, p Person) {
	ref := r.read(t, id).Ref
	disabled := p
	disabled.Disabled = true
	for _, q := range []Person{p, disabled} {
		res, err := r.converge(t, t.Context(), "p1", nil, r.f.Account(q))
		cf := wantConflict(t, err, targets.ConflictCollision)
		if cf.ID != id || !r.equalRef(cf.Ref, ref) {
			t.Errorf("conflict %+v does not name the account made by hand (%s, %s)", cf, id, ref)
		}
		if res != nil && len(res.Ops) > 0 {
			t.Errorf("did %v", res.Ops)
		}
	}
	m, err := r.find(t, "p1", nil, r.f.Account(p))
	if m != nil {
		t.Errorf("find: %+v, want the collision", m)
	}
	wantConflict(t, err, targets.ConflictCollision)
}

func collisionSuffix(t *testing.T, r *run, id string, p Person) {
	desired := r.f.Account(p)
	m, err := r.find(t, "p1", nil, desired)
	if err != nil || m == nil || !m.Renamed || m.ID != "" {
		t.Fatalf("find: %+v %v, want a new account under another name", m, err)
	}
	link := r.apply(t, "p1", nil, desired, plan(nil, desired))
	if link.ID == id {
		t.Fatal("the account made by hand was linked")
	}
	if link.Name != p.Name+"2" || link.Wanted != p.Name || !r.equalRef(link.Ref, m.Ref) {
		t.Errorf("link %s named %q for %q, want %s2 at %s as find foresaw", link.Ref, link.Name, link.Wanted, p.Name, m.Ref)
	}
	want := p
	want.Name = p.Name + "2"
	r.wantState(t, link.ID, want, nil)
	// A second person with the name takes the next one.
	q := Person{Name: p.Name, Key: "E78"}
	link3 := r.apply(t, "p2", nil, r.f.Account(q), plan(nil, r.f.Account(q)))
	if link3.Name != p.Name+"3" || link3.Wanted != p.Name {
		t.Errorf("the second person's link is named %q for %q, want %s3", link3.Name, link3.Wanted, p.Name)
	}
	// The first keeps its name through an attribute change.
	changed := p
	changed.Title = "Changed"
	link = r.apply(t, "p1", link, r.f.Account(changed), plan(desired, r.f.Account(changed)))
	if link.Name != p.Name+"2" {
		t.Errorf("after a change the link is named %q, want %s2", link.Name, p.Name)
	}
}
