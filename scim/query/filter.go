package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

// Filter is a compiled SCIM filter. It is immutable and safe for concurrent
// use.
type Filter struct {
	raw  string
	root node
}

// Compile parses raw and resolves every attribute path in it against s, the
// common attributes (id, externalId, meta.*, schemas) and exts. Unknown
// attributes, value filters on anything but multi-valued complex attributes,
// ordering operators on boolean or binary attributes and other operators
// that cannot apply to an attribute's type are errors, as are filters longer
// than MaxFilterLength or nested deeper than MaxFilterDepth. Every error
// wraps ErrInvalidFilter.
//
// A compare value whose JSON type does not fit the attribute (userName eq 42,
// active eq "true") is not an error: like a document value of the wrong
// type, it simply never matches.
func Compile(raw string, s schema.Schema, exts ...schema.Schema) (*Filter, error) {
	root, err := compileFilter(raw, &resolver{core: s, exts: exts})
	if err != nil {
		return nil, fmt.Errorf("query: %w: %w", ErrInvalidFilter, err)
	}
	return &Filter{raw: raw, root: root}, nil
}

// Schemas are one resource type's core schema and extensions.
type Schemas struct {
	Core schema.Schema
	Exts []schema.Schema
}

// CompileEach compiles raw once for each resource type of a search that
// spans several (a root search, RFC 7644 §3.4.2.1), in the order given.
// An attribute one type lacks is evaluated there "as if the attribute is
// not present": every comparison on it is false (so userName sw "a" or
// members pr finds users by the first term and groups by the second). An
// attribute or schema no type has is an error wrapping ErrInvalidFilter,
// as is anything Compile refuses for another reason.
func CompileEach(raw string, types ...Schemas) ([]*Filter, error) {
	out := make([]*Filter, len(types))
	missing := make([][]string, len(types))
	for i, t := range types {
		root, err := compileFilter(raw, &resolver{core: t.Core, exts: t.Exts, absent: &missing[i]})
		if err != nil {
			return nil, fmt.Errorf("query: %w: %w", ErrInvalidFilter, err)
		}
		out[i] = &Filter{raw: raw, root: root}
	}
	// A path is unknown everywhere when every type lacks it or what it
	// lies under: emails.typo where users lack it and groups lack emails.
	for _, list := range missing {
		for _, p := range list {
			everywhere := true
			for _, other := range missing {
				everywhere = everywhere && slices.ContainsFunc(other, func(q string) bool { return under(p, q) })
			}
			if everywhere {
				return nil, fmt.Errorf("query: %w: %w", ErrInvalidFilter, errUnknownAttr(p))
			}
		}
	}
	return out, nil
}

// under reports whether path p is q or lies below it (a sub-attribute of
// q, or an attribute of the schema q), ignoring case as attribute names do.
func under(p, q string) bool {
	p, q = strings.ToLower(p), strings.ToLower(q)
	return p == q || strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+":")
}

// Match reports whether doc, a resource in SCIM JSON shape, satisfies the
// filter. Values of unexpected types never match and never panic.
func (f *Filter) Match(doc map[string]any) bool {
	return f.root.match(doc)
}

// String returns the filter as it was written.
func (f *Filter) String() string { return f.raw }

// compileFilter checks raw's size and encoding, parses it and compiles it.
func compileFilter(raw string, r *resolver) (node, error) {
	if len(raw) > MaxFilterLength {
		return nil, fmt.Errorf("filter is longer than %d bytes", MaxFilterLength)
	}
	if !utf8.ValidString(raw) {
		return nil, errors.New("filter is not valid UTF-8")
	}
	// RFC 7644 does not allow surrounding spaces, but they are easy to
	// send by accident and carry no meaning.
	raw = strings.Trim(raw, " ")
	if raw == "" {
		return nil, errors.New("filter is empty")
	}
	if n, ok := simpleEq(raw, r); ok {
		return n, nil
	}
	l, err := lift(raw)
	if err != nil {
		return nil, err
	}
	expr, err := parse(l.outer, raw)
	if err != nil {
		return nil, err
	}
	c := compiler{r: r, inner: l.inner}
	return c.expr(expr, nil)
}

// simpleEq compiles the filter identity providers send on every lookup,
// `attr eq "value"`, without the general parser, which costs ~200 µs and
// thousands of allocations for it (most of a lookup's time). It declines
// (ok=false) anything else, including values with escapes and paths it
// cannot resolve, so the general path produces every error message.
func simpleEq(raw string, r *resolver) (node, bool) {
	path, rest, ok := strings.Cut(raw, " ")
	if !ok || strings.ContainsAny(path, `[]()"`) {
		return nil, false
	}
	op, val, ok := strings.Cut(rest, " ")
	if !ok || !strings.EqualFold(op, "eq") || len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return nil, false
	}
	value := val[1 : len(val)-1]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	ref, err := r.path(path)
	if err != nil {
		return nil, false
	}
	n, err := comparison(ref, filter.EQ, value)
	if err != nil {
		return nil, false
	}
	return n, true
}

// parse parses text with filter-parser; shown is what to quote in the error,
// which for a lifted filter is the filter as written.
func parse(text, shown string) (filter.Expression, error) {
	expr, err := filter.ParseFilterNumber([]byte(text))
	if err != nil {
		// filter-parser's messages name its internal grammar rules and
		// point at the rewritten text; they would only confuse a client.
		return nil, fmt.Errorf("syntax error in %q", clip(shown))
	}
	return expr, nil
}

// compiler turns filter-parser's AST into nodes.
type compiler struct {
	r     *resolver
	inner []string // value filters lifted out by lift
}

// expr compiles e. parent is nil at the top level and, inside a value
// filter, the multi-valued complex attribute whose elements e is tested on.
func (c *compiler) expr(e filter.Expression, parent *attrRef) (node, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return c.logical(e, parent)
	case *filter.NotExpression:
		n, err := c.expr(e.Expression, parent)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case *filter.AttributeExpression:
		ref, err := c.attrPath(e.AttributePath, parent)
		if err != nil {
			return c.unknown(err)
		}
		return comparison(ref, e.Operator, e.CompareValue)
	case *filter.ValuePath:
		if parent != nil {
			return nil, errors.New("value filters cannot be nested")
		}
		return c.valuePath(e)
	default:
		return nil, fmt.Errorf("unsupported expression %T", e)
	}
}

// logical compiles "and" and "or", flattening chains of the same operator
// so that evaluation and planning see one list instead of a deep tree.
func (c *compiler) logical(e *filter.LogicalExpression, parent *attrRef) (node, error) {
	l, err := c.expr(e.Left, parent)
	if err != nil {
		return nil, err
	}
	r, err := c.expr(e.Right, parent)
	if err != nil {
		return nil, err
	}
	switch e.Operator {
	case filter.AND:
		return join[andNode](l, r), nil
	case filter.OR:
		return join[orNode](l, r), nil
	default:
		return nil, fmt.Errorf("unknown logical operator %q", e.Operator)
	}
}

// join combines l and r into one node of kind T, splicing in the children of
// either that already is a T.
func join[T ~[]node](l, r node) T {
	var out T
	for _, n := range [...]node{l, r} {
		if kids, ok := n.(T); ok {
			out = append(out, kids...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// unknown compiles a comparison whose attribute failed to resolve with err:
// for CompileEach, an attribute the type lacks never matches (and is noted
// in the resolver); anything else is the error.
func (c *compiler) unknown(err error) (node, error) {
	var u *unknownAttrError
	if c.r.absent == nil || !errors.As(err, &u) {
		return nil, err
	}
	*c.r.absent = append(*c.r.absent, u.path)
	return neverNode{}, nil
}

// attrPath resolves p at the top level or, inside a value filter, among the
// sub-attributes of parent.
func (c *compiler) attrPath(p filter.AttributePath, parent *attrRef) (attrRef, error) {
	if parent == nil {
		ref, err := c.r.attribute(p.URI(), p.AttributeName)
		if err != nil || p.SubAttribute == nil {
			return ref, err
		}
		return withSub(ref, p.SubAttributeName())
	}
	if p.URIPrefix != nil || p.SubAttribute != nil {
		return attrRef{}, fmt.Errorf("%q inside %s[...] must be a sub-attribute name", clip(p.String()), parent)
	}
	ref, err := withSub(*parent, p.AttributeName)
	if err != nil {
		return attrRef{}, err
	}
	// Inside the brackets the sub-attribute is tested directly on each
	// element, as if it were a top-level attribute of a document.
	return attrRef{attr: *ref.sub}, nil
}

// valuePath compiles attr[F] and attr[F].sub op v, which lift turned into
// attr[$vN pr] and attr[$vN pr and sub op v].
func (c *compiler) valuePath(e *filter.ValuePath) (node, error) {
	ref, err := c.attrPath(e.AttributePath, nil)
	if err != nil {
		return c.unknown(err)
	}
	if ref.sub != nil || ref.attr.AttributeType() != typeComplex || !ref.attr.MultiValued() {
		return nil, fmt.Errorf("value filter on %q: only multi-valued complex attributes take [...]", ref)
	}
	idx, then, err := c.placeholder(e.ValueFilter)
	if err != nil {
		return nil, err
	}
	inner, err := parse(c.inner[idx], c.inner[idx])
	if err != nil {
		return nil, err
	}
	test, err := c.expr(inner, &ref)
	if err != nil {
		return nil, err
	}
	if then != nil {
		sub, err := c.expr(then, &ref)
		if err != nil {
			return nil, err
		}
		test = andNode{test, sub}
	}
	return &valuePathNode{ref: ref, cond: test}, nil
}

// placeholder takes apart the value filter lift wrote: the index of the
// lifted filter and, for attr[F].sub op v, the "sub op v" comparison.
func (c *compiler) placeholder(e filter.Expression) (int, filter.Expression, error) {
	var then filter.Expression
	if l, ok := e.(*filter.LogicalExpression); ok && l.Operator == filter.AND {
		e, then = l.Left, l.Right
	}
	a, ok := e.(*filter.AttributeExpression)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected value filter %v", e)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(a.AttributePath.AttributeName, placeholderPrefix))
	if err != nil || n < 0 || n >= len(c.inner) {
		return 0, nil, fmt.Errorf("unexpected value filter %v", e)
	}
	return n, then, nil
}

// unquote decodes the JSON escapes that filter-parser leaves in string
// compare values.
func unquote(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return "", fmt.Errorf("invalid string %q", clip(s))
	}
	return out, nil
}

// clip shortens client text quoted in an error message, so that a 4 KiB
// filter does not come back as a 4 KiB error.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
