package patch

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
)

// copyMap is a shallow copy; nil becomes an empty map.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// equal reports whether a and b are the same JSON value. Numbers compare by
// value, whatever their Go type (the store may hold json.Number where the
// validator produced int64), and a null member equals an absent one.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, xv := range x {
			if !equal(xv, y[k]) {
				return false
			}
		}
		for k, yv := range y {
			if _, ok := x[k]; !ok && yv != nil {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x.equal(y)
	}
	return reflect.DeepEqual(a, b)
}

// num is a JSON number: exact when it is an integer that fits int64.
type num struct {
	i     int64
	f     float64
	exact bool
}

func (x num) equal(y num) bool {
	if x.exact && y.exact {
		return x.i == y.i
	}
	return x.f == y.f
}

func (x num) compare(y num) int {
	if x.exact && y.exact {
		switch {
		case x.i < y.i:
			return -1
		case x.i > y.i:
			return 1
		}
		return 0
	}
	switch {
	case x.f < y.f:
		return -1
	case x.f > y.f:
		return 1
	}
	return 0
}

// number converts the numeric types JSON decoding, the schema validator and
// the filter parser produce.
func number(v any) (num, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return num{i: i, f: float64(i), exact: true}, true
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return num{f: f}, err == nil
	case int:
		return num{i: int64(n), f: float64(n), exact: true}, true
	case int32:
		return num{i: int64(n), f: float64(n), exact: true}, true
	case int64:
		return num{i: n, f: float64(n), exact: true}, true
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return num{i: int64(n), f: n, exact: true}, true
		}
		return num{f: n}, true
	case float32:
		return number(float64(n))
	}
	return num{}, false
}

// isEmpty reports whether v is unassigned in the sense of RFC 7643 §2.5.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// asList returns a multi-valued attribute's stored elements; a lone value is
// read as a one-element list.
func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

func isComplex(attr schema.CoreAttribute) bool {
	return attr.AttributeType() == "complex"
}

// normalize validates value against attr with the library's own type rules
// and returns it in canonical form: complex values keyed by canonical
// sub-attribute names with unknown and readOnly sub-attributes dropped,
// numbers as int64 or float64, and a multi-valued attribute as a list, a lone
// value being wrapped. Null and empty elements are dropped: Entra ID sends
// members as {"$ref": null, "value": "…"}.
//
// The library has already done this for operations it parsed; Apply repeats
// it because ops may be built by other code, and because the result must
// never share containers with op values.
func normalize(attr schema.CoreAttribute, value any, path string) (any, error) {
	if !attr.MultiValued() {
		return validate(attr, value, path)
	}
	in, ok := value.([]any)
	if !ok {
		in = []any{value}
	}
	out := make([]any, 0, len(in))
	for _, e := range in {
		if e == nil {
			continue
		}
		v, err := validate(attr, e, path)
		if err != nil {
			return nil, err
		}
		if isEmpty(v) {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func validate(attr schema.CoreAttribute, v any, path string) (any, error) {
	out, se := attr.ValidateSingular(v)
	if se != nil {
		return nil, newError(*se, "%s: not a valid %s value", path, attr.AttributeType())
	}
	return out, nil
}

// mergeComplex sets the sub-attributes in of a complex value on a copy of
// old, leaving the others unchanged (RFC 7644 §3.5.2.1, §3.5.2.3). Changing
// an assigned immutable sub-attribute is an error.
func mergeComplex(attr schema.CoreAttribute, old, in map[string]any, path string) (map[string]any, error) {
	out := copyMap(old)
	for k, v := range in {
		cur := out[k]
		if equal(cur, v) {
			continue
		}
		if sub, ok := attr.SubAttributes().ContainsAttribute(k); ok && sub.Mutability() == "immutable" && cur != nil {
			return nil, newError(scimerrors.ScimErrorMutability, "%s: %s is immutable", path, sub.Name())
		}
		out[k] = v
	}
	return out, nil
}

// shape is what identity and primary handling need to know about a
// multi-valued attribute.
type shape struct {
	attr    schema.CoreAttribute
	complex bool
	// Canonical sub-attribute names, "" when the attribute has none.
	value, typ, primary string
	valueCaseExact      bool
	typeCaseExact       bool
}

func shapeOf(attr schema.CoreAttribute) shape {
	s := shape{attr: attr, complex: isComplex(attr), valueCaseExact: attr.CaseExact()}
	if !s.complex {
		return s
	}
	subs := attr.SubAttributes()
	if v, ok := subs.ContainsAttribute("value"); ok {
		s.value, s.valueCaseExact = v.Name(), v.CaseExact()
	}
	if t, ok := subs.ContainsAttribute("type"); ok {
		s.typ, s.typeCaseExact = t.Name(), t.CaseExact()
	}
	if p, ok := subs.ContainsAttribute("primary"); ok && p.AttributeType() == "boolean" {
		s.primary = p.Name()
	}
	return s
}

// same reports whether a and b are the same element of the attribute, which
// decides when an add changes nothing (RFC 7644 §3.5.2.1) and which elements
// a remove with a value deletes.
//
// Elements with a "value" are the same when their values are equal (ignoring
// case unless the schema says caseExact) and their types do not differ; a
// missing type matches any, so Entra's {"value": id} names the member Tenure
// stores as {"value": id, "type": "User", "$ref": …}. Elements without a
// "value" (addresses) are the same only when equal.
func (s shape) same(a, b any) bool {
	if !s.complex {
		return sameScalar(a, b, s.valueCaseExact)
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok || s.value == "" {
		return equal(a, b)
	}
	av, bv := am[s.value], bm[s.value]
	if av == nil || bv == nil {
		return equal(am, bm)
	}
	if !sameScalar(av, bv, s.valueCaseExact) {
		return false
	}
	if s.typ != "" {
		at, bt := am[s.typ], bm[s.typ]
		if at != nil && bt != nil && !sameScalar(at, bt, s.typeCaseExact) {
			return false
		}
	}
	return true
}

// key buckets elements so that same(a, b) implies key(a) == key(b). ok is
// false for an element without a string value, which is compared in full
// with every other such element.
func (s shape) key(e any) (k string, ok bool) {
	v := e
	if s.complex {
		if s.value == "" {
			return "", false
		}
		m, _ := e.(map[string]any)
		v = m[s.value]
	}
	str, ok := v.(string)
	if !ok {
		return "", false
	}
	if !s.valueCaseExact {
		str = strings.ToLower(str)
	}
	return str, true
}

func sameScalar(a, b any, caseExact bool) bool {
	if x, ok := a.(string); ok && !caseExact {
		y, ok := b.(string)
		return ok && strings.EqualFold(x, y)
	}
	return equal(a, b)
}

// index finds elements by identity in O(1) per lookup, so that adding to or
// collapsing a group with many thousands of members stays linear. Elements
// of one key are chained through next in the order they were appended.
type index struct {
	shape   shape
	list    []any
	buckets map[string]chain
	next    []int32 // the next element with the same key, or -1
	other   []int32 // elements without a key
}

// chain is the first and last element of one key.
type chain struct{ head, tail int32 }

func newIndex(s shape, capacity int) *index {
	return &index{shape: s, list: make([]any, 0, capacity), buckets: make(map[string]chain, capacity), next: make([]int32, 0, capacity)}
}

func (x *index) find(e any) int {
	k, ok := x.shape.key(e)
	if !ok {
		for _, i := range x.other {
			if x.shape.same(x.list[i], e) {
				return int(i)
			}
		}
		return -1
	}
	c, found := x.buckets[k]
	if !found {
		return -1
	}
	for i := c.head; i >= 0; i = x.next[i] {
		if x.shape.same(x.list[i], e) {
			return int(i)
		}
	}
	return -1
}

func (x *index) append(e any) {
	i := int32(len(x.list))
	x.list = append(x.list, e)
	x.next = append(x.next, -1)
	k, ok := x.shape.key(e)
	if !ok {
		x.other = append(x.other, i)
		return
	}
	if c, found := x.buckets[k]; found {
		x.next[c.tail] = i
		x.buckets[k] = chain{c.head, i}
		return
	}
	x.buckets[k] = chain{i, i}
}

// collapse returns an index of list with elements of the same identity
// merged into the first of them and at most one primary element, preserving
// order. touched marks the elements the operation wrote: their
// sub-attributes win over untouched duplicates, and among them the last
// primary wins (RFC 7644 §3.5.2: setting primary on one value clears it on
// the others).
//
// Immutable sub-attributes of an element are never changed by a merge: an
// element is included once, and adding it again changes nothing.
func collapse(s shape, list []any, touched []bool) *index {
	x := newIndex(s, len(list))
	wrote := make([]bool, 0, len(list))
	for i, e := range list {
		j := x.find(e)
		if j < 0 {
			x.append(e)
			wrote = append(wrote, touched[i])
			continue
		}
		dst, dok := x.list[j].(map[string]any)
		src, sok := e.(map[string]any)
		if dok && sok {
			x.list[j], _ = mergeDuplicate(s, dst, src, touched[i] || !wrote[j])
		}
		wrote[j] = wrote[j] || touched[i]
	}
	fixPrimary(s, x.list, wrote)
	return x
}

// mergeDuplicate merges src into dst, which have the same identity. Writable
// sub-attributes of src overwrite those of dst when overwrite is set and fill
// gaps otherwise. The identity itself (value and type) stays as stored, so
// re-adding "ADA@example.com" keeps "ada@example.com". changed reports
// whether the result differs from dst (which is then returned itself).
func mergeDuplicate(s shape, dst, src map[string]any, overwrite bool) (out map[string]any, changed bool) {
	for k, v := range src {
		cur, has := dst[k]
		if (has && cur != nil && (!overwrite || k == s.value || k == s.typ)) || equal(cur, v) {
			continue
		}
		if sub, ok := s.attr.SubAttributes().ContainsAttribute(k); !ok || sub.Mutability() == "immutable" || sub.Mutability() == "readOnly" {
			continue
		}
		if out == nil {
			out = copyMap(dst)
		}
		out[k] = v
	}
	if out == nil {
		return dst, false
	}
	return out, true
}

// fixPrimary leaves at most one element with primary true: the last one
// marked in wrote, or else the first. Elements are copied, not modified.
func fixPrimary(s shape, list []any, wrote []bool) {
	if s.primary == "" {
		return
	}
	keep := -1
	for i, e := range list {
		if !isPrimary(s, e) {
			continue
		}
		if wrote[i] || keep < 0 {
			keep = i
		}
	}
	for i, e := range list {
		if i != keep && isPrimary(s, e) {
			m := copyMap(e.(map[string]any))
			m[s.primary] = false
			list[i] = m
		}
	}
}

func isPrimary(s shape, e any) bool {
	m, _ := e.(map[string]any)
	p, _ := m[s.primary].(bool)
	return p
}

func countPrimary(s shape, list []any) int {
	n := 0
	for _, e := range list {
		if s.primary != "" && isPrimary(s, e) {
			n++
		}
	}
	return n
}
