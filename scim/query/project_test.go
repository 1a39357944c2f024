package query

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
)

// keys lists the top-level keys of m, sorted, and those of the objects
// nested one level below as "key.sub".
func keys(m map[string]any) []string {
	var out []string
	for k, v := range m {
		out = append(out, k)
		switch v := v.(type) {
		case map[string]any:
			for sk := range v {
				out = append(out, k+"."+sk)
			}
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					for sk := range em {
						if !slices.Contains(out, k+"[]."+sk) {
							out = append(out, k+"[]."+sk)
						}
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Key sets of the test user's parts, as keys reports them.
var (
	userAlwaysKeys = []string{"id", "schemas", testURN, testURN + ".tenant"}
	enterpriseKeys = []string{
		enterpriseURN, enterpriseURN + ".department", enterpriseURN + ".employeeNumber", enterpriseURN + ".manager",
	}
	testExtDefaultKeys = []string{
		testURN, testURN + ".badge", testURN + ".code", testURN + ".devices", testURN + ".hiredAt",
		testURN + ".level", testURN + ".ratings", testURN + ".score", testURN + ".tags", testURN + ".tenant",
	}
	userCoreDefaultKeys = []string{
		"active", "addresses", "displayName", "emails", "emails[].primary", "emails[].type", "emails[].value",
		"externalId", "id", "meta", "meta.created", "meta.lastModified", "meta.resourceType", "meta.version",
		"name", "name.familyName", "name.formatted", "name.givenName", "nickName", "phoneNumbers", "schemas", "title",
		"userName", "x509Certificates", "x509Certificates[].value",
	}
)

// without returns set minus drop.
func without(set []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(set), func(k string) bool { return slices.Contains(drop, k) })
}

// union merges key sets, sorted.
func union(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		for _, k := range s {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestProjectUser(t *testing.T) {
	s, exts := userSchemas()
	allDefault := union(userCoreDefaultKeys, enterpriseKeys, testExtDefaultKeys)
	tests := []struct {
		name       string
		attributes []string
		excluded   []string
		want       []string
	}{
		{
			name: "default drops never and request",
			want: allDefault, // no password, secret, token
		},
		{
			name:       "attributes keeps always",
			attributes: []string{"userName"},
			want:       union(userAlwaysKeys, []string{"userName"}),
		},
		{
			name:       "sub-attribute",
			attributes: []string{"name.givenName"},
			want:       union(userAlwaysKeys, []string{"name", "name.givenName"}),
		},
		{
			name:       "multi-valued sub-attribute",
			attributes: []string{"emails.value"},
			want:       union(userAlwaysKeys, []string{"emails", "emails[].value"}),
		},
		{
			name:       "complex attribute whole",
			attributes: []string{"emails"},
			want:       union(userAlwaysKeys, []string{"emails", "emails[].primary", "emails[].type", "emails[].value"}),
		},
		{
			name:       "comma-separated and case-insensitive",
			attributes: []string{"USERNAME, name.FamilyName", "displayname"},
			want:       union(userAlwaysKeys, []string{"userName", "name", "name.familyName", "displayName"}),
		},
		{
			name:       "URN-qualified core attribute",
			attributes: []string{"urn:ietf:params:scim:schemas:core:2.0:User:userName"},
			want:       union(userAlwaysKeys, []string{"userName"}),
		},
		{
			name:       "whole extension by URN",
			attributes: []string{enterpriseURN},
			want:       union(userAlwaysKeys, enterpriseKeys),
		},
		{
			name:       "extension attribute by URN",
			attributes: []string{enterpriseURN + ":employeeNumber"},
			want:       union(userAlwaysKeys, []string{enterpriseURN, enterpriseURN + ".employeeNumber"}),
		},
		{
			name:       "extension sub-attribute by URN",
			attributes: []string{enterpriseURN + ":manager.displayName"},
			want:       union(userAlwaysKeys, []string{enterpriseURN, enterpriseURN + ".manager"}),
		},
		{
			name:       "unqualified extension attribute",
			attributes: []string{"employeeNumber"},
			want:       union(userAlwaysKeys, []string{enterpriseURN, enterpriseURN + ".employeeNumber"}),
		},
		{
			name:       "never is never returned",
			attributes: []string{"password", testURN + ":token"},
			want:       userAlwaysKeys,
		},
		{
			name:       "request when asked for",
			attributes: []string{testURN + ":secret"},
			want:       union(userAlwaysKeys, []string{testURN + ".secret"}),
		},
		{
			name:       "request when asked for, unqualified",
			attributes: []string{"secret"},
			want:       union(userAlwaysKeys, []string{testURN + ".secret"}),
		},
		{
			name:       "request not implied by its extension",
			attributes: []string{testURN},
			want:       union(userAlwaysKeys, testExtDefaultKeys),
		},
		{
			name:       "unknown attribute selects nothing",
			attributes: []string{"bogus", "name.bogus"},
			want:       userAlwaysKeys,
		},
		{
			name:     "excluded",
			excluded: []string{"emails", "meta", "name.givenName"},
			want: without(allDefault, "emails", "emails[].primary", "emails[].type", "emails[].value",
				"meta", "meta.created", "meta.lastModified", "meta.resourceType", "meta.version", "name.givenName"),
		},
		{
			name:     "excluded cannot remove always",
			excluded: []string{"id", "schemas", testURN + ":tenant"},
			want:     allDefault,
		},
		{
			name:     "excluded whole extension keeps its always attribute",
			excluded: []string{testURN, enterpriseURN},
			want:     union(userCoreDefaultKeys, []string{testURN, testURN + ".tenant"}),
		},
		{
			name:     "excluded extension attribute",
			excluded: []string{enterpriseURN + ":employeeNumber", enterpriseURN + ":manager.value"},
			want:     without(allDefault, enterpriseURN+".employeeNumber"),
		},
		{
			name:     "excluded never and unknown are no-ops",
			excluded: []string{"password", "bogus", ""},
			want:     allDefault,
		},
		{
			name:       "both: excluded narrows attributes",
			attributes: []string{"name", "userName"},
			excluded:   []string{"name.familyName", "userName"},
			want:       union(userAlwaysKeys, []string{"name", "name.formatted", "name.givenName"}),
		},
		{
			name:       "both: excluding all that was asked for",
			attributes: []string{"name.givenName"},
			excluded:   []string{"name"},
			want:       userAlwaysKeys,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(Project(userDoc(), tc.attributes, tc.excluded, s, exts...))
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestProjectSubAttributes(t *testing.T) {
	s, exts := userSchemas()
	tests := []struct {
		name       string
		attributes []string
		excluded   []string
		path       func(map[string]any) any
		want       string // JSON
	}{
		{
			name:       "emails values only, empty elements dropped",
			attributes: []string{"emails.type"},
			path:       func(m map[string]any) any { return m["emails"] },
			want:       `[{"type":"work"},{"type":"home"}]`,
		},
		{
			name: "manager sub-attribute",
			attributes: []string{
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
			},
			path: func(m map[string]any) any { return m[enterpriseURN] },
			want: `{"manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}`,
		},
		{
			name: "default drops never and request sub-attributes",
			path: func(m map[string]any) any { return m[testURN].(map[string]any)["devices"] },
			want: `[{"value":"laptop"},{"value":"phone"}]`,
		},
		{
			name:       "request sub-attribute when named",
			attributes: []string{testURN + ":devices.serial"},
			path:       func(m map[string]any) any { return m[testURN].(map[string]any)["devices"] },
			want:       `[{"serial":"SN-1"},{"serial":"SN-2"}]`,
		},
		{
			name:       "request sub-attribute with its parent",
			attributes: []string{"devices", "devices.serial", "devices.pin"},
			path:       func(m map[string]any) any { return m[testURN].(map[string]any)["devices"] },
			want:       `[{"serial":"SN-1","value":"laptop"},{"serial":"SN-2","value":"phone"}]`,
		},
		{
			name:     "excluded sub-attribute of every element",
			excluded: []string{"emails.value", "emails.primary"},
			path:     func(m map[string]any) any { return m["emails"] },
			want:     `[{"type":"work"},{"type":"home"}]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.path(Project(userDoc(), tc.attributes, tc.excluded, s, exts...)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestProjectGroup(t *testing.T) {
	s, exts := groupSchemas()
	groupDefault := union([]string{
		"displayName", "externalId", "id", "members", "members[].display", "members[].type", "members[].value",
		"meta", "meta.created", "meta.lastModified", "meta.resourceType", "schemas", msGroupURN, msGroupURN + ".note",
	})
	tests := []struct {
		name                 string
		attributes, excluded []string
		want                 []string
	}{
		{name: "default", want: groupDefault},
		{
			// What Entra ID sends on every group read.
			name:     "excludedAttributes=members",
			excluded: []string{"members"},
			want:     without(groupDefault, "members", "members[].display", "members[].type", "members[].value"),
		},
		{name: "attributes=displayName", attributes: []string{"displayName"}, want: []string{"displayName", "id", "schemas"}},
		{name: "attributes=members.value", attributes: []string{"members.value"}, want: []string{"id", "members", "members[].value", "schemas"}},
		{name: "extension without attributes", attributes: []string{msGroupURN}, want: []string{"id", "schemas", msGroupURN, msGroupURN + ".note"}},
		{name: "extension without attributes excluded", excluded: []string{msGroupURN}, want: without(groupDefault, msGroupURN, msGroupURN+".note")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(Project(groupDoc(), tc.attributes, tc.excluded, s, exts...))
			if want := union(tc.want); !slices.Equal(got, want) {
				t.Errorf("keys =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestProjectOddDocuments covers keys no schema knows, values of the wrong
// shape and Go slice types that JSON decoding does not produce.
func TestProjectOddDocuments(t *testing.T) {
	s, exts := userSchemas()
	doc := map[string]any{
		"id":           "1",
		"custom":       []any{"kept", "by default"},
		"name":         "not an object",
		"emails":       []any{"junk", map[string]any{"value": "a@b.c", "type": "work"}, map[string]any{}},
		"phoneNumbers": []map[string]any{{"value": "555", "type": "work"}, {"type": "home"}},
		"groups":       nil,
	}
	tests := []struct {
		name                 string
		attributes, excluded []string
		want                 string
	}{
		{
			name: "default keeps everything but never",
			want: `{"custom":["kept","by default"],"emails":["junk",{"type":"work","value":"a@b.c"},{}],"groups":null,"id":"1",` +
				`"name":"not an object","phoneNumbers":[{"type":"work","value":"555"},{"type":"home"}]}`,
		},
		{
			name:       "partial selection drops what has no sub-attributes",
			attributes: []string{"emails.value", "phoneNumbers.value", "name.givenName"},
			want:       `{"emails":[{"value":"a@b.c"}],"id":"1","phoneNumbers":[{"value":"555"}]}`,
		},
		{
			name:       "attributes drops unknown keys",
			attributes: []string{"groups"},
			want:       `{"groups":null,"id":"1"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(Project(doc, tc.attributes, tc.excluded, s, exts...))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestProjectCopies checks that Project neither modifies its input nor
// returns anything shared with it.
func TestProjectCopies(t *testing.T) {
	s, exts := userSchemas()
	for _, params := range [][2][]string{
		{nil, nil},
		{{"emails", "name", enterpriseURN}, nil},
		{nil, {"emails.type", "name.givenName"}},
	} {
		doc, want := userDoc(), userDoc()
		got := Project(doc, params[0], params[1], s, exts...)
		if !jsonEqual(doc, want) {
			t.Fatalf("Project(%q) modified the document", params)
		}
		scribble(got)
		if !jsonEqual(doc, want) {
			t.Errorf("Project(%q) result shares state with the document", params)
		}
	}
}

// scribble overwrites every value in v, recursively.
func scribble(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			scribble(e)
			v[k] = "scribbled"
		}
	case []any:
		for i, e := range v {
			scribble(e)
			v[i] = "scribbled"
		}
	}
}
