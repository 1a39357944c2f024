package query

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzDocs are documents that filters are matched against: realistic ones,
// and ones whose values have every wrong shape.
func fuzzDocs() []map[string]any {
	return []map[string]any{
		userDoc(),
		groupDoc(),
		nil,
		{},
		{
			"id":               json.Number("1"),
			"userName":         []any{nil, 1.5, map[string]any{}},
			"name":             []any{"x"},
			"emails":           map[string]any{"value": []any{[]any{}}},
			"members":          []map[string]any{nil, {"value": nil}},
			"active":           math.NaN(),
			"meta":             map[string]any{"lastModified": time.Time{}, "created": "-0001-01-01T00:00:00Z"},
			"displayName":      []string{"", "Sales"},
			enterpriseURN:      []any{map[string]any{"employeeNumber": "42"}},
			testURN:            map[string]any{"level": json.Number("1e999"), "score": uint64(math.MaxUint64), "hiredAt": "2015-03-01T09:30:00.123456789123+01:00"},
			"x509Certificates": []any{map[string]any{"value": struct{}{}}},
		},
	}
}

// FuzzCompileMatch compiles arbitrary filters for users and groups and
// runs everything a list request does with them. Nothing may panic, every
// error must wrap ErrInvalidFilter, and Candidates must find every document
// the filter matches. Seeds, real IdP filters and hostile ones, are in
// testdata/fuzz/FuzzCompileMatch.
func FuzzCompileMatch(f *testing.F) {
	users, userExts := userSchemas()
	groups, groupExts := groupSchemas()
	docs := fuzzDocs()
	f.Fuzz(func(t *testing.T, raw string) {
		check := func(filter *Filter, err error) {
			if err != nil {
				if !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("Compile(%q) error %v does not wrap ErrInvalidFilter", raw, err)
				}
				if len(err.Error()) > 512 {
					t.Fatalf("Compile(%q) error is %d bytes long", raw, len(err.Error()))
				}
				return
			}
			keys, planned := filter.Candidates(storeIndexes)
			for _, doc := range docs {
				if filter.Match(doc) && planned && !slices.ContainsFunc(keys, func(k IndexKey) bool { return lookedUp(doc, k) }) {
					t.Fatalf("Compile(%q): a document matches but no lookup in %v finds it", raw, keys)
				}
			}
		}
		check(Compile(raw, users, userExts...))
		check(Compile(raw, groups, groupExts...))

		// The same input as sortBy and attributes must not panic either.
		if k, err := CompileSort(raw, users, userExts...); err == nil {
			slices.SortStableFunc(slices.Clone(docs), k.Compare)
		} else if !errors.Is(err, ErrInvalidSort) {
			t.Fatalf("CompileSort(%q) error %v does not wrap ErrInvalidSort", raw, err)
		}
		paths := strings.Fields(raw)
		for _, doc := range docs {
			Project(doc, paths, nil, users, userExts...)
			Project(doc, nil, paths, groups, groupExts...)
		}
	})
}
