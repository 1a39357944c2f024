package ldapdn

import "strings"

// ValidAttribute reports whether name is an RFC 4512 attribute
// description: a descriptor (a letter, then letters, digits and hyphens)
// or a numeric OID, with optional ";option"s (";lang-de", ";binary"). Such
// a name can go into a DN or a filter unescaped without changing its
// shape. It is the one check of attribute names, used by the ldap kind's
// configuration check and by ldapsync at run time alike.
func ValidAttribute(name string) bool {
	parts := strings.Split(name, ";")
	if !ValidDescrOrOID(parts[0]) {
		return false
	}
	for _, o := range parts[1:] {
		if !keychars(o) {
			return false
		}
	}
	return true
}

// ValidDescrOrOID reports whether s is a descriptor or a numeric OID
// (RFC 4512 §1.4: oid = descr / numericoid), as attribute types and object
// classes are named. A numeric OID has at least two numbers ("1" alone is
// not one), without leading zeros.
func ValidDescrOrOID(s string) bool {
	if s != "" && isLetter(s[0]) {
		return keychars(s)
	}
	nums := strings.Split(s, ".")
	if len(nums) < 2 {
		return false
	}
	for _, n := range nums {
		if n == "" || (len(n) > 1 && n[0] == '0') {
			return false
		}
		for i := 0; i < len(n); i++ {
			if n[i] < '0' || n[i] > '9' {
				return false
			}
		}
	}
	return true
}

// keychars reports whether s is one or more letters, digits and hyphens.
func keychars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return s != ""
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
