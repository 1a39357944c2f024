package ldapsync

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/ldapdn"
)

// Check checks an ldap target: its block, the parts of the target that
// name LDAP things (attribute names, the leaver's OU), the mappings the
// directory needs, the groups rules grant on it and the members its
// exclusive groups keep; and resolves the bind password. DNs and names get
// the checks ParseDN and ValidAttribute make at run time.
func (Kind) Check(c *config.TargetCheck) {
	s, err := settings(c.Target)
	if err != nil {
		return // config calls Check only with the block decoded
	}
	s.checkConnection(c)
	s.checkPlaces(c)
	s.checkNames(c)
	s.checkMappings(c)
	for path, ents := range c.Grants() {
		for j, e := range ents {
			if _, err := s.groupKey(e); err != nil {
				c.AddAt(fmt.Sprintf("%s[%d]", path, j), "%v", err)
			}
		}
	}
	for j, m := range s.KeepMembers {
		key := fmt.Sprintf("ldap.keep_members[%d]", j)
		switch {
		case m == "":
			c.Add(key, "empty")
		case s.MemberValue == "":
			checkDN(c, key, m) // members are DNs
		}
	}
}

// checkConnection checks how the directory is reached.
func (s *Settings) checkConnection(c *config.TargetCheck) {
	u, err := url.Parse(s.URL)
	urlOK := false
	switch {
	case s.URL == "":
		c.Add("ldap.url", "required")
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
		c.Add("ldap.url", "must be ldap://host[:port] or ldaps://host[:port], got %q", s.URL)
	case u.Scheme == "ldaps" && s.StartTLS:
		c.Add("ldap.start_tls", "goes with ldap://, not ldaps:// (which is TLS already)")
	default:
		urlOK = true
	}
	if !s.Encrypted() && (s.CAFile != "" || s.ClientCertFile != "" || s.ClientKeyFile != "" || s.ServerName != "") {
		c.Add("ldap", "TLS settings given for a plain ldap:// connection; set start_tls or use ldaps://")
	}
	if (s.ClientCertFile == "") != (s.ClientKeyFile == "") {
		c.Add("ldap", "client_cert_file and client_key_file go together")
	}
	switch {
	case s.BindDN != "":
		// AD also binds by userPrincipalName (svc@corp.example.com) or
		// down-level name (CORP\svc); only a DN can be checked here.
		if !(s.Dialect == DialectAD && strings.ContainsAny(s.BindDN, "@\\") && !strings.Contains(s.BindDN, "=")) {
			checkDN(c, "ldap.bind_dn", s.BindDN)
		}
		if !s.BindPassword.IsSet() {
			c.Add("ldap.bind_password", "required with bind_dn")
		} else {
			c.Resolve("ldap.bind_password", &s.BindPassword)
		}
	case s.BindPassword.IsSet():
		c.Add("ldap.bind_password", "set, but bind_dn is empty (an anonymous bind has no password)")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"dial_timeout", s.DialTimeout}, {"op_timeout", s.OpTimeout}} {
		if d.d < 0 {
			c.Add("ldap."+d.name, "must not be negative")
		}
	}
	if s.PoolSize < 0 {
		c.Add("ldap.pool_size", "must not be negative")
	}

	switch s.Dialect {
	case DialectOpenLDAP:
		checkAttr(c, "ldap.lock_attribute", s.LockAttribute)
	case DialectAD:
		if s.LockAttribute != "" || s.LockValue != "" {
			c.Add("ldap", "lock_attribute and lock_value are for dialect %s only", DialectOpenLDAP)
		}
		if urlOK && !s.Encrypted() {
			// Without TLS AD takes no unicodePwd, and it refuses to enable
			// an account that has none: every joiner would stay disabled.
			c.Add("ldap", "dialect %s needs ldaps:// or start_tls: AD sets a new account's initial password (unicodePwd) only over TLS and will not enable an account without one", DialectAD)
		}
	case "":
		c.Add("ldap.dialect", "required: %s or %s", DialectOpenLDAP, DialectAD)
	default:
		c.Add("ldap.dialect", "must be %s or %s, got %q", DialectOpenLDAP, DialectAD, s.Dialect)
	}
}

// checkPlaces checks the DNs of the subtrees accounts and groups live in.
func (s *Settings) checkPlaces(c *config.TargetCheck) {
	var (
		base   *ldap.DN
		baseOK bool
	)
	if s.BaseDN == "" {
		c.Add("ldap.base_dn", "required")
	} else {
		base, baseOK = checkDN(c, "ldap.base_dn", s.BaseDN)
	}
	// Accounts are found by their anchor under base_dn: one placed
	// outside it would look gone and be created again.
	inBase := func(key, dn string) {
		if d, ok := checkDN(c, key, dn); ok && baseOK && !base.EqualFold(d) && !base.AncestorOfFold(d) {
			c.Add(key, "%q is not under base_dn %q", dn, s.BaseDN)
		}
	}
	if s.UsersOU == "" {
		c.Add("ldap.users_ou", "required")
	} else {
		inBase("ldap.users_ou", s.UsersOU)
	}
	if s.GroupsOU != "" {
		checkDN(c, "ldap.groups_ou", s.GroupsOU)
	}
	for i, ou := range s.ManagedOUs {
		inBase(fmt.Sprintf("ldap.managed_ous[%d]", i), ou)
	}
	if mt := c.Target.Leaver.MoveTo; mt != "" {
		inBase("leaver.move_to", mt)
	}
}

// checkNames checks the attribute and object class names of the block and
// of the target's mappings.
func (s *Settings) checkNames(c *config.TargetCheck) {
	for _, a := range []struct{ name, value string }{
		{"rdn_attribute", s.RDNAttribute}, {"correlation_attribute", s.CorrelationAttribute},
		{"member_attribute", s.MemberAttribute}, {"member_value", s.MemberValue}, {"member_of", s.MemberOf},
	} {
		checkAttr(c, "ldap."+a.name, a.value)
	}
	if s.ObjectClasses != nil && len(s.ObjectClasses) == 0 {
		c.Add("ldap.object_classes", "empty; leave it out for the dialect's default")
	}
	for i, oc := range s.ObjectClasses {
		if !ldapdn.ValidDescrOrOID(oc) {
			c.Add(fmt.Sprintf("ldap.object_classes[%d]", i), "%q is not an object class name", oc)
		}
	}
	for i, a := range s.WriteOnly {
		checkAttr(c, fmt.Sprintf("ldap.write_only[%d]", i), a)
	}
	switch s.Collision {
	case "", CollisionFail, CollisionSuffix:
	default:
		c.Add("ldap.collision", "must be %s or %s, got %q", CollisionFail, CollisionSuffix, s.Collision)
	}
	if s.MemberOf != "" && (s.NoMemberOf || s.MemberValue != "") {
		c.Add("ldap.member_of", "set, but no_member_of or member_value turns the reverse attribute off")
	}
	for _, section := range []struct {
		name string
		m    map[string]string
	}{{"attributes", c.Target.Attributes}, {"references", c.Target.References}} {
		for name := range section.m {
			if !ldapdn.ValidAttribute(name) {
				c.Add(section.name+"."+name, "not an LDAP attribute name")
			}
		}
	}
}

// checkMappings refuses a policy that maps no value for the RDN attribute
// (every converge would fail) or the correlation attribute (correlation
// would silently never link). The RDN attribute defaults by dialect.
func (s *Settings) checkMappings(c *config.TargetCheck) {
	d, err := s.dialect()
	if err != nil {
		return // reported
	}
	rdn := s.RDNAttribute
	if dd, ok := d.(Defaulter); ok && rdn == "" {
		rdn = dd.Defaults().RDNAttribute
	}
	var missing []string
	if _, ok := c.Target.Attributes[rdn]; !ok && rdn != "" {
		missing = append(missing, rdn+" (the RDN attribute, which names entries)")
	}
	if a := s.CorrelationAttribute; a != "" {
		if _, ok := c.Target.Attributes[a]; !ok {
			missing = append(missing, a+" (the correlation attribute)")
		}
	}
	if len(missing) > 0 {
		c.Add("attributes", "no mapping for %s", strings.Join(missing, ", "))
	}
}

// GroupKey is the comparable form of the group ent names on t: its DN,
// normalised (a name is the cn under groups_ou). The error says why ent
// names no group: a DN must be under base_dn, a name needs groups_ou.
func (Kind) GroupKey(t *config.Target, ent string) (string, error) {
	s, err := settings(t)
	if err != nil {
		return "", err
	}
	return s.groupKey(ent)
}

func (s *Settings) groupKey(ent string) (string, error) {
	switch {
	case ent == "":
		return "", errors.New("empty")
	case strings.Contains(ent, "="):
		d, err := ParseDN(ent)
		if err != nil {
			return "", fmt.Errorf("%q is not a DN", ent)
		}
		if base, err := ParseDN(s.BaseDN); err == nil && !base.AncestorOfFold(d) {
			return "", fmt.Errorf("group DN %q is not under the target's base_dn %q", ent, s.BaseDN)
		}
		return normalDN(ent), nil
	case s.GroupsOU == "":
		return "", fmt.Errorf("group name %q needs the target's ldap.groups_ou (or give the group's DN)", ent)
	}
	return normalDN(JoinDN(RDN("cn", ent), s.GroupsOU)), nil
}

// checkAttr reports name when it is set and not an attribute description.
func checkAttr(c *config.TargetCheck, key, name string) {
	if name != "" && !ldapdn.ValidAttribute(name) {
		c.Add(key, "%q is not an LDAP attribute name", name)
	}
}

// checkDN reports dn, at key, when it is not a DN, and returns it parsed.
func checkDN(c *config.TargetCheck, key, dn string) (*ldap.DN, bool) {
	d, err := ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		c.Add(key, "%q is not a DN (attr=value,attr=value,…)", dn)
		return nil, false
	}
	return d, true
}
