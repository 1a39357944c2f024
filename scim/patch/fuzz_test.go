package patch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/elimity-com/scim/schema"

	"github.com/tenurehq/tenure/scim/patch"
)

const (
	fuzzUser = `{
		"userName": "ada@example.com",
		"externalId": "e-1",
		"name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
		"displayName": "Ada",
		"title": "Countess",
		"active": true,
		"emails": [
			{"value": "ada@example.com", "type": "work", "primary": true},
			{"value": "ada@home.example", "type": "home"}
		],
		"phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
		"addresses": [{"type": "work", "locality": "London", "country": "GB", "primary": true}],
		"roles": [{"value": "admin"}],
		"{ent}": {"employeeNumber": "42", "department": "R&D", "manager": {"value": "mgr-1"}}
	}`
	fuzzGroup = `{
		"displayName": "Engineering",
		"externalId": "g-1",
		"members": [
			{"value": "u1", "display": "Ada", "type": "User", "$ref": "Users/u1"},
			{"value": "u2", "type": "User", "$ref": "Users/u2"},
			{"value": "g2", "type": "Group", "$ref": "Groups/g2"}
		]
	}`
)

// FuzzApply feeds arbitrary PatchOp bodies through compat, the library's
// validation and Apply, for a user and a group. Apply must not panic, must
// leave its input alone, and on success must return a document that the
// library's own schema validation accepts, with changed telling the truth.
func FuzzApply(f *testing.F) {
	docs := fuzzDocs(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkApply(t, docs, body)
	})
}

// FuzzApplyOperation is FuzzApply for one well-formed operation built from
// its parts, so that the fuzzer spends its time on paths, filters and values
// rather than on JSON syntax. A value that is not JSON is sent as a string.
func FuzzApplyOperation(f *testing.F) {
	for _, seed := range []struct{ op, path, value string }{
		{"Replace", `emails[type eq "work"].value`, `"x@example.com"`},
		{"Add", "members", `[{"value":"u3"},{"value":"u1","display":"Ada"}]`},
		{"Remove", "members", `[{"value":"u1"}]`},
		{"remove", `members[value eq "u2" or type eq "Group"]`, ``},
		{"replace", "", `{"name.givenName":"A","active":"False","emails[type eq \"home\"].primary":true}`},
		{"add", enterprise + ":manager", `mgr-2`},
		{"replace", `addresses[type eq "work" and primary eq true].locality`, `"Paris"`},
		{"add", "", `{"` + enterprise + `":{"department":"Ops"},"roles":{"value":"x"}}`},
		{"replace", "phoneNumbers", `{"value":"+1","primary":true}`},
		{"remove", `emails[value ew ".example" and not (type eq "work")].display`, ``},
	} {
		f.Add(seed.op, seed.path, []byte(seed.value))
	}
	docs := fuzzDocs(f)
	f.Fuzz(func(t *testing.T, op, path string, value []byte) {
		o := map[string]any{"op": op}
		if path != "" {
			o["path"] = path
		}
		switch {
		case len(value) == 0:
		case json.Valid(value):
			o["value"] = json.RawMessage(value)
		default:
			o["value"] = string(value)
		}
		b, err := json.Marshal(map[string]any{"schemas": []string{patchOp}, "Operations": []any{o}})
		if err != nil {
			t.Skip() // invalid UTF-8 in a key or the like
		}
		checkApply(t, docs, b)
	})
}

func fuzzDocs(tb testing.TB) map[kind]map[string]any {
	return map[kind]map[string]any{
		user:  mustJSON(tb, strings.ReplaceAll(fuzzUser, "{ent}", enterprise)),
		group: mustJSON(tb, fuzzGroup),
	}
}

// checkApply runs body against each document and checks Apply's contract.
func checkApply(t *testing.T, docs map[kind]map[string]any, body []byte) {
	for k, doc := range docs {
		ops, err := parseOps(k, body)
		if err != nil {
			continue
		}
		before := canonical(t, doc)
		s, exts := k.schemas()
		out, changed, err := patch.Apply(doc, ops, s, exts...)
		if got := canonical(t, doc); got != before {
			t.Fatalf("Apply mutated its input:\n got %s\nwant %s", got, before)
		}
		if err != nil {
			continue
		}
		raw, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("result does not marshal: %v\n%#v", err, out)
		}
		if changed != (string(raw) != before) {
			t.Fatalf("changed = %v, but:\n got %s\n was %s", changed, raw, before)
		}
		checkSchema(t, s, exts, raw)
	}
}

// checkSchema validates a document, decoded from JSON as a client would send
// it, with the library's resource validation.
func checkSchema(t *testing.T, s schema.Schema, exts []schema.Schema, raw []byte) {
	t.Helper()
	doc := mustJSON(t, string(raw))
	doc["schemas"] = []any{s.ID}
	if _, err := s.Validate(doc); err != nil {
		t.Fatalf("result fails %s validation: %v\n%s", s.ID, err, raw)
	}
	for _, e := range exts {
		if v, ok := doc[e.ID]; ok {
			if _, err := e.ValidateExtension(v); err != nil {
				t.Fatalf("result fails %s validation: %v\n%s", e.ID, err, raw)
			}
		}
	}
}
