package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

var (
	_ targets.Inventory = (*Directory)(nil)
	_ targets.Remover   = (*Directory)(nil)
)

// inventoryPageSize is the page size of the account listing: under AD's
// default MaxPageSize (1000), so AD never cuts a page short.
const inventoryPageSize = 500

// accountFilter matches the entries Directory manages: those of its most
// specific object class (the last of ObjectClasses that is not "top",
// inetOrgPerson or user by default; the earlier ones, such as person,
// also match contacts and devices). In AD a computer is a user too, and
// is never an account Tenure made.
func (d *Directory) accountFilter(o DirectoryOptions) (Filter, error) {
	class := ""
	for _, c := range o.ObjectClasses {
		if !strings.EqualFold(c, "top") {
			class = c
		}
	}
	if class == "" {
		return "", errors.New("no object class but top")
	}
	f := Eq("objectClass", class)
	if d.Dialect.Name() == "ad" {
		f = And(f, Not(Eq("objectClass", "computer")))
	}
	return f, nil
}

// Accounts implements targets.Inventory: every entry of the account
// filter under each of Options.ManagedDNs, once (managed DNs may nest),
// with its anchor, DN and RDN value. A managed DN that does not exist
// holds no accounts.
func (d *Directory) Accounts(ctx context.Context, fn func(targets.Found) error) error {
	return d.listAccounts(ctx, "ldap accounts", nil, func(_ *ldap.Entry, f targets.Found) error { return fn(f) })
}

// listAccounts lists what Accounts lists, reading attrs of each entry
// besides the anchor; op names the caller in errors.
func (d *Directory) listAccounts(ctx context.Context, op string, attrs []string, fn func(*ldap.Entry, targets.Found) error) error {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return targets.Permanent(op, err)
	}
	f, err := d.accountFilter(o)
	if err != nil {
		return targets.Permanent(op, err)
	}
	anchor := d.Dialect.AnchorAttribute()
	seen := map[string]bool{}
	for _, base := range o.ManagedDNs {
		if base == "" {
			continue
		}
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			f.String(), append([]string{anchor}, attrs...), nil)
		es, err := d.Pool.SearchAll(ctx, req, inventoryPageSize)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ldapsync: accounts under %q: %w", base, err)
		}
		for _, e := range es {
			id := d.Dialect.Anchor(e)
			// The anchor names an entry however its DN is spelled; an
			// entry without one (it cannot be removed) by its DN.
			key := "id:" + id
			if id == "" {
				key = "dn:" + normalDN(e.DN)
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			_, name, _ := RDNValue(e.DN)
			if err := fn(e, targets.Found{ID: id, Ref: e.DN, Name: name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalDN is dn in a form equal for equal DNs (EqualDN), for map keys.
func normalDN(dn string) string {
	p, err := ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	rdns := make([]string, len(p.RDNs))
	for i, r := range p.RDNs {
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = RDN(strings.ToLower(a.Type), strings.ToLower(a.Value))
		}
		slices.Sort(parts)
		rdns[i] = strings.Join(parts, "+")
	}
	return strings.Join(rdns, ",")
}

// Remove implements targets.Remover: it deletes the entry whose anchor is
// id. Only an entry Accounts would list is deleted (of the account
// filter, under a managed DN): an anchor that now names an entry moved
// elsewhere is a permanent error. No such entry is success. An entry with
// children (AD keeps some under users) is refused by the server
// (notAllowedOnNonLeaf, permanent).
func (d *Directory) Remove(ctx context.Context, id string) error {
	o, err := d.Options.withDefaults(d.Dialect)
	if err != nil {
		return targets.Permanent("ldap remove", err)
	}
	if id == "" {
		return permanentf("remove", "no anchor")
	}
	af, err := d.Dialect.AnchorFilter(id)
	if err != nil {
		return targets.Permanent("ldap remove", fmt.Errorf("anchor: %w", err))
	}
	f, err := d.accountFilter(o)
	if err != nil {
		return targets.Permanent("ldap remove", err)
	}
	req := ldap.NewSearchRequest(o.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		And(af, f).String(), []string{"1.1"}, nil)
	es, err := d.Pool.SearchAll(ctx, req, 0)
	if err != nil {
		return fmt.Errorf("ldapsync: remove %s: %w", id, err)
	}
	switch len(es) {
	case 0:
		return nil // gone already
	case 1:
	default:
		return permanentf("remove", "%d entries have %s %q", len(es), d.Dialect.AnchorAttribute(), id)
	}
	dn := es[0].DN
	managed := false
	for _, m := range o.ManagedDNs {
		if m != "" && UnderDN(dn, m) {
			managed = true
			break
		}
	}
	if !managed {
		return permanentf("remove", "entry %q (%s %s) is not under a managed DN (%s): not removed",
			dn, d.Dialect.AnchorAttribute(), id, strings.Join(o.ManagedDNs, "; "))
	}
	err = d.Pool.Do(ctx, "delete", func(l *ldap.Conn) error {
		err := l.Del(ldap.NewDelRequest(dn, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil // gone since the search, or a retry after a lost response
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ldapsync: remove %s: %w", id, err)
	}
	return nil
}
