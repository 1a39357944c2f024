package scimpath

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func TestParse(t *testing.T) {
	tests := []struct {
		key  string
		want Path // Attr "": not a path
	}{
		{"userName", Path{Attr: "userName"}},
		{"name.givenName", Path{Attr: "name", Sub: "givenName"}},
		{"x-custom_1", Path{Attr: "x-custom_1"}},
		{"manager.$ref", Path{Attr: "manager", Sub: "$ref"}},
		{`emails[type eq "work"].value`, Path{Attr: "emails", FilterAttr: "type", FilterValue: "work", Sub: "value"}},
		{`emails[type EQ "work: home [x]"].value`, Path{Attr: "emails", FilterAttr: "type", FilterValue: "work: home [x]", Sub: "value"}},
		{`addresses[ type  eq  "work" ].locality`, Path{Attr: "addresses", FilterAttr: "type", FilterValue: "work", Sub: "locality"}},
		{ent + ":department", Path{Schema: ent, Attr: "department"}},
		{ent + ":manager.value", Path{Schema: ent, Attr: "manager", Sub: "value"}},
		{`URN:example:app:1.0:User:badges[kind eq "a:b"].id`, Path{Schema: "URN:example:app:1.0:User", Attr: "badges", FilterAttr: "kind", FilterValue: "a:b", Sub: "id"}},
		// The core schema spelled out is the core schema.
		{"urn:ietf:params:scim:schemas:core:2.0:User:title", Path{Attr: "title"}},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Path{Attr: "User", Schema: "urn:ietf:params:scim:schemas:extension:enterprise:2.0"}},

		{"", Path{}},
		{"1name", Path{}},
		{"user name", Path{}},
		{"$ref", Path{}},
		{"name.", Path{}},
		{"name.givenName.x", Path{}},
		{".name", Path{}},
		{`emails[type eq "work"]`, Path{}},
		{"emails[type eq work].value", Path{}},
		{"emails[type eq null].value", Path{}},
		{"emails[type eq 1].value", Path{}},
		{"emails[primary eq true].value", Path{}},
		{"emails[type pr].value", Path{}},
		{`emails[type eq "w"].value.x`, Path{}},
		{`emails[type eq "w"]value`, Path{}},
		{`emails[type eq "w".value`, Path{}},
		{"urn:", Path{}},
		{"urn:x:", Path{}},
		{"urn:x:department", Path{}},
		{"urn::y:department", Path{}},
		{"urn:a b:y:department", Path{}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.key)
		if (err == nil) != (tt.want.Attr != "") || (err == nil && got != tt.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.key, got, err, tt.want)
		}
	}
}

func TestReserved(t *testing.T) {
	for key, want := range map[string]bool{
		"id": true, "META": true, "schemas": true, "groups": true, "active": true,
		"urn:ietf:params:scim:schemas:core:2.0:User:active": true,
		"userName": false, "name.givenName": false, ent + ":active": false,
	} {
		p, err := Parse(key)
		if err != nil {
			t.Fatalf("Parse(%q): %v", key, err)
		}
		if why, got := Reserved(p); got != want || (got && why == "") {
			t.Errorf("Reserved(%q) = %q, %v; want %v", key, why, got, want)
		}
	}
}

// FuzzParse: a key that parses renders a canonical path that parses back
// to the same Path, and a filter value survives quoting.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"userName", "name.givenName", `emails[type eq "work"].value`, `addresses[type eq "wo\"rk"].locality`,
		ent + ":department", "urn:x:y:User:attr", `urn:a:b[type eq "c:d"].value`, "a.b.c", "[", `x[type eq "a"]`, "active"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := Parse(key)
		if err != nil {
			return
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("%q parsed, its path %q does not: %v", key, p.String(), err)
		}
		if q != p {
			t.Errorf("%q: %+v, round trip %+v", key, p, q)
		}
		if utf8.ValidString(p.FilterValue) {
			var back string
			if err := json.Unmarshal([]byte(Quote(p.FilterValue)), &back); err != nil || back != p.FilterValue {
				t.Errorf("Quote(%q) = %s", p.FilterValue, Quote(p.FilterValue))
			}
		}
	})
}
