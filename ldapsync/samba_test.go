package ldapsync

import (
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
)

// TestSambaAD binds over StartTLS and LDAPS, and stores, finds and deletes
// users with hostile CNs in an OU with a hostile name. AD is slow (tens of
// adds a second): a handful of values only.
func TestSambaAD(t *testing.T) {
	t.Parallel()
	srv := testenv.SambaAD(t)
	ctx := t.Context()
	ldaps := startTLSConfig(srv)
	ldaps.URL, ldaps.StartTLS = srv.LDAPSURL(), false
	for name, cfg := range map[string]Config{"starttls": startTLSConfig(srv), "ldaps": ldaps} {
		t.Run(name, func(t *testing.T) {
			p, _ := newPool(t, cfg)
			e, err := readDN(ctx, p, testenv.SambaBaseDN, "objectClass")
			if err != nil {
				t.Fatalf("read the domain: %v", err)
			}
			if !EqualDN(e.DN, testenv.SambaBaseDN) {
				t.Errorf("read %q", e.DN)
			}
		})
	}

	p, _ := newPool(t, startTLSConfig(srv))
	ou := JoinDN(RDN("OU", "Tenure, #test+ou"), testenv.SambaBaseDN)
	if err := add(ctx, p, ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}}); err != nil {
		t.Fatalf("add the OU %q: %v", ou, err)
	}
	users := []string{"Smith, John", "*)(cn=*", `#"Q" \back; <a>=b+c`, " José 日本 "}
	dns := map[string]string{}
	for i, cn := range users {
		dn := JoinDN(RDN("CN", cn), ou)
		dns[cn] = dn
		err := add(ctx, p, dn, map[string][]string{
			"objectClass":        {"top", "person", "organizationalPerson", "user"},
			"sAMAccountName":     {fmt.Sprintf("tenure-hostile-%d", i)},
			"userPrincipalName":  {fmt.Sprintf("tenure-hostile-%d@example.com", i)},
			"userAccountControl": {"514"}, // a normal account, disabled: no password needed
			"description":        {cn},
		})
		if err != nil {
			t.Fatalf("add %q: %v", dn, err)
		}
	}
	for _, cn := range users {
		found, err := search(ctx, p, ou, And(Eq("objectClass", "user"), Eq("cn", cn)), "cn", "description")
		if err != nil {
			t.Fatalf("search for %q: %v", cn, err)
		}
		if len(found) != 1 || found[0].GetAttributeValue("description") != cn || !EqualDN(found[0].DN, dns[cn]) {
			t.Errorf("the filter for %q found %d entries, want exactly %q", cn, len(found), dns[cn])
			continue
		}
		if _, v, err := RDNValue(found[0].DN); err != nil || v != cn {
			t.Errorf("AD's DN %q has RDN value %q (%v), want %q", found[0].DN, v, err, cn)
		}
	}
	all, err := search(ctx, p, ou, Eq("objectClass", "user"))
	if err != nil || len(all) != len(users) {
		t.Errorf("%d users in the OU (%v), want %d", len(all), err, len(users))
	}
	for cn, dn := range dns {
		if err := del(ctx, p, dn); err != nil {
			t.Errorf("delete %q: %v", cn, err)
		}
	}
	if err := del(ctx, p, ou); err != nil {
		t.Errorf("delete the OU: %v", err)
	}
	if _, err := readDN(ctx, p, ou); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Errorf("the OU after its delete: %v", err)
	}
}
