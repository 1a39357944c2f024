package patch

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// The library's own filter evaluation (filter.Validator.PassesFilter) panics
// when a stored value has an unexpected type, so value filters in paths are
// evaluated here, against the element's sub-attributes.

// filterAttr returns the definition a filter term inside attr[…] compares
// against: a sub-attribute of a complex attribute, or the element itself,
// named "value", for a multi-valued attribute of simple type (RFC 7644
// §3.4.2.2 lets filters refer to such elements as "value").
func filterAttr(attr schema.CoreAttribute, name string) (schema.CoreAttribute, bool) {
	if isComplex(attr) {
		return attr.SubAttributes().ContainsAttribute(name)
	}
	return attr, strings.EqualFold(name, "value")
}

// validateFilter checks that expr only compares sub-attributes of attr with
// known operators, so that evaluation cannot meet anything it does not
// understand.
func validateFilter(attr schema.CoreAttribute, expr filter.Expression) error {
	switch e := expr.(type) {
	case *filter.AttributeExpression:
		if e.AttributePath.SubAttribute != nil {
			return fmt.Errorf("%v: sub-attributes have no sub-attributes", e.AttributePath)
		}
		if _, ok := filterAttr(attr, e.AttributePath.AttributeName); !ok {
			return fmt.Errorf("%q is not a sub-attribute of %s", e.AttributePath.AttributeName, attr.Name())
		}
		switch filter.CompareOperator(strings.ToLower(string(e.Operator))) {
		case filter.PR, filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.LT, filter.GE, filter.LE:
			return nil
		}
		return fmt.Errorf("unknown operator %q", e.Operator)
	case *filter.LogicalExpression:
		switch filter.LogicalOperator(strings.ToLower(string(e.Operator))) {
		case filter.AND, filter.OR:
		default:
			return fmt.Errorf("unknown logical operator %q", e.Operator)
		}
		if err := validateFilter(attr, e.Left); err != nil {
			return err
		}
		return validateFilter(attr, e.Right)
	case *filter.NotExpression:
		return validateFilter(attr, e.Expression)
	}
	return fmt.Errorf("unsupported filter %v", expr)
}

// matcher reports whether an element of a multi-valued attribute passes a
// value filter. compileMatcher prepares it once per operation (the
// sub-attribute each term reads, its operator and comparison value), so
// that an operation on a group of many thousand members scans them without
// resolving the filter again for each.
type matcher func(e any) bool

// compileMatcher prepares expr, which validateFilter accepted, for
// elements of attr.
func compileMatcher(attr schema.CoreAttribute, expr filter.Expression) matcher {
	switch x := expr.(type) {
	case *filter.AttributeExpression:
		return compileTerm(attr, x)
	case *filter.LogicalExpression:
		l, r := compileMatcher(attr, x.Left), compileMatcher(attr, x.Right)
		if strings.EqualFold(string(x.Operator), string(filter.AND)) {
			return func(e any) bool { return l(e) && r(e) }
		}
		return func(e any) bool { return l(e) || r(e) }
	case *filter.NotExpression:
		m := compileMatcher(attr, x.Expression)
		return func(e any) bool { return !m(e) }
	}
	return func(any) bool { return false }
}

// compileTerm prepares one comparison. A string compared with eq or ne
// (members[value eq "id"], emails[type eq "work"]) takes a fast path: a
// case-insensitive attribute compares as strings.EqualFold, the simple
// case folding list filters use too.
func compileTerm(attr schema.CoreAttribute, x *filter.AttributeExpression) matcher {
	def, ok := filterAttr(attr, x.AttributePath.AttributeName)
	if !ok {
		return func(any) bool { return false }
	}
	complex, name := isComplex(attr), def.Name()
	value := func(e any) (any, bool) {
		if !complex {
			return e, true
		}
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		return m[name], true
	}
	op := filter.CompareOperator(strings.ToLower(string(x.Operator)))
	if op == filter.PR {
		return func(e any) bool {
			v, ok := value(e)
			return ok && !isEmpty(v) && v != ""
		}
	}
	want := compareValue(x.CompareValue)
	if w, ok := want.(string); ok && (op == filter.EQ || op == filter.NE) && def.AttributeType() != "dateTime" {
		exact, eq := def.CaseExact(), op == filter.EQ
		return func(e any) bool {
			v, ok := value(e)
			if !ok {
				return false
			}
			s, ok := v.(string)
			if !ok { // unassigned, or another type: only ne matches
				return !eq
			}
			return (exact && s == w || !exact && strings.EqualFold(s, w)) == eq
		}
	}
	if w, ok := want.(string); ok && (op == filter.CO || op == filter.SW || op == filter.EW) && !def.CaseExact() && def.AttributeType() != "dateTime" {
		// As compare does, with the filter's value lowered once.
		test := map[filter.CompareOperator]func(string, string) bool{
			filter.CO: strings.Contains, filter.SW: strings.HasPrefix, filter.EW: strings.HasSuffix}[op]
		w = strings.ToLower(w)
		return func(e any) bool {
			v, ok := value(e)
			s, str := v.(string)
			return ok && str && test(strings.ToLower(s), w)
		}
	}
	return func(e any) bool {
		v, ok := value(e)
		return ok && matchValue(def, v, want, op)
	}
}

// matchValue compares an element's value v with the filter's value want.
func matchValue(def schema.CoreAttribute, v, want any, op filter.CompareOperator) bool {
	if want == nil || v == nil {
		// "eq null" matches an unassigned value; "ne" anything else.
		switch op {
		case filter.EQ:
			return want == nil && v == nil
		case filter.NE:
			return (want == nil) != (v == nil)
		}
		return false
	}
	c, ok := compare(def, v, want, op)
	if !ok {
		return op == filter.NE
	}
	switch op {
	case filter.EQ:
		return c == 0
	case filter.NE:
		return c != 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	// co, sw and ew: compare returned 0 when the substring test held.
	return c == 0
}

// compareValue returns a filter's comparison value with JSON string escapes
// resolved: the parser strips the quotes but keeps `\"` as written.
func compareValue(v any) any {
	s, ok := v.(string)
	if !ok || !strings.Contains(s, `\`) {
		return v
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// compare compares stored value v with the filter's value want. For co, sw
// and ew it returns 0 when the test holds. ok is false when the two cannot be
// compared (different types), which no operator but ne matches.
func compare(def schema.CoreAttribute, v, want any, op filter.CompareOperator) (int, bool) {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		if def.AttributeType() == "dateTime" {
			if c, ok := compareTimes(s, w); ok && op != filter.CO && op != filter.SW && op != filter.EW {
				return c, true
			}
		}
		if !def.CaseExact() {
			s, w = strings.ToLower(s), strings.ToLower(w)
		}
		switch op {
		case filter.CO:
			return boolCmp(strings.Contains(s, w)), true
		case filter.SW:
			return boolCmp(strings.HasPrefix(s, w)), true
		case filter.EW:
			return boolCmp(strings.HasSuffix(s, w)), true
		}
		return strings.Compare(s, w), true
	case bool:
		b, ok := v.(bool)
		if !ok || (op != filter.EQ && op != filter.NE) {
			return 0, false
		}
		return boolCmp(b == w), true
	}
	x, ok := number(v)
	if !ok {
		return 0, false
	}
	y, ok := number(want)
	if !ok || op == filter.CO || op == filter.SW || op == filter.EW {
		return 0, false
	}
	return x.compare(y), true
}

func boolCmp(hold bool) int {
	if hold {
		return 0
	}
	return 1
}

func compareTimes(a, b string) (int, bool) {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return 0, false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	if err != nil {
		return 0, false
	}
	return ta.Compare(tb), true
}

// synthesize builds the element a value filter describes when it is a
// conjunction of "eq" terms, such as type eq "work": the element that, once
// added, the filter selects. ok is false for any other filter, which does not
// describe one element.
func synthesize(attr schema.CoreAttribute, expr filter.Expression) (map[string]any, bool) {
	if !isComplex(attr) {
		return nil, false
	}
	el := map[string]any{}
	var walk func(filter.Expression) bool
	walk = func(expr filter.Expression) bool {
		switch x := expr.(type) {
		case *filter.LogicalExpression:
			return strings.EqualFold(string(x.Operator), string(filter.AND)) && walk(x.Left) && walk(x.Right)
		case *filter.AttributeExpression:
			if !strings.EqualFold(string(x.Operator), string(filter.EQ)) {
				return false
			}
			def, ok := filterAttr(attr, x.AttributePath.AttributeName)
			if !ok || def.Mutability() == "readOnly" {
				return false
			}
			want := compareValue(x.CompareValue)
			switch w := want.(type) {
			case int:
				want = json.Number(fmt.Sprint(w))
			case float64:
				want = json.Number(fmt.Sprint(w))
			}
			v, se := def.ValidateSingular(want)
			if se != nil {
				return false
			}
			if cur, dup := el[def.Name()]; dup && !equal(cur, v) {
				return false
			}
			el[def.Name()] = v
			return true
		}
		return false
	}
	if !walk(expr) {
		return nil, false
	}
	return el, true
}
