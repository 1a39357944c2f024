package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// FoldName returns the index form of a userName or displayName: two names
// get the same key exactly when strings.EqualFold reports them equal, which
// is what "case-insensitively" means everywhere in Tenure (every backend
// and the SCIM filter engine use this rule). Keys
// of ASCII names are their lower case.
func FoldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	// Invalid UTF-8 decodes as U+FFFD here as it does in EqualFold.
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune picks one fixed member of r's simple-fold orbit (the runes
// unicode.SimpleFold cycles through, which EqualFold treats as equal): the
// orbit's smallest rune, or that rune's lower case if it is in the orbit.
// The plain lower case will not do: it can leave the orbit (U+0130 'İ'
// lowers to 'i', yet EqualFold("İ", "i") is false) or differ within it
// ('ſ' and 's' both are lower case).
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	lower := unicode.ToLower(least)
	if lower == least {
		return least
	}
	for f := unicode.SimpleFold(least); f != least; f = unicode.SimpleFold(f) {
		if f == lower {
			return lower
		}
	}
	return least
}
