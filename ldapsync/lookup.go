package ldapsync

import (
	"context"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Searches for one entry by one attribute, coalesced (batch.go): the
// correlation lookups of many joiners, or their entries read back after
// their adds, meet in one search with an OR of their values —
// (|(employeeNumber=a)(employeeNumber=b)…) — and each converge gets the
// entries that hold its value.
//
// Splitting the answer must never hand a person an entry another person's
// value found: a lookup finding nothing leads to a new account, one
// finding an entry to adopting it. So an answer is split only when every
// entry in it holds exactly one of the values asked, compared by the
// strictest reading (the same string, ignoring case only; for DNs,
// EqualDN). Anything else — an attribute whose matching rule the
// directory applies differently (numeric strings ignoring spaces, a
// case-exact attribute asked in two cases), an entry holding two of the
// values, an error the directory answered — and the batch is searched
// again value by value, as it was before coalescing.

// maxLookupBatch bounds the values of one search filter.
const maxLookupBatch = 50

type lookupKey struct {
	base, attr, attrs string // attrs: the attributes read, joined
}

type lookupResult struct {
	entries []*ldap.Entry
	err     error
}

type lookupBatcher = coalescer[lookupKey, string, lookupResult]

// DNAttributer is implemented by dialects whose directories can search by
// an entry's DN in a filter (entryDN on OpenLDAP, distinguishedName on
// AD), so that entries read back after their adds can be read together.
type DNAttributer interface {
	DNAttribute() string
}

// searcher is the Pool's SearchAll.
type searcher interface {
	SearchAll(ctx context.Context, req *ldap.SearchRequest, pageSize uint32) ([]*ldap.Entry, error)
}

// lookup returns the entries under base whose attr equals value, read with
// attrs; dn says attr holds the entry's DN (compared with EqualDN).
func lookup(ctx context.Context, b *lookupBatcher, p searcher, base, attr, value string, dn bool, attrs []string) ([]*ldap.Entry, error) {
	search := func(ctx context.Context, f Filter) ([]*ldap.Entry, error) {
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, f.String(), attrs, nil)
		return p.SearchAll(ctx, req, 0)
	}
	if b == nil {
		return search(ctx, Eq(attr, value))
	}
	key := lookupKey{base: normalDN(base), attr: strings.ToLower(attr), attrs: strings.Join(attrs, "\x00")}
	r, err := b.do(ctx, key, value, maxLookupBatch, func(ctx context.Context, vals []string) []lookupResult {
		return flushLookups(ctx, b, vals, attr, dn, search)
	}, func(err error) lookupResult { return lookupResult{err: err} })
	if err != nil {
		return nil, err
	}
	return r.entries, r.err
}

// flushLookups searches for a batch of values at once and splits the
// answer, or searches value by value when it cannot be split safely.
func flushLookups(ctx context.Context, b *lookupBatcher, batch []string, attr string, dn bool, search func(context.Context, Filter) ([]*ldap.Entry, error)) []lookupResult {
	// DNs are compared as EqualDN does, each parsed once: comparing every
	// entry with every value parsed both each time, and a batch of 50
	// read-backs spent more CPU parsing than the search cost the directory.
	parsed := map[string]*ldap.DN{}
	equalDN := func(a, b string) bool {
		pa, pb := parseCached(parsed, a), parseCached(parsed, b)
		return pa != nil && pb != nil && pa.EqualFold(pb)
	}
	same := func(a, b string) bool {
		if dn {
			return equalDN(a, b)
		}
		return strings.EqualFold(a, b)
	}
	// Values are merged only when the same string (or DN): two that
	// differ in case are two questions, whose answers the split below
	// tells apart or sends one by one.
	exact := func(a, b string) bool {
		if dn {
			return equalDN(a, b)
		}
		return a == b
	}
	var values []string
	for _, v := range batch {
		if !containsFunc(values, v, exact) {
			values = append(values, v)
		}
	}
	out := make([]lookupResult, len(batch))
	one := func() []lookupResult {
		b.count(len(values))
		found := make(map[int]lookupResult, len(values))
		for i, v := range values {
			es, err := search(ctx, Eq(attr, v))
			found[i] = lookupResult{entries: es, err: err}
		}
		for i, v := range batch {
			out[i] = found[indexFunc(values, v, exact)]
		}
		return out
	}
	if len(values) == 1 {
		return one()
	}
	b.count(1)
	fs := make([]Filter, len(values))
	for i, v := range values {
		fs[i] = Eq(attr, v)
	}
	es, err := search(ctx, Or(fs[0], fs[1:]...))
	if err != nil {
		if refusedByDirectory(err) {
			return one()
		}
		for i := range out {
			out[i].err = err
		}
		return out
	}
	byValue := make([][]*ldap.Entry, len(values))
	for _, e := range es {
		held := []string{e.DN}
		if !dn {
			held = e.GetEqualFoldAttributeValues(attr)
		}
		match := -1
		for i, v := range values {
			if containsFunc(held, v, same) {
				if match >= 0 {
					return one() // an entry holding two values asked
				}
				match = i
			}
		}
		if match < 0 {
			return one() // matched by a rule other than ours
		}
		byValue[match] = append(byValue[match], e)
	}
	for i, v := range batch {
		out[i].entries = byValue[indexFunc(values, v, exact)]
	}
	return out
}

// parseCached is ldap.ParseDN remembered in memo; nil when s does not parse.
func parseCached(memo map[string]*ldap.DN, s string) *ldap.DN {
	d, ok := memo[s]
	if !ok {
		var err error
		if d, err = ldap.ParseDN(s); err != nil {
			d = nil // ParseDN may return a partial DN with its error
		}
		memo[s] = d
	}
	return d
}

func containsFunc(list []string, v string, same func(a, b string) bool) bool {
	return indexFunc(list, v, same) >= 0
}

func indexFunc(list []string, v string, same func(a, b string) bool) int {
	for i, x := range list {
		if same(x, v) {
			return i
		}
	}
	return -1
}
