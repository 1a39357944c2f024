package query

import (
	"fmt"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// node is one compiled filter expression, tested against a document or,
// inside a value filter, against one element of a multi-valued attribute.
type node interface {
	match(m map[string]any) bool
}

// andNode matches when every child does.
type andNode []node

// match reports whether every child matches m.
func (n andNode) match(m map[string]any) bool {
	for _, c := range n {
		if !c.match(m) {
			return false
		}
	}
	return true
}

// orNode matches when any child does.
type orNode []node

// match reports whether any child matches m.
func (n orNode) match(m map[string]any) bool {
	for _, c := range n {
		if c.match(m) {
			return true
		}
	}
	return false
}

// notNode matches when its child does not.
type notNode struct{ n node }

// match reports whether the child does not match m.
func (n notNode) match(m map[string]any) bool { return !n.n.match(m) }

// neverNode stands for a comparison that cannot match, such as a string
// attribute compared with a number, or, in a search across types
// (CompileEach), one on an attribute the type lacks.
type neverNode struct{}

// match reports false.
func (neverNode) match(map[string]any) bool { return false }

// valuePathNode is attr[cond]: it matches when one element of the
// multi-valued complex attribute satisfies cond.
type valuePathNode struct {
	ref  attrRef
	cond node
}

// match reports whether an element of the attribute in m satisfies cond.
func (n *valuePathNode) match(m map[string]any) bool { return n.ref.some(m, n) }

// test tests one element; elements that are not objects never match.
func (n *valuePathNode) test(v any) bool {
	m, ok := v.(map[string]any)
	return ok && n.cond.match(m)
}

// presenceNode is "attr pr" (and "attr ne null").
type presenceNode struct {
	ref attrRef
	via tester // presentTest, through ref.via
}

// presence compiles "ref pr".
func presence(ref attrRef) presenceNode {
	return presenceNode{ref: ref, via: ref.via(presentTest{})}
}

// match reports whether the attribute has a present value in m.
func (n presenceNode) match(m map[string]any) bool { return n.ref.some(m, n.via) }

// presentTest reports values that count as present for "pr".
type presentTest struct{}

// test reports whether v is present.
func (presentTest) test(v any) bool { return present(v) }

// valueKind is how a comparison interprets values, from the attribute type.
type valueKind uint8

const (
	kindString valueKind = iota // string, reference and binary
	kindNumber                  // integer and decimal
	kindBool
	kindTime // dateTime
)

// compareNode is "attr op value" for every operator but pr. The compare
// value is converted once, at compile time, to the attribute's kind.
type compareNode struct {
	ref  attrRef
	op   filter.CompareOperator
	kind valueKind
	fold bool // compare strings case-insensitively (caseExact is false)

	str string // kindString; folded when fold
	num number
	b   bool
	t   time.Time

	raw string // the string compare value as written, for Candidates
	via tester // the node itself, through ref.via
}

// match reports whether any value of the attribute in m compares as asked.
func (n *compareNode) match(m map[string]any) bool { return n.ref.some(m, n.via) }

// test compares one attribute value with the compare value. Values of the
// wrong type do not match.
func (n *compareNode) test(v any) bool {
	switch n.kind {
	case kindString:
		s, ok := v.(string)
		return ok && n.testString(s)
	case kindNumber:
		x, ok := toNumber(v)
		if !ok {
			return false
		}
		c, ok := x.compare(n.num)
		return ok && n.holds(c)
	case kindBool:
		b, ok := v.(bool)
		return ok && n.holds(compareBool(b, n.b))
	case kindTime:
		t, ok := toTime(v)
		return ok && n.holds(t.Compare(n.t))
	}
	return false
}

// testString applies the operator to a string attribute value.
func (n *compareNode) testString(s string) bool {
	if n.fold && (n.op == filter.EQ || n.op == filter.NE) {
		// Same answer as comparing folded strings, without allocating.
		return strings.EqualFold(s, n.raw) == (n.op == filter.EQ)
	}
	if n.fold {
		s = fold(s)
	}
	switch n.op {
	case filter.CO:
		return strings.Contains(s, n.str)
	case filter.SW:
		return strings.HasPrefix(s, n.str)
	case filter.EW:
		return strings.HasSuffix(s, n.str)
	}
	return n.holds(strings.Compare(s, n.str))
}

// holds reports whether an ordering result c (attribute value compared with
// the compare value) satisfies the operator.
func (n *compareNode) holds(c int) bool {
	switch n.op {
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
	return false
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// comparison compiles "ref op value". A complex attribute without a
// sub-attribute stands for its "value" sub-attribute (emails eq "x" means
// emails.value eq "x"), except under pr and against null, which ask whether
// it has any content at all.
func comparison(ref attrRef, op filter.CompareOperator, value any) (node, error) {
	if op == filter.PR {
		return presence(ref), nil
	}
	if value == nil {
		return nullComparison(ref, op)
	}
	if ref.leaf().AttributeType() == typeComplex {
		var err error
		if ref, err = implicitValue(ref); err != nil {
			return nil, err
		}
	}
	kind, err := kindOf(ref, op)
	if err != nil {
		return nil, err
	}
	if s, ok := value.(string); ok {
		if value, err = unquote(s); err != nil {
			return nil, err
		}
	}
	n := &compareNode{ref: ref, op: op, kind: kind, fold: !ref.leaf().CaseExact()}
	if !n.setValue(value) {
		return neverNode{}, nil
	}
	n.via = ref.via(n)
	return n, nil
}

// implicitValue turns a path to a complex attribute into one to its "value"
// sub-attribute.
func implicitValue(ref attrRef) (attrRef, error) {
	if _, ok := ref.attr.SubAttributes().ContainsAttribute("value"); !ok || ref.sub != nil {
		return attrRef{}, fmt.Errorf("attribute %q is complex; name one of its sub-attributes", ref)
	}
	return withSub(ref, "value")
}

// kindOf returns how values of ref's attribute compare, rejecting operators
// the type does not support: RFC 7644 §3.4.2.2 forbids gt, ge, lt and le on
// boolean and binary attributes, and co, sw and ew only make sense on
// strings.
func kindOf(ref attrRef, op filter.CompareOperator) (valueKind, error) {
	typ := ref.leaf().AttributeType()
	ordering := op == filter.GT || op == filter.GE || op == filter.LT || op == filter.LE
	substring := op == filter.CO || op == filter.SW || op == filter.EW
	unsupported := func() (valueKind, error) {
		return 0, fmt.Errorf("operator %q is not supported on %s attribute %q", op, typ, ref)
	}
	if !ordering && !substring && op != filter.EQ && op != filter.NE {
		return 0, fmt.Errorf("unknown operator %q", op)
	}
	switch typ {
	case typeString, typeReference:
		return kindString, nil
	case typeBinary:
		if ordering {
			return unsupported()
		}
		return kindString, nil
	case typeBoolean:
		if ordering || substring {
			return unsupported()
		}
		return kindBool, nil
	case typeInteger, typeDecimal:
		if substring {
			return unsupported()
		}
		return kindNumber, nil
	case typeDateTime:
		if substring {
			return unsupported()
		}
		return kindTime, nil
	}
	return unsupported()
}

// nullComparison compiles comparisons with null. RFC 7643 §2.5 treats null
// and unassigned alike, so "eq null" means "not pr" and "ne null" means
// "pr"; no other operator applies to null.
func nullComparison(ref attrRef, op filter.CompareOperator) (node, error) {
	switch op {
	case filter.EQ:
		return notNode{presence(ref)}, nil
	case filter.NE:
		return presence(ref), nil
	}
	return nil, fmt.Errorf("operator %q cannot compare %q with null", op, ref)
}

// setValue converts the compare value to n's kind. It reports false when
// the value has the wrong type for the attribute, so the comparison can
// never match.
func (n *compareNode) setValue(value any) bool {
	var ok bool
	switch n.kind {
	case kindString:
		n.raw, ok = value.(string)
		n.str = n.raw
		if n.fold {
			n.str = fold(n.raw)
		}
	case kindNumber:
		n.num, ok = toNumber(value)
	case kindBool:
		n.b, ok = value.(bool)
	case kindTime:
		var s string
		if s, ok = value.(string); ok {
			n.t, ok = parseDateTime(s)
		}
	}
	return ok
}
