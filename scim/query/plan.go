package query

import (
	"slices"

	filter "github.com/scim2/filter-parser/v2"
)

// IndexKey names one exact index lookup: the documents whose attribute Attr
// equals Value.
type IndexKey struct {
	// Attr is the canonical attribute name as the schema spells it, e.g.
	// "id", "userName", "externalId" or "displayName".
	Attr string
	// Value is the compare value as the filter wrote it, escapes decoded
	// but case untouched. For an attribute with caseExact false (userName,
	// displayName) the lookup must match as strings.EqualFold does, as
	// store.Reader.LookupName does; the superset promise of Candidates
	// depends on it.
	Value string
}

// selectivity ranks indexed attributes, most selective first: an id names
// one resource, a userName one user, while externalIds and displayNames may
// repeat.
var selectivity = map[string]int{"id": 0, "userName": 1, "externalId": 2, "displayName": 3}

// Candidates returns index lookups whose union is a superset of the
// documents the filter matches, so that a list request can read a few
// documents and Match them instead of scanning; ok is false when the filter
// needs a scan. indexed reports whether an attribute (by canonical name)
// has an index.
//
// An eq on an indexed, single-valued, top-level string attribute plans as
// one lookup. "and" plans as whichever side can be planned, preferring the
// more selective (id, then userName, externalId, displayName); "or" needs
// both sides planned and returns the union. Everything else - not, pr,
// other operators, value filters, extension attributes - needs a scan.
//
// Candidates only narrows: the caller must still Match every document the
// lookups return.
func (f *Filter) Candidates(indexed func(attr string) bool) (keys []IndexKey, ok bool) {
	p, ok := plan(f.root, indexed)
	if !ok {
		return nil, false
	}
	return p.keys, true
}

// indexPlan is a set of lookups and the rank of its least selective one.
type indexPlan struct {
	keys  []IndexKey
	worst int
}

// better reports whether p is expected to read fewer documents than q.
func (p indexPlan) better(q indexPlan) bool {
	if p.worst != q.worst {
		return p.worst < q.worst
	}
	return len(p.keys) < len(q.keys)
}

// plan plans n. Comparisons inside value filters are never reached: they
// hang below a valuePathNode, which does not plan.
func plan(n node, indexed func(string) bool) (indexPlan, bool) {
	switch n := n.(type) {
	case *compareNode:
		return planEq(n, indexed)
	case andNode:
		return planAnd(n, indexed)
	case orNode:
		return planOr(n, indexed)
	case neverNode:
		return indexPlan{}, true // nothing to look up: it matches nothing
	}
	return indexPlan{}, false
}

// planEq plans a comparison that an exact index lookup can answer.
func planEq(n *compareNode, indexed func(string) bool) (indexPlan, bool) {
	attr := n.ref.attr
	if n.op != filter.EQ || n.kind != kindString || n.ref.ext != "" || n.ref.sub != nil ||
		attr.MultiValued() || !indexed(attr.Name()) {
		return indexPlan{}, false
	}
	rank, ok := selectivity[attr.Name()]
	if !ok {
		rank = len(selectivity)
	}
	return indexPlan{keys: []IndexKey{{Attr: attr.Name(), Value: n.raw}}, worst: rank}, true
}

// planAnd picks the best plan among the children: every document that
// matches the conjunction matches each of them.
func planAnd(n andNode, indexed func(string) bool) (indexPlan, bool) {
	var best indexPlan
	found := false
	for _, c := range n {
		if p, ok := plan(c, indexed); ok && (!found || p.better(best)) {
			best, found = p, true
		}
	}
	return best, found
}

// planOr unions the children's plans; one unplannable child means a scan.
func planOr(n orNode, indexed func(string) bool) (indexPlan, bool) {
	var union indexPlan
	for _, c := range n {
		p, ok := plan(c, indexed)
		if !ok {
			return indexPlan{}, false
		}
		for _, k := range p.keys {
			if !slices.Contains(union.keys, k) {
				union.keys = append(union.keys, k)
			}
		}
		union.worst = max(union.worst, p.worst)
	}
	return union, true
}
