package scim

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// checkUserName refuses a userName a client sets or changes when it is empty,
// not valid UTF-8, begins or ends with whitespace, contains an invisible or
// line-breaking character, or is not in Unicode normalization form KC. The
// error is a 400 invalidValue whose detail names userName, the problem and
// the offending code point.
//
// A userName identifies a person downstream: it becomes a sAMAccountName or
// userPrincipalName, a login, a correlation key. Two names that look the same
// but differ in their bytes (" bob", "bob\u200b", "ｂｏｂ") would be two
// users to Tenure's store — which compares case-insensitively, as
// strings.EqualFold, RFC 7643 §4.1.1 — yet one to a human, and often one to
// the target: Active Directory compares names ignoring width, so "ｂｏｂ"
// collides with, or correlates onto, bob's account. Hence:
//
//   - Invisible characters are refused: Unicode general categories Cc
//     (controls: NUL, tab, newline, DEL, C1) and Cf (format: zero-width
//     space/joiner/non-joiner, soft hyphen, byte order mark, bidi marks,
//     embeddings, overrides and isolates, tags), the line and paragraph
//     separators (Zl, Zp), and the remaining default-ignorable code points
//     (Other_Default_Ignorable_Code_Point, e.g. Hangul fillers and the
//     combining grapheme joiner, and variation selectors).
//   - U+FFFD is refused: JSON decoding turns invalid UTF-8 and unpaired
//     surrogate escapes into it, so it only ever stands for a broken value.
//   - Compatibility and canonical variants are refused, not folded: a name
//     must equal its NFKC form. Fullwidth "ｂｏｂ", ligatures, superscripts,
//     the Kelvin sign, a no-break space inside the name and decomposed
//     "José" (e + U+0301) all answer 400 with the form to send instead.
//     Rewriting the name would break the client's own `userName eq`
//     look-ups and make Tenure's userName differ from the IdP's; folding
//     only for uniqueness would need a second index with a migration, and
//     would still hand the target a name it compares differently. Every
//     name accepted is NFKC-stable, so among them the store's case-folded
//     comparison is the NFKC case-insensitive comparison.
//
// Names stored before this check are grandfathered: callers check only a
// userName that a write sets or changes (see resourceHandler.write).
func checkUserName(name string) error {
	if name == "" {
		return invalidValue("userName is required")
	}
	if !utf8.ValidString(name) {
		return invalidValue("userName is not valid UTF-8")
	}
	if r, _ := utf8.DecodeRuneInString(name); unicode.IsSpace(r) {
		return invalidValue(fmt.Sprintf("userName must not begin or end with whitespace (it begins with %U)", r))
	}
	if r, _ := utf8.DecodeLastRuneInString(name); unicode.IsSpace(r) {
		return invalidValue(fmt.Sprintf("userName must not begin or end with whitespace (it ends with %U)", r))
	}
	for _, r := range name {
		if what := refusedRune(r); what != "" {
			return invalidValue(fmt.Sprintf("userName contains %s", what))
		}
	}
	if norm.NFKC.IsNormalString(name) {
		return nil
	}
	nf := norm.NFKC.String(name)
	send := ""
	if checkUserName(nf) == nil { // nf is NFKC: no further recursion
		send = fmt.Sprintf("; send %q", nf)
	}
	for _, r := range name {
		s := string(r)
		if c := norm.NFC.String(s); c != s {
			return invalidValue(fmt.Sprintf("userName is not in Unicode normalization form C: %U %q has the canonical form %s%s",
				r, r, codePoints(c), send))
		}
		if k := norm.NFKC.String(s); k != s {
			return invalidValue(fmt.Sprintf("userName contains the compatibility character %U %q, a variant of %q "+
				"(fullwidth, halfwidth, ligature, superscript and other compatibility forms are refused, not folded)%s",
				r, r, k, send))
		}
	}
	return invalidValue("userName is not in Unicode normalization form C " +
		"(it has decomposed characters or combining marks out of order)" + send)
}

// refusedRune describes r if a userName may not contain it anywhere, and
// returns "" otherwise.
func refusedRune(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "U+FFFD, the replacement character: the value was not valid UTF-8 or had an unpaired surrogate escape"
	case unicode.Is(unicode.Cc, r):
		return fmt.Sprintf("the control character %U (Unicode category Cc)", r)
	case unicode.Is(unicode.Cf, r):
		return fmt.Sprintf("the invisible format character %U (Unicode category Cf)", r)
	case unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
		return fmt.Sprintf("the line or paragraph separator %U", r)
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r):
		return fmt.Sprintf("the invisible (default-ignorable) character %U", r)
	}
	return ""
}

// codePoints renders s as "U+0065 U+0301".
func codePoints(s string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%U", r)
	}
	return b.String()
}
