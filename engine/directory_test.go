package engine_test

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
)

// The lifecycle through the engine into real directories: a joiner gets an
// account and its birthright groups; a mover's attributes change, the entry
// moves to the new department's OU and the old department's group goes
// after the grace; a leaver is disabled (binds fail), moved to the disabled
// OU and deleted after the delay; a rehire inside the delay restores the
// same entry (same anchor).

const dirPassword = "Tenure-Direct0ry!"

// directory is one real directory under the engine.
type directory struct {
	name    string
	dialect ldapsync.AccountDialect
	srv     interface {
		URL() string
		CAFile() string
		BindDN() string
		BindPassword() string
	}
	root  string // the OUs are made under it
	rdn   string
	attrs string // the policy's attributes block
	group func(name string) map[string][]string
	// setPassword: the account's password is set by the administrator
	// (AD); otherwise the policy maps userPassword.
	setPassword bool
}

func slapdDirectory(t *testing.T) *directory {
	return &directory{
		name: "openldap", dialect: ldapsync.OpenLDAP{}, srv: testenv.Slapd(t), root: testenv.SlapdBaseDN, rdn: "uid",
		attrs: `
      uid: 'user.userName'
      cn: 'user.name.givenName + " " + user.name.familyName'
      sn: 'user.name.familyName'
      title: 'user.?title'
      employeeNumber: 'enterprise.employeeNumber'
      departmentNumber: 'enterprise.?department'
      userPassword: '"` + dirPassword + `"'`,
		group: func(name string) map[string][]string {
			return map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": {testenv.SlapdBindDN}}
		},
	}
}

func sambaDirectory(t *testing.T) *directory {
	n := 0
	return &directory{
		name: "ad", dialect: ldapsync.AD{}, srv: testenv.SambaAD(t), root: testenv.SambaBaseDN, rdn: "cn", setPassword: true,
		attrs: `
      cn: 'user.name.givenName + " " + user.name.familyName'
      sAMAccountName: 'user.userName'
      givenName: 'user.name.givenName'
      sn: 'user.name.familyName'
      displayName: 'user.name.givenName + " " + user.name.familyName'
      title: 'user.?title'
      employeeNumber: 'enterprise.employeeNumber'
      department: 'enterprise.?department'`,
		group: func(name string) map[string][]string {
			n++
			return map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {fmt.Sprintf("tenure-g%d", n)}}
		},
	}
}

// dirFixture is a directory prepared for one test: its OUs, groups, the
// Directory target and an administrator's pool.
type dirFixture struct {
	*directory
	t                              *testing.T
	p                              *ldapsync.Pool
	base, disabled, groups, policy string
}

func (d *directory) fixture(t *testing.T) *dirFixture {
	cfg := ldapsync.Config{URL: d.srv.URL(), StartTLS: true, CAFile: d.srv.CAFile(), BindDN: d.srv.BindDN(), BindPassword: d.srv.BindPassword()}
	p, err := ldapsync.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f := &dirFixture{directory: d, t: t, p: p}
	f.base = ldapsync.JoinDN(ldapsync.RDN("ou", "Tenure, Inc."), d.root)
	f.add(f.base, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	for _, ou := range []string{"Engineering", "Sales", "Disabled", "Groups"} {
		f.add(ldapsync.JoinDN(ldapsync.RDN("ou", ou), f.base), map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	}
	f.disabled = ldapsync.JoinDN(ldapsync.RDN("ou", "Disabled"), f.base)
	f.groups = ldapsync.JoinDN(ldapsync.RDN("ou", "Groups"), f.base)
	for _, g := range []string{"staff", "engineering", "sales, EMEA"} {
		f.add(ldapsync.JoinDN(ldapsync.RDN("cn", g), f.groups), d.group(g))
	}
	f.policy = fmt.Sprintf(`
lifecycle:
  timezone: UTC
  prehire_lead: 0s
  mover_grace: 72h
birthright:
  - {name: staff, when: 'true', grants: {dir: [staff]}}
  - {name: engineering, when: 'enterprise.?department.orValue("") == "Engineering"', grants: {dir: [engineering]}}
  - {name: sales, when: 'enterprise.?department.orValue("") == "Sales"', grants: {dir: ["sales, EMEA"]}}
targets:
  - name: dir
    kind: test-directory # built by the test, not from an ldap block
    container: 'rdn("ou", enterprise.?department.orValue("Engineering")) + "," + r"%s"'
    attributes:%s
    references:
      manager: 'manager'
    leaver: {mode: disable, move_to: '%s', delete_after: 720h}
`, f.base, d.attrs, f.disabled)
	return f
}

func (f *dirFixture) add(dn string, attrs map[string][]string) {
	f.t.Helper()
	err := f.p.Do(f.t.Context(), "add", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			req.Attribute(k, attrs[k])
		}
		return c.Add(req)
	})
	if err != nil {
		f.t.Fatalf("add %s: %v", dn, err)
	}
}

func (f *dirFixture) target() targets.Target {
	d, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
		BaseDN: f.base, UsersDN: ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base), GroupsDN: f.groups,
		CorrelationAttribute: "employeeNumber",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// entry is what a test sees of an account.
type entry struct {
	dn, anchor string
	enabled    bool
	attrs      *ldap.Entry
	groups     []string
}

// find reads the account whose employeeNumber is num; nil if none.
func (f *dirFixture) find(num string) *entry {
	f.t.Helper()
	attrs := append([]string{"*", "memberOf", f.dialect.AnchorAttribute()}, f.dialect.StatusAttributes()...)
	req := ldap.NewSearchRequest(f.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		ldapsync.Eq("employeeNumber", num).String(), attrs, nil)
	es, err := f.p.SearchAll(f.t.Context(), req, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	switch len(es) {
	case 0:
		return nil
	case 1:
	default:
		f.t.Fatalf("%d entries with employeeNumber %s", len(es), num)
	}
	e := es[0]
	out := &entry{dn: e.DN, anchor: f.dialect.Anchor(e), attrs: e,
		enabled: !f.dialect.SetEnabled(ldap.NewModifyRequest(e.DN, nil), e, true)}
	for _, g := range e.GetEqualFoldAttributeValues("memberOf") {
		if _, cn, err := ldapsync.RDNValue(g); err == nil && ldapsync.UnderDN(g, f.groups) {
			out.groups = append(out.groups, cn)
		}
	}
	slices.Sort(out.groups)
	return out
}

// want checks the account of num: in ou (an OU name under the base, or
// the disabled OU's), enabled or not, with exactly groups.
func (f *dirFixture) want(num, ou string, enabled bool, groups ...string) *entry {
	f.t.Helper()
	e := f.find(num)
	if e == nil {
		f.t.Fatalf("no account with employeeNumber %s", num)
	}
	parent, _ := ldapsync.Parent(e.dn)
	if !ldapsync.EqualDN(parent, ldapsync.JoinDN(ldapsync.RDN("ou", ou), f.base)) {
		f.t.Errorf("%s is in %s, want ou=%s", e.dn, parent, ou)
	}
	if e.enabled != enabled {
		f.t.Errorf("%s enabled %v, want %v", e.dn, e.enabled, enabled)
	}
	slices.Sort(groups)
	if !slices.Equal(e.groups, groups) {
		f.t.Errorf("%s groups %v, want %v", e.dn, e.groups, groups)
	}
	return e
}

// bind binds as dn with dirPassword.
func (f *dirFixture) bind(dn string) error {
	cfg := ldapsync.Config{URL: f.srv.URL(), StartTLS: true, CAFile: f.srv.CAFile(), BindDN: dn, BindPassword: dirPassword}
	p, err := ldapsync.New(cfg, nil, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Do(f.t.Context(), "bind", func(*ldap.Conn) error { return nil })
}

// setPassword sets dirPassword on dn as the administrator.
func (f *dirFixture) setPassword(dn string) {
	f.t.Helper()
	u := utf16.Encode([]rune(`"` + dirPassword + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	err := f.p.Do(f.t.Context(), "modify", func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("unicodePwd", []string{string(b)})
		return c.Modify(m)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestDirectoryLifecycle(t *testing.T) {
	for _, start := range []func(*testing.T) *directory{slapdDirectory, sambaDirectory} {
		d := start(t)
		t.Run(d.name, func(t *testing.T) {
			f := d.fixture(t)
			b := backends(t)[0] // the embedded backend: the directories are the subject here
			e := newEnvWith(t, b, f.policy, map[string]targets.Target{"dir": f.target()})

			// Joiner, and a manager who joins with them.
			boss := e.user("ada.boss", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "E0", "department": "Engineering"}})
			id := e.user("grace.hopper", map[string]any{"title": "Engineer", enterpriseURN: map[string]any{
				"employeeNumber": "E1", "department": "Engineering", "manager": map[string]any{"value": boss},
			}})
			e.run()
			joined := f.want("E1", "Engineering", true, "engineering", "staff")
			bossEntry := f.want("E0", "Engineering", true, "engineering", "staff")
			if m := joined.attrs.GetAttributeValue("manager"); !ldapsync.EqualDN(m, bossEntry.dn) {
				t.Errorf("manager %q, want %q", m, bossEntry.dn)
			}
			if f.directory.setPassword {
				f.setPassword(joined.dn)
			}
			if err := f.bind(joined.dn); err != nil {
				t.Errorf("the joiner cannot bind: %v", err)
			}

			// Mover: the title and department change, the entry moves to
			// ou=Sales, the new group comes at once and the old one goes
			// after the grace.
			moved := T0.Add(time.Hour)
			e.clock.Set(moved)
			e.patch(id, replace("title", "Account Executive"), replace(enterpriseURN+":department", "Sales"))
			e.run()
			mover := f.want("E1", "Sales", true, "engineering", "sales, EMEA", "staff")
			if mover.anchor != joined.anchor || mover.attrs.GetAttributeValue("title") != "Account Executive" {
				t.Errorf("after the move: anchor %s (was %s), title %q", mover.anchor, joined.anchor, mover.attrs.GetAttributeValue("title"))
			}
			e.at(moved.Add(72*time.Hour - time.Second))
			f.want("E1", "Sales", true, "engineering", "sales, EMEA", "staff")
			e.at(moved.Add(72 * time.Hour))
			f.want("E1", "Sales", true, "sales, EMEA", "staff")

			// Leaver: disabled (the bind fails), moved to the disabled OU
			// with no groups.
			left := moved.Add(96 * time.Hour)
			e.clock.Set(left)
			e.patch(id, replace("active", false))
			e.run()
			leaver := f.want("E1", "Disabled", false)
			if err := f.bind(leaver.dn); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				t.Errorf("the leaver's bind: %v, want invalid credentials", err)
			}

			// Rehire inside the delete delay: the same entry comes back.
			e.clock.Set(left.Add(10 * 24 * time.Hour))
			e.patch(id, replace("active", true))
			e.run()
			rehired := f.want("E1", "Sales", true, "sales, EMEA", "staff")
			if rehired.anchor != joined.anchor {
				t.Errorf("the rehire has anchor %s, want the original %s", rehired.anchor, joined.anchor)
			}
			if err := f.bind(rehired.dn); err != nil {
				t.Errorf("the rehire cannot bind: %v", err)
			}

			// Leaves again; deleted exactly delete_after later.
			left2 := left.Add(20 * 24 * time.Hour)
			e.clock.Set(left2)
			e.patch(id, replace("active", false))
			e.run()
			f.want("E1", "Disabled", false)
			e.at(left2.Add(720*time.Hour - time.Second))
			f.want("E1", "Disabled", false)
			e.at(left2.Add(720 * time.Hour))
			if got := f.find("E1"); got != nil {
				t.Errorf("%s still exists after the delete delay", got.dn)
			}
			f.want("E0", "Engineering", true, "engineering", "staff")
		})
	}
}
