package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// inventory lists d's accounts by DN (lower case).
func inventory(t *testing.T, d *Directory) map[string]targets.Found {
	t.Helper()
	out := map[string]targets.Found{}
	err := d.Accounts(t.Context(), func(f targets.Found) error {
		k := normalDN(f.Ref)
		if _, dup := out[k]; dup {
			t.Errorf("%s listed twice", f.Ref)
		}
		out[k] = f
		return nil
	})
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	return out
}

func wantListed(t *testing.T, got map[string]targets.Found, dns ...string) {
	t.Helper()
	want := make([]string, len(dns))
	for i, dn := range dns {
		want[i] = normalDN(dn)
	}
	slices.Sort(want)
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
		t.Errorf("listed %v, want %v", keys, want)
	}
}

// Accounts lists the inetOrgPerson entries under the managed DNs once
// each, with the anchor the link holds; Remove deletes only those.
func TestDirectoryInventory(t *testing.T) {
	t.Parallel()
	_, d, p := newDirectory(t, "")
	ctx := t.Context()
	contractors := JoinDN(RDN("ou", "contractors"), testenv.SlapdPeopleDN)
	if err := add(ctx, p, contractors, map[string][]string{"objectClass": {"organizationalUnit"}}); err != nil {
		t.Fatal(err)
	}
	// People nest contractors, and a managed DN that does not exist
	// holds nothing.
	d.Options.ManagedDNs = []string{testenv.SlapdPeopleDN, contractors, testenv.SlapdDisabledDN, "ou=missing,dc=example,dc=com"}

	res, err := d.Converge(ctx, &targets.Request{Identity: "p1", Desired: person("jdoe", nil)})
	if err != nil {
		t.Fatal(err)
	}
	gone := person("leaver", nil)
	gone.Container, gone.Enabled = testenv.SlapdDisabledDN, false
	if _, err := d.Converge(ctx, &targets.Request{Identity: "p2", Desired: gone}); err != nil {
		t.Fatal(err)
	}
	inet := func(uid string) map[string][]string {
		return map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid}}
	}
	stray := JoinDN(RDN("uid", "stray, #1"), contractors)
	outside := JoinDN(RDN("uid", "outside"), testenv.SlapdGroupsDN)
	for dn, attrs := range map[string]map[string][]string{
		stray:   inet("stray, #1"),
		outside: inet("outside"),
		// Not accounts: another class under a managed DN.
		JoinDN(RDN("cn", "printer"), testenv.SlapdPeopleDN): {"objectClass": {"device"}, "cn": {"printer"}},
		JoinDN(RDN("cn", "bare"), testenv.SlapdPeopleDN):    {"objectClass": {"person"}, "cn": {"bare"}, "sn": {"bare"}},
	} {
		if err := add(ctx, p, dn, attrs); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}

	got := inventory(t, d)
	jdoe := JoinDN(RDN("uid", "jdoe"), testenv.SlapdPeopleDN)
	leaver := JoinDN(RDN("uid", "leaver"), testenv.SlapdDisabledDN)
	wantListed(t, got, jdoe, leaver, stray)
	if f := got[normalDN(jdoe)]; f.ID != res.Link.ID || !EqualDN(f.Ref, res.Link.Ref) || f.Name != "jdoe" {
		t.Errorf("jdoe listed as %+v, link %+v", f, res.Link)
	}
	s := got[normalDN(stray)]
	if s.Name != "stray, #1" || s.ID == "" {
		t.Errorf("stray listed as %+v", s)
	}

	if err := d.Remove(ctx, s.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if es, err := search(ctx, p, testenv.SlapdBaseDN, Eq("entryUUID", s.ID)); err != nil || len(es) != 0 {
		t.Errorf("the stray after its removal: %d entries, %v", len(es), err)
	}
	if err := d.Remove(ctx, s.ID); err != nil {
		t.Errorf("Remove of a removed entry: %v", err)
	}
	wantListed(t, inventory(t, d), jdoe, leaver)

	// An entry outside the managed DNs is never removed.
	out, err := readDN(ctx, p, outside, "entryUUID")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Remove(ctx, out.GetAttributeValue("entryUUID"))
	if !errors.Is(err, targets.ErrPermanent) {
		t.Errorf("Remove outside the managed DNs: %v, want permanent", err)
	}
	if _, err := readDN(ctx, p, outside); err != nil {
		t.Errorf("the entry outside was removed: %v", err)
	}
	if err := d.Remove(ctx, ""); !errors.Is(err, targets.ErrPermanent) {
		t.Errorf("Remove(\"\"): %v", err)
	}

	// fn's error stops the listing; so does ctx.
	stop := errors.New("stop")
	n := 0
	if err := d.Accounts(ctx, func(targets.Found) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Accounts with a failing fn: %v after %d", err, n)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Accounts(cancelled, func(targets.Found) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Accounts on a cancelled ctx: %v", err)
	}

	// Managed DNs default to the users DN.
	d.Options.ManagedDNs = nil
	wantListed(t, inventory(t, d), jdoe)
}

// Against AD the anchor is objectGUID in its string form, users are
// listed and computers (which are users too) are not.
func TestDirectoryInventoryAD(t *testing.T) {
	t.Parallel()
	srv := testenv.SambaAD(t)
	ctx := t.Context()
	p, _ := newPool(t, startTLSConfig(srv))
	ou := JoinDN(RDN("OU", "Tenure inventory"), testenv.SambaBaseDN)
	sub := JoinDN(RDN("OU", "Contractors"), ou)
	for _, dn := range []string{ou, sub} {
		if err := add(ctx, p, dn, map[string][]string{"objectClass": {"top", "organizationalUnit"}}); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}
	d, err := NewDirectory(p, AD{}, DirectoryOptions{BaseDN: testenv.SambaBaseDN, UsersDN: ou, ManagedDNs: []string{ou, sub}})
	if err != nil {
		t.Fatal(err)
	}
	user := func(i int) map[string][]string {
		return map[string][]string{
			"objectClass":        {"top", "person", "organizationalPerson", "user"},
			"sAMAccountName":     {fmt.Sprintf("tenure-inv-%d", i)},
			"userAccountControl": {"514"}, // disabled: no password needed
		}
	}
	linked := JoinDN(RDN("CN", "Linked, User"), ou)
	orphan := JoinDN(RDN("CN", "Orphan"), sub)
	pc := JoinDN(RDN("CN", "PC1"), ou)
	for dn, attrs := range map[string]map[string][]string{
		linked: user(1),
		orphan: user(2),
		pc: {"objectClass": {"top", "person", "organizationalPerson", "user", "computer"},
			"sAMAccountName": {"TENURE-PC1$"}, "userAccountControl": {"4096"}},
	} {
		if err := add(ctx, p, dn, attrs); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}

	got := inventory(t, d)
	wantListed(t, got, linked, orphan)
	e, err := readDN(ctx, p, linked, ADAnchorAttribute)
	if err != nil {
		t.Fatal(err)
	}
	if f := got[normalDN(linked)]; f.ID != FormatGUID(e.GetRawAttributeValue(ADAnchorAttribute)) || f.Name != "Linked, User" {
		t.Errorf("linked user listed as %+v", f)
	}
	o := got[normalDN(orphan)]
	if err := d.Remove(ctx, o.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := readDN(ctx, p, orphan); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Errorf("the orphan after its removal: %v", err)
	}
	if err := d.Remove(ctx, o.ID); err != nil {
		t.Errorf("Remove of a removed entry: %v", err)
	}
	if err := d.Remove(ctx, "not-a-guid"); !errors.Is(err, targets.ErrPermanent) {
		t.Errorf("Remove of a malformed anchor: %v", err)
	}
	pcEntry, err := readDN(ctx, p, pc, ADAnchorAttribute)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, FormatGUID(pcEntry.GetRawAttributeValue(ADAnchorAttribute))); err != nil {
		t.Errorf("Remove of a computer: %v", err) // not an account: nothing to remove
	}
	if _, err := readDN(ctx, p, pc); err != nil {
		t.Errorf("the computer was removed: %v", err)
	}
	wantListed(t, inventory(t, d), linked)
}
