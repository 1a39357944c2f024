package ldapsync

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

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

func TestDirectoryLifecycle(t *testing.T) {
	t.Parallel()
	srv, d, p := newDirectory(t, "")
	ctx := t.Context()
	var link *targets.Link
	var anchor string
	steps := []struct {
		name    string
		desired *targets.Account
		ops     []targets.Op
		check   func(t *testing.T, e *ldap.Entry)
	}{
		{"create with groups",
			person("jdoe", map[string]any{"mail": "jdoe@example.com", "title": "Engineer", "employeeType": []string{"staff", "fte"}}, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "eng"}, {Kind: targets.OpGrant, Detail: "ops"}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, "uid=jdoe,"+testenv.SlapdPeopleDN) || e.GetAttributeValue("title") != "Engineer" {
					t.Errorf("created %s title %q", e.DN, e.GetAttributeValue("title"))
				}
				if !isMemberOf(t, p, "eng", e.DN) || !isMemberOf(t, p, "ops", e.DN) || isMemberOf(t, p, "sales, EMEA", e.DN) {
					t.Error("wrong groups after create")
				}
				if err := bindAs(t, srv, e.DN, "pw-jdoe"); err != nil {
					t.Errorf("the new account cannot bind: %v", err)
				}
			}},
		{"modify attributes",
			person("jdoe", map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), "employeeType": []string{"fte", "staff"}}, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpUpdate, Detail: "[employeeNumber mail title]"}},
			func(t *testing.T, e *ldap.Entry) {
				if e.GetAttributeValue("mail") != "jane@example.com" || e.GetAttributeValue("employeeNumber") != "42" || e.GetAttributeValue("title") != "" {
					t.Errorf("mail %q employeeNumber %q title %q", e.GetAttributeValue("mail"), e.GetAttributeValue("employeeNumber"), e.GetAttributeValue("title"))
				}
			}},
		{"rename",
			person("jane.doe", map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), "employeeType": []string{"fte", "staff"}}, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpUpdate, Detail: "[uid]"}, {Kind: targets.OpUpdate, Detail: "[userPassword]"}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, "uid=jane.doe,"+testenv.SlapdPeopleDN) || !slices.Equal(e.GetAttributeValues("uid"), []string{"jane.doe"}) {
					t.Errorf("renamed to %s, uid %v", e.DN, e.GetAttributeValues("uid"))
				}
				if !isMemberOf(t, p, "eng", e.DN) || !isMemberOf(t, p, "ops", e.DN) {
					t.Error("memberships lost in the rename")
				}
			}},
	}
	moveDisable := person("jane.doe", map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), "employeeType": []string{"fte", "staff"}}, "eng", "ops")
	moveDisable.Container, moveDisable.Enabled = testenv.SlapdDisabledDN, false
	back := person("jane.doe", map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), "employeeType": []string{"fte", "staff"}}, "eng", "ops")
	swap := person("jane.doe", map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), "employeeType": []string{"fte", "staff"}}, "ops", "sales, EMEA")
	steps = append(steps, []struct {
		name    string
		desired *targets.Account
		ops     []targets.Op
		check   func(t *testing.T, e *ldap.Entry)
	}{
		{"move to disabled and disable", moveDisable,
			[]targets.Op{{Kind: targets.OpMove, Detail: testenv.SlapdDisabledDN}, {Kind: targets.OpDisable}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, "uid=jane.doe,"+testenv.SlapdDisabledDN) || e.GetAttributeValue("pwdAccountLockedTime") != OpenLDAPLockValue {
					t.Errorf("at %s, locked %q", e.DN, e.GetAttributeValue("pwdAccountLockedTime"))
				}
				if err := bindAs(t, srv, e.DN, "pw-jane.doe"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					t.Errorf("a disabled account's bind: %v, want 49", err)
				}
				if !isMemberOf(t, p, "eng", e.DN) {
					t.Error("memberships lost in the move")
				}
			}},
		{"enable and move back", back,
			[]targets.Op{{Kind: targets.OpMove}, {Kind: targets.OpEnable}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, "uid=jane.doe,"+testenv.SlapdPeopleDN) || e.GetAttributeValue("pwdAccountLockedTime") != "" {
					t.Errorf("at %s, locked %q", e.DN, e.GetAttributeValue("pwdAccountLockedTime"))
				}
				if err := bindAs(t, srv, e.DN, "pw-jane.doe"); err != nil {
					t.Errorf("a re-enabled account cannot bind: %v", err)
				}
			}},
		{"group swap", swap,
			[]targets.Op{{Kind: targets.OpGrant, Detail: "sales, EMEA"}, {Kind: targets.OpRevoke, Detail: "eng"}},
			func(t *testing.T, e *ldap.Entry) {
				if isMemberOf(t, p, "eng", e.DN) || !isMemberOf(t, p, "ops", e.DN) || !isMemberOf(t, p, "sales, EMEA", e.DN) {
					t.Error("wrong groups after the swap")
				}
				if !isMemberOf(t, p, "eng", testenv.SlapdBindDN) {
					t.Error("the placeholder member Tenure never added was removed")
				}
			}},
		{"delete", &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}}, nil},
		{"delete again", &targets.Account{}, nil, nil},
	}...)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			prev := link
			link = applyTwice(t, d, p, link, st.desired, st.ops)
			if !st.desired.Exists {
				if prev != nil && prev.ID != "" {
					if dn, _ := entryState(t, p, prev.ID); dn != "" {
						t.Errorf("%s still exists", dn)
					}
				}
				if ms := members(t, p, "ops"); len(ms) != 1 {
					t.Errorf("ops members after delete: %v", ms)
				}
				return
			}
			if anchor == "" {
				anchor = link.ID
			} else if link.ID != anchor {
				t.Errorf("anchor changed from %s to %s", anchor, link.ID)
			}
			e, err := readDN(ctx, p, link.Ref, "*", "pwdAccountLockedTime")
			if err != nil {
				t.Fatal(err)
			}
			st.check(t, e)
		})
	}
}

func TestDirectoryCorrelation(t *testing.T) {
	t.Parallel()
	_, d, p := newDirectory(t, "employeeNumber")
	ctx := t.Context()
	dn := JoinDN(RDN("uid", "pre"), testenv.SlapdPeopleDN)
	if err := add(ctx, p, dn, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {"pre"}, "cn": {"Pre Existing"}, "sn": {"Doe"}, "employeeNumber": {"E1"}, "description": {"not Tenure's"},
	}); err != nil {
		t.Fatal(err)
	}
	pre, err := readDN(ctx, p, dn, "entryUUID")
	if err != nil {
		t.Fatal(err)
	}
	desired := person("pre", map[string]any{"employeeNumber": "E1", "userPassword": nil}, "eng")
	link := applyTwice(t, d, p, nil, desired, []targets.Op{{Kind: targets.OpUpdate, Detail: "[cn]"}, {Kind: targets.OpGrant, Detail: "eng"}})
	if link.ID != pre.GetAttributeValue("entryUUID") || !EqualDN(link.Ref, dn) {
		t.Errorf("linked %+v, want the existing entry %s", link, dn)
	}
	es, err := search(ctx, p, testenv.SlapdBaseDN, Eq("employeeNumber", "E1"), "description")
	if err != nil || len(es) != 1 || es[0].GetAttributeValue("description") != "not Tenure's" {
		t.Errorf("%d entries with E1 (%v), or the unmanaged description changed", len(es), err)
	}
	// A second entry with the same value makes correlation ambiguous: a
	// permanent error, not a guess.
	if err := add(ctx, p, JoinDN(RDN("uid", "pre2"), testenv.SlapdPeopleDN), map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {"pre2"}, "cn": {"x"}, "sn": {"x"}, "employeeNumber": {"E1"},
	}); err != nil {
		t.Fatal(err)
	}
	_, err = d.Converge(ctx, &targets.Request{Desired: desired})
	if err == nil || targets.IsRetryable(err) {
		t.Errorf("ambiguous correlation: %v, want a permanent error", err)
	}
	// With the link, the anchor decides.
	if res, err := d.Converge(ctx, &targets.Request{Desired: desired, Link: link}); err != nil || len(res.Ops) != 0 {
		t.Errorf("with the link: %v, %v", res, err)
	}
}

func TestDirectoryHostileValues(t *testing.T) {
	t.Parallel()
	_, d, p := newDirectory(t, "uid")
	ctx := t.Context()
	values := append(slices.Clone(hostile), []struct{ name, value string }{
		{"irish", "o'Brien, Jr."}, {"spaced", " spaced "}, {"lead hash", "#lead"}, {"mixed", "é日本"},
	}...)
	for _, h := range values {
		t.Run(h.name, func(t *testing.T) {
			desired := person(h.value, map[string]any{"cn": h.value, "sn": h.value, "description": h.value, "title": h.value}, "sales, EMEA")
			link := applyTwice(t, d, p, nil, desired, []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "sales, EMEA"}})
			attr, val, err := RDNValue(link.Ref)
			if err != nil || attr != "uid" || val != h.value {
				t.Errorf("RDN of %q: %s=%q (%v)", link.Ref, attr, val, err)
			}
			e, err := readDN(ctx, p, link.Ref, "description")
			if err != nil || e.GetAttributeValue("description") != h.value {
				t.Errorf("description read back as %q (%v)", e.GetAttributeValue("description"), err)
			}
			if !isMemberOf(t, p, "sales, EMEA", link.Ref) {
				t.Error("not in the group")
			}
			// Without the link, correlation by the hostile uid finds exactly
			// this entry (an unescaped filter would match others or none).
			res, err := d.Converge(ctx, &targets.Request{Desired: desired})
			if err != nil || len(res.Ops) != 0 || res.Link.ID != link.ID {
				t.Errorf("relink by correlation: %+v, %v", res, err)
			}
			applyTwice(t, d, p, link, &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}})
		})
	}
}

func TestDirectoryDrift(t *testing.T) {
	t.Parallel()
	_, d, p := newDirectory(t, "")
	ctx := t.Context()
	desired := person("drift", map[string]any{"mail": "drift@example.com"}, "eng")
	link := applyTwice(t, d, p, nil, desired, []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "eng"}})
	// Behind Tenure's back: mail changed, an unmanaged attribute added, the
	// account locked and removed from its group.
	err := p.Do(ctx, "modify", func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(link.Ref, nil)
		m.Replace("mail", []string{"evil@example.com"})
		m.Replace("description", []string{"set by hand"})
		m.Replace("pwdAccountLockedTime", []string{OpenLDAPLockValue})
		if err := c.Modify(m); err != nil {
			return err
		}
		g := ldap.NewModifyRequest(JoinDN(RDN("cn", "eng"), testenv.SlapdGroupsDN), nil)
		g.Delete("member", []string{link.Ref})
		return c.Modify(g)
	})
	if err != nil {
		t.Fatal(err)
	}
	applyTwice(t, d, p, link, desired, []targets.Op{
		{Kind: targets.OpUpdate, Detail: "[mail]"}, {Kind: targets.OpEnable}, {Kind: targets.OpGrant, Detail: "eng"},
	})
	e, err := readDN(ctx, p, link.Ref, "mail", "description", "pwdAccountLockedTime")
	if err != nil {
		t.Fatal(err)
	}
	if e.GetAttributeValue("mail") != "drift@example.com" || e.GetAttributeValue("description") != "set by hand" || e.GetAttributeValue("pwdAccountLockedTime") != "" {
		t.Errorf("after repair: mail %q description %q locked %q", e.GetAttributeValue("mail"), e.GetAttributeValue("description"), e.GetAttributeValue("pwdAccountLockedTime"))
	}
	if !isMemberOf(t, p, "eng", link.Ref) {
		t.Error("membership not repaired")
	}
	// The entry deleted behind Tenure's back is created again.
	if err := del(ctx, p, link.Ref); err != nil {
		t.Fatal(err)
	}
	relinked := applyTwice(t, d, p, link, desired, []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "eng"}})
	if relinked.ID == link.ID {
		t.Error("a new entry kept the old anchor")
	}
}

func TestDirectoryPermanentErrors(t *testing.T) {
	t.Parallel()
	_, d, _ := newDirectory(t, "")
	for _, tc := range []struct {
		name    string
		desired *targets.Account
		want    string
	}{
		{"missing group", person("nogroup", nil, "no such group"), `group "no such group"`},
		{"no RDN value", person("", nil), "has no uid"},
		{"bad value type", person("badtype", map[string]any{"mail": struct{}{}}), "not supported"},
		{"schema violation", person("noattr", map[string]any{"sn": nil}), "ldap add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Converge(context.Background(), &targets.Request{Desired: tc.desired})
			if err == nil || targets.IsRetryable(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a permanent error mentioning %q", err, tc.want)
			}
		})
	}
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
