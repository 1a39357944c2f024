package query

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCompileSortErrors(t *testing.T) {
	s, exts := userSchemas()
	tests := []struct {
		sortBy string
		want   string
	}{
		{"", "sortBy is empty"},
		{"  ", "sortBy is empty"},
		{"usrName", `unknown attribute "usrName"`},
		{"name.nickName", `unknown attribute "name.nickName"`},
		{"name.givenName.x", "nested too deeply"},
		{"userName.x", "has no sub-attributes"},
		{"name", `attribute "name" is complex`},
		{"meta", `attribute "meta" is complex`},
		{enterpriseURN, "is a schema, not an attribute"},
		{"urn:ietf:params:scim:schemas:core:2.0:User", "unknown attribute"},
		{"urn:example:unknown:2.0:User:foo", `unknown attribute "urn:example:unknown:2.0:User:foo"`},
		{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName", `unknown attribute "urn:ietf:params:scim:schemas:core:2.0:Group:displayName"`},
	}
	for _, tc := range tests {
		t.Run(tc.sortBy, func(t *testing.T) {
			k, err := CompileSort(tc.sortBy, s, exts...)
			if err == nil {
				t.Fatalf("CompileSort = %v, want error", k)
			}
			if !errors.Is(err, ErrInvalidSort) || errors.Is(err, ErrInvalidFilter) {
				t.Errorf("error %v does not wrap ErrInvalidSort alone", err)
			}
			if !strings.HasPrefix(err.Error(), "query: invalid sortBy: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCompileSortPaths(t *testing.T) {
	s, exts := userSchemas()
	tests := map[string]string{
		"userName":          "userName",
		" USERNAME ":        "userName",
		"name.familyName":   "name.familyName",
		"emails":            "emails.value",
		"meta.lastModified": "meta.lastModified",
		"urn:ietf:params:scim:schemas:core:2.0:User:userName":                       "userName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": enterpriseURN + ":employeeNumber",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":        enterpriseURN + ":manager.value",
		"level": testURN + ":level",
	}
	for sortBy, want := range tests {
		k, err := CompileSort(sortBy, s, exts...)
		if err != nil {
			t.Errorf("CompileSort(%q): %v", sortBy, err)
			continue
		}
		if k.String() != want {
			t.Errorf("CompileSort(%q) = %q, want %q", sortBy, k, want)
		}
	}
}

func TestSortCompare(t *testing.T) {
	s, exts := userSchemas()
	doc := decode
	ext := func(attr, value string) map[string]any {
		return decode(`{"` + testURN + `": {"` + attr + `": ` + value + `}}`)
	}
	tests := []struct {
		name   string
		sortBy string
		a, b   map[string]any
		want   int // sign
	}{
		{"case-insensitive", "userName", doc(`{"userName": "alice"}`), doc(`{"userName": "Bob"}`), -1},
		{"case-insensitive equal", "userName", doc(`{"userName": "ALICE"}`), doc(`{"userName": "alice"}`), 0},
		{"caseExact", "externalId", doc(`{"externalId": "B"}`), doc(`{"externalId": "a"}`), -1},
		{"caseExact extension", testURN + ":code", ext("code", `"b"`), ext("code", `"B"`), 1},
		{"missing sorts last", "userName", doc(`{}`), doc(`{"userName": "a"}`), 1},
		{"missing sorts last, other side", "userName", doc(`{"userName": "a"}`), doc(`{"userName": null}`), -1},
		{"both missing", "userName", doc(`{}`), doc(`{"userName": null}`), 0},
		{"wrong type sorts last", "userName", doc(`{"userName": 5}`), doc(`{"userName": "z"}`), 1},
		{"both wrong type", "userName", doc(`{"userName": 5}`), doc(`{"userName": true}`), 0},
		{"sub-attribute", "name.familyName", doc(`{"name": {"familyName": "Zed"}}`), doc(`{"name": {"familyName": "adams"}}`), 1},
		{"sub-attribute of non-object", "name.familyName", doc(`{"name": "Zed"}`), doc(`{"name": {"familyName": "adams"}}`), 1},
		{
			"multi-valued primary",
			"emails.value",
			doc(`{"emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}`),
			doc(`{"emails": [{"value": "m@x"}]}`),
			-1,
		},
		{
			"multi-valued first",
			"emails",
			doc(`{"emails": [{"value": "z@x"}, {"value": "a@x"}]}`),
			doc(`{"emails": [{"value": "m@x"}]}`),
			1,
		},
		{"multi-valued empty", "emails", doc(`{"emails": []}`), doc(`{"emails": [{"value": "m@x"}]}`), 1},
		{"primary without the sub-attribute", "emails", doc(`{"emails": [{"type": "work", "primary": true}, {"value": "a@x"}]}`), doc(`{"emails": [{"value": "m@x"}]}`), 1},
		{"multi-valued simple", testURN + ":tags", ext("tags", `["b", "a"]`), ext("tags", `["a"]`), 1},
		{"numbers", "level", ext("level", "10"), ext("level", "9"), 1},
		{"numbers mixed", "score", ext("score", "2.5"), ext("score", "2"), 1},
		{"numbers equal", "score", ext("score", "2.0"), ext("score", "2"), 0},
		{"numbers wrong type", "level", ext("level", `"1"`), ext("level", "9"), 1},
		{"booleans", "active", doc(`{"active": false}`), doc(`{"active": true}`), -1},
		{"dateTimes across zones", "meta.created", doc(`{"meta": {"created": "2020-01-01T01:00:00+02:00"}}`), doc(`{"meta": {"created": "2020-01-01T00:00:00Z"}}`), -1},
		{"dateTime unparseable", "meta.created", doc(`{"meta": {"created": "soon"}}`), doc(`{"meta": {"created": "2020-01-01T00:00:00Z"}}`), 1},
		{"extension", enterpriseURN + ":employeeNumber", decode(`{"` + enterpriseURN + `": {"employeeNumber": "2"}}`), decode(`{"` + enterpriseURN + `": {"employeeNumber": "10"}}`), 1},
		{"extension missing", enterpriseURN + ":employeeNumber", doc(`{"` + enterpriseURN + `": "x"}`), decode(`{"` + enterpriseURN + `": {"employeeNumber": "10"}}`), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := CompileSort(tc.sortBy, s, exts...)
			if err != nil {
				t.Fatalf("CompileSort: %v", err)
			}
			if got := sign(k.Compare(tc.a, tc.b)); got != tc.want {
				t.Errorf("Compare = %d, want %d", got, tc.want)
			}
			if got := sign(k.Compare(tc.b, tc.a)); got != -tc.want {
				t.Errorf("Compare reversed = %d, want %d", got, -tc.want)
			}
		})
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// TestSortSlice sorts a population both ways, as the list handler does.
func TestSortSlice(t *testing.T) {
	s, exts := userSchemas()
	docs := []map[string]any{
		{"id": "1", "userName": "carol"},
		{"id": "2"},
		{"id": "3", "userName": "Alice"},
		{"id": "4", "userName": "bob"},
		{"id": "5", "userName": "alice"},
	}
	k, err := CompileSort("userName", s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(docs []map[string]any) string {
		var out []string
		for _, d := range docs {
			out = append(out, d["id"].(string))
		}
		return strings.Join(out, ",")
	}

	asc := slices.Clone(docs)
	slices.SortStableFunc(asc, k.Compare)
	if got, want := ids(asc), "3,5,4,1,2"; got != want {
		t.Errorf("ascending = %s, want %s", got, want)
	}
	desc := slices.Clone(docs)
	slices.SortStableFunc(desc, func(a, b map[string]any) int { return -k.Compare(a, b) })
	if got, want := ids(desc), "2,1,4,3,5"; got != want {
		t.Errorf("descending = %s, want %s", got, want)
	}
}

// TestSortGoValues covers values put in documents by Go code rather than
// JSON decoding.
func TestSortGoValues(t *testing.T) {
	s, exts := userSchemas()
	k, err := CompileSort("meta.created", s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	early := map[string]any{"meta": map[string]any{"created": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}}
	late := map[string]any{"meta": map[string]any{"created": "2021-01-01T00:00:00Z"}}
	if got := k.Compare(early, late); got >= 0 {
		t.Errorf("Compare(time.Time 2020, 2021) = %d, want < 0", got)
	}

	k, err = CompileSort("phoneNumbers.value", s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]any{"phoneNumbers": []map[string]any{{"value": "2"}, {"value": "1", "primary": true}}}
	b := map[string]any{"phoneNumbers": []map[string]any{{"value": "3"}}}
	if got := k.Compare(a, b); got >= 0 {
		t.Errorf("Compare([]map primary 1, 3) = %d, want < 0", got)
	}

	k, err = CompileSort(testURN+":level", s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	small := map[string]any{testURN: map[string]any{"level": int64(3)}}
	big := map[string]any{testURN: map[string]any{"level": json.Number("3.5")}}
	if got := k.Compare(small, big); got >= 0 {
		t.Errorf("Compare(int64 3, 3.5) = %d, want < 0", got)
	}
}
