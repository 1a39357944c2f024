package ldapsync

import (
	"slices"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// testGroups are created under SlapdGroupsDN by newDirectory. groupOfNames
// needs at least one member, so each starts with the administrator's DN as
// a placeholder member (Tenure never removes members it did not add).
var testGroups = []string{"eng", "ops", "sales, EMEA"}

// newDirectory starts a slapd with testGroups and returns a Directory on it
// (correlating by corr, none if "") and the admin pool.
func newDirectory(t *testing.T, corr string) (*testenv.SlapdServer, *Directory, *Pool) {
	t.Helper()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	for _, g := range testGroups {
		err := add(t.Context(), p, JoinDN(RDN("cn", g), testenv.SlapdGroupsDN), map[string][]string{
			"objectClass": {"groupOfNames"}, "cn": {g}, "member": {testenv.SlapdBindDN},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewDirectory(p, OpenLDAP{}, DirectoryOptions{
		BaseDN:               testenv.SlapdBaseDN,
		UsersDN:              testenv.SlapdPeopleDN,
		GroupsDN:             testenv.SlapdGroupsDN,
		CorrelationAttribute: corr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, d, p
}

// entryState is what the second apply must leave as it was: the DN and
// entryCSN, which every change to the entry bumps.
func entryState(t *testing.T, p *Pool, id string) (dn, csn string) {
	t.Helper()
	if id == "" {
		return "", ""
	}
	es, err := search(t.Context(), p, testenv.SlapdBaseDN, Eq("entryUUID", id), "entryCSN")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return "", ""
	}
	return es[0].DN, es[0].GetAttributeValue("entryCSN")
}

// applyTwice converges desired from link, checks the ops against want,
// then converges again from the new link and checks that nothing was done
// and the entry did not change. It returns the new link.
func applyTwice(t *testing.T, d *Directory, p *Pool, link *targets.Link, desired *targets.Account, want []targets.Op) *targets.Link {
	t.Helper()
	ctx := t.Context()
	var applied *targets.Account
	if link != nil {
		applied = link.Applied
	}
	res, err := d.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired, Link: link, Ops: targets.Plan(applied, desired)})
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if !slices.Equal(res.Ops, want) {
		t.Errorf("ops = %v, want %v", res.Ops, want)
	}
	if desired.Exists && (res.Link.ID == "" || res.Link.Ref == "" || res.Link.Applied == nil) {
		t.Errorf("link %+v is incomplete", res.Link)
	}
	if !desired.Exists && (res.Link.ID != "" || res.Link.Applied != nil) {
		t.Errorf("link after delete = %+v, want zero", res.Link)
	}
	dn, csn := entryState(t, p, res.Link.ID)
	again, err := d.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired, Link: &res.Link})
	if err != nil {
		t.Fatalf("second converge: %v", err)
	}
	if len(again.Ops) != 0 {
		t.Errorf("second converge did %v", again.Ops)
	}
	if again.Link.ID != res.Link.ID || again.Link.Ref != res.Link.Ref {
		t.Errorf("second converge link %+v, first %+v", again.Link, res.Link)
	}
	if dn2, csn2 := entryState(t, p, res.Link.ID); dn2 != dn || csn2 != csn {
		t.Errorf("second converge changed the entry: %q %q -> %q %q", dn, csn, dn2, csn2)
	}
	return &res.Link
}

// members are the group's member values.
func members(t *testing.T, p *Pool, group string) []string {
	t.Helper()
	e, err := readDN(t.Context(), p, JoinDN(RDN("cn", group), testenv.SlapdGroupsDN), "member")
	if err != nil {
		t.Fatal(err)
	}
	return e.GetAttributeValues("member")
}

func isMemberOf(t *testing.T, p *Pool, group, dn string) bool {
	t.Helper()
	return slices.ContainsFunc(members(t, p, group), func(m string) bool { return EqualDN(m, dn) })
}

// bindAs reports the error of a simple bind as dn.
func bindAs(t *testing.T, srv *testenv.SlapdServer, dn, password string) error {
	t.Helper()
	cfg := startTLSConfig(srv)
	cfg.BindDN, cfg.BindPassword = dn, password
	p, _ := newPool(t, cfg)
	_, err := readDN(t.Context(), p, testenv.SlapdBaseDN, "dc")
	return err
}

func person(uid string, extra map[string]any, groups ...string) *targets.Account {
	attrs := map[string]any{"uid": uid, "cn": "Jane Doe", "sn": "Doe", "userPassword": "pw-" + uid}
	for k, v := range extra {
		if v == nil {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
	}
	return &targets.Account{Exists: true, Enabled: true, Attributes: attrs, Entitlements: groups}
}

func TestNewDirectoryOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts DirectoryOptions
		ok   bool
	}{
		{"defaults", DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x"}, true},
		{"no base", DirectoryOptions{UsersDN: "ou=p,dc=x"}, false},
		{"bad users DN", DirectoryOptions{BaseDN: "dc=x", UsersDN: "nonsense"}, false},
		{"bad RDN attribute", DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", RDNAttribute: "u id"}, false},
		{"bad correlation", DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", CorrelationAttribute: "(uid"}, false},
	} {
		d, err := NewDirectory(nil, OpenLDAP{}, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err == nil && (d.Options.RDNAttribute != "uid" || d.Options.MemberAttribute != "member" || len(d.Options.ObjectClasses) != 4) {
			t.Errorf("%s: defaults not filled: %+v", tc.name, d.Options)
		}
	}
}
