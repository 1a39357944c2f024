package ldapsync

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// owners stands in for the engine's ownership index in the conformance
// suite: anchor → person, one owner each.
type owners struct {
	mu sync.Mutex
	m  map[string]string
}

func newOwners() *owners { return &owners{m: map[string]string{}} }

func (o *owners) claim(person string) targets.ClaimFunc {
	return func(_ context.Context, id, ref string) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		if cur := o.m[id]; cur != "" && cur != person {
			return &targets.Conflict{Reason: targets.ConflictOwned, ID: id, Ref: ref, Owner: cur}
		}
		o.m[id] = person
		return nil
	}
}

// converge runs one converge of person as the engine would: with the
// person's link and claim, recording the anchor on success.
func (o *owners) converge(t *testing.T, d *Directory, person string, link *targets.Link, desired *targets.Account) (*targets.Result, error) {
	t.Helper()
	res, err := d.Converge(t.Context(), &targets.Request{Identity: person, Desired: desired, Link: link, Claim: o.claim(person)})
	if err == nil && res.Link.ID != "" {
		if cerr := o.claim(person)(t.Context(), res.Link.ID, res.Link.Ref); cerr != nil {
			t.Fatalf("%s converged onto an account it does not own: %v", person, cerr)
		}
	}
	return res, err
}

// snapshot is every attribute of the entry at dn, operational ones
// included, so "unchanged" means byte for byte.
func (c *dirCase) snapshot(t *testing.T, dn string) map[string][]string {
	t.Helper()
	e, err := readDN(t.Context(), c.p, dn, "*", "+")
	if err != nil {
		t.Fatalf("read %s: %v", dn, err)
	}
	out := map[string][]string{"dn": {e.DN}}
	for _, a := range e.Attributes {
		v := slices.Clone(a.Values)
		slices.Sort(v)
		out[strings.ToLower(a.Name)] = v
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string][]string) {
	t.Helper()
	if !maps.EqualFunc(before, after, slices.Equal[[]string]) {
		for k := range before {
			if !slices.Equal(before[k], after[k]) {
				t.Errorf("%s: %s changed: %q -> %q", what, k, before[k], after[k])
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				t.Errorf("%s: %s added: %q", what, k, after[k])
			}
		}
	}
}

func wantConflict(t *testing.T, err error, reason targets.ConflictReason) *targets.Conflict {
	t.Helper()
	var c *targets.Conflict
	if !errors.As(err, &c) || c.Reason != reason {
		t.Fatalf("err = %v, want a %s conflict", err, reason)
	}
	if targets.IsRetryable(err) {
		t.Errorf("a conflict must not be retried: %v", err)
	}
	return c
}

// conformCollisionFail: a hand-made entry at the account's name is a
// naming collision for a person with no correlation value, since it is not
// the entry Tenure would create: nothing is written, not even a group.
// (Another correlation value, a disabled account and the dry run:
// targets/conformance's Collision case.)
func conformCollisionFail(t *testing.T, s *dirServer) {
	c := s.newCase(t, "employeeNumber")
	o := newOwners()
	dn := JoinDN(RDN(s.rdn, "victim"), c.people)
	s.addEntry(t, s, dn, "victim", map[string][]string{"employeeNumber": {"V1"}, "description": {"made by hand"}})
	before := c.snapshot(t, dn)
	groups := c.snapshot(t, c.groupDN("eng"))
	_, err := o.converge(t, c.d, "p-victim", nil, s.person("victim", nil, "eng"))
	cf := wantConflict(t, err, targets.ConflictCollision)
	if !EqualDN(cf.Ref, dn) || cf.ID == "" {
		t.Errorf("conflict %+v does not name %s", cf, dn)
	}
	sameSnapshot(t, "hand-made entry", before, c.snapshot(t, dn))
	sameSnapshot(t, "group", groups, c.snapshot(t, c.groupDN("eng")))
	if len(o.m) != 0 {
		t.Errorf("claimed %v", o.m)
	}
}

// conformCollisionSuffix: with the suffix rule two people whose mapping
// yields one name get two accounts, coll and coll2, and keep them.
func conformCollisionSuffix(t *testing.T, s *dirServer) {
	c := s.newCase(t, "employeeNumber")
	c.d.Options.Collision = CollisionSuffix
	o := newOwners()
	a := s.person("coll", map[string]any{"employeeNumber": "A1", "userPassword": nil}, "eng")
	b := s.person("coll", map[string]any{"employeeNumber": "B1", "userPassword": nil}, "ops")
	ra, err := o.converge(t, c.d, "pa", nil, a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := o.converge(t, c.d, "pb", nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if ra.Link.ID == rb.Link.ID {
		t.Fatalf("both linked %s", ra.Link.ID)
	}
	if _, v, _ := RDNValue(rb.Link.Ref); v != "coll2" || rb.Link.Name != "coll2" || rb.Link.Wanted != "coll" {
		t.Errorf("second person's account %s, link name %q for %q; want coll2 for coll", rb.Link.Ref, rb.Link.Name, rb.Link.Wanted)
	}
	if s.name == "ad" {
		if sam := c.read(t, rb.Link.Ref).GetAttributeValue(ADSAMAccountName); sam != "coll2" {
			t.Errorf("sAMAccountName %q, want coll2", sam)
		}
	}
	// Stable: the next converges keep coll2 and change nothing.
	again, err := o.converge(t, c.d, "pb", &rb.Link, b)
	if err != nil || len(again.Ops) != 0 || again.Link.Ref != rb.Link.Ref || again.Link.Name != "coll2" {
		t.Errorf("re-converge: %+v %v", again, err)
	}
	// The first person's entry holds only its own group.
	if !c.isMember(t, "eng", ra.Link.Ref) || c.isMember(t, "ops", ra.Link.Ref) || !c.isMember(t, "ops", rb.Link.Ref) {
		t.Errorf("groups mixed up between %s and %s", ra.Link.Ref, rb.Link.Ref)
	}
	// A third person with the name and a hand-made coll3 gets coll4,
	// which the dry run foresees.
	s.addEntry(t, s, JoinDN(RDN(s.rdn, "coll3"), c.people), "coll3", map[string][]string{"employeeNumber": {"X"}})
	m, err := c.d.Find(t.Context(), &targets.Request{Desired: s.person("coll", map[string]any{"employeeNumber": "C1"})})
	if err != nil || m == nil || !m.Renamed || !EqualDN(m.Ref, JoinDN(RDN(s.rdn, "coll4"), c.people)) {
		t.Errorf("find: %+v %v, want a rename to coll4", m, err)
	}
	// The person whose account is found by correlation is a link.
	m, err = c.d.Find(t.Context(), &targets.Request{Desired: a})
	if err != nil || m == nil || m.ID != ra.Link.ID || m.By != "correlation employeeNumber" {
		t.Errorf("find of a known person: %+v %v", m, err)
	}
	rc, err := o.converge(t, c.d, "pc", nil, s.person("coll", map[string]any{"employeeNumber": "C1", "userPassword": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if _, v, _ := RDNValue(rc.Link.Ref); v != "coll4" {
		t.Errorf("third account %s, want coll4", rc.Link.Ref)
	}
	// A rename away and back: the mapped name changes, then returns; the
	// collision rule chooses again and never takes another's entry.
	renamed, err := o.converge(t, c.d, "pb", &again.Link, s.person("other", map[string]any{"employeeNumber": "B1", "userPassword": nil}, "ops"))
	if err != nil || renamed.Link.Name != "" {
		t.Fatalf("rename: %+v %v", renamed, err)
	}
	back, err := o.converge(t, c.d, "pb", &renamed.Link, b)
	if err != nil || back.Link.ID != rb.Link.ID || back.Link.Name == "" {
		t.Fatalf("rename back: %+v %v", back, err)
	}
	if _, v, _ := RDNValue(back.Link.Ref); v != back.Link.Name || strings.EqualFold(v, "coll") {
		t.Errorf("renamed back to %s (link name %q)", back.Link.Ref, back.Link.Name)
	}
}

// conformOwned: a second person whose correlation value is an active
// person's (a duplicate record) finds that person's entry and must not
// take it; a converge to delete it does not delete it either.
func conformOwned(t *testing.T, s *dirServer) {
	c := s.newCase(t, "employeeNumber")
	o := newOwners()
	bob := s.person("bob", map[string]any{"employeeNumber": "E200", "userPassword": nil}, "eng")
	rb, err := o.converge(t, c.d, "bob", nil, bob)
	if err != nil {
		t.Fatal(err)
	}
	before := c.snapshot(t, rb.Link.Ref)
	dup := s.person("bob2", map[string]any{"employeeNumber": "E200", "userPassword": nil}, "ops")
	for _, d := range []*targets.Account{dup, {Exists: true, Enabled: false, Attributes: dup.Attributes}} {
		_, err := o.converge(t, c.d, "bob2", nil, d)
		cf := wantConflict(t, err, targets.ConflictOwned)
		if cf.Owner != "bob" || cf.ID != rb.Link.ID {
			t.Errorf("conflict %+v, want bob's %s", cf, rb.Link.ID)
		}
	}
	// A delete for a person with no link and nothing to correlate by
	// finds nothing to delete.
	if res, err := o.converge(t, c.d, "bob2", nil, &targets.Account{}); err != nil || len(res.Ops) != 0 {
		t.Errorf("delete without a link: %+v %v", res, err)
	}
	sameSnapshot(t, "bob's entry", before, c.snapshot(t, rb.Link.Ref))
}

// conformCaseRename: a rename that changes only the case of the naming
// value is a ModifyDN, on the same entry.
func conformCaseRename(t *testing.T, s *dirServer) {
	c := s.newCase(t, "")
	o := newOwners()
	r, err := o.converge(t, c.d, "p", nil, s.person("kase", map[string]any{"userPassword": nil}))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Kase", "KASE", "kase"} {
		next, err := o.converge(t, c.d, "p", &r.Link, s.person(name, map[string]any{"userPassword": nil}))
		if err != nil {
			t.Fatalf("rename to %s: %v", name, err)
		}
		if next.Link.ID != r.Link.ID {
			t.Fatalf("rename to %s changed the anchor %s -> %s", name, r.Link.ID, next.Link.ID)
		}
		e := c.read(t, next.Link.Ref)
		if _, v, _ := RDNValue(e.DN); v != name {
			t.Errorf("entry is %s, want its RDN value %q", e.DN, name)
		}
		if got := e.GetAttributeValues(s.rdn); !slices.Contains(got, name) {
			t.Errorf("%s = %q, want %q", s.rdn, got, name)
		}
		if !slices.Contains(next.Ops, targets.Op{Kind: targets.OpUpdate, Detail: "[" + s.rdn + "]"}) {
			t.Errorf("ops %v: no rename", next.Ops)
		}
		r = next
		again, err := o.converge(t, c.d, "p", &r.Link, s.person(name, map[string]any{"userPassword": nil}))
		if err != nil || len(again.Ops) != 0 {
			t.Errorf("after rename to %s: %v %v", name, again, err)
		}
	}
	// A hand-made entry named like the account in another case is a
	// collision, not the account.
	s.addEntry(t, s, JoinDN(RDN(s.rdn, "Victim"), c.people), "Victim", map[string][]string{"description": {"by hand"}})
	before := c.snapshot(t, JoinDN(RDN(s.rdn, "Victim"), c.people))
	_, err = o.converge(t, c.d, "q", nil, s.person("victim", map[string]any{"userPassword": nil}))
	wantConflict(t, err, targets.ConflictCollision)
	sameSnapshot(t, "Victim", before, c.snapshot(t, JoinDN(RDN(s.rdn, "Victim"), c.people)))
}
