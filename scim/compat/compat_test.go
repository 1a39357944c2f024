package compat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/elimity-com/scim/schema"

	"github.com/tenurehq/tenure/scim/compat"
)

type normalizeCase struct {
	name string
	kind kind
	in   string
	// want is the exact resulting document (compared key order aside); empty
	// means the input slice itself must come back.
	want string
	// rejected: the library answers 400 to in but accepts the result.
	rejected bool
}

// ops wraps a JSON array of operations in a PatchOp request; {ent} stands for
// the enterprise extension URN.
func ops(s string) string {
	return `{"schemas":["` + patchOp + `"],"Operations":` + strings.ReplaceAll(s, "{ent}", enterprise) + `}`
}

var patchCases = []normalizeCase{
	{
		name:     "Entra string boolean by path",
		in:       ops(`[{"op":"Replace","path":"active","value":"False"}]`),
		want:     ops(`[{"op":"Replace","path":"active","value":false}]`),
		rejected: true,
	},
	{
		name:     "string booleans in any case",
		in:       ops(`[{"op":"Replace","path":"active","value":"TRUE"},{"op":"Replace","path":"active","value":"true"}]`),
		want:     ops(`[{"op":"Replace","path":"active","value":true},{"op":"Replace","path":"active","value":true}]`),
		rejected: true,
	},
	{
		name:     "Entra string boolean in a pathless value",
		in:       ops(`[{"op":"Replace","value":{"active":"False","displayName":"Ada"}}]`),
		want:     ops(`[{"op":"Replace","value":{"active":false,"displayName":"Ada"}}]`),
		rejected: true,
	},
	{
		name:     "string boolean under a core URN-prefixed key",
		in:       ops(`[{"op":"Replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User:active":"True"}}]`),
		want:     ops(`[{"op":"Replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User:active":true}}]`),
		rejected: true,
	},
	{
		name:     "string primary inside a multi-valued value",
		in:       ops(`[{"op":"Add","path":"emails","value":[{"value":"a@example.com","type":"work","primary":"True"}]}]`),
		want:     ops(`[{"op":"Add","path":"emails","value":[{"value":"a@example.com","type":"work","primary":true}]}]`),
		rejected: true,
	},
	{
		name:     "string primary inside a lone element for a multi-valued attribute",
		in:       ops(`[{"op":"Add","path":"emails","value":{"value":"a@example.com","primary":"true"}}]`),
		want:     ops(`[{"op":"Add","path":"emails","value":{"value":"a@example.com","primary":true}}]`),
		rejected: true,
	},
	{
		name:     "string primary for a filtered element",
		in:       ops(`[{"op":"Replace","path":"emails[type eq \"work\"]","value":{"primary":"true"}}]`),
		want:     ops(`[{"op":"Replace","path":"emails[type eq \"work\"]","value":{"primary":true}}]`),
		rejected: true,
	},
	{
		name:     "string boolean for a filtered sub-attribute",
		in:       ops(`[{"op":"Replace","path":"emails[type eq \"work\"].primary","value":"False"}]`),
		want:     ops(`[{"op":"Replace","path":"emails[type eq \"work\"].primary","value":false}]`),
		rejected: true,
	},
	{
		name:     "string boolean for a filtered pathless key",
		in:       ops(`[{"op":"Replace","value":{"emails[type eq \"work\"].primary":"True"}}]`),
		want:     ops(`[{"op":"Replace","value":{"emails[type eq \"work\"].primary":true}}]`),
		rejected: true,
	},
	{
		name:     "Entra manager as a plain string by path",
		in:       ops(`[{"op":"Add","path":"{ent}:manager","value":"mgr-id"}]`),
		want:     ops(`[{"op":"Add","path":"{ent}:manager","value":{"value":"mgr-id"}}]`),
		rejected: true,
	},
	{
		name:     "Entra manager as a plain string in a pathless value",
		in:       ops(`[{"op":"Replace","value":{"{ent}:manager":"mgr-id","{ent}:department":"R&D"}}]`),
		want:     ops(`[{"op":"Replace","value":{"{ent}:manager":{"value":"mgr-id"},"{ent}:department":"R&D"}}]`),
		rejected: true,
	},
	{
		name:     "Entra manager removal naming the manager",
		in:       ops(`[{"op":"Remove","path":"{ent}:manager","value":"mgr-id"}]`),
		want:     ops(`[{"op":"Remove","path":"{ent}:manager","value":{"value":"mgr-id"}}]`),
		rejected: true,
	},
	{
		// The library rejects nested extension objects in PATCH whatever
		// their content; the rewrite still applies.
		name: "manager string inside a nested extension object",
		in:   ops(`[{"op":"Replace","value":{"{ent}":{"manager":"mgr-id","employeeNumber":"42"}}}]`),
		want: ops(`[{"op":"Replace","value":{"{ent}":{"manager":{"value":"mgr-id"},"employeeNumber":"42"}}}]`),
	},
	{
		// The library refuses a whole extension URN as a path; Tenure's
		// PATCH parser does not (scim/patch), and the rewrite applies.
		name: "manager string inside a value for a whole extension URN path",
		in:   ops(`[{"op":"Replace","path":"{ent}","value":{"manager":"mgr-id","employeeNumber":"42"}}]`),
		want: ops(`[{"op":"Replace","path":"{ent}","value":{"manager":{"value":"mgr-id"},"employeeNumber":"42"}}]`),
	},
	{
		name:     "null path is no path",
		in:       ops(`[{"op":"Replace","path":null,"value":{"active":"False"}}]`),
		want:     ops(`[{"op":"Replace","path":null,"value":{"active":false}}]`),
		rejected: true,
	},
	{
		name:     "members as plain strings",
		kind:     group,
		in:       ops(`[{"op":"Add","path":"members","value":["u1","u2"]}]`),
		want:     ops(`[{"op":"Add","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]`),
		rejected: true,
	},
	{
		name:     "field names match case-insensitively, as in the library",
		in:       `{"SCHEMAS":["` + patchOp + `"],"OPERATIONS":[{"OP":"Replace","PATH":"active","VALUE":"False"}]}`,
		want:     `{"SCHEMAS":["` + patchOp + `"],"OPERATIONS":[{"OP":"Replace","PATH":"active","VALUE":false}]}`,
		rejected: true,
	},
	{
		name:     "paths and keys match case-insensitively",
		in:       ops(`[{"op":"Replace","path":"ACTIVE","value":"False"},{"op":"Add","path":"{ent}:MANAGER","value":"m"}]`),
		want:     ops(`[{"op":"Replace","path":"ACTIVE","value":false},{"op":"Add","path":"{ent}:MANAGER","value":{"value":"m"}}]`),
		rejected: true,
	},
	{
		name: "numbers, escapes and untouched operations survive a rewrite exactly",
		in: ops(`[{"op":"Replace","path":"active","value":"False"},
			{"op":"Replace","path":"x","value":12345678901234567890.50e-0},
			{"op":"Replace","path":"title","value":"<R&D> \u00e9"}]`),
		want: ops(`[{"op":"Replace","path":"active","value":false},
			{"op":"Replace","path":"x","value":12345678901234567890.50e-0},
			{"op":"Replace","path":"title","value":"<R&D> é"}]`),
	},

	// Nothing to rewrite: the input slice comes back.
	{name: "Okta deactivation", in: ops(`[{"op":"replace","value":{"active":false}}]`)},
	{name: "Okta membership", kind: group, in: ops(`[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u2","display":"Bo"}]}]`)},
	{name: "Entra recorded user update", in: ops(`[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]`)},
	{name: "manager already complex", in: ops(`[{"op":"Add","path":"{ent}:manager","value":{"value":"mgr-id"}}]`)},
	{name: "manager sub-attribute takes a string", in: ops(`[{"op":"Add","path":"{ent}:manager.value","value":"mgr-id"}]`)},
	{name: "string for a string attribute", in: ops(`[{"op":"Replace","path":"userName","value":"True"},{"op":"Replace","value":{"name.givenName":"False"}}]`)},
	{name: "only true and false are booleans", in: ops(`[{"op":"Replace","path":"active","value":"yes"},{"op":"Replace","path":"active","value":"1"}]`)},
	{name: "string for a complex attribute without a value sub-attribute", in: ops(`[{"op":"Replace","path":"name","value":"Ada Lovelace"}]`)},
	{name: "unknown path", in: ops(`[{"op":"Replace","path":"shoeSize","value":"True"},{"op":"Replace","value":{"shoeSize":"True"}}]`)},
	{name: "unknown schema", in: ops(`[{"op":"Replace","path":"urn:example:2.0:User:active","value":"True"}]`)},
	{name: "unknown sub-attribute", in: ops(`[{"op":"Replace","path":"emails[type eq \"work\"].primo","value":"True"}]`)},
	{name: "unparsable path", in: ops(`[{"op":"Replace","path":"active[","value":"True"}]`)},
	{name: "ambiguous path", in: ops(`[{"op":"Replace","path":"active","Path":"title","value":"True"}]`)},
	{name: "path that is not a string", in: ops(`[{"op":"Replace","path":5,"value":"True"}]`)},
	{name: "operation that is not an object", in: ops(`["active"]`)},
	{name: "operations that are not a list", in: `{"Operations":{"op":"Replace","path":"active","value":"True"}}`},
	{name: "body that is not an object", in: `[{"op":"Replace","path":"active","value":"True"}]`},
	{name: "null body", in: `null`},
}

var resourceCases = []normalizeCase{
	{
		name: "Entra user with string booleans and a manager string",
		in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + enterprise + `"],
			"userName":"ada@example.com","active":"True",
			"emails":[{"value":"ada@example.com","type":"work","primary":"True"}],
			"` + enterprise + `":{"employeeNumber":"42","manager":"mgr-id"}}`,
		want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + enterprise + `"],
			"userName":"ada@example.com","active":true,
			"emails":[{"value":"ada@example.com","type":"work","primary":true}],
			"` + enterprise + `":{"employeeNumber":"42","manager":{"value":"mgr-id"}}}`,
		rejected: true,
	},
	{
		name:     "attribute names match case-insensitively",
		in:       `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","Active":"false"}`,
		want:     `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","Active":false}`,
		rejected: true,
	},
	{
		name:     "group members as plain strings",
		kind:     group,
		in:       `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng","members":["u1"]}`,
		want:     `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng","members":[{"value":"u1"}]}`,
		rejected: true,
	},
	{name: "Okta user", in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":true,"name":{"givenName":"True"},"emails":[{"value":"a@example.com","primary":true}]}`},
	{name: "Entra group", kind: group, in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"e","displayName":"Eng","meta":{"resourceType":"Group"}}`},
	{name: "unknown attribute", in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","shoeSize":"True"}`},
	{name: "extension that is not an object", in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","` + enterprise + `":"mgr"}`},
	{name: "body that is not an object", in: `"True"`},
}

func TestNormalizePatch(t *testing.T) {
	run(t, patchCases, true, compat.NormalizePatch)
}

func TestNormalizeResource(t *testing.T) {
	run(t, resourceCases, false, compat.NormalizeResource)
}

func run(t *testing.T, cases []normalizeCase, patch bool, normalize func([]byte, schema.Schema, ...schema.Schema) ([]byte, error)) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			s, exts := c.kind.schemas()
			got, err := normalize(in, s, exts...)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.want == "" {
				if !sameSlice(got, in) {
					t.Errorf("got a rewritten body %s; want the input slice", got)
				}
				return
			}
			if g, w := canonical(t, got), canonical(t, []byte(c.want)); g != w {
				t.Errorf("body:\n got %s\nwant %s", g, w)
			}
			if strings.Contains(c.want, "12345678901234567890.50e-0") && !strings.Contains(string(got), "12345678901234567890.50e-0") {
				t.Errorf("number not preserved: %s", got)
			}
			if strings.Contains(c.want, "<R&D>") && !strings.Contains(string(got), "<R&D>") {
				t.Errorf("HTML characters escaped: %s", got)
			}
			if again, err := normalize(got, s, exts...); err != nil || !sameSlice(again, got) {
				t.Errorf("second pass rewrote %s to %s (err %v); want it unchanged", got, again, err)
			}
			if c.rejected {
				if code := libraryStatus(t, c.kind, patch, in); code != 400 {
					t.Errorf("library answered %d to the raw body; want 400, or the case is moot", code)
				}
				if code := libraryStatus(t, c.kind, patch, got); code/100 != 2 {
					t.Errorf("library answered %d to the rewritten body %s", code, got)
				}
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	s, exts := user.schemas()
	for _, in := range []string{``, ` `, `{`, `{"Operations":[}`, `{} {}`, `{"a":1} x`, `nul`, `"\x`, "{\"a\":\"\x00\"}"} {
		for name, normalize := range map[string]func([]byte, schema.Schema, ...schema.Schema) ([]byte, error){
			"NormalizePatch":    compat.NormalizePatch,
			"NormalizeResource": compat.NormalizeResource,
		} {
			got, err := normalize([]byte(in), s, exts...)
			if !errors.Is(err, compat.ErrMalformed) {
				t.Errorf("%s(%q) = %q, %v; want ErrMalformed", name, in, got, err)
			}
		}
	}
}

// TestWhitespace: surrounding whitespace is valid JSON and nothing to
// rewrite.
func TestWhitespace(t *testing.T) {
	s, exts := user.schemas()
	in := []byte(" \n" + ops(`[{"op":"replace","value":{"active":false}}]`) + "\n\t")
	got, err := compat.NormalizePatch(in, s, exts...)
	if err != nil || !sameSlice(got, in) {
		t.Errorf("NormalizePatch = %q, %v; want the input", got, err)
	}
}

func BenchmarkNormalizePatch(b *testing.B) {
	s, exts := user.schemas()
	for _, bc := range []struct{ name, body string }{
		{"unchanged", ops(`[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@example.com"},{"op":"Replace","path":"active","value":false}]`)},
		{"rewritten", ops(`[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@example.com"},{"op":"Replace","path":"active","value":"False"}]`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := compat.NormalizePatch(body, s, exts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
