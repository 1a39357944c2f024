package patch

import (
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenurehq/tenure/store"
)

// removeRun applies, in one pass over the attribute, a run of two or more
// operations at the start of ops that each remove the elements of the same
// multi-valued attribute whose sub-attribute equals a string, and returns
// how many it applied (0 when ops does not start with such a run). Okta
// removes group members one operation each (remove members[value eq
// "id"]); applied one at a time, a PATCH removing a thousand members from a
// large group would scan it a thousand times. Removals commute and removing
// nothing succeeds, so the result is the same; the attribute is neither
// immutable nor required, so none of them can fail.
func (a *applier) removeRun(doc map[string]any, ops []scim.PatchOperation) (int, error) {
	first, ok := a.simpleRemove(ops[0])
	if !ok {
		return 0, nil
	}
	key := func(s string) string {
		if first.exact {
			return s
		}
		return store.FoldName(s)
	}
	drop := map[string]bool{key(first.want): true}
	n := 1
	for ; n < len(ops); n++ {
		r, ok := a.simpleRemove(ops[n])
		if !ok || r.t.attrRef.ext != first.t.attrRef.ext || r.t.attr.Name() != first.t.attr.Name() || r.sub != first.sub {
			break
		}
		drop[key(r.want)] = true
	}
	if n < 2 {
		return 0, nil
	}
	old, exists := a.lookup(doc, first.t.attrRef)
	if !exists {
		return n, nil
	}
	list := asList(old)
	kept := make([]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if v, ok := m[first.sub].(string); ok && drop[key(v)] {
				continue
			}
		}
		kept = append(kept, e)
	}
	if len(kept) == len(list) {
		return n, nil
	}
	return n, a.write(doc, first.t, old, true, kept)
}

// removal is an operation removeRun can batch.
type removal struct {
	t     target
	sub   string // canonical name of the compared sub-attribute
	want  string
	exact bool // the sub-attribute is caseExact
}

// simpleRemove reports whether op is a remove of attr[sub eq "string"] on a
// multi-valued complex attribute that is neither immutable nor required.
// Anything else, errors included, is left to the general path.
func (a *applier) simpleRemove(op scim.PatchOperation) (removal, bool) {
	if !strings.EqualFold(op.Op, string(modeRemove)) || op.Path == nil || op.Value != nil {
		return removal{}, false
	}
	t, err := a.resolve(*op.Path)
	if err != nil || t.filter == nil || t.sub != nil || !isComplex(t.attr) ||
		t.attr.Mutability() == "immutable" || t.attr.Required() {
		return removal{}, false
	}
	x, ok := t.filter.(*filter.AttributeExpression)
	if !ok || !strings.EqualFold(string(x.Operator), string(filter.EQ)) {
		return removal{}, false
	}
	def, ok := filterAttr(t.attr, x.AttributePath.AttributeName)
	if !ok || def.AttributeType() == "dateTime" {
		return removal{}, false
	}
	want, ok := compareValue(x.CompareValue).(string)
	if !ok {
		return removal{}, false
	}
	return removal{t: t, sub: def.Name(), want: want, exact: def.CaseExact()}, true
}

// addValues adds incoming, normalized values of the multi-valued attribute
// t names to its values old, as collapse would (see onAttribute).
//
// The index collapse builds is kept while the attribute's value in doc is
// that index's list, and a later add to the attribute finds its values in
// it instead of indexing every value again: a PATCH of a thousand add
// operations on a group of many thousand members costs a thousand lookups,
// not a thousand passes over the group. Only attributes without a primary
// sub-attribute (whose fixing looks at every value) and that are not
// immutable (a later add may change them freely) take that path. The
// index's list belongs to the applier: doc holds it, and nothing else does.
func (a *applier) addValues(doc map[string]any, t target, s shape, old any, exists bool, incoming []any) error {
	key := t.ext + "\x00" + t.attr.Name()
	if x := a.indexes[key]; x != nil && s.primary == "" && sameList(old, x.list) {
		changed := false
		for _, e := range incoming {
			j := x.find(e)
			if j < 0 {
				x.append(e)
				changed = true
				continue
			}
			dst, dok := x.list[j].(map[string]any)
			src, sok := e.(map[string]any)
			if dok && sok {
				var merged bool
				if x.list[j], merged = mergeDuplicate(s, dst, src, true); merged {
					changed = true
				}
			}
		}
		if changed {
			a.store(doc, t.attrRef, x.list)
		}
		return nil
	}
	list := asList(old)
	touched := make([]bool, len(list), len(list)+len(incoming))
	for range incoming {
		touched = append(touched, true)
	}
	x := collapse(s, append(slices.Clip(list), incoming...), touched)
	if err := a.write(doc, t, old, exists, x.list); err != nil {
		return err
	}
	delete(a.indexes, key)
	if s.primary != "" || t.attr.Mutability() == "immutable" || len(x.list) == 0 {
		return nil
	}
	if cur, _ := a.lookup(doc, t.attrRef); !sameList(cur, x.list) {
		// The add changed nothing and doc kept old: hold the equal list
		// instead, so that the index stays usable.
		a.store(doc, t.attrRef, x.list)
	}
	if a.indexes == nil {
		a.indexes = map[string]*index{}
	}
	a.indexes[key] = x
	return nil
}

// sameList reports whether v is list itself (the same backing array and
// length), not merely an equal list.
func sameList(v any, list []any) bool {
	l, ok := v.([]any)
	return ok && len(l) == len(list) && len(l) > 0 && &l[0] == &list[0]
}
