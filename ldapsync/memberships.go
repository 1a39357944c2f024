package ldapsync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

var _ targets.Memberships = (*Directory)(nil)

// Memberships implements targets.Memberships: every account Accounts
// lists, with every group it is a member of, whoever put it there. The
// groups are read from the entry's reverse attribute (MemberOf) in the
// same search; where there is none (NoMemberOf, MemberValue groups such
// as posixGroup) from the groups under BaseDN that hold the account's DN
// or value. Groups are in GroupRef's form (normalised DNs).
func (d *Directory) Memberships(ctx context.Context, fn func(targets.Membership) error) error {
	const op = "ldap memberships"
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return targets.Permanent(op, err)
	}
	if !o.NoMemberOf {
		return d.listAccounts(ctx, op, []string{o.MemberOf}, func(e *ldap.Entry, f targets.Found) error {
			groups := e.GetEqualFoldAttributeValues(o.MemberOf)
			for i, g := range groups {
				groups[i] = normalDN(g)
			}
			return fn(targets.Membership{Account: f, Groups: sortedSet(groups)})
		})
	}
	byMember, err := d.groupsByMember(ctx, o)
	if err != nil {
		return err
	}
	var attrs []string
	if o.MemberValue != "" {
		attrs = []string{o.MemberValue}
	}
	return d.listAccounts(ctx, op, attrs, func(e *ldap.Entry, f targets.Found) error {
		key := normalDN(e.DN)
		if o.MemberValue != "" {
			key = strings.ToLower(e.GetEqualFoldAttributeValue(o.MemberValue))
		}
		return fn(targets.Membership{Account: f, Groups: sortedSet(byMember[key])})
	})
}

// groupsByMember reads every group under BaseDN that has members and
// maps each member (a normalised DN, or a MemberValue value in lower
// case) to the groups holding it. The member values of a group come in
// one read: AD, which hands large groups out in ranges, has memberOf.
func (d *Directory) groupsByMember(ctx context.Context, o DirectoryOptions) (map[string][]string, error) {
	req := ldap.NewSearchRequest(o.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		Present(o.MemberAttribute).String(), []string{o.MemberAttribute}, nil)
	es, err := d.Pool.SearchAll(ctx, req, inventoryPageSize)
	if err != nil {
		return nil, fmt.Errorf("ldapsync: groups under %q: %w", o.BaseDN, err)
	}
	out := map[string][]string{}
	for _, e := range es {
		g := normalDN(e.DN)
		for _, v := range e.GetEqualFoldAttributeValues(o.MemberAttribute) {
			k := strings.ToLower(v)
			if o.MemberValue == "" {
				k = normalDN(v)
			}
			out[k] = append(out[k], g)
		}
	}
	return out, nil
}

// sortedSet returns ss sorted without repeats (a new slice).
func sortedSet(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
