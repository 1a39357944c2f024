package query

import (
	"slices"
	"strings"
	"testing"

	"github.com/elimity-com/scim/schema"
)

// storeIndexes are the indexes store.Reader offers: Get by id, LookupName
// (userName for users, displayName for groups) and LookupExternalID.
func storeIndexes(attr string) bool {
	switch attr {
	case "id", "userName", "externalId", "displayName":
		return true
	}
	return false
}

func TestCandidates(t *testing.T) {
	users, userExts := userSchemas()
	groups, groupExts := groupSchemas()
	type key = IndexKey
	tests := []struct {
		name    string
		filter  string
		group   bool
		indexed func(string) bool // storeIndexes when nil
		want    []IndexKey
		wantOK  bool
	}{
		// One eq on an indexed attribute.
		{name: "userName", filter: `userName eq "Test.User@Example.com"`, want: []key{{"userName", "Test.User@Example.com"}}, wantOK: true},
		{name: "id", filter: `id eq "2819c223"`, want: []key{{"id", "2819c223"}}, wantOK: true},
		{name: "externalId", filter: `externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, want: []key{{"externalId", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"}}, wantOK: true},
		{name: "group displayName", filter: `displayName eq "Sales"`, group: true, want: []key{{"displayName", "Sales"}}, wantOK: true},
		{name: "canonical name", filter: `USERNAME EQ "x"`, want: []key{{"userName", "x"}}, wantOK: true},
		{name: "URN-qualified", filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, want: []key{{"userName", "x"}}, wantOK: true},
		{name: "escapes decoded", filter: `userName eq "a\"b\u00e9"`, want: []key{{"userName", `a"bé`}}, wantOK: true},
		{name: "not indexed", filter: `displayName eq "Babs"`, indexed: func(a string) bool { return a == "id" }, wantOK: false},
		{name: "custom index ranks last", filter: `nickName eq "b" and displayName eq "B"`, indexed: func(string) bool { return true }, want: []key{{"displayName", "B"}}, wantOK: true},
		// Everything else scans.
		{name: "ne", filter: `userName ne "x"`},
		{name: "co", filter: `userName co "x"`},
		{name: "sw", filter: `externalId sw "x"`},
		{name: "gt", filter: `userName gt "x"`},
		{name: "pr", filter: `userName pr`},
		{name: "eq null", filter: `userName eq null`},
		{name: "not", filter: `not (userName eq "x")`},
		// A comparison that cannot match needs no lookup and no scan.
		{name: "wrong type", filter: `userName eq 42`, wantOK: true},
		{name: "sub-attribute", filter: `name.givenName eq "x"`, indexed: func(string) bool { return true }},
		{name: "multi-valued", filter: `emails eq "x"`, indexed: func(string) bool { return true }},
		{name: "value path", filter: `emails[value eq "x"]`, indexed: func(string) bool { return true }},
		{name: "group members", filter: `members[value eq "x"]`, group: true, indexed: func(string) bool { return true }},
		{name: "extension", filter: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`, indexed: func(string) bool { return true }},
		{name: "boolean", filter: `active eq true`, indexed: func(string) bool { return true }},
		// and: either side, the more selective one.
		{name: "and left", filter: `userName eq "u" and active eq true`, want: []key{{"userName", "u"}}, wantOK: true},
		{name: "and right", filter: `active eq true and userName eq "u"`, want: []key{{"userName", "u"}}, wantOK: true},
		{name: "and neither", filter: `active eq true and userName pr`},
		{name: "and prefers id", filter: `userName eq "u" and id eq "i"`, want: []key{{"id", "i"}}, wantOK: true},
		{name: "and prefers userName", filter: `externalId eq "e" and userName eq "u"`, want: []key{{"userName", "u"}}, wantOK: true},
		{name: "and prefers externalId", filter: `displayName eq "d" and externalId eq "e"`, group: true, want: []key{{"externalId", "e"}}, wantOK: true},
		{name: "and chain", filter: `displayName eq "d" and externalId eq "e" and userName eq "u" and id eq "i"`, want: []key{{"id", "i"}}, wantOK: true},
		{
			name:   "Entra membership check",
			filter: `id eq "g1" and members[value eq "u1"]`, group: true,
			want: []key{{"id", "g1"}}, wantOK: true,
		},
		// or: both sides, unioned.
		{name: "or", filter: `userName eq "a" or userName eq "b"`, want: []key{{"userName", "a"}, {"userName", "b"}}, wantOK: true},
		{name: "or mixed", filter: `userName eq "a" or externalId eq "b"`, want: []key{{"userName", "a"}, {"externalId", "b"}}, wantOK: true},
		{name: "or dedup", filter: `userName eq "a" or userName eq "a"`, want: []key{{"userName", "a"}}, wantOK: true},
		{name: "or one side scans", filter: `userName eq "a" or active eq true`},
		{name: "or not", filter: `userName eq "a" or not (id eq "b")`},
		{
			name:   "and of or, fewer rank wins",
			filter: `(userName eq "a" or userName eq "b") and externalId eq "x"`,
			want:   []key{{"userName", "a"}, {"userName", "b"}}, wantOK: true,
		},
		{
			name:   "and of or, worst rank loses",
			filter: `(userName eq "a" or displayName eq "b") and externalId eq "x"`,
			want:   []key{{"externalId", "x"}}, wantOK: true,
		},
		{
			name:   "and of or, same rank fewer keys",
			filter: `(userName eq "a" or userName eq "b") and userName eq "c"`,
			want:   []key{{"userName", "c"}}, wantOK: true,
		},
		{
			name:   "or of and",
			filter: `(userName eq "a" and active eq true) or (id eq "b" and externalId eq "c")`,
			want:   []key{{"userName", "a"}, {"id", "b"}}, wantOK: true,
		},
		{name: "or of unplannable and", filter: `(userName eq "a" and active eq true) or (active eq false)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, exts := users, userExts
			if tc.group {
				s, exts = groups, groupExts
			}
			f, err := Compile(tc.filter, s, exts...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			indexed := tc.indexed
			if indexed == nil {
				indexed = storeIndexes
			}
			got, ok := f.Candidates(indexed)
			if ok != tc.wantOK || !slices.Equal(got, tc.want) {
				t.Errorf("Candidates = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestCandidatesAsksCanonicalNames checks what indexed is asked about.
func TestCandidatesAsksCanonicalNames(t *testing.T) {
	s, exts := userSchemas()
	f, err := Compile(`USERNAME eq "a" or EXTERNALID eq "b" or Id eq "c"`, s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	f.Candidates(func(attr string) bool {
		asked = append(asked, attr)
		return true
	})
	if want := []string{"userName", "externalId", "id"}; !slices.Equal(asked, want) {
		t.Errorf("indexed asked about %q, want %q", asked, want)
	}
}

// TestCandidatesSuperset checks the promise of Candidates on a population:
// every document a plannable filter matches is found by one of its lookups,
// done the way the store does them.
func TestCandidatesSuperset(t *testing.T) {
	s, exts := userSchemas()
	docs := []map[string]any{
		userDoc(),
		{"id": "a", "userName": "ALICE", "externalId": "X1", "displayName": "Alice"},
		{"id": "b", "userName": "bob", "externalId": "x1", "active": false},
		{"id": "c", "userName": "Carol", "displayName": "Sales"},
		{"id": "d", "userName": "İ"},       // lowers to "i", but is not EqualFold to it
		{"id": "e", "userName": "ſ\u212a"}, // long s and Kelvin sign: EqualFold to "sk"
	}
	filters := []string{
		`userName eq "alice"`,
		`userName eq "alice" or userName eq "BOB"`,
		`externalId eq "x1" or id eq "c"`,
		`userName eq "carol" and displayName eq "sales"`,
		`displayName eq "ALICE" or externalId eq "X1"`,
		`(userName eq "bob" or id eq "a") and not (active eq false)`,
		`id eq "2819c223-7f76-453a-919d-413861904646" and emails[type eq "work"]`,
		`userName eq "i" or userName eq "SK"`,
	}
	for _, raw := range filters {
		t.Run(raw, func(t *testing.T) {
			f, err := Compile(raw, s, exts...)
			if err != nil {
				t.Fatal(err)
			}
			keys, ok := f.Candidates(storeIndexes)
			if !ok {
				t.Fatal("Candidates: not plannable")
			}
			matched := 0
			for _, doc := range docs {
				if !f.Match(doc) {
					continue
				}
				matched++
				if !slices.ContainsFunc(keys, func(k IndexKey) bool { return lookedUp(doc, k) }) {
					t.Errorf("document %v matches but no lookup in %v finds it", doc["id"], keys)
				}
			}
			if matched == 0 {
				t.Error("filter matches no document; the test proves nothing")
			}
		})
	}
}

// lookedUp reports whether the store's index for k.Attr returns doc:
// userName and displayName as strings.EqualFold matches them
// (store.Reader.LookupName), id and externalId exactly.
func lookedUp(doc map[string]any, k IndexKey) bool {
	v, _ := doc[k.Attr].(string)
	switch k.Attr {
	case "userName", "displayName":
		return strings.EqualFold(v, k.Value)
	}
	return v == k.Value
}

// TestCandidatesEmptySchema checks planning on a schema-less resource type:
// only the common attributes exist.
func TestCandidatesEmptySchema(t *testing.T) {
	f, err := Compile(`externalId eq "e"`, schema.Schema{ID: "urn:example:Empty"})
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := f.Candidates(storeIndexes)
	if want := []IndexKey{{"externalId", "e"}}; !ok || !slices.Equal(keys, want) {
		t.Errorf("Candidates = %v, %v; want %v, true", keys, ok, want)
	}
}
