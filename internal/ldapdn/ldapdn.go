// Package ldapdn escapes values for LDAP distinguished names (RFC 4514)
// and checks attribute and object class names (RFC 4512).
// It has no dependencies so that both ldapsync, which builds DNs, and the
// policy's CEL environment (mapper's rdn function), which lets a container
// expression put an HR value into an OU's DN, share one escaper.
package ldapdn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// EscapeRDNValue escapes v for the value part of an RDN (RFC 4514 §2.4):
// a leading space or '#' and a trailing space are escaped, as are
// , + " \ < > ; and '=' (not required, but harmless and clearer); NUL,
// other control characters, DEL, bytes that are not UTF-8 and runes that
// are not printable (such as U+00A0 or U+200B) become \XX per byte.
// Printable non-ASCII text (é, 日本) stays as UTF-8. Parsing the result with
// ldap.ParseDN gives v back, for every string v.
func EscapeRDNValue(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		c := v[i]
		switch {
		case i == 0 && (c == ' ' || c == '#'), i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case r == utf8.RuneError && size == 1, r < ' ', r == 0x7f, r >= utf8.RuneSelf && !unicode.IsPrint(r):
			for j := range size {
				HexByte(&b, v[i+j])
			}
		default:
			b.WriteString(v[i : i+size])
		}
		i += size
	}
	return b.String()
}

// HexByte writes c as a backslash and two hex digits.
func HexByte(b *strings.Builder, c byte) {
	const digits = "0123456789abcdef"
	b.WriteByte('\\')
	b.WriteByte(digits[c>>4])
	b.WriteByte(digits[c&0xf])
}
