package ldapsync

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/tenurehq/tenure/internal/ldapdn"
)

// ValidAttribute reports whether name is an attribute description that may
// go into a DN or a filter unescaped: a descriptor (a letter, then letters,
// digits and hyphens) or a numeric OID, each optionally followed by options
// (";lang-de", ";binary"). Configuration that names RDN, correlation or
// filter attributes must pass it; RDN and the filter builders panic on
// anything else, so a bad name can never change a DN's or filter's shape.
// The check is ldapdn.ValidAttribute, which the ldap kind's configuration
// check uses too.
func ValidAttribute(name string) error {
	if !ldapdn.ValidAttribute(name) {
		return fmt.Errorf("ldapsync: %q is not an attribute description", name)
	}
	return nil
}

// mustAttribute panics unless ValidAttribute accepts name.
func mustAttribute(name string) {
	if err := ValidAttribute(name); err != nil {
		panic(err)
	}
}

// EscapeRDNValue escapes v for the value part of an RDN (RFC 4514 §2.4);
// see ldapdn.EscapeRDNValue, which the policy's rdn() function shares.
// Parsing the result with ldap.ParseDN gives v back, for every string v.
func EscapeRDNValue(v string) string { return ldapdn.EscapeRDNValue(v) }

func hexByte(b *strings.Builder, c byte) { ldapdn.HexByte(b, c) }

// RDN returns the relative DN attr=value with value escaped. It panics if
// attr is not a valid attribute description (see ValidAttribute).
func RDN(attr, value string) string {
	mustAttribute(attr)
	return attr + "=" + EscapeRDNValue(value)
}

// JoinDN puts rdn (from RDN) under parent, a DN; an empty parent gives rdn.
func JoinDN(rdn, parent string) string {
	if parent == "" {
		return rdn
	}
	return rdn + "," + parent
}

// ParseDN parses dn (RFC 4514) with go-ldap's parser, and checks every
// attribute type in it as ValidAttribute does (go-ldap takes any text
// before the "="). It is the one check of DNs, run on the ldap kind's
// configuration and at run time alike.
func ParseDN(dn string) (*ldap.DN, error) {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("ldapsync: invalid DN %q: %w", dn, err)
	}
	for _, r := range d.RDNs {
		for _, a := range r.Attributes {
			if !ldapdn.ValidDescrOrOID(a.Type) {
				return nil, fmt.Errorf("ldapsync: invalid DN %q: %q is not an attribute type", dn, a.Type)
			}
		}
	}
	return d, nil
}

// EqualDN reports whether a and b name the same entry: both parse, and
// their RDNs match in order, with attribute types and values compared
// without regard to case and the attributes of a multi-valued RDN in any
// order (ldap.DN.EqualFold). Escaping and spacing differences do not
// matter ("cn=a\,b" equals "CN=A\2cB").
//
// Folding values is what the caseIgnoreMatch of cn, ou, uid, dc and AD's
// naming attributes does; a directory that names entries by a case-exact
// attribute would see two DNs that differ only in case as different, where
// EqualDN sees them as one. Other matching-rule subtleties (insignificant
// inner spaces, Unicode normalisation) are not applied. An unparsable DN
// equals nothing.
func EqualDN(a, b string) bool {
	da, db, ok := parseBoth(a, b)
	return ok && da.EqualFold(db)
}

// UnderDN reports whether dn lies below (not at) ancestor, with EqualDN's
// comparison. An unparsable DN is under nothing.
func UnderDN(dn, ancestor string) bool {
	d, a, ok := parseBoth(dn, ancestor)
	return ok && a.AncestorOfFold(d)
}

func parseBoth(a, b string) (da, db *ldap.DN, ok bool) {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	return da, db, errA == nil && errB == nil
}

// Parent returns the DN of dn's parent, as written in dn (no
// re-encoding): "ou=people,dc=example,dc=com" for
// "cn=a\,b,ou=people,dc=example,dc=com". The parent of a one-RDN DN is "".
func Parent(dn string) (string, error) {
	if _, err := ParseDN(dn); err != nil {
		return "", err
	}
	if dn == "" {
		return "", errors.New("ldapsync: the empty DN has no parent")
	}
	_, rest := splitFirstRDN(dn)
	return strings.TrimLeft(rest, " "), nil
}

// splitFirstRDN splits a DN that parses at its first unescaped RDN
// separator (',' or ';'); rest is "" for a one-RDN DN.
func splitFirstRDN(dn string) (first, rest string) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++ // the escaped character, or the first of two hex digits
		case ',', ';':
			return dn[:i], dn[i+1:]
		}
	}
	return dn, ""
}

// RDNValue returns the attribute type and the unescaped value of dn's first
// RDN: "cn", "a,b" for "cn=a\,b,ou=people,dc=example,dc=com". A
// multi-valued first RDN (cn=a+sn=b) is an error: Tenure never builds one.
func RDNValue(dn string) (attr, value string, err error) {
	d, err := ParseDN(dn)
	if err != nil {
		return "", "", err
	}
	if len(d.RDNs) == 0 {
		return "", "", errors.New("ldapsync: the empty DN has no RDN")
	}
	if as := d.RDNs[0].Attributes; len(as) != 1 {
		return "", "", fmt.Errorf("ldapsync: %q has a multi-valued RDN", dn)
	}
	a := d.RDNs[0].Attributes[0]
	return a.Type, a.Value, nil
}

// Filter is an LDAP search filter (RFC 4515) built by Eq, Present, And, Or
// and Not, which escape every value. Keeping filters in this type, rather
// than in strings put together with fmt, is what keeps outside values from
// changing a filter's shape.
type Filter string

// String returns the filter's text, as ldap.SearchRequest.Filter wants it.
func (f Filter) String() string { return string(f) }

// EscapeFilter escapes v for use as an assertion value in a filter
// (RFC 4515 §3): * ( ) \ NUL and every byte above 0x7f become \XX.
func EscapeFilter(v string) string { return ldap.EscapeFilter(v) }

// Eq is the equality filter (attr=value), value escaped. It panics if attr
// is not a valid attribute description (see ValidAttribute).
func Eq(attr, value string) Filter {
	mustAttribute(attr)
	return Filter("(" + attr + "=" + EscapeFilter(value) + ")")
}

// EqBytes is the equality filter for a binary value (objectGUID), every
// byte escaped as \hh so no byte is read as text.
func EqBytes(attr string, value []byte) Filter {
	mustAttribute(attr)
	var b strings.Builder
	b.WriteString("(" + attr + "=")
	for _, c := range value {
		hexByte(&b, c)
	}
	b.WriteString(")")
	return Filter(b.String())
}

// Present is the presence filter (attr=*). It panics if attr is not a
// valid attribute description.
func Present(attr string) Filter {
	mustAttribute(attr)
	return Filter("(" + attr + "=*)")
}

// And is the conjunction of its filters. It takes at least one: the empty
// "(&)" would match every entry.
func And(f Filter, more ...Filter) Filter { return join('&', f, more) }

// Or is the disjunction of its filters; at least one.
func Or(f Filter, more ...Filter) Filter { return join('|', f, more) }

// Not negates f.
func Not(f Filter) Filter { return Filter("(!" + string(f) + ")") }

func join(op byte, f Filter, more []Filter) Filter {
	var b strings.Builder
	b.WriteByte('(')
	b.WriteByte(op)
	b.WriteString(string(f))
	for _, m := range more {
		b.WriteString(string(m))
	}
	b.WriteByte(')')
	return Filter(b.String())
}
