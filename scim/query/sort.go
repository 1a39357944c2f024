package query

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
)

// SortKey is a compiled sortBy attribute (RFC 7644 §3.4.2.3). It is
// immutable and safe for concurrent use.
type SortKey struct {
	ref  attrRef
	kind valueKind
	fold bool
}

// CompileSort resolves sortBy, a path in standard attribute notation such as
// "userName", "name.familyName", "emails" or
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
// against s, the common attributes and exts. A complex attribute stands for
// its "value" sub-attribute. Errors wrap ErrInvalidSort.
func CompileSort(sortBy string, s schema.Schema, exts ...schema.Schema) (*SortKey, error) {
	k, err := compileSort(strings.TrimSpace(sortBy), &resolver{core: s, exts: exts})
	if err != nil {
		return nil, fmt.Errorf("query: %w: %w", ErrInvalidSort, err)
	}
	return k, nil
}

// compileSort resolves the path and checks that its values can be ordered.
func compileSort(sortBy string, r *resolver) (*SortKey, error) {
	if sortBy == "" {
		return nil, errors.New("sortBy is empty")
	}
	ref, err := r.path(sortBy)
	if err != nil {
		return nil, err
	}
	if ref.wholeExt() {
		return nil, fmt.Errorf("%q is a schema, not an attribute", sortBy)
	}
	if ref.leaf().AttributeType() == typeComplex {
		if ref, err = implicitValue(ref); err != nil {
			return nil, err
		}
	}
	k := &SortKey{ref: ref, fold: !ref.leaf().CaseExact()}
	switch ref.leaf().AttributeType() {
	case typeInteger, typeDecimal:
		k.kind = kindNumber
	case typeBoolean:
		k.kind = kindBool
	case typeDateTime:
		k.kind = kindTime
	default:
		k.kind = kindString
	}
	return k, nil
}

// String returns the canonical path the key sorts by.
func (k *SortKey) String() string { return k.ref.String() }

// Compare orders a before b (negative), after b (positive) or level (zero)
// in ascending order: strings by Unicode code points, case-insensitively
// unless the attribute is caseExact; numbers numerically; dateTimes
// chronologically; false before true. A multi-valued attribute sorts by its
// primary value, or else its first. Documents without a value, or with a
// value of the wrong type, sort last.
//
// For descending order negate the result, which puts documents without a
// value first, as RFC 7644 §3.4.2.3 asks. Use a stable sort so that level
// documents keep the store's order.
func (k *SortKey) Compare(a, b map[string]any) int {
	va, okA := k.value(a)
	vb, okB := k.value(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return 1
	case !okB:
		return -1
	}
	return k.compare(va, vb)
}

// value returns the value doc sorts by.
func (k *SortKey) value(doc map[string]any) (any, bool) {
	m := doc
	if k.ref.ext != "" {
		ext, _ := lookup(doc, k.ref.ext)
		var ok bool
		if m, ok = ext.(map[string]any); !ok {
			return nil, false
		}
	}
	v, ok := lookup(m, k.ref.attr.Name())
	if !ok {
		return nil, false
	}
	v = representative(v)
	if k.ref.sub == nil {
		return v, v != nil
	}
	sm, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	v, _ = lookup(sm, k.ref.sub.Name())
	v = representative(v)
	return v, v != nil
}

// representative picks the value a multi-valued attribute sorts by: the
// element marked primary, or else the first. Other values stand for
// themselves.
func representative(v any) any {
	switch v := v.(type) {
	case []any:
		return primaryOrFirst(v)
	case []map[string]any:
		return primaryOrFirst(v)
	case []string:
		return primaryOrFirst(v)
	}
	return v
}

// primaryOrFirst returns the element whose "primary" is true, or else the
// first element, or nil for an empty list.
func primaryOrFirst[E any](elems []E) any {
	for _, e := range elems {
		if m, ok := any(e).(map[string]any); ok {
			if primary, _ := lookup(m, "primary"); primary == true {
				return m
			}
		}
	}
	if len(elems) == 0 {
		return nil
	}
	return elems[0]
}

// compare orders two raw values by the key's kind; values that do not
// convert sort after those that do.
func (k *SortKey) compare(a, b any) int {
	switch k.kind {
	case kindNumber:
		return compareConverted(a, b, toNumber, func(x, y number) int {
			c, _ := x.compare(y)
			return c
		})
	case kindBool:
		return compareConverted(a, b, func(v any) (bool, bool) { b, ok := v.(bool); return b, ok }, compareBool)
	case kindTime:
		return compareConverted(a, b, toTime, time.Time.Compare)
	}
	return compareConverted(a, b, k.sortString, strings.Compare)
}

// sortString converts a string value, folding case when the attribute is
// not caseExact.
func (k *SortKey) sortString(v any) (string, bool) {
	s, ok := v.(string)
	if ok && k.fold {
		s = fold(s)
	}
	return s, ok
}

// compareConverted converts a and b with conv and orders them with cmp;
// a value that does not convert sorts last.
func compareConverted[T any](a, b any, conv func(any) (T, bool), cmp func(T, T) int) int {
	x, okX := conv(a)
	y, okY := conv(b)
	switch {
	case !okX && !okY:
		return 0
	case !okX:
		return 1
	case !okY:
		return -1
	}
	return cmp(x, y)
}
