package ldapsync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/conformance"
)

// TestKindConformance runs the suite every target kind passes
// (targets/conformance) against a real OpenLDAP and a real Active
// Directory (Samba AD DC), each fixture on a subtree of its own.
func TestKindConformance(t *testing.T) {
	t.Parallel()
	forEachDirectory(t, func(t *testing.T, s *dirServer) {
		conformance.RunTests(t, s.kind())
	})
}

// kindGroups are the groups each fixture's subtree holds.
var kindGroups = []string{"eng", "ops", "other", "sales, EMEA"}

// kindCorrelation is the correlation attribute of every fixture's target.
const kindCorrelation = "employeeNumber"

// kind is the server as a conformance.Kind: the Directory correlates by
// employeeNumber; title is the plain attribute, description the one Tenure
// does not map.
func (s *dirServer) kind() conformance.Kind {
	return conformance.Kind{
		New:        s.kindFixture,
		At:         s.kindAt,
		Collisions: []string{CollisionFail, CollisionSuffix},
		EqualRef:   EqualDN,
	}
}

// kindAt is a Directory like a fixture's for a server at addr.
func (s *dirServer) kindAt(t *testing.T, addr string) targets.Target {
	cfg := startTLSConfig(s.srv)
	cfg.URL = "ldap://" + addr
	p, _ := newPool(t, cfg)
	d, err := NewDirectory(p, s.dialect, DirectoryOptions{
		BaseDN: s.root, UsersDN: s.root, GroupsDN: s.root, CorrelationAttribute: kindCorrelation,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ldapFixture is a dirCase (a subtree with people, disabled and groups)
// whose Directory has a pool of its own, counted.
type ldapFixture struct {
	*dirCase
	target *Directory
	reg    *prometheus.Registry
}

func (s *dirServer) kindFixture(t *testing.T, o conformance.Options) conformance.Fixture {
	c := s.newCase(t, kindCorrelation)
	for _, g := range kindGroups {
		if !slices.Contains(c.groupNames, g) {
			s.addGroup(t, s, c.groupDN(g), g)
		}
	}
	reg := prometheus.NewRegistry()
	p, err := New(startTLSConfig(s.srv), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	opts := c.d.Options
	opts.Collision = o.Collision
	d, err := NewDirectory(p, s.dialect, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &ldapFixture{dirCase: c, target: d, reg: reg}
}

func (f *ldapFixture) Target() targets.Target { return f.target }
func (f *ldapFixture) Container() string      { return f.disabled }
func (f *ldapFixture) Groups() []string       { return kindGroups }

func (f *ldapFixture) Account(p conformance.Person) *targets.Account {
	return p.Account(f.person(p.Name, nil).Attributes, f.rdn, kindCorrelation, "title")
}

// entry reads the entry anchored at id with attrs; nil when there is none.
func (f *ldapFixture) entry(t *testing.T, id string, attrs ...string) *ldap.Entry {
	t.Helper()
	if id == "" {
		return nil
	}
	filter, err := f.dialect.AnchorFilter(id)
	if err != nil {
		t.Fatal(err)
	}
	es, err := search(t.Context(), f.p, f.base, filter, attrs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return nil
	}
	return es[0]
}

func (f *ldapFixture) Read(t *testing.T, id string) *conformance.State {
	t.Helper()
	e := f.entry(t, id, append([]string{"*", f.dialect.AnchorAttribute()}, f.dialect.StatusAttributes()...)...)
	if e == nil {
		return nil
	}
	_, name, _ := RDNValue(e.DN)
	parent, _ := Parent(e.DN)
	container := parent
	switch {
	case EqualDN(parent, f.people):
		container = ""
	case EqualDN(parent, f.disabled):
		container = f.disabled
	}
	s := &conformance.State{
		Ref: e.DN, Name: name, Key: e.GetAttributeValue(kindCorrelation), Title: e.GetAttributeValue("title"),
		Enabled: f.enabled(e), Container: container, Manager: e.GetAttributeValue("manager"),
		Extra: e.GetAttributeValue("description"),
	}
	for _, g := range kindGroups {
		if f.isMember(t, g, e.DN) {
			s.Groups = append(s.Groups, g)
		}
	}
	return s
}

func (f *ldapFixture) Raw(t *testing.T, id string) string {
	t.Helper()
	e := f.entry(t, id, "1.1")
	if e == nil {
		return ""
	}
	snap := f.snapshot(t, e.DN)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(snap)) {
		fmt.Fprintf(&b, "%s: %q\n", k, snap[k])
	}
	return b.String()
}

// Writes counts the target pool's operations other than searches.
func (f *ldapFixture) Writes(t *testing.T) int {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "tenure_ldap_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() != "search" {
					n += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return n
}

// Plant adds the entry Account(p) describes (the dialect's hand-made
// entry: OpenLDAP's with another cn and no password, AD's disabled with a
// sAMAccountName of its own) and reads back what it holds.
func (f *ldapFixture) Plant(t *testing.T, p conformance.Person) (string, *targets.Account) {
	t.Helper()
	want := f.Account(p)
	attrs := map[string][]string{}
	for k, v := range want.Attributes {
		if slices.ContainsFunc(f.target.Options.WriteOnly, func(w string) bool { return strings.EqualFold(w, k) }) {
			continue
		}
		vals, err := values(v)
		if err != nil {
			t.Fatal(err)
		}
		attrs[k] = vals
	}
	dn := JoinDN(RDN(f.rdn, p.Name), f.people)
	f.addEntry(t, f.dirServer, dn, p.Name, attrs)
	e := f.read(t, dn)
	made := &targets.Account{Exists: true, Enabled: f.enabled(e), Attributes: map[string]any{}}
	for k := range want.Attributes {
		switch vs := e.GetEqualFoldAttributeValues(k); len(vs) {
		case 0:
		case 1:
			made.Attributes[k] = vs[0]
		default:
			made.Attributes[k] = vs
		}
	}
	return f.dialect.Anchor(e), made
}

func (f *ldapFixture) modify(t *testing.T, dn string, fn func(m *ldap.ModifyRequest)) {
	t.Helper()
	err := f.p.Do(t.Context(), "modify", func(l *ldap.Conn) error {
		m := ldap.NewModifyRequest(dn, nil)
		fn(m)
		return l.Modify(m)
	})
	if err != nil {
		t.Fatalf("modify %s: %v", dn, err)
	}
}

func (f *ldapFixture) dn(t *testing.T, id string) string {
	t.Helper()
	e := f.entry(t, id, "1.1")
	if e == nil {
		t.Fatalf("no entry %s", id)
	}
	return e.DN
}

// Drift changes title, sets description, disables the account and takes
// it out of group.
func (f *ldapFixture) Drift(t *testing.T, id, group string) []string {
	t.Helper()
	e := f.read(t, f.dn(t, id))
	f.modify(t, e.DN, func(m *ldap.ModifyRequest) {
		m.Replace("title", []string{"Drifted"})
		m.Replace("description", []string{"set by hand"})
		f.dialect.SetEnabled(m, e, false)
	})
	f.modify(t, f.groupDN(group), func(m *ldap.ModifyRequest) { m.Delete("member", []string{e.DN}) })
	return []string{"title"}
}

func (f *ldapFixture) Join(t *testing.T, id, group string) {
	t.Helper()
	dn := f.dn(t, id)
	f.modify(t, f.groupDN(group), func(m *ldap.ModifyRequest) { m.Add("member", []string{dn}) })
}

func (f *ldapFixture) Remove(t *testing.T, id string) {
	t.Helper()
	if err := del(t.Context(), f.p, f.dn(t, id)); err != nil {
		t.Fatal(err)
	}
}
