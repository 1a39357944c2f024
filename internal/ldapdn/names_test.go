package ldapdn

import "testing"

func TestValidAttribute(t *testing.T) {
	for name, want := range map[string]bool{
		"uid": true, "sAMAccountName": true, "x-attr-1": true, "2.5.4.3": true, "userCertificate;binary": true,
		"cn;lang-de;x": true,
		"":             false, "1uid": false, "a_b": false, "a b": false, "2.5.04.3": false, "uid;": false, "cn;x y": false,
		// A numeric OID has two numbers at least (RFC 4512 numericoid).
		"2": false, "2.": false, ".2": false, "2..5": false,
	} {
		if ValidAttribute(name) != want {
			t.Errorf("ValidAttribute(%q) = %v", name, !want)
		}
	}
	for name, want := range map[string]bool{"inetOrgPerson": true, "2.5.6.6": true, "top;x": false, "1": false} {
		if ValidDescrOrOID(name) != want {
			t.Errorf("ValidDescrOrOID(%q) = %v", name, !want)
		}
	}
}
