package query

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// tester tests one attribute value. Filter nodes implement it rather than
// being passed as closures so that matching does not allocate.
type tester interface {
	test(v any) bool
}

// some reports whether t accepts any value of ref's attribute in m. The
// values of a multi-valued attribute are tested one by one, which gives it
// the "any value matches" semantics of RFC 7644 §3.4.2.2; a single-valued
// attribute holding a list is the wrong type and is tested as the list.
// When ref names a sub-attribute, t must come from ref.via.
func (r attrRef) some(m map[string]any, t tester) bool {
	if r.ext != "" {
		ext, ok := lookup(m, r.ext)
		if m, ok = ext.(map[string]any); !ok {
			return false
		}
	}
	v, ok := lookup(m, r.attr.Name())
	return ok && someOf(v, r.attr.MultiValued(), t)
}

// via adapts t, a test of the values ref addresses, to the values of ref's
// top-level attribute, which is what some passes it. Nodes call it once,
// when they are compiled, so that matching does not allocate.
func (r attrRef) via(t tester) tester {
	if r.sub == nil {
		return t
	}
	return &subTest{name: r.sub.Name(), multi: r.sub.MultiValued(), t: t}
}

// subTest applies t to a sub-attribute of each complex value.
type subTest struct {
	name  string
	multi bool
	t     tester
}

// test applies s.t to the sub-attribute of v, an object.
func (s *subTest) test(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	sv, ok := lookup(m, s.name)
	return ok && someOf(sv, s.multi, s.t)
}

// someOf tests the values of v: each element when multi, or else v itself.
func someOf(v any, multi bool, t tester) bool {
	if multi {
		return someValue(v, t)
	}
	return t.test(v)
}

// someValue applies t to v or, when v is a list, to each element until one
// passes.
func someValue(v any, t tester) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if t.test(e) {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range v {
			if t.test(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range v {
			if t.test(e) {
				return true
			}
		}
		return false
	}
	return t.test(v)
}

// lookup returns m[key]. Attribute names are case-insensitive (RFC 7643
// §2.1); documents use canonical names, so the exact key almost always hits
// and the case-insensitive scan is the fallback.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// present reports whether v counts as a value for "pr": not null, not an
// empty string, and for lists and complex values, containing something that
// is present.
func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		for _, e := range v {
			if present(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range v {
			if e != "" {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range v {
			if present(e) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, e := range v {
			if present(e) {
				return true
			}
		}
		return false
	}
	return true
}

// number is a JSON number, kept as an int64 when it is one so that large
// integers compare exactly.
type number struct {
	i     int64
	f     float64
	isInt bool
}

// toNumber converts the numeric types a document or filter may hold.
func toNumber(v any) (number, bool) {
	switch n := v.(type) {
	case json.Number:
		return parseNumber(string(n))
	case float64:
		return number{f: n}, !math.IsNaN(n)
	case float32:
		return number{f: float64(n)}, !math.IsNaN(float64(n))
	case int:
		return number{i: int64(n), isInt: true}, true
	case int8:
		return number{i: int64(n), isInt: true}, true
	case int16:
		return number{i: int64(n), isInt: true}, true
	case int32:
		return number{i: int64(n), isInt: true}, true
	case int64:
		return number{i: n, isInt: true}, true
	case uint:
		return fromUint(uint64(n)), true
	case uint8:
		return fromUint(uint64(n)), true
	case uint16:
		return fromUint(uint64(n)), true
	case uint32:
		return fromUint(uint64(n)), true
	case uint64:
		return fromUint(n), true
	}
	return number{}, false
}

// fromUint keeps n exact when it fits in an int64.
func fromUint(n uint64) number {
	if n > math.MaxInt64 {
		return number{f: float64(n)}
	}
	return number{i: int64(n), isInt: true}
}

// parseNumber parses the text of a JSON number. Out-of-range values become
// ±Inf and still compare.
func parseNumber(s string) (number, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{i: i, isInt: true}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return number{}, false
	}
	return number{f: f}, true
}

// float returns n as a float64.
func (n number) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

// compare orders n against o; it reports false if they do not compare.
func (n number) compare(o number) (int, bool) {
	if n.isInt && o.isInt {
		return cmp.Compare(n.i, o.i), true
	}
	a, b := n.float(), o.float()
	if math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return cmp.Compare(a, b), true
}

// toTime converts a dateTime value: a string, or a time.Time put there by Go
// code rather than by decoding JSON.
func toTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		return parseDateTime(t)
	case time.Time:
		return t, true
	}
	return time.Time{}, false
}

// parseDateTime parses an xsd:dateTime (RFC 7643 §2.3.5): RFC 3339 with an
// optional fraction, or without a zone, which xsd reads as UTC.
func parseDateTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// fold maps s to a canonical form under simple case folding, so that
// fold(a) == fold(b) exactly when strings.EqualFold(a, b). That is what
// case-insensitive (caseExact false) means here, for every operator and for
// sorting; it is also how the store's name index compares, which keeps
// Candidates a superset. strings.ToLower would not do: it maps "İ" to "i",
// which EqualFold keeps apart, and leaves "ſ" and "s", which it joins,
// apart.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(foldRune, s)
		}
	}
	return strings.ToLower(s)
}

// foldRune returns one fixed member of r's simple-fold orbit (the runes
// unicode.SimpleFold cycles through): its lower case if that is in the
// orbit, which agrees with strings.ToLower on ASCII, or else the orbit's
// smallest rune.
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	lower := unicode.ToLower(least)
	for f := unicode.SimpleFold(least); f != least; f = unicode.SimpleFold(f) {
		if f == lower {
			return lower
		}
	}
	return least
}
