package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenurehq/tenure/internal/ldapdn"
)

// Target kinds whose settings live in a block of their own under the
// target, named after the kind (targets[].ldap).
const KindLDAP = "ldap"

// LDAP dialects.
const (
	DialectOpenLDAP = "openldap"
	DialectAD       = "ad"
)

// LDAPTarget is the ldap kind's block: how to reach one directory server
// and where its accounts and groups live. Zero timeouts and sizes, and an
// empty RDN attribute, object classes, member attribute, member-of
// attribute or lock setting, take the defaults of ldapsync and the dialect.
type LDAPTarget struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS       bool   `yaml:"start_tls"`
	CAFile         string `yaml:"ca_file"`
	ServerName     string `yaml:"server_name"`
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// BindDN and BindPassword are the simple bind; neither means an
	// anonymous bind.
	BindDN       string        `yaml:"bind_dn"`
	BindPassword Secret        `yaml:"bind_password"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	OpTimeout    time.Duration `yaml:"op_timeout"`
	PoolSize     int           `yaml:"pool_size"`

	// Dialect is "openldap" or "ad".
	Dialect string `yaml:"dialect"`
	// LockAttribute and LockValue disable an OpenLDAP entry (ppolicy's
	// pwdAccountLockedTime 000001010000Z when empty).
	LockAttribute string `yaml:"lock_attribute"`
	LockValue     string `yaml:"lock_value"`

	// BaseDN is the subtree searched for accounts; every OU Tenure puts
	// accounts in must be in it, or a moved account would be lost.
	BaseDN string `yaml:"base_dn"`
	// UsersOU holds accounts whose container expression yields nothing.
	UsersOU string `yaml:"users_ou"`
	// GroupsOU holds the groups that grants name by cn rather than DN.
	GroupsOU             string   `yaml:"groups_ou"`
	RDNAttribute         string   `yaml:"rdn_attribute"`
	ObjectClasses        []string `yaml:"object_classes"`
	CorrelationAttribute string   `yaml:"correlation_attribute"`
	MemberAttribute      string   `yaml:"member_attribute"`
	// MemberValue is the account attribute whose value goes into groups
	// instead of the DN (uid, with member_attribute memberUid, for
	// posixGroup).
	MemberValue string `yaml:"member_value"`
	MemberOf    string `yaml:"member_of"`
	NoMemberOf  bool   `yaml:"no_member_of"`
	// WriteOnly attributes are never compared with the entry's value;
	// absent means the dialect's (userPassword, unicodePwd), [] none.
	WriteOnly []string `yaml:"write_only"`
	// ManagedOUs are the subtrees whose accounts Tenure owns; empty means
	// users_ou plus the target's leaver.move_to.
	ManagedOUs []string `yaml:"managed_ous"`
	// Collision is what happens when an account's name is held by an
	// entry that is not the person's: "fail" (the default: the person is
	// parked as a conflict) or "suffix" (the first free of name2, name3, …).
	Collision string `yaml:"collision"`
	// KeepMembers are members (DNs, or member_value values) the drift
	// pass never removes from the target's exclusive groups, such as the
	// placeholder a groupOfNames needs; the bind DN is always kept.
	KeepMembers []string `yaml:"keep_members"`
}

// Encrypted reports whether connections use TLS (ldaps:// or StartTLS).
func (l *LDAPTarget) Encrypted() bool {
	u, err := url.Parse(l.URL)
	return l.StartTLS || (err == nil && u.Scheme == "ldaps")
}

type addFunc = func(path, format string, args ...any)

// validateTargetKinds checks every target's kind-specific block: the block
// named after its kind is required, any other kind's block is an error.
// A new kind with settings adds its block to the list below.
func (c *Config) validateTargetKinds(add addFunc) {
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		for _, b := range []struct {
			kind string
			set  bool
		}{
			{KindLDAP, t.LDAP != nil},
			{KindSCIM, t.SCIM != nil},
		} {
			switch {
			case t.Kind == b.kind && !b.set:
				add(path+"."+b.kind, "required for kind %s", b.kind)
			case t.Kind != b.kind && b.set:
				add(path+"."+b.kind, "only for kind %s", b.kind)
			}
		}
		if t.Kind == KindLDAP && t.LDAP != nil {
			t.validateLDAP(path, add)
		}
	}
	c.validateLDAPGrants(add)
}

// validateLDAP checks t's ldap block and the parts of t that name LDAP
// things (attribute names, the leaver's OU), and resolves the bind
// password. DNs get a basic check here; ldapsync parses them fully when
// serve builds the target.
func (t *Target) validateLDAP(path string, add addFunc) {
	l := t.LDAP
	lp := path + ".ldap"

	u, err := url.Parse(l.URL)
	urlOK := false
	switch {
	case l.URL == "":
		add(lp+".url", "required")
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
		add(lp+".url", "must be ldap://host[:port] or ldaps://host[:port], got %q", l.URL)
	case u.Scheme == "ldaps" && l.StartTLS:
		add(lp+".start_tls", "goes with ldap://, not ldaps:// (which is TLS already)")
	default:
		urlOK = true
	}
	if !l.Encrypted() && (l.CAFile != "" || l.ClientCertFile != "" || l.ClientKeyFile != "" || l.ServerName != "") {
		add(lp, "TLS settings given for a plain ldap:// connection; set start_tls or use ldaps://")
	}
	if (l.ClientCertFile == "") != (l.ClientKeyFile == "") {
		add(lp, "client_cert_file and client_key_file go together")
	}
	switch {
	case l.BindDN != "":
		// AD also binds by userPrincipalName (svc@corp.example.com) or
		// down-level name (CORP\svc); only a DN can be checked here.
		if !(l.Dialect == DialectAD && strings.ContainsAny(l.BindDN, "@\\") && !strings.Contains(l.BindDN, "=")) {
			checkDN(lp+".bind_dn", l.BindDN, add)
		}
		if !l.BindPassword.IsSet() {
			add(lp+".bind_password", "required with bind_dn")
		} else if err := l.BindPassword.resolve(); err != nil {
			add(lp+".bind_password", "%v", err)
		}
	case l.BindPassword.IsSet():
		add(lp+".bind_password", "set, but bind_dn is empty (an anonymous bind has no password)")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"dial_timeout", l.DialTimeout}, {"op_timeout", l.OpTimeout}} {
		if d.d < 0 {
			add(lp+"."+d.name, "must not be negative")
		}
	}
	if l.PoolSize < 0 {
		add(lp+".pool_size", "must not be negative")
	}

	switch l.Dialect {
	case DialectOpenLDAP:
		checkAttr(lp+".lock_attribute", l.LockAttribute, add)
	case DialectAD:
		if l.LockAttribute != "" || l.LockValue != "" {
			add(lp, "lock_attribute and lock_value are for dialect %s only", DialectOpenLDAP)
		}
		if urlOK && !l.Encrypted() {
			// Without TLS AD takes no unicodePwd, and it refuses to enable
			// an account that has none: every joiner would stay disabled.
			add(lp, "dialect %s needs ldaps:// or start_tls: AD sets a new account's initial password (unicodePwd) only over TLS and will not enable an account without one", DialectAD)
		}
	case "":
		add(lp+".dialect", "required: %s or %s", DialectOpenLDAP, DialectAD)
	default:
		add(lp+".dialect", "must be %s or %s, got %q", DialectOpenLDAP, DialectAD, l.Dialect)
	}

	base, baseOK := []string(nil), false
	if l.BaseDN == "" {
		add(lp+".base_dn", "required")
	} else {
		base, baseOK = checkDN(lp+".base_dn", l.BaseDN, add)
	}
	// Accounts are found by their anchor under base_dn: one placed
	// outside it would look gone and be created again.
	inBase := func(p, dn string) {
		if d, ok := checkDN(p, dn, add); ok && baseOK && !atOrUnder(d, base) {
			add(p, "%q is not under base_dn %q", dn, l.BaseDN)
		}
	}
	if l.UsersOU == "" {
		add(lp+".users_ou", "required")
	} else {
		inBase(lp+".users_ou", l.UsersOU)
	}
	if l.GroupsOU != "" {
		checkDN(lp+".groups_ou", l.GroupsOU, add)
	}
	for i, ou := range l.ManagedOUs {
		inBase(fmt.Sprintf("%s.managed_ous[%d]", lp, i), ou)
	}
	if t.Leaver.MoveTo != "" {
		inBase(path+".leaver.move_to", t.Leaver.MoveTo)
	}

	for _, a := range []struct{ name, value string }{
		{"rdn_attribute", l.RDNAttribute}, {"correlation_attribute", l.CorrelationAttribute},
		{"member_attribute", l.MemberAttribute}, {"member_value", l.MemberValue}, {"member_of", l.MemberOf},
	} {
		checkAttr(lp+"."+a.name, a.value, add)
	}
	if l.ObjectClasses != nil && len(l.ObjectClasses) == 0 {
		add(lp+".object_classes", "empty; leave it out for the dialect's default")
	}
	for i, oc := range l.ObjectClasses {
		if !validDescrOrOID(oc) {
			add(fmt.Sprintf("%s.object_classes[%d]", lp, i), "%q is not an object class name", oc)
		}
	}
	for i, a := range l.WriteOnly {
		checkAttr(fmt.Sprintf("%s.write_only[%d]", lp, i), a, add)
	}
	switch l.Collision {
	case "", "fail", "suffix":
	default:
		add(lp+".collision", "must be fail or suffix, got %q", l.Collision)
	}
	if l.MemberOf != "" && (l.NoMemberOf || l.MemberValue != "") {
		add(lp+".member_of", "set, but no_member_of or member_value turns the reverse attribute off")
	}
	for name := range t.Attributes {
		if !validAttribute(name) {
			add(path+".attributes."+name, "not an LDAP attribute name")
		}
	}
	for name := range t.References {
		if !validAttribute(name) {
			add(path+".references."+name, "not an LDAP attribute name")
		}
	}
}

// validateLDAPGrants checks the entitlements birthright rules grant on ldap
// targets: a group DN must be under the target's base_dn (anything else is
// taken as a group name), and a group name needs groups_ou.
func (c *Config) validateLDAPGrants(add addFunc) {
	ldapTargets := map[string]*LDAPTarget{}
	for _, t := range c.Targets {
		if t.Kind == KindLDAP && t.LDAP != nil {
			ldapTargets[t.Name] = t.LDAP
		}
	}
	for i, r := range c.Birthright {
		for tn, ents := range r.Grants {
			l := ldapTargets[tn]
			if l == nil {
				continue
			}
			for j, e := range ents {
				l.checkGroup(fmt.Sprintf("birthright[%d].grants.%s[%d]", i, tn, j), e, add)
			}
		}
	}
}

// checkGroup reports e, a group as a grant names it, unless it is a DN
// under base_dn or a name with groups_ou set; ok when it is.
func (l *LDAPTarget) checkGroup(p, e string, add addFunc) (ok bool) {
	n := 0
	count := func(path, format string, args ...any) { n++; add(path, format, args...) }
	switch {
	case e == "":
		count(p, "empty")
	case strings.Contains(e, "="):
		base, baseOK := parseDN(l.BaseDN)
		if d, ok := parseDN(e); !ok {
			count(p, "%q is not a DN", e)
		} else if baseOK && (len(d) == len(base) || !atOrUnder(d, base)) {
			count(p, "group DN %q is not under the target's base_dn %q", e, l.BaseDN)
		}
	case l.GroupsOU == "":
		count(p, "group name %q needs the target's ldap.groups_ou (or give the group's DN)", e)
	}
	return n == 0
}

// checkAttr reports name when it is set and not an attribute description.
func checkAttr(path, name string, add addFunc) {
	if name != "" && !validAttribute(name) {
		add(path, "%q is not an LDAP attribute name", name)
	}
}

// checkDN reports dn when it does not look like a DN and returns its
// comparable form.
func checkDN(path, dn string, add addFunc) ([]string, bool) {
	d, ok := parseDN(dn)
	if !ok {
		add(path, "%q is not a DN (attr=value,attr=value,…)", dn)
	}
	return d, ok
}

// validAttribute and validDescrOrOID are ldapdn's checks, which ldapsync
// uses at run time.
var (
	validAttribute  = ldapdn.ValidAttribute
	validDescrOrOID = ldapdn.ValidDescrOrOID
)

// parseDN splits a DN into its RDNs, each "type=value" with escapes
// decoded and case folded, enough to compare DNs the way
// caseIgnoreMatch naming attributes (ou, cn, dc, uid) do. ok is false for
// an empty DN or an RDN without a valid type and "=". Multi-valued RDNs
// stay one string, so their attribute order matters here.
func parseDN(dn string) (rdns []string, ok bool) {
	if strings.TrimSpace(dn) == "" {
		return nil, false
	}
	var (
		typ, val []byte
		inValue  bool
	)
	end := func() bool {
		t := strings.TrimSpace(string(typ))
		if !inValue || !validDescrOrOID(t) {
			return false
		}
		rdns = append(rdns, strings.ToLower(t)+"="+strings.ToLower(strings.TrimSpace(string(val))))
		typ, val, inValue = nil, nil, false
		return true
	}
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		switch {
		case c == '\\':
			if i+1 >= len(dn) {
				return nil, false
			}
			if b, err := strconv.ParseUint(dn[i+1:min(i+3, len(dn))], 16, 8); err == nil && i+2 < len(dn) {
				c, i = byte(b), i+2
			} else {
				c, i = dn[i+1], i+1
			}
		case c == ',':
			if !end() {
				return nil, false
			}
			continue
		case c == '=' && !inValue:
			inValue = true
			continue
		}
		if inValue {
			val = append(val, c)
		} else {
			typ = append(typ, c)
		}
	}
	if !end() {
		return nil, false
	}
	return rdns, true
}

// atOrUnder reports whether dn is base or lies below it.
func atOrUnder(dn, base []string) bool {
	if len(dn) < len(base) {
		return false
	}
	tail := dn[len(dn)-len(base):]
	for i := range base {
		if tail[i] != base[i] {
			return false
		}
	}
	return true
}
