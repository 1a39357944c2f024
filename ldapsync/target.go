package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

// AccountDialect is a Dialect that can also tell whether an entry is
// disabled and change that.
type AccountDialect interface {
	Dialect
	// StatusAttributes are the attributes SetEnabled needs to read.
	StatusAttributes() []string
	// SetEnabled adds to m the changes that make e enabled (or disabled)
	// and reports whether any were needed.
	SetEnabled(m *ldap.ModifyRequest, e *ldap.Entry, enabled bool) bool
}

// Default directory options; the RDN attribute, object classes and
// write-only attributes default by dialect (Defaulter).
const (
	DefaultMemberAttribute = "member"
	DefaultMemberOf        = "memberOf"
)

// Defaulter is a dialect with defaults of its own for DirectoryOptions'
// RDNAttribute, ObjectClasses and WriteOnly.
type Defaulter interface {
	Defaults() DirectoryOptions
}

// Provisioner is a dialect that adds attributes of its own to a new
// entry and keeps some attributes as they were created (AD's
// sAMAccountName).
type Provisioner interface {
	// PrepareAdd edits attrs, the new entry's attributes (values as LDAP
	// strings), before the add; rdnValue names the entry.
	PrepareAdd(ctx context.Context, d *Directory, attrs map[string][]string, desired *targets.Account, rdnValue string) error
	// CreateOnly attributes are written on create and never modified.
	CreateOnly() []string
}

// DirectoryOptions say where a Directory keeps accounts and groups.
type DirectoryOptions struct {
	// BaseDN is the subtree searched for anchors and correlation values.
	BaseDN string
	// UsersDN is the container of an account whose Container is "".
	UsersDN string
	// GroupsDN holds the groups named by a bare name: an entitlement that
	// is a DN under BaseDN is a group DN as is; any other is the cn of a
	// group directly under GroupsDN.
	GroupsDN string
	// RDNAttribute names entries (uid for OpenLDAP, cn for AD); its value
	// comes from Account.Attributes.
	RDNAttribute string
	// ObjectClasses of new entries (inetOrgPerson for OpenLDAP, user for
	// AD). Existing
	// entries' object classes are never changed.
	ObjectClasses []string
	// CorrelationAttribute, when set, finds an existing entry to link
	// when there is no link (or its anchor is gone): the one entry under
	// BaseDN whose attribute equals the desired account's value.
	CorrelationAttribute string
	// MemberAttribute is the groups' member attribute (DefaultMemberAttribute),
	// holding members' DNs, or the MemberValue attribute's value.
	MemberAttribute string
	// MemberValue, when set, is the account attribute whose value goes in
	// MemberAttribute instead of the DN: "uid" with memberUid for
	// posixGroup. No reverse attribute exists then (NoMemberOf is
	// implied), and a changed value moves the memberships to the new one.
	MemberValue string
	// MemberOf is the entry's reverse membership attribute
	// (DefaultMemberOf), read to skip group changes already in place.
	// NoMemberOf turns that off: every grant and revoke is tried, and
	// "already a member"/"not a member" count as done.
	MemberOf   string
	NoMemberOf bool
	// WriteOnly attributes (userPassword for OpenLDAP, unicodePwd for AD;
	// set to an empty non-nil
	// slice for none) are written on create, when the desired value
	// differs from the last applied one, and on an entry linked without
	// a last applied state only if it has no value; never compared with
	// the entry's value (which may be hashed).
	WriteOnly []string
	// ManagedDNs are the subtrees whose accounts Tenure owns, listed by
	// Accounts for the orphan report: UsersDN when empty. Add the disabled
	// OU and any OU the policy's container expression yields.
	ManagedDNs []string
	// Collision says what happens when the name an account needs is held
	// by an entry that is not the person's (CollisionFail, the default, or
	// CollisionSuffix).
	Collision string
	// KeepMembers are member values (DNs, or MemberValue values) that
	// GroupMembers never lists and RemoveMember refuses, besides the bind
	// DN: placeholders an exclusive group keeps (see groups.go).
	KeepMembers []string
}

// Naming collision rules (DirectoryOptions.Collision).
const (
	// CollisionFail parks the converge as a conflict: nothing is written.
	CollisionFail = "fail"
	// CollisionSuffix names the account with the first free numbered
	// variant of its RDN value (coll2, coll3, … up to MaxSuffix), recorded
	// in the link so it stays the same across converges and rehires.
	CollisionSuffix = "suffix"
)

// MaxSuffix is the largest number CollisionSuffix tries.
const MaxSuffix = 99

// Directory is a targets.Target that converges accounts in an LDAP
// directory through Pool, with Dialect's anchor and disable mechanism.
type Directory struct {
	Pool    *Pool
	Dialect AccountDialect
	Options DirectoryOptions

	// members coalesces group membership writes (members.go), lookups
	// searches for one entry by one attribute (lookup.go); nil in a
	// Directory not made by NewDirectory, whose requests then go one by
	// one.
	members *memberBatcher
	lookups *lookupBatcher
	// index is the one-time check that the correlation attribute is
	// indexed (index.go); nil: not checked.
	index *indexCheck
}

var _ targets.Target = (*Directory)(nil)

// NewDirectory checks opts, fills in defaults and returns the Directory.
func NewDirectory(p *Pool, d AccountDialect, opts DirectoryOptions) (*Directory, error) {
	o, err := opts.withDefaults(d)
	if err != nil {
		return nil, err
	}
	return &Directory{Pool: p, Dialect: d, Options: o, members: &memberBatcher{}, lookups: &lookupBatcher{}, index: &indexCheck{}}, nil
}

func (o DirectoryOptions) withDefaults(d AccountDialect) (DirectoryOptions, error) {
	if d == nil {
		return o, errors.New("ldapsync: directory: no dialect")
	}
	var def DirectoryOptions
	if dd, ok := d.(Defaulter); ok {
		def = dd.Defaults()
	}
	if o.RDNAttribute == "" {
		o.RDNAttribute = def.RDNAttribute
	}
	if o.RDNAttribute == "" {
		return o, errors.New("ldapsync: directory: no RDN attribute")
	}
	if o.MemberAttribute == "" {
		o.MemberAttribute = DefaultMemberAttribute
	}
	if o.MemberOf == "" {
		o.MemberOf = DefaultMemberOf
	}
	if o.ObjectClasses == nil {
		o.ObjectClasses = def.ObjectClasses
	}
	if len(o.ObjectClasses) == 0 {
		return o, errors.New("ldapsync: directory: no object classes")
	}
	if o.WriteOnly == nil {
		o.WriteOnly = def.WriteOnly
	}
	if o.MemberValue != "" {
		o.NoMemberOf = true
	}
	switch o.Collision {
	case "":
		o.Collision = CollisionFail
	case CollisionFail, CollisionSuffix:
	default:
		return o, fmt.Errorf("ldapsync: directory: collision %q is not %q or %q", o.Collision, CollisionFail, CollisionSuffix)
	}
	if len(o.ManagedDNs) == 0 {
		o.ManagedDNs = []string{o.UsersDN}
	}
	for _, a := range []string{o.RDNAttribute, o.MemberAttribute, o.MemberOf, d.AnchorAttribute(), o.MemberValue} {
		if a == "" {
			continue
		}
		if err := ValidAttribute(a); err != nil {
			return o, err
		}
	}
	if o.CorrelationAttribute != "" {
		if err := ValidAttribute(o.CorrelationAttribute); err != nil {
			return o, err
		}
	}
	for name, dn := range map[string]string{"base DN": o.BaseDN, "users DN": o.UsersDN} {
		if dn == "" {
			return o, fmt.Errorf("ldapsync: directory: no %s", name)
		}
		if _, err := ParseDN(dn); err != nil {
			return o, err
		}
	}
	for _, dn := range append([]string{o.GroupsDN}, o.ManagedDNs...) {
		if dn == "" {
			continue
		}
		if _, err := ParseDN(dn); err != nil {
			return o, err
		}
	}
	return o, nil
}

// permanent is a permanent failure of op that is not an LDAP result.
func permanentf(op, format string, args ...any) error {
	return targets.Permanent("ldap "+op, fmt.Errorf(format, args...))
}

// Converge brings the account to req.Desired: see the package doc.
func (d *Directory) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return nil, targets.Permanent("ldap converge", err)
	}
	c := &converge{d: d, o: o, req: req, desired: req.Desired}
	if c.desired == nil {
		return nil, permanentf("converge", "no desired state")
	}
	if req.Link != nil {
		c.link, c.applied = req.Link.ID, req.Link.Applied
		c.name, c.wanted = req.Link.Name, req.Link.Wanted
	}
	d.checkIndex(ctx, o.CorrelationAttribute)
	return c.run(ctx)
}

// converge is one Converge call.
//
// Ownership: the only entries it writes to are the one its link names,
// one it created, and one it adopted after the engine agreed (claim):
// found by the correlation attribute, or found at the account's name and
// matching the person (see adoptable). Any other entry in the way is a
// conflict, or, with CollisionSuffix, a reason to take another name.
type converge struct {
	d       *Directory
	o       DirectoryOptions
	req     *targets.Request
	desired *targets.Account
	applied *targets.Account
	link    string
	// name is the RDN value a collision rule chose for wanted, the mapped
	// one; "" while the mapped value is used.
	name, wanted string
	ops          []targets.Op
}

func (c *converge) run(ctx context.Context) (*targets.Result, error) {
	e, err := c.locate(ctx)
	if err != nil {
		return nil, err
	}
	if !c.desired.Exists {
		if e != nil {
			if err := c.leaveValueGroups(ctx, e); err != nil {
				return nil, err
			}
			if err := c.delete(ctx, e.DN); err != nil {
				return nil, err
			}
		}
		return &targets.Result{Ops: c.ops}, nil
	}
	created := false
	if e == nil {
		if e, created, err = c.create(ctx); err != nil {
			return nil, err
		}
	}
	placed, err := c.place(ctx, e)
	if cf := (*targets.Conflict)(nil); errors.As(err, &cf) {
		// The account cannot take its name or container (another entry
		// holds it), but it is still this person's: its attributes,
		// status and groups converge where it is — a leaver whose move
		// collides is still disabled and loses their groups — and the
		// conflict is returned with what was done.
		if err := c.modify(ctx, e, created); err != nil {
			return nil, err
		}
		if err := c.memberships(ctx, e); err != nil {
			return nil, err
		}
		// What the account is now: the desired state where it stands.
		now := c.desired.Clone()
		if parent, err := Parent(e.DN); err == nil && !EqualDN(parent, c.container()) {
			now.Container = parent
		}
		if a, v, err := RDNValue(e.DN); err == nil && strings.EqualFold(a, c.o.RDNAttribute) {
			now.Attributes[c.o.RDNAttribute] = v
		}
		l := targets.Link{ID: c.d.Dialect.Anchor(e), Ref: e.DN, Applied: now}
		if c.req.Link != nil {
			l.Name, l.Wanted = c.req.Link.Name, c.req.Link.Wanted
		}
		return &targets.Result{Link: l, Ops: c.ops}, cf
	}
	if err != nil {
		return nil, err
	}
	e = placed
	if err := c.modify(ctx, e, created); err != nil {
		return nil, err
	}
	if err := c.memberships(ctx, e); err != nil {
		return nil, err
	}
	id := c.d.Dialect.Anchor(e)
	if id == "" {
		return nil, permanentf("converge", "entry %q has no %s", e.DN, c.d.Dialect.AnchorAttribute())
	}
	l := targets.Link{ID: id, Ref: e.DN, Applied: c.desired.Clone()}
	if c.name != "" {
		l.Name, l.Wanted = c.name, c.wanted
	}
	return &targets.Result{Link: l, Ops: c.ops}, nil
}

// claim asks the engine to link e to this person before anything is
// written to it; an entry the link already names needs no claim.
func (c *converge) claim(ctx context.Context, e *ldap.Entry) error {
	id := c.d.Dialect.Anchor(e)
	if id == "" {
		return permanentf("converge", "entry %q has no %s", e.DN, c.d.Dialect.AnchorAttribute())
	}
	if c.req.Owned(id) {
		return nil
	}
	return targets.ClaimAccount(ctx, c.req, id, e.DN)
}

// adoptable says whether e, an entry found at the account's name that no
// link names, is this person's: its correlation attribute holds the
// person's value when there is one; with no correlation attribute or no
// value for the person, it already holds every value the mapping writes
// (the entry this converge would have created, e.g. after an add whose
// answer was lost). Anything else is somebody else's entry.
func (c *converge) adoptable(e *ldap.Entry) (bool, string) {
	if ca := c.o.CorrelationAttribute; ca != "" {
		if want, err := values(c.desired.Attributes[ca]); err == nil && len(want) == 1 {
			have := e.GetEqualFoldAttributeValues(ca)
			if slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, want[0]) }) {
				return true, ""
			}
			return false, fmt.Sprintf("its %s is %q, not this person's %q", ca, strings.Join(have, ","), want[0])
		}
	}
	skip := map[string]bool{strings.ToLower(c.o.RDNAttribute): true}
	for _, w := range c.o.WriteOnly {
		skip[strings.ToLower(w)] = true
	}
	if p, ok := c.d.Dialect.(Provisioner); ok {
		for _, a := range p.CreateOnly() {
			skip[strings.ToLower(a)] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.desired.Attributes)) {
		if skip[strings.ToLower(name)] {
			continue
		}
		want, err := values(c.desired.Attributes[name])
		if err != nil {
			return false, err.Error()
		}
		if !sameValues(e.GetEqualFoldAttributeValues(name), want, false) {
			return false, fmt.Sprintf("its %s differs from this person's and no correlation value identifies it", name)
		}
	}
	return true, ""
}

// readAttributes are what converge reads of an entry.
func (c *converge) readAttributes() []string {
	attrs := []string{"*", c.d.Dialect.AnchorAttribute()}
	if !c.o.NoMemberOf {
		attrs = append(attrs, c.o.MemberOf)
	}
	return append(attrs, c.d.Dialect.StatusAttributes()...)
}

// find returns the entries f matches under base (scope subtree, or the
// base entry itself when one is true).
func (c *converge) find(ctx context.Context, base string, f Filter, one bool) ([]*ldap.Entry, error) {
	scope := ldap.ScopeWholeSubtree
	if one {
		scope = ldap.ScopeBaseObject
	}
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, f.String(), c.readAttributes(), nil)
	es, err := c.d.Pool.SearchAll(ctx, req, 0)
	if one && ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, nil
	}
	return es, err
}

// read reads the entry dn; nil if there is none.
func (c *converge) read(ctx context.Context, dn string) (*ldap.Entry, error) {
	es, err := c.find(ctx, dn, Present("objectClass"), true)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return es[0], nil
}

// readAdded reads back the entry add just wrote (or found) at dn, for its
// anchor, which the directory assigns: together with other converges'
// entries (lookup.go) where the dialect can search by DN, else alone.
func (c *converge) readAdded(ctx context.Context, dn string) (*ldap.Entry, error) {
	da, ok := c.d.Dialect.(DNAttributer)
	if !ok || c.d.lookups == nil || !UnderDN(dn, c.o.BaseDN) {
		return c.read(ctx, dn)
	}
	es, err := lookup(ctx, c.d.lookups, c.d.Pool, c.o.BaseDN, da.DNAttribute(), dn, true, c.readAttributes())
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return es[0], nil
}

// locate finds the account's entry by its anchor, else by correlation;
// nil when there is none.
func (c *converge) locate(ctx context.Context) (*ldap.Entry, error) {
	if c.link != "" {
		f, err := c.d.Dialect.AnchorFilter(c.link)
		if err != nil {
			return nil, targets.Permanent("ldap search", fmt.Errorf("link id: %w", err))
		}
		es, err := c.find(ctx, c.o.BaseDN, f, false)
		if err != nil {
			return nil, err
		}
		if len(es) == 1 {
			return es[0], nil
		}
		if len(es) > 1 {
			return nil, permanentf("search", "%d entries have %s %q", len(es), c.d.Dialect.AnchorAttribute(), c.link)
		}
	}
	if c.o.CorrelationAttribute == "" {
		return nil, nil
	}
	vals, err := values(c.desired.Attributes[c.o.CorrelationAttribute])
	if err != nil || len(vals) != 1 {
		return nil, nil // nothing to correlate by
	}
	es, err := lookup(ctx, c.d.lookups, c.d.Pool, c.o.BaseDN, c.o.CorrelationAttribute, vals[0], false, c.readAttributes())
	if err != nil {
		return nil, err
	}
	switch len(es) {
	case 0:
		return nil, nil
	case 1:
		if err := c.claim(ctx, es[0]); err != nil {
			return nil, err
		}
		return es[0], nil
	}
	return nil, &targets.Conflict{Reason: targets.ConflictAmbiguous,
		Detail: fmt.Sprintf("%d entries have %s %q: cannot tell which to link", len(es), c.o.CorrelationAttribute, vals[0])}
}

func (c *converge) delete(ctx context.Context, dn string) error {
	done := false
	err := c.d.Pool.Do(ctx, "delete", func(l *ldap.Conn) error {
		err := l.Del(ldap.NewDelRequest(dn, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil // gone already: a retry after a lost response
		}
		done = err == nil
		return err
	})
	if done {
		c.ops = append(c.ops, targets.Op{Kind: targets.OpDelete})
	}
	return err
}

// container is the DN the account belongs in.
func (c *converge) container() string {
	if c.desired.Container != "" {
		return c.desired.Container
	}
	return c.o.UsersDN
}

// rdnValue is the desired RDN attribute's value.
func (c *converge) rdnValue() (string, error) {
	vals, err := values(c.desired.Attributes[c.o.RDNAttribute])
	if err != nil {
		return "", err
	}
	if len(vals) == 0 || vals[0] == "" {
		return "", permanentf("converge", "the account has no %s, which names its entry", c.o.RDNAttribute)
	}
	if c.name != "" && c.wanted == vals[0] {
		return c.name, nil // the name a collision rule chose for it
	}
	c.name, c.wanted = "", ""
	return vals[0], nil
}

// mappedRDN is the RDN value the mapping yields, whatever name is used.
func (c *converge) mappedRDN() string {
	if c.wanted != "" {
		return c.wanted
	}
	v, _ := c.rdnValue()
	return v
}

// nextName is the candidate name after cand under CollisionSuffix
// (want2, want3, …), or "" when the rule is fail or the numbers run out.
func (c *converge) nextName(want string, n int) string {
	if c.o.Collision != CollisionSuffix || n > MaxSuffix {
		return ""
	}
	return want + strconv.Itoa(n)
}

// create adds the entry under the account's name, or links the entry
// already there when it is this person's (adoptable; a retry after a lost
// answer is one). An entry there that is someone else's is a collision:
// CollisionFail returns a conflict, CollisionSuffix tries the next name.
// It returns the entry and whether this call added it.
func (c *converge) create(ctx context.Context) (*ldap.Entry, bool, error) {
	name, err := c.rdnValue()
	if err != nil {
		return nil, false, err
	}
	base := c.mappedRDN()
	for n := 2; ; n++ {
		e, added, err := c.add(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if added {
			c.setName(base, name)
			c.ops = append(c.ops, targets.Op{Kind: targets.OpCreate, Detail: c.desired.Container})
			return e, true, nil
		}
		ok, why := c.adoptable(e)
		if c.req.Owned(c.d.Dialect.Anchor(e)) || ok {
			if err := c.claim(ctx, e); err != nil {
				return nil, false, err
			}
			c.setName(base, name)
			return e, false, nil
		}
		next := c.nextName(base, n)
		for next != "" && next == name {
			n++
			next = c.nextName(base, n)
		}
		if next == "" {
			return nil, false, targets.Collision(c.d.Dialect.Anchor(e), e.DN,
				"%s=%s exists and is not this person's account (%s); collision rule %s", c.o.RDNAttribute, name, why, c.o.Collision)
		}
		name = next
	}
}

// setName records the name in use for the mapped value base.
func (c *converge) setName(base, name string) {
	if name == base {
		c.name, c.wanted = "", ""
		return
	}
	c.name, c.wanted = name, base
}

// add adds the account's entry named rdn; when an entry of that name
// exists it adds nothing and returns that entry (added false).
func (c *converge) add(ctx context.Context, rdn string) (*ldap.Entry, bool, error) {
	dn := JoinDN(RDN(c.o.RDNAttribute, rdn), c.container())
	attrs := map[string][]string{}
	for name, v := range c.desired.Attributes {
		if strings.EqualFold(name, c.o.RDNAttribute) {
			continue
		}
		vals, err := values(v)
		if err != nil {
			return nil, false, err
		}
		if len(vals) > 0 {
			attrs[name] = vals
		}
	}
	// The entry's naming value is the name in use (a collision rule may
	// have chosen another than the mapped one).
	attrs[c.o.RDNAttribute] = []string{rdn}
	for name, v := range c.desired.References {
		if v != "" {
			attrs[name] = []string{v}
		}
	}
	if p, ok := c.d.Dialect.(Provisioner); ok {
		if err := p.PrepareAdd(ctx, c.d, attrs, c.desired, rdn); err != nil {
			return nil, false, err
		}
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", c.o.ObjectClasses)
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		req.Attribute(name, attrs[name])
	}
	added := false
	err := c.d.Pool.Do(ctx, "add", func(l *ldap.Conn) error {
		err := l.Add(req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return nil
		}
		added = err == nil
		return err
	})
	if err != nil {
		return nil, false, err
	}
	e, err := c.readAdded(ctx, dn)
	if err != nil {
		return nil, false, err
	}
	if e == nil {
		return nil, false, targets.Retryable("ldap add", fmt.Errorf("entry %q vanished after its add", dn), 0)
	}
	return e, added, nil
}

// place renames and moves e to its desired DN, returning it as it is now.
// A rename that only changes the case of the naming value is a ModifyDN
// too: directories refuse a modify of the naming attribute. A name held
// by another entry is a collision (see create).
func (c *converge) place(ctx context.Context, e *ldap.Entry) (*ldap.Entry, error) {
	name, err := c.rdnValue()
	if err != nil {
		return nil, err
	}
	base := c.mappedRDN()
	curAttr, curVal, err := RDNValue(e.DN)
	if err != nil {
		return nil, targets.Permanent("ldap modifydn", err)
	}
	parent, err := Parent(e.DN)
	if err != nil {
		return nil, targets.Permanent("ldap modifydn", err)
	}
	move := !EqualDN(parent, c.container())
	// The old RDN value goes when the naming attribute stays the same; an
	// entry linked by correlation under another naming attribute keeps it
	// (it may be required, as cn is).
	delOld := strings.EqualFold(curAttr, c.o.RDNAttribute)
	for n := 2; ; n++ {
		rename := !delOld || curVal != name
		if !rename && !move {
			c.setName(base, name)
			return e, nil
		}
		newRDN, newSup := RDN(curAttr, curVal), ""
		if rename {
			newRDN = RDN(c.o.RDNAttribute, name)
		}
		if move {
			newSup = c.container()
		}
		err = c.d.Pool.Do(ctx, "modifydn", func(l *ldap.Conn) error {
			return l.ModifyDN(ldap.NewModifyDNRequest(e.DN, newRDN, delOld, newSup))
		})
		dn := JoinDN(newRDN, parent)
		if move {
			dn = JoinDN(newRDN, newSup)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) && !EqualDN(dn, e.DN) {
			other, rerr := c.read(ctx, dn)
			if rerr != nil {
				return nil, rerr
			}
			next := c.nextName(base, n)
			for next != "" && next == name {
				n++
				next = c.nextName(base, n)
			}
			if next == "" {
				id := ""
				if other != nil {
					id = c.d.Dialect.Anchor(other)
				}
				return nil, targets.Collision(id, dn, "the account %s cannot take the name %s: another entry holds it; collision rule %s", e.DN, dn, c.o.Collision)
			}
			name = next
			continue
		}
		if err != nil {
			return nil, err
		}
		c.setName(base, name)
		if rename {
			c.ops = append(c.ops, targets.Op{Kind: targets.OpUpdate, Detail: fmt.Sprint([]string{c.o.RDNAttribute})})
		}
		if move {
			c.ops = append(c.ops, targets.Op{Kind: targets.OpMove, Detail: c.desired.Container})
		}
		moved, err := c.read(ctx, dn)
		if err != nil {
			return nil, err
		}
		if moved == nil {
			return nil, targets.Retryable("ldap modifydn", fmt.Errorf("entry %q vanished after its rename", dn), 0)
		}
		return moved, nil
	}
}

// modify makes e's attributes, references and status the desired ones in
// one modify request. Only attributes that are desired, or were applied
// before and are no longer desired, are touched.
func (c *converge) modify(ctx context.Context, e *ldap.Entry, created bool) error {
	m := ldap.NewModifyRequest(e.DN, nil)
	var changed []string
	desired := map[string]bool{}
	if p, ok := c.d.Dialect.(Provisioner); ok {
		for _, name := range p.CreateOnly() {
			desired[strings.ToLower(name)] = true // never modified nor removed
		}
	}
	// The naming attribute is place's: a modify of it is refused (AD:
	// notAllowedOnRDN), and its value may be a collision rule's name.
	desired[strings.ToLower(c.o.RDNAttribute)] = true
	for _, name := range slices.Sorted(maps.Keys(c.desired.Attributes)) {
		if desired[strings.ToLower(name)] {
			continue
		}
		desired[strings.ToLower(name)] = true
		want, err := values(c.desired.Attributes[name])
		if err != nil {
			return err
		}
		cur := e.GetEqualFoldAttributeValues(name)
		if slices.ContainsFunc(c.o.WriteOnly, func(w string) bool { return strings.EqualFold(w, name) }) {
			// Written on create; for an entry found without a last
			// applied state (linked by correlation), only when it has
			// none, so linking never resets a password; later when the
			// desired value changes.
			switch {
			case created, len(want) == 0 && len(cur) == 0:
				continue
			case c.applied == nil && len(cur) > 0:
				continue
			case c.applied != nil && reflect.DeepEqual(c.applied.Attributes[name], c.desired.Attributes[name]):
				continue
			}
		} else if sameValues(cur, want, false) {
			continue
		}
		if len(want) == 0 {
			m.Delete(name, nil)
		} else {
			m.Replace(name, want)
		}
		changed = append(changed, name)
	}
	for _, name := range slices.Sorted(maps.Keys(c.desired.References)) {
		desired[strings.ToLower(name)] = true
		var want []string
		if v := c.desired.References[name]; v != "" {
			want = []string{v}
		}
		cur := e.GetEqualFoldAttributeValues(name)
		if sameValues(cur, want, true) {
			continue
		}
		if len(want) == 0 {
			m.Delete(name, nil)
		} else {
			m.Replace(name, want)
		}
		changed = append(changed, name)
	}
	if c.applied != nil {
		// Attributes Tenure set before and no longer wants; the RDN
		// attribute is never removed.
		var gone []string
		for name := range c.applied.Attributes {
			gone = append(gone, name)
		}
		for name := range c.applied.References {
			gone = append(gone, name)
		}
		slices.Sort(gone)
		for _, name := range slices.Compact(gone) {
			if desired[strings.ToLower(name)] || strings.EqualFold(name, c.o.RDNAttribute) {
				continue
			}
			if len(e.GetEqualFoldAttributeValues(name)) > 0 {
				m.Delete(name, nil)
				changed = append(changed, name)
			}
		}
	}
	status := c.d.Dialect.SetEnabled(m, e, c.desired.Enabled)
	if len(m.Changes) == 0 {
		return nil
	}
	if err := c.d.Pool.Do(ctx, "modify", func(l *ldap.Conn) error { return l.Modify(m) }); err != nil {
		return err
	}
	c.ops = append(c.ops, targets.ChangeOps(changed, status, c.desired.Enabled)...)
	return nil
}

// groupDN is the DN of the group an entitlement names.
func (c *converge) groupDN(ent string) (string, error) {
	if strings.Contains(ent, "=") && UnderDN(ent, c.o.BaseDN) {
		return ent, nil
	}
	if c.o.GroupsDN == "" {
		return "", permanentf("modify", "entitlement %q is not a DN under %s and no groups DN is configured", ent, c.o.BaseDN)
	}
	return JoinDN(RDN("cn", ent), c.o.GroupsDN), nil
}

// memberships adds e to the desired groups and removes it from the groups
// it was granted before and no longer holds; groups it was put in by
// others are left alone. Groups are never created.
func (c *converge) memberships(ctx context.Context, e *ldap.Entry) error {
	var memberOf []string
	if !c.o.NoMemberOf {
		memberOf = e.GetEqualFoldAttributeValues(c.o.MemberOf)
	}
	isMember := func(g string) bool {
		return slices.ContainsFunc(memberOf, func(m string) bool { return EqualDN(m, g) })
	}
	value, oldValue := e.DN, ""
	if c.o.MemberValue != "" {
		value = e.GetEqualFoldAttributeValue(c.o.MemberValue)
		if value == "" {
			return permanentf("modify", "entry %q has no %s to put in its groups' %s", e.DN, c.o.MemberValue, c.o.MemberAttribute)
		}
		if c.applied != nil {
			if old, _ := values(c.applied.Attributes[c.o.MemberValue]); len(old) == 1 && old[0] != value {
				oldValue = old[0] // renamed: the old value leaves every group
			}
		}
	}
	var want []string
	type grant struct {
		ent, g string
		done   bool
		err    error
	}
	var grants []*grant
	for _, ent := range c.desired.Entitlements {
		g, err := c.groupDN(ent)
		if err != nil {
			return err
		}
		want = append(want, g)
		if !isMember(g) {
			grants = append(grants, &grant{ent: ent, g: g})
		}
	}
	// The groups are written at once, not one after another: a joiner
	// with several birthright groups waits for the slowest write, not for
	// their sum (each a synced write on a directory that syncs). Each
	// group's write is coalesced with other converges' (members.go).
	var wg sync.WaitGroup
	for _, gr := range grants {
		if len(grants) == 1 {
			gr.done, gr.err = c.member(ctx, gr.g, value, true)
			break
		}
		wg.Go(func() { gr.done, gr.err = c.member(ctx, gr.g, value, true) })
	}
	wg.Wait()
	var first error
	for _, gr := range grants {
		if err := gr.err; err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				err = permanentf("modify", "group %q (%s) does not exist: Tenure does not create groups: %w", gr.ent, gr.g, err)
			}
			if first == nil {
				first = err
			}
			continue
		}
		moved := oldValue != "" && slices.Contains(c.applied.Entitlements, gr.ent)
		if gr.done && !moved { // a renamed value moving is no new grant
			c.ops = append(c.ops, targets.Op{Kind: targets.OpGrant, Detail: gr.ent})
		}
	}
	if first != nil {
		return first
	}
	if c.applied == nil {
		return nil
	}
	for _, ent := range c.applied.Entitlements {
		g, err := c.groupDN(ent)
		if err != nil {
			return err
		}
		kept := slices.ContainsFunc(want, func(w string) bool { return EqualDN(w, g) })
		if oldValue != "" {
			if _, err := c.member(ctx, g, oldValue, false); err != nil {
				return err
			}
		}
		if kept || (!c.o.NoMemberOf && !isMember(g)) {
			continue
		}
		done, err := c.member(ctx, g, value, false)
		if err != nil {
			return err
		}
		if done {
			c.ops = append(c.ops, targets.Op{Kind: targets.OpRevoke, Detail: ent})
		}
	}
	return nil
}

// leaveValueGroups takes a deleted entry's MemberValue out of the groups it
// was granted: unlike member DNs (which the directory's referential
// integrity cleans up), nothing else removes a memberUid.
func (c *converge) leaveValueGroups(ctx context.Context, e *ldap.Entry) error {
	if c.o.MemberValue == "" || c.applied == nil {
		return nil
	}
	value := e.GetEqualFoldAttributeValue(c.o.MemberValue)
	if value == "" {
		return nil
	}
	for _, ent := range c.applied.Entitlements {
		g, err := c.groupDN(ent)
		if err != nil {
			return err
		}
		if _, err := c.member(ctx, g, value, false); err != nil {
			return err
		}
	}
	return nil
}

// member adds value (a DN, or the MemberValue) to group g's members, or
// removes it; done is false when it already was (was not) a member. The
// write is coalesced with other converges' writes to g (members.go).
func (c *converge) member(ctx context.Context, g, value string, add bool) (done bool, err error) {
	b := c.d.members
	if b == nil {
		b = &memberBatcher{}
	}
	return writeMember(ctx, b, g, c.o.MemberAttribute, value, add, c.memberSend(g, add))
}

// memberSend returns the function that writes a batch of member values to
// group g with one modify.
func (c *converge) memberSend(g string, add bool) func(context.Context, []string) ([]bool, error) {
	op := "grant"
	// Already a member: attributeOrValueExists; AD says entryAlreadyExists.
	already := []uint16{ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultEntryAlreadyExists}
	if !add {
		// Not a member, or a group that is gone and so holds nobody.
		op, already = "revoke", []uint16{ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultNoSuchObject}
	}
	attr := c.o.MemberAttribute
	return func(ctx context.Context, vals []string) ([]bool, error) {
		m := ldap.NewModifyRequest(g, nil)
		if add {
			m.Add(attr, vals)
		} else {
			m.Delete(attr, vals)
		}
		done := make([]bool, len(vals))
		err := c.d.Pool.Do(ctx, op, func(l *ldap.Conn) error {
			err := l.Modify(m)
			// Of one value, "already" is a success that changed nothing;
			// of several, it does not say which, and the batch is
			// written value by value.
			if len(vals) == 1 && slices.ContainsFunc(already, func(code uint16) bool { return ldap.IsErrorWithCode(err, code) }) {
				return nil
			}
			if err == nil {
				for i := range done {
					done[i] = true
				}
			}
			return err
		})
		return done, err
	}
}

// values turns an attribute value into LDAP strings: a string, []string,
// bool (TRUE/FALSE) or a number (decimal); nil and "" are no value.
func values(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return []string{v}, nil
	case []string:
		return slices.DeleteFunc(slices.Clone(v), func(s string) bool { return s == "" }), nil
	case []any:
		var out []string
		for _, x := range v {
			s, err := values(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	case bool:
		if v {
			return []string{"TRUE"}, nil
		}
		return []string{"FALSE"}, nil
	case int:
		return []string{strconv.Itoa(v)}, nil
	case int32:
		return []string{strconv.FormatInt(int64(v), 10)}, nil
	case int64:
		return []string{strconv.FormatInt(v, 10)}, nil
	case uint64:
		return []string{strconv.FormatUint(v, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}, nil
	}
	return nil, permanentf("converge", "attribute value of type %T is not supported", v)
}

// sameValues reports whether a and b hold the same values in any order,
// comparing DNs with EqualDN when dns is true.
func sameValues(a, b []string, dns bool) bool {
	if len(a) != len(b) {
		return false
	}
	rest := slices.Clone(b)
	for _, x := range a {
		i := slices.IndexFunc(rest, func(y string) bool {
			if dns {
				return EqualDN(x, y)
			}
			return x == y
		})
		if i < 0 {
			return false
		}
		rest = slices.Delete(rest, i, i+1)
	}
	return true
}

var _ targets.Finder = (*Directory)(nil)

// Find reports, reading only, the entry a Converge of req would link (by
// its anchor, by correlation, or at its name when adoptable), the name a
// collision rule would create it under, or the conflict it would stop at
// (targets.Finder, for the dry run).
func (d *Directory) Find(ctx context.Context, req *targets.Request) (*targets.Match, error) {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return nil, targets.Permanent("ldap find", err)
	}
	if req == nil || req.Desired == nil {
		return nil, permanentf("find", "no desired state")
	}
	c := &converge{d: d, o: o, req: req, desired: req.Desired}
	if req.Link != nil {
		c.link, c.applied = req.Link.ID, req.Link.Applied
		c.name, c.wanted = req.Link.Name, req.Link.Wanted
	}
	match := func(e *ldap.Entry, by string) *targets.Match {
		return &targets.Match{ID: d.Dialect.Anchor(e), Ref: e.DN, By: by}
	}
	if c.link != "" {
		f, err := d.Dialect.AnchorFilter(c.link)
		if err != nil {
			return nil, targets.Permanent("ldap find", fmt.Errorf("link id: %w", err))
		}
		es, err := c.find(ctx, o.BaseDN, f, false)
		if err != nil {
			return nil, err
		}
		if len(es) == 1 {
			return match(es[0], "link"), nil
		}
	}
	if ca := o.CorrelationAttribute; ca != "" {
		if vals, err := values(c.desired.Attributes[ca]); err == nil && len(vals) == 1 {
			es, err := c.find(ctx, o.BaseDN, Eq(ca, vals[0]), false)
			if err != nil {
				return nil, err
			}
			switch {
			case len(es) == 1:
				return match(es[0], "correlation "+ca), nil
			case len(es) > 1:
				return nil, &targets.Conflict{Reason: targets.ConflictAmbiguous,
					Detail: fmt.Sprintf("%d entries have %s %q: cannot tell which to link", len(es), ca, vals[0])}
			}
		}
	}
	if !c.desired.Exists {
		return nil, nil
	}
	name, err := c.rdnValue()
	if err != nil {
		return nil, err
	}
	base := c.mappedRDN()
	for n := 2; ; n++ {
		dn := JoinDN(RDN(o.RDNAttribute, name), c.container())
		e, err := c.read(ctx, dn)
		if err != nil {
			return nil, err
		}
		if e == nil {
			if name != base {
				return &targets.Match{Ref: dn, By: "name", Renamed: true}, nil
			}
			return nil, nil
		}
		ok, why := c.adoptable(e)
		if ok || req.Owned(d.Dialect.Anchor(e)) {
			return match(e, "name"), nil
		}
		next := c.nextName(base, n)
		for next != "" && next == name {
			n++
			next = c.nextName(base, n)
		}
		if next == "" {
			return nil, targets.Collision(d.Dialect.Anchor(e), e.DN,
				"%s=%s exists and is not this person's account (%s); collision rule %s", o.RDNAttribute, name, why, o.Collision)
		}
		name = next
	}
}
