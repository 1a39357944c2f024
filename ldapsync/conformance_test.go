package ldapsync

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// The target conformance suite: every case runs against a real OpenLDAP
// (slapd with memberof and ppolicy) and a real Active Directory (Samba AD
// DC), each on its own subtree of one server per directory, and applies
// every converge twice (applyTwice) to prove the second does nothing.

// conformancePassword is the test accounts' password: in the desired state
// on OpenLDAP (userPassword), set by the administrator on AD, where Tenure
// only ever sets a random one.
const conformancePassword = "Tenure-Conf0rmance!"

// dirServer is one directory server the suite runs against.
type dirServer struct {
	name    string
	dialect AccountDialect
	srv     interface {
		URL() string
		CAFile() string
		BindDN() string
		BindPassword() string
	}
	p     *Pool  // the administrator's pool
	root  string // the subtree each case gets its own OU under
	rdn   string // the naming attribute of accounts
	multi string // a multi-valued attribute accounts may carry
	stamp string // an operational attribute every change to an entry bumps
	// dnLinks: the server rewrites DN-valued attributes (manager) when
	// the entry they name is renamed, as AD does with linked attributes.
	dnLinks bool
	seq     atomic.Int64
	person  func(name string, extra map[string]any, groups ...string) *targets.Account
	// addGroup creates a group; addEntry creates an account by hand.
	addGroup func(t *testing.T, s *dirServer, dn, name string)
	addEntry func(t *testing.T, s *dirServer, dn, name string, attrs map[string][]string)
	// setPassword sets a known password as the administrator (AD), nil
	// where the desired state carries it.
	setPassword func(t *testing.T, s *dirServer, dn string)
}

// dirCase is one case's subtree on a dirServer and its Directory.
type dirCase struct {
	*dirServer
	d                        *Directory
	base, people, disabled   string
	groups                   string
	groupNames               []string
	placeholder              string // a member each group starts with (groupOfNames needs one)
	conformanceCorrelationBy string
}

func slapdServer(t *testing.T) *dirServer {
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	return &dirServer{
		name: "openldap", dialect: OpenLDAP{}, srv: srv, p: p,
		root: testenv.SlapdBaseDN, rdn: "uid", multi: "employeeType", stamp: "entryCSN",
		person: func(name string, extra map[string]any, groups ...string) *targets.Account {
			attrs := map[string]any{"uid": name, "cn": "Jane Doe", "sn": "Doe", "userPassword": conformancePassword}
			return withExtra(attrs, extra, groups)
		},
		addGroup: func(t *testing.T, s *dirServer, dn, name string) {
			mustAdd(t, s.p, dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": {testenv.SlapdBindDN}})
		},
		addEntry: func(t *testing.T, s *dirServer, dn, name string, attrs map[string][]string) {
			attrs["objectClass"] = []string{"inetOrgPerson"}
			attrs["uid"], attrs["cn"], attrs["sn"] = []string{name}, []string{"Pre Existing"}, []string{"Doe"}
			mustAdd(t, s.p, dn, attrs)
		},
	}
}

func sambaServer(t *testing.T) *dirServer {
	srv := testenv.SambaAD(t)
	p, _ := newPool(t, startTLSConfig(srv))
	root := JoinDN(RDN("OU", "Tenure, #conformance+ou"), testenv.SambaBaseDN)
	mustAdd(t, p, root, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	return &dirServer{
		name: "ad", dialect: AD{}, srv: srv, p: p,
		root: root, rdn: "cn", multi: "otherTelephone", stamp: "uSNChanged", dnLinks: true,
		person: func(name string, extra map[string]any, groups ...string) *targets.Account {
			attrs := map[string]any{"cn": name, "sn": "Doe", "givenName": "Jane", "displayName": "Jane Doe"}
			return withExtra(attrs, extra, groups)
		},
		addGroup: func(t *testing.T, s *dirServer, dn, name string) {
			mustAdd(t, s.p, dn, map[string][]string{
				"objectClass": {"top", "group"}, "sAMAccountName": {fmt.Sprintf("tenure-group-%d", s.seq.Add(1))},
			})
		},
		addEntry: func(t *testing.T, s *dirServer, dn, name string, attrs map[string][]string) {
			attrs["objectClass"] = []string{"top", "person", "organizationalPerson", "user"}
			attrs["sAMAccountName"] = []string{fmt.Sprintf("tenure-pre-%d", s.seq.Add(1))}
			attrs["userAccountControl"] = []string{"514"}
			mustAdd(t, s.p, dn, attrs)
		},
		setPassword: func(t *testing.T, s *dirServer, dn string) {
			t.Helper()
			err := s.p.Do(t.Context(), "modify", func(c *ldap.Conn) error {
				m := ldap.NewModifyRequest(dn, nil)
				m.Replace(ADPassword, []string{adPasswordValue(conformancePassword)})
				return c.Modify(m)
			})
			if err != nil {
				t.Fatalf("set the password of %s: %v", dn, err)
			}
		},
	}
}

// adPasswordValue encodes pw as unicodePwd wants it.
func adPasswordValue(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return string(b)
}

func withExtra(attrs, extra map[string]any, groups []string) *targets.Account {
	for k, v := range extra {
		if v == nil {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
	}
	return &targets.Account{Exists: true, Enabled: true, Attributes: attrs, Entitlements: groups}
}

func mustAdd(t *testing.T, p *Pool, dn string, attrs map[string][]string) {
	t.Helper()
	if err := add(t.Context(), p, dn, attrs); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
}

// newCase makes a subtree (people, disabled, groups with testGroups) for
// one case and a Directory on it correlating by corr ("" for none).
func (s *dirServer) newCase(t *testing.T, corr string) *dirCase {
	t.Helper()
	ou := func(name, parent string) string {
		dn := JoinDN(RDN("ou", name), parent)
		mustAdd(t, s.p, dn, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
		return dn
	}
	c := &dirCase{dirServer: s, groupNames: testGroups}
	c.base = ou(fmt.Sprintf("case %d, %s", s.seq.Add(1), strings.ReplaceAll(t.Name(), "/", " ")), s.root)
	c.people, c.disabled, c.groups = ou("people", c.base), ou("disabled", c.base), ou("groups", c.base)
	for _, g := range testGroups {
		s.addGroup(t, s, JoinDN(RDN("cn", g), c.groups), g)
	}
	if s.name == "openldap" {
		c.placeholder = testenv.SlapdBindDN
	}
	d, err := NewDirectory(s.p, s.dialect, DirectoryOptions{
		BaseDN: c.base, UsersDN: c.people, GroupsDN: c.groups, CorrelationAttribute: corr,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.d = d
	return c
}

// entryState is the DN and change stamp of the entry anchored at id.
func (c *dirCase) entryState(t *testing.T, id string) (dn, stamp string) {
	t.Helper()
	if id == "" {
		return "", ""
	}
	f, err := c.dialect.AnchorFilter(id)
	if err != nil {
		t.Fatal(err)
	}
	es, err := search(t.Context(), c.p, c.base, f, c.stamp)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return "", ""
	}
	return es[0].DN, es[0].GetAttributeValue(c.stamp)
}

// apply converges desired from link twice (see applyTwice) and returns the
// new link.
func (c *dirCase) apply(t *testing.T, link *targets.Link, desired *targets.Account, want []targets.Op) *targets.Link {
	t.Helper()
	ctx := t.Context()
	res, err := c.d.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired, Link: link})
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
	dn, stamp := c.entryState(t, res.Link.ID)
	again, err := c.d.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired, Link: &res.Link})
	if err != nil {
		t.Fatalf("second converge: %v", err)
	}
	if len(again.Ops) != 0 {
		t.Errorf("second converge did %v", again.Ops)
	}
	if again.Link.ID != res.Link.ID || again.Link.Ref != res.Link.Ref {
		t.Errorf("second converge link %+v, first %+v", again.Link, res.Link)
	}
	if dn2, stamp2 := c.entryState(t, res.Link.ID); dn2 != dn || stamp2 != stamp {
		t.Errorf("second converge changed the entry: %q %q -> %q %q", dn, stamp, dn2, stamp2)
	}
	return &res.Link
}

func (c *dirCase) groupDN(name string) string { return JoinDN(RDN("cn", name), c.groups) }

func (c *dirCase) members(t *testing.T, group string) []string {
	t.Helper()
	e, err := readDN(t.Context(), c.p, c.groupDN(group), "member")
	if err != nil {
		t.Fatal(err)
	}
	return e.GetAttributeValues("member")
}

func (c *dirCase) isMember(t *testing.T, group, dn string) bool {
	t.Helper()
	return slices.ContainsFunc(c.members(t, group), func(m string) bool { return EqualDN(m, dn) })
}

// bind reports the error of a simple bind as dn with conformancePassword.
func (c *dirCase) bind(t *testing.T, dn string) error {
	t.Helper()
	cfg := startTLSConfig(c.srv)
	cfg.BindDN, cfg.BindPassword = dn, conformancePassword
	p, _ := newPool(t, cfg)
	_, err := readDN(t.Context(), p, c.base, "objectClass")
	return err
}

// read reads the entry at dn with its status attributes.
func (c *dirCase) read(t *testing.T, dn string) *ldap.Entry {
	t.Helper()
	e, err := readDN(t.Context(), c.p, dn, append([]string{"*", c.dialect.AnchorAttribute()}, c.dialect.StatusAttributes()...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// enabled reports whether the dialect sees e as enabled.
func (c *dirCase) enabled(e *ldap.Entry) bool {
	return !c.dialect.SetEnabled(ldap.NewModifyRequest(e.DN, nil), e, true)
}

// forEachDirectory runs fn on OpenLDAP and on AD, in parallel, each on a
// server of its own.
func forEachDirectory(t *testing.T, fn func(t *testing.T, s *dirServer)) {
	for name, start := range map[string]func(*testing.T) *dirServer{"openldap": slapdServer, "ad": sambaServer} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, start(t))
		})
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	forEachDirectory(t, func(t *testing.T, s *dirServer) {
		for _, tc := range []struct {
			name string
			run  func(*testing.T, *dirServer)
		}{
			{"Lifecycle", conformLifecycle},
			{"Correlation", conformCorrelation},
			{"HostileValues", conformHostile},
			{"Manager", conformManager},
			{"PermanentErrors", conformPermanentErrors},
			{"CollisionFail", conformCollisionFail},
			{"CollisionSuffix", conformCollisionSuffix},
			{"Owned", conformOwned},
			{"CaseRename", conformCaseRename},
		} {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, s) })
		}
	})
}

func conformLifecycle(t *testing.T, s *dirServer) {
	c := s.newCase(t, "")
	var link *targets.Link
	var anchor string
	base := map[string]any{"mail": "jdoe@example.com", "title": "Engineer", s.multi: []string{"111", "222"}}
	changed := map[string]any{"mail": "jane@example.com", "employeeNumber": int64(42), s.multi: []string{"222", "111"}}
	moved := s.person("jane.doe", changed, "eng", "ops")
	moved.Container, moved.Enabled = c.disabled, false
	type step struct {
		name    string
		desired *targets.Account
		ops     []targets.Op
		check   func(t *testing.T, e *ldap.Entry)
	}
	steps := []step{
		{"create with groups", s.person("jdoe", base, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "eng"}, {Kind: targets.OpGrant, Detail: "ops"}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, JoinDN(RDN(s.rdn, "jdoe"), c.people)) || e.GetAttributeValue("title") != "Engineer" {
					t.Errorf("created %s title %q", e.DN, e.GetAttributeValue("title"))
				}
				if !c.isMember(t, "eng", e.DN) || !c.isMember(t, "ops", e.DN) || c.isMember(t, "sales, EMEA", e.DN) {
					t.Error("wrong groups after create")
				}
				if !c.enabled(e) {
					t.Error("created disabled")
				}
				if s.setPassword != nil {
					s.setPassword(t, s, e.DN)
				}
				if err := c.bind(t, e.DN); err != nil {
					t.Errorf("the new account cannot bind: %v", err)
				}
			}},
		{"modify attributes", s.person("jdoe", changed, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpUpdate, Detail: "[employeeNumber mail title]"}},
			func(t *testing.T, e *ldap.Entry) {
				if e.GetAttributeValue("mail") != "jane@example.com" || e.GetAttributeValue("employeeNumber") != "42" || e.GetAttributeValue("title") != "" {
					t.Errorf("mail %q employeeNumber %q title %q", e.GetAttributeValue("mail"), e.GetAttributeValue("employeeNumber"), e.GetAttributeValue("title"))
				}
			}},
		{"rename", s.person("jane.doe", changed, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpUpdate, Detail: "[" + s.rdn + "]"}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, JoinDN(RDN(s.rdn, "jane.doe"), c.people)) || !slices.Equal(e.GetAttributeValues(s.rdn), []string{"jane.doe"}) {
					t.Errorf("renamed to %s, %s %v", e.DN, s.rdn, e.GetAttributeValues(s.rdn))
				}
				if !c.isMember(t, "eng", e.DN) || !c.isMember(t, "ops", e.DN) {
					t.Error("memberships lost in the rename")
				}
			}},
		{"move to disabled and disable", moved,
			[]targets.Op{{Kind: targets.OpMove, Detail: c.disabled}, {Kind: targets.OpDisable}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, JoinDN(RDN(s.rdn, "jane.doe"), c.disabled)) || c.enabled(e) {
					t.Errorf("at %s, enabled %v", e.DN, c.enabled(e))
				}
				if err := c.bind(t, e.DN); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					t.Errorf("a disabled account's bind: %v, want 49", err)
				}
				if !c.isMember(t, "eng", e.DN) {
					t.Error("memberships lost in the move")
				}
			}},
		{"enable and move back", s.person("jane.doe", changed, "eng", "ops"),
			[]targets.Op{{Kind: targets.OpMove}, {Kind: targets.OpEnable}},
			func(t *testing.T, e *ldap.Entry) {
				if !EqualDN(e.DN, JoinDN(RDN(s.rdn, "jane.doe"), c.people)) || !c.enabled(e) {
					t.Errorf("at %s, enabled %v", e.DN, c.enabled(e))
				}
				if err := c.bind(t, e.DN); err != nil {
					t.Errorf("a re-enabled account cannot bind: %v", err)
				}
			}},
		{"group swap", s.person("jane.doe", changed, "ops", "sales, EMEA"),
			[]targets.Op{{Kind: targets.OpGrant, Detail: "sales, EMEA"}, {Kind: targets.OpRevoke, Detail: "eng"}},
			func(t *testing.T, e *ldap.Entry) {
				if c.isMember(t, "eng", e.DN) || !c.isMember(t, "ops", e.DN) || !c.isMember(t, "sales, EMEA", e.DN) {
					t.Error("wrong groups after the swap")
				}
				if c.placeholder != "" && !c.isMember(t, "eng", c.placeholder) {
					t.Error("the placeholder member Tenure never added was removed")
				}
			}},
		{"delete", &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}}, nil},
		{"delete again", &targets.Account{}, nil, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			prev := link
			link = c.apply(t, link, st.desired, st.ops)
			if !st.desired.Exists {
				if prev != nil && prev.ID != "" {
					if dn, _ := c.entryState(t, prev.ID); dn != "" {
						t.Errorf("%s still exists", dn)
					}
				}
				for _, m := range c.members(t, "ops") {
					if !EqualDN(m, c.placeholder) {
						t.Errorf("ops still has member %s after the delete", m)
					}
				}
				return
			}
			if anchor == "" {
				anchor = link.ID
			} else if link.ID != anchor {
				t.Errorf("anchor changed from %s to %s", anchor, link.ID)
			}
			st.check(t, c.read(t, link.Ref))
		})
	}
}

func conformCorrelation(t *testing.T, s *dirServer) {
	c := s.newCase(t, "employeeNumber")
	ctx := t.Context()
	dn := JoinDN(RDN(s.rdn, "pre"), c.people)
	s.addEntry(t, s, dn, "pre", map[string][]string{"employeeNumber": {"E1"}, "description": {"not Tenure's"}})
	pre := c.read(t, dn)
	desired := s.person("pre", map[string]any{"employeeNumber": "E1", "userPassword": nil}, "eng")
	var want []targets.Op
	if s.rdn != "cn" { // the hand-made entry's cn differs from the desired one
		want = append(want, targets.Op{Kind: targets.OpUpdate, Detail: "[cn]"})
	} else {
		want = append(want, targets.Op{Kind: targets.OpUpdate, Detail: "[displayName givenName sn]"}, targets.Op{Kind: targets.OpEnable})
	}
	want = append(want, targets.Op{Kind: targets.OpGrant, Detail: "eng"})
	link := c.apply(t, nil, desired, want)
	if link.ID != s.dialect.Anchor(pre) || !EqualDN(link.Ref, dn) {
		t.Errorf("linked %+v, want the existing entry %s", link, dn)
	}
	es, err := search(ctx, s.p, c.base, Eq("employeeNumber", "E1"), "description")
	if err != nil || len(es) != 1 || es[0].GetAttributeValue("description") != "not Tenure's" {
		t.Errorf("%d entries with E1 (%v), or the unmanaged description changed", len(es), err)
	}
	if s.name == "ad" {
		if sam := c.read(t, dn).GetAttributeValue(ADSAMAccountName); !strings.HasPrefix(sam, "tenure-pre-") {
			t.Errorf("linking changed the sAMAccountName to %q", sam)
		}
	}
	// A second entry with the same value makes correlation ambiguous: a
	// permanent error, not a guess.
	s.addEntry(t, s, JoinDN(RDN(s.rdn, "pre2"), c.people), "pre2", map[string][]string{"employeeNumber": {"E1"}})
	_, err = c.d.Converge(ctx, &targets.Request{Desired: desired})
	if err == nil || targets.IsRetryable(err) {
		t.Errorf("ambiguous correlation: %v, want a permanent error", err)
	}
	// With the link, the anchor decides.
	if res, err := c.d.Converge(ctx, &targets.Request{Desired: desired, Link: link}); err != nil || len(res.Ops) != 0 {
		t.Errorf("with the link: %v, %v", res, err)
	}
}

// conformHostile puts values from outside into the naming attribute (so
// DNs), the correlation attribute (so filters), the group names (DNs of
// groups) and plain attributes.
func conformHostile(t *testing.T, s *dirServer) {
	c := s.newCase(t, s.rdn)
	values := append(slices.Clone(hostile), []struct{ name, value string }{
		{"irish", "o'Brien, Jr."}, {"spaced", " spaced "}, {"lead hash", "#lead"}, {"mixed", "é日本"},
	}...)
	for _, h := range values {
		t.Run(h.name, func(t *testing.T) {
			desired := s.person(h.value, map[string]any{"sn": h.value, "description": h.value, "title": h.value}, "sales, EMEA")
			link := c.apply(t, nil, desired, []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "sales, EMEA"}})
			attr, val, err := RDNValue(link.Ref)
			if err != nil || !strings.EqualFold(attr, s.rdn) || val != h.value {
				t.Errorf("RDN of %q: %s=%q (%v)", link.Ref, attr, val, err)
			}
			if e := c.read(t, link.Ref); e.GetAttributeValue("description") != h.value {
				t.Errorf("description read back as %q", e.GetAttributeValue("description"))
			}
			if !c.isMember(t, "sales, EMEA", link.Ref) {
				t.Error("not in the group")
			}
			// Without the link, correlation by the hostile name finds exactly
			// this entry (an unescaped filter would match others or none).
			res, err := c.d.Converge(t.Context(), &targets.Request{Desired: desired})
			if err != nil || len(res.Ops) != 0 || res.Link.ID != link.ID {
				t.Errorf("relink by correlation: %+v, %v", res, err)
			}
			// A rename to another hostile value and a move keep the anchor.
			renamed := s.person(h.value+" (2)", map[string]any{"sn": h.value, "description": h.value, "title": h.value}, "sales, EMEA")
			renamed.Container = c.disabled
			link2 := c.apply(t, link, renamed, []targets.Op{{Kind: targets.OpUpdate, Detail: "[" + s.rdn + "]"}, {Kind: targets.OpMove, Detail: c.disabled}})
			if link2.ID != link.ID || !c.isMember(t, "sales, EMEA", link2.Ref) {
				t.Errorf("after rename and move: %+v (was %s)", link2, link.ID)
			}
			c.apply(t, link2, &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}})
		})
	}
}

// conformManager sets the manager reference to another account's Ref, as
// the engine resolves it, follows the manager's rename, and clears it.
func conformManager(t *testing.T, s *dirServer) {
	c := s.newCase(t, "")
	boss := c.apply(t, nil, s.person("boss, the", nil), []targets.Op{{Kind: targets.OpCreate}})
	report := s.person("report", nil)
	report.References = map[string]string{"manager": boss.Ref}
	link := c.apply(t, nil, report, []targets.Op{{Kind: targets.OpCreate}})
	if m := c.read(t, link.Ref).GetAttributeValue("manager"); !EqualDN(m, boss.Ref) {
		t.Errorf("manager %q, want %q", m, boss.Ref)
	}
	boss2 := c.apply(t, boss, s.person("boss, renamed", nil), []targets.Op{{Kind: targets.OpUpdate, Detail: "[" + s.rdn + "]"}})
	report2 := report.Clone()
	report2.References["manager"] = boss2.Ref
	var want []targets.Op
	if !s.dnLinks {
		want = []targets.Op{{Kind: targets.OpUpdate, Detail: "[manager]"}}
	}
	link = c.apply(t, link, report2, want)
	if m := c.read(t, link.Ref).GetAttributeValue("manager"); !EqualDN(m, boss2.Ref) {
		t.Errorf("manager %q after the rename, want %q", m, boss2.Ref)
	}
	report3 := report.Clone()
	report3.References["manager"] = ""
	link = c.apply(t, link, report3, []targets.Op{{Kind: targets.OpUpdate, Detail: "[manager]"}})
	if m := c.read(t, link.Ref).GetAttributeValue("manager"); m != "" {
		t.Errorf("manager %q, want none", m)
	}
}

func conformPermanentErrors(t *testing.T, s *dirServer) {
	c := s.newCase(t, "")
	for _, tc := range []struct {
		name    string
		desired *targets.Account
		want    string
	}{
		{"missing group", s.person("nogroup", nil, "no such group"), `group "no such group"`},
		{"no RDN value", s.person("", nil), "has no " + s.rdn},
		{"bad value type", s.person("badtype", map[string]any{"mail": struct{}{}}), "not supported"},
		{"undefined attribute", s.person("noattr", map[string]any{"tenureNoSuchAttribute": "x"}), "ldap add"},
		{"bad syntax", s.person("badsyntax", map[string]any{"manager": "not a DN"}), "ldap add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.d.Converge(t.Context(), &targets.Request{Desired: tc.desired})
			if err == nil || targets.IsRetryable(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a permanent error mentioning %q", err, tc.want)
			}
		})
	}
}
