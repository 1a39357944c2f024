package ldapsync

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

// Exclusive groups: the policy owns a group's whole membership, so the
// engine's drift pass lists its members, finds those no grant explains and
// removes them. The directory's part is here: naming a group the way the
// engine can compare (GroupRef), listing members with the accounts they
// name (GroupMembers) and removing one (RemoveMember).

// memberChunk is how many member values one search resolves (an OR of
// equality filters), for member_value groups.
const memberChunk = 50

// GroupRef returns the comparable form of the group an entitlement names
// (its DN, normalised): two entitlements name one group exactly when
// their GroupRefs are equal ("staff" and "cn=Staff,<groups_ou>").
func (d *Directory) GroupRef(ent string) (string, error) {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return "", targets.Permanent("ldap group", err)
	}
	g, err := (&converge{d: d, o: o}).groupDN(ent)
	if err != nil {
		return "", err
	}
	return normalDN(g), nil
}

// GroupMembers lists the members of the group ent names, except the ones
// the directory keeps whatever the policy says (the bind DN,
// DirectoryOptions.KeepMembers). Each member is a targets.Found whose Ref
// is the value the group holds (a DN, or a MemberValue such as a uid) and
// whose ID is the anchor of the account it names under BaseDN, "" when it
// names none there (an entry elsewhere, a dangling DN); a value that names
// several accounts is listed once per account. Name is the RDN value (or
// the value itself), for reports. A group that does not exist is a
// permanent error: Tenure does not create groups.
func (d *Directory) GroupMembers(ctx context.Context, ent string) ([]targets.Found, error) {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return nil, targets.Permanent("ldap group members", err)
	}
	g, err := (&converge{d: d, o: o}).groupDN(ent)
	if err != nil {
		return nil, err
	}
	values, err := d.readMembers(ctx, o, g)
	if err != nil {
		return nil, err
	}
	values = slices.DeleteFunc(values, func(v string) bool { return d.kept(o, v) })
	if o.MemberValue != "" {
		return d.resolveValues(ctx, o, values)
	}
	return d.resolveDNs(ctx, o, g, values)
}

// RemoveMember takes value (as GroupMembers listed it) out of the group
// ent names. A value that is no longer a member is success. A value the
// directory keeps is refused (permanent), however it was asked for.
func (d *Directory) RemoveMember(ctx context.Context, ent, value string) error {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return targets.Permanent("ldap revoke", err)
	}
	if d.kept(o, value) {
		return permanentf("revoke", "%q is kept in every group (bind DN or keep_members): not removed", value)
	}
	c := &converge{d: d, o: o}
	g, err := c.groupDN(ent)
	if err != nil {
		return err
	}
	if _, err = c.member(ctx, g, value, false); err == nil {
		return nil
	}
	// AD answers unwillingToPerform ("already deleted") for a value that
	// is not there: gone is gone, however the server says it.
	values, rerr := d.readMembers(ctx, o, g)
	if rerr == nil && !slices.ContainsFunc(values, func(v string) bool { return d.sameMember(o, v, value) }) {
		return nil
	}
	return err
}

// sameMember compares member values as the group holds them: DNs with
// EqualDN, MemberValue values case-insensitively.
func (d *Directory) sameMember(o DirectoryOptions, a, b string) bool {
	if o.MemberValue != "" {
		return strings.EqualFold(a, b)
	}
	return EqualDN(a, b)
}

// kept reports whether v is a member no exclusive group loses: the bind DN
// (the usual placeholder of a groupOfNames, which must keep a member) and
// KeepMembers.
func (d *Directory) kept(o DirectoryOptions, v string) bool {
	same := func(k string) bool { return d.sameMember(o, k, v) }
	if o.MemberValue == "" && d.Pool != nil && d.Pool.cfg.BindDN != "" && same(d.Pool.cfg.BindDN) {
		return true
	}
	return slices.ContainsFunc(o.KeepMembers, same)
}

// readMembers reads group g's member values, range by range where the
// server hands a large attribute out in ranges (AD: 1500 values at a
// time, as member;range=0-1499).
func (d *Directory) readMembers(ctx context.Context, o DirectoryOptions, g string) ([]string, error) {
	var out []string
	attr := o.MemberAttribute
	for low := 0; ; {
		want := attr
		if low > 0 {
			want = fmt.Sprintf("%s;range=%d-*", attr, low)
		}
		req := ldap.NewSearchRequest(g, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			Present("objectClass").String(), []string{want}, nil)
		es, err := d.Pool.SearchAll(ctx, req, 0)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || (err == nil && len(es) == 0) {
			return nil, permanentf("search", "group %q does not exist: Tenure does not create groups", g)
		}
		if err != nil {
			return nil, err
		}
		next := -1
		for _, a := range es[0].Attributes {
			name, opts, _ := strings.Cut(a.Name, ";")
			if !strings.EqualFold(name, attr) {
				continue
			}
			out = append(out, a.Values...)
			r, ok := strings.CutPrefix(strings.ToLower(opts), "range=")
			if !ok {
				continue
			}
			_, high, _ := strings.Cut(r, "-")
			if high == "*" {
				continue
			}
			h, err := strconv.Atoi(high)
			if err != nil || h < low {
				return nil, permanentf("search", "group %q: unexpected range %q", g, a.Name)
			}
			next = h + 1
		}
		if next < 0 {
			return out, nil
		}
		low = next
	}
}

// resolveDNs finds the anchors of the accounts under BaseDN that member
// DNs name: with a reverse attribute, one search for the entries that are
// members of g; without, one read per member.
func (d *Directory) resolveDNs(ctx context.Context, o DirectoryOptions, g string, dns []string) ([]targets.Found, error) {
	anchor := d.Dialect.AnchorAttribute()
	ids := map[string]string{} // normalDN → anchor
	if !o.NoMemberOf {
		req := ldap.NewSearchRequest(o.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			Eq(o.MemberOf, g).String(), []string{anchor}, nil)
		es, err := d.Pool.SearchAll(ctx, req, inventoryPageSize)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			ids[normalDN(e.DN)] = d.Dialect.Anchor(e)
		}
	}
	out := make([]targets.Found, 0, len(dns))
	for _, dn := range dns {
		id, ok := ids[normalDN(dn)]
		if !ok && o.NoMemberOf && UnderDN(dn, o.BaseDN) {
			req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				Present("objectClass").String(), []string{anchor}, nil)
			es, err := d.Pool.SearchAll(ctx, req, 0)
			switch {
			case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			case err != nil:
				return nil, err
			case len(es) == 1:
				id = d.Dialect.Anchor(es[0])
			}
		}
		_, name, _ := RDNValue(dn)
		out = append(out, targets.Found{ID: id, Ref: dn, Name: name})
	}
	return out, nil
}

// resolveValues finds the accounts under BaseDN whose MemberValue
// attribute holds each value (compared as the directory does,
// case-insensitively), memberChunk values per search.
func (d *Directory) resolveValues(ctx context.Context, o DirectoryOptions, values []string) ([]targets.Found, error) {
	anchor := d.Dialect.AnchorAttribute()
	var out []targets.Found
	for chunk := range slices.Chunk(values, memberChunk) {
		fs := make([]Filter, len(chunk))
		for i, v := range chunk {
			fs[i] = Eq(o.MemberValue, v)
		}
		req := ldap.NewSearchRequest(o.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			Or(fs[0], fs[1:]...).String(), []string{anchor, o.MemberValue}, nil)
		es, err := d.Pool.SearchAll(ctx, req, inventoryPageSize)
		if err != nil {
			return nil, err
		}
		for _, v := range chunk {
			found := false
			for _, e := range es {
				if slices.ContainsFunc(e.GetEqualFoldAttributeValues(o.MemberValue), func(h string) bool { return strings.EqualFold(h, v) }) {
					out = append(out, targets.Found{ID: d.Dialect.Anchor(e), Ref: v, Name: v})
					found = true
				}
			}
			if !found {
				out = append(out, targets.Found{Ref: v, Name: v})
			}
		}
	}
	return out, nil
}
