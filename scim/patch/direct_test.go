package patch_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenurehq/tenure/scim/patch"
)

// The cases here build operations by hand: they cover what Apply does on its
// own for callers other than the library, where the library's validation
// would answer first, and attribute types the standard schemas lack.

const testURN = "urn:example:params:scim:schemas:extension:test:2.0:User"

// testExtension has the attribute shapes the standard schemas lack.
func testExtension() schema.Schema {
	return schema.Schema{
		ID: testURN,
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{
				Name: "level", Type: schema.AttributeTypeInteger(),
			})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "tags", MultiValued: true,
			})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "badge", Mutability: schema.AttributeMutabilityImmutable(),
			})),
			schema.ComplexCoreAttribute(schema.ComplexParams{
				Name: "shifts", MultiValued: true,
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{Name: "value", CaseExact: true}),
					schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "start"}),
					schema.SimpleNumberParams(schema.NumberParams{Name: "hours", Type: schema.AttributeTypeDecimal()}),
				},
			}),
		},
	}
}

func op(o, path string, value any) scim.PatchOperation {
	p := scim.PatchOperation{Op: o, Value: value}
	if path != "" {
		fp, err := filter.ParsePath([]byte(path))
		if err != nil {
			panic(err)
		}
		p.Path = &fp
	}
	return p
}

const directDoc = `{
	"userName": "ada@example.com",
	"emails": [
		{"value": "ada@example.com", "type": "work", "primary": true},
		{"value": "ada@home.example", "type": "home", "display": "Home"}
	],
	"{test}": {
		"level": 7,
		"tags": ["a", "b"],
		"shifts": [
			{"value": "early", "start": "2026-01-05T06:00:00Z", "hours": 8},
			{"value": "late", "start": "2026-01-05T14:00:00+02:00", "hours": 7.5}
		]
	}
}`

func TestApplyDirect(t *testing.T) {
	cases := []struct {
		name    string
		ops     []scim.PatchOperation
		want    string // empty: unchanged
		changed bool
		err     scimerrors.ScimType
		opts    patch.Options
	}{
		{name: "remove without a path", ops: []scim.PatchOperation{op("remove", "", nil)}, err: scimerrors.ScimTypeNoTarget},
		{name: "unknown op", ops: []scim.PatchOperation{op("move", "title", "x")}, err: scimerrors.ScimTypeInvalidSyntax},
		{name: "unknown attribute", ops: []scim.PatchOperation{op("replace", "shoeSize", "9")}, err: scimerrors.ScimTypeInvalidPath},
		{name: "unknown pathless key", ops: []scim.PatchOperation{op("replace", "", map[string]any{"shoeSize": "9"})}, err: scimerrors.ScimTypeInvalidPath},
		{name: "unparsable pathless key", ops: []scim.PatchOperation{op("add", "", map[string]any{"name..x": "9"})}, err: scimerrors.ScimTypeInvalidPath},
		{name: "unknown schema URN", ops: []scim.PatchOperation{op("replace", "urn:example:nope:2.0:User:level", json.Number("1"))}, err: scimerrors.ScimTypeInvalidPath},
		{name: "sub-attribute of a simple attribute", ops: []scim.PatchOperation{op("replace", "userName.first", "x")}, err: scimerrors.ScimTypeInvalidPath},
		{name: "unknown sub-attribute", ops: []scim.PatchOperation{op("replace", "name.nick", "x")}, err: scimerrors.ScimTypeInvalidPath},
		{name: "filter on an unknown sub-attribute", ops: []scim.PatchOperation{op("remove", `emails[kind eq "work"]`, nil)}, err: scimerrors.ScimTypeInvalidPath},
		{name: "filter on a sub-attribute's sub-attribute", ops: []scim.PatchOperation{op("remove", `emails[type.x eq "work"]`, nil)}, err: scimerrors.ScimTypeInvalidPath},
		{name: "id path", ops: []scim.PatchOperation{op("replace", "id", "x")}, err: scimerrors.ScimTypeMutability},
		{name: "meta path", ops: []scim.PatchOperation{op("remove", "meta.version", nil)}, err: scimerrors.ScimTypeMutability},
		{name: "schemas path", ops: []scim.PatchOperation{op("add", "schemas", []any{"urn:x"})}, err: scimerrors.ScimTypeMutability},
		{name: "id path with the core URN", ops: []scim.PatchOperation{op("replace", schema.UserSchema+":id", "x")}, err: scimerrors.ScimTypeMutability},
		{
			name: "pathless echoes of id, meta and schemas are ignored",
			ops: []scim.PatchOperation{op("replace", "", map[string]any{
				"id": "u1", "META": map[string]any{"version": "W/1"}, "schemas": []any{schema.UserSchema},
			})},
		},
		{name: "pathless value that is not an object", ops: []scim.PatchOperation{op("replace", "", "x")}, err: scimerrors.ScimTypeInvalidValue},
		{name: "add without a value", ops: []scim.PatchOperation{op("add", "title", nil)}, err: scimerrors.ScimTypeInvalidValue},
		{name: "value of the wrong type", ops: []scim.PatchOperation{op("replace", "active", "yes")}, err: scimerrors.ScimTypeInvalidValue},
		{name: "complex value of the wrong type", ops: []scim.PatchOperation{op("replace", "name", "Ada")}, err: scimerrors.ScimTypeInvalidValue},
		{name: "element list for a filtered path", ops: []scim.PatchOperation{op("replace", `emails[type eq "work"]`, []any{map[string]any{}, map[string]any{}})}, err: scimerrors.ScimTypeInvalidValue},
		{
			name:    "capitalised op and canonical sub-attribute names",
			ops:     []scim.PatchOperation{op("Replace", "name", map[string]any{"GIVENNAME": "Ada"})},
			want:    `{"name": {"givenName": "Ada"}}`,
			changed: true,
		},
		{
			name: "nested extension object in a pathless value",
			ops: []scim.PatchOperation{op("replace", "", map[string]any{
				strings.ToLower(enterprise): map[string]any{"employeeNumber": "42", "Manager": map[string]any{"value": "m"}},
			})},
			want:    `{"{ent}": {"employeeNumber": "42", "manager": {"value": "m"}}}`,
			changed: true,
		},
		{
			name: "nested extension object keys must not carry a URN",
			ops: []scim.PatchOperation{op("replace", "", map[string]any{
				enterprise: map[string]any{enterprise + ":employeeNumber": "42"},
			})},
			err: scimerrors.ScimTypeInvalidPath,
		},
		{
			name:    "null extension object in a pathless replace unassigns it",
			ops:     []scim.PatchOperation{op("replace", "", map[string]any{testURN: nil})},
			want:    `{"{test}": null}`,
			changed: true,
		},
		{
			name:    "null in a pathless replace unassigns; in an add it is ignored",
			ops:     []scim.PatchOperation{op("replace", "", map[string]any{"emails": nil}), op("add", "", map[string]any{"title": nil})},
			want:    `{"emails": null}`,
			changed: true,
		},
		{
			name: "integers compare by value whatever their Go type",
			ops:  []scim.PatchOperation{op("replace", testURN+":level", int64(7)), op("replace", testURN+":level", json.Number("7"))},
		},
		{
			name:    "integer replace",
			ops:     []scim.PatchOperation{op("replace", testURN+":level", json.Number("8"))},
			want:    `{"{test}": {"level": 8}}`,
			changed: true,
		},
		{
			name:    "simple multi-valued add appends without duplicates",
			ops:     []scim.PatchOperation{op("add", testURN+":tags", []any{"B", "c", "c"})},
			want:    `{"{test}": {"tags": ["a", "b", "c"]}}`,
			changed: true,
		},
		{
			name:    "simple multi-valued remove by value filter",
			ops:     []scim.PatchOperation{op("remove", testURN+`:tags[value eq "a"]`, nil)},
			want:    `{"{test}": {"tags": ["b"]}}`,
			changed: true,
		},
		{
			name:    "simple multi-valued replace by value filter",
			ops:     []scim.PatchOperation{op("replace", testURN+`:tags[value eq "a"]`, "z")},
			want:    `{"{test}": {"tags": ["z", "b"]}}`,
			changed: true,
		},
		{
			name: "simple multi-valued filter matching nothing",
			ops:  []scim.PatchOperation{op("replace", testURN+`:tags[value eq "q"]`, "z")},
			err:  scimerrors.ScimTypeNoTarget,
		},
		{
			name:    "immutable attribute may be set while unassigned",
			ops:     []scim.PatchOperation{op("add", testURN+":badge", "b-1"), op("replace", testURN+":badge", "b-1")},
			want:    `{"{test}": {"badge": "b-1"}}`,
			changed: true,
		},
		{
			name: "immutable attribute may not change",
			ops:  []scim.PatchOperation{op("add", testURN+":badge", "b-1"), op("replace", testURN+":badge", "b-2")},
			err:  scimerrors.ScimTypeMutability,
		},
		{
			name: "immutable attribute may not be removed",
			ops:  []scim.PatchOperation{op("add", testURN+":badge", "b-1"), op("remove", testURN+":badge", nil)},
			err:  scimerrors.ScimTypeMutability,
		},
		{
			name: "a conjunction of eq terms names the element to create",
			ops:  []scim.PatchOperation{op("add", `emails[type eq "other" and primary eq true].value`, "o@example.com")},
			want: `{"emails": [
				{"value": "ada@example.com", "type": "work", "primary": false},
				{"value": "ada@home.example", "type": "home", "display": "Home"},
				{"value": "o@example.com", "type": "other", "primary": true}]}`,
			changed: true,
		},
		{
			name: "escaped quotes in a filter value",
			ops:  []scim.PatchOperation{op("replace", `emails[type eq "say \"hi\""].value`, "o@example.com")},
			want: `{"emails": [
				{"value": "ada@example.com", "type": "work", "primary": true},
				{"value": "ada@home.example", "type": "home", "display": "Home"},
				{"value": "o@example.com", "type": "say \"hi\""}]}`,
			changed: true,
			opts:    entra,
		},
		{
			name: "numeric eq term",
			ops:  []scim.PatchOperation{op("replace", testURN+`:shifts[hours eq 6].value`, "night")},
			want: `{"{test}": {"shifts": [
				{"value": "early", "start": "2026-01-05T06:00:00Z", "hours": 8},
				{"value": "late", "start": "2026-01-05T14:00:00+02:00", "hours": 7.5},
				{"value": "night", "hours": 6}]}}`,
			changed: true,
			opts:    entra,
		},
		{
			name: "contradictory eq terms name no element",
			ops:  []scim.PatchOperation{op("replace", `emails[type eq "a" and type eq "b"].value`, "o@example.com")},
			err:  scimerrors.ScimTypeNoTarget,
		},
		{
			name: "a filter matching nothing with an element value",
			ops:  []scim.PatchOperation{op("replace", `emails[type eq "other"]`, map[string]any{"value": "o@example.com", "display": "O"})},
			want: `{"emails": [
				{"value": "ada@example.com", "type": "work", "primary": true},
				{"value": "ada@home.example", "type": "home", "display": "Home"},
				{"value": "o@example.com", "type": "other", "display": "O"}]}`,
			changed: true,
			opts:    entra,
		},
		{
			// Clients send a whole extension as the path, its attributes as
			// the value: the attributes given are set, the others kept.
			name:    "replace with a whole extension URN as path",
			ops:     []scim.PatchOperation{op("replace", testURN, map[string]any{"level": json.Number("8"), "badge": "b-1"})},
			want:    `{"{test}": {"level": 8, "badge": "b-1"}}`,
			changed: true,
		},
		{
			name:    "add with a whole extension URN as path creates the extension",
			ops:     []scim.PatchOperation{op("add", enterprise, map[string]any{"employeeNumber": "43", "manager": map[string]any{"value": "mgr-2"}})},
			want:    `{"{ent}": {"employeeNumber": "43", "manager": {"value": "mgr-2"}}}`,
			changed: true,
		},
		{
			name:    "a whole extension URN path in another case",
			ops:     []scim.PatchOperation{op("Replace", strings.ToUpper(testURN[:4])+testURN[4:], map[string]any{"LEVEL": json.Number("9")})},
			want:    `{"{test}": {"level": 9}}`,
			changed: true,
		},
		{
			name:    "a null attribute in a whole extension value unassigns it",
			ops:     []scim.PatchOperation{op("replace", testURN, map[string]any{"level": nil})},
			want:    `{"{test}": {"level": null}}`,
			changed: true,
		},
		{
			name:    "remove with a whole extension URN as path removes the extension",
			ops:     []scim.PatchOperation{op("remove", testURN, nil)},
			want:    `{"{test}": null}`,
			changed: true,
		},
		{
			name:    "remove of a whole extension with a value removes the attributes it names",
			ops:     []scim.PatchOperation{op("remove", testURN, map[string]any{"level": json.Number("7"), "tags": []any{"a"}})},
			want:    `{"{test}": {"level": null, "tags": ["b"]}}`,
			changed: true,
		},
		{
			name: "remove of a whole extension with another value changes nothing",
			ops:  []scim.PatchOperation{op("remove", testURN, map[string]any{"level": json.Number("6")})},
		},
		{
			name: "a whole extension URN with a value that is not an object",
			ops:  []scim.PatchOperation{op("replace", testURN, "x")},
			err:  scimerrors.ScimTypeInvalidValue,
		},
		{
			name: "a whole extension URN with an unknown attribute",
			ops:  []scim.PatchOperation{op("add", enterprise, map[string]any{"shoeSize": "9"})},
			err:  scimerrors.ScimTypeInvalidPath,
		},
		{
			name: "a whole extension URN with an immutable attribute changed",
			ops:  []scim.PatchOperation{op("add", testURN, map[string]any{"badge": "b-1"}), op("replace", testURN, map[string]any{"badge": "b-2"})},
			err:  scimerrors.ScimTypeMutability,
		},
		{
			name: "an unknown extension URN",
			ops:  []scim.PatchOperation{op("replace", "urn:example:nope:2.0:User", map[string]any{"level": json.Number("1")})},
			err:  scimerrors.ScimTypeInvalidPath,
		},
		{
			name: "a sub-attribute value of the wrong type",
			ops:  []scim.PatchOperation{op("replace", "name.givenName", true)},
			err:  scimerrors.ScimTypeInvalidValue,
		},
		{
			name: "remove of a sub-attribute naming another value changes nothing",
			ops:  []scim.PatchOperation{op("remove", enterprise+":manager.value", "someone")},
		},
	}
	exts := []schema.Schema{schema.ExtensionEnterpriseUser(), testExtension()}
	placeholders := strings.NewReplacer("{ent}", enterprise, "{test}", testURN)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := mustJSON(t, placeholders.Replace(directDoc))
			before := canonical(t, doc)
			out, changed, err := c.opts.Apply(doc, c.ops, schema.CoreUserSchema(), exts...)
			if got := canonical(t, doc); got != before {
				t.Errorf("Apply mutated its input:\n got %s\nwant %s", got, before)
			}
			if c.err != "" {
				var se *scimerrors.ScimError
				if !errors.As(err, &se) || se.ScimType != c.err {
					t.Fatalf("err = %v; want scimType %s", err, c.err)
				}
				t.Logf("%v", err)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			// want lists the top-level keys that differ from directDoc,
			// and the attributes of an extension that do; null means
			// removed.
			want := mustJSON(t, placeholders.Replace(directDoc))
			for k, v := range mustJSON(t, placeholders.Replace(c.want)) {
				if v == nil {
					delete(want, k)
					continue
				}
				if m, ok := v.(map[string]any); ok && strings.HasPrefix(k, "urn:") {
					ext, _ := want[k].(map[string]any)
					if ext == nil {
						ext = map[string]any{}
					}
					for ek, ev := range m {
						if ev == nil {
							delete(ext, ek)
							continue
						}
						ext[ek] = ev
					}
					v = ext
				}
				want[k] = v
			}
			if got, want := canonical(t, out), canonical(t, want); got != want {
				t.Errorf("document:\n got %s\nwant %s", got, want)
			}
			if changed != c.changed {
				t.Errorf("changed = %v; want %v", changed, c.changed)
			}
		})
	}
}

// TestFilters checks value filter evaluation through removals: want lists the
// values of the elements that survive.
func TestFilters(t *testing.T) {
	cases := []struct {
		path string
		want []string
	}{
		{`emails[type eq "WORK"]`, []string{"ada@home.example"}},
		{`emails[type ne "work"]`, []string{"ada@example.com"}},
		{`emails[value sw "ADA@E"]`, []string{"ada@home.example"}},
		{`emails[value ew ".example"]`, []string{"ada@example.com"}},
		{`emails[value co "home"]`, []string{"ada@example.com"}},
		{`emails[display pr]`, []string{"ada@example.com"}},
		{`emails[primary eq true]`, []string{"ada@home.example"}},
		{`emails[primary ne true]`, []string{"ada@example.com"}},
		{`emails[not (type eq "work")]`, []string{"ada@example.com"}},
		{`emails[type eq "work" or type eq "home"]`, nil},
		{`emails[type eq "work" and primary eq false]`, []string{"ada@example.com", "ada@home.example"}},
		{`emails[display eq null]`, []string{"ada@home.example"}},
		{`emails[type gt "a"]`, nil},
		{`emails[type lt "i"]`, []string{"ada@example.com"}},
		{`emails[primary eq "true"]`, []string{"ada@example.com", "ada@home.example"}},
		{testURN + `:shifts[value eq "EARLY"]`, []string{"early", "late"}},
		{testURN + `:shifts[hours gt 7.5]`, []string{"late"}},
		{testURN + `:shifts[hours le 7.5]`, []string{"early"}},
		{testURN + `:shifts[hours eq 8]`, []string{"late"}},
		{testURN + `:shifts[hours ge 8]`, []string{"late"}},
		// 14:00+02:00 is 12:00Z: later than 06:00Z, though it sorts
		// earlier as a string.
		{testURN + `:shifts[start gt "2026-01-05T10:00:00Z"]`, []string{"early"}},
		{testURN + `:shifts[start lt "2026-01-05T10:00:00Z"]`, []string{"late"}},
		{testURN + `:shifts[start sw "2026-01-05T14"]`, []string{"early"}},
	}
	exts := []schema.Schema{schema.ExtensionEnterpriseUser(), testExtension()}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			doc := mustJSON(t, strings.ReplaceAll(directDoc, "{test}", testURN))
			out, _, err := patch.Apply(doc, []scim.PatchOperation{op("remove", c.path, nil)}, schema.CoreUserSchema(), exts...)
			if err != nil {
				t.Fatal(err)
			}
			list, _ := out["emails"].([]any)
			if strings.HasPrefix(c.path, testURN) {
				ext, _ := out[testURN].(map[string]any)
				list, _ = ext["shifts"].([]any)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.(map[string]any)["value"].(string))
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("remaining %v; want %v", got, c.want)
			}
		})
	}
}

// TestApplyCopies checks that the result shares no containers with the
// input document or the operations.
func TestApplyCopies(t *testing.T) {
	doc := mustJSON(t, strings.ReplaceAll(directDoc, "{test}", testURN))
	value := map[string]any{"givenName": "Ada"}
	emails := []any{map[string]any{"value": "x@example.com", "type": "other"}}
	ops := []scim.PatchOperation{op("add", "name", value), op("add", "emails", emails)}
	out, _, err := patch.Apply(doc, ops, schema.CoreUserSchema(), schema.ExtensionEnterpriseUser(), testExtension())
	if err != nil {
		t.Fatal(err)
	}
	want := canonical(t, out)
	value["givenName"] = "changed"
	emails[0].(map[string]any)["value"] = "changed"
	doc["emails"].([]any)[0].(map[string]any)["value"] = "changed"
	doc[testURN].(map[string]any)["level"] = json.Number("0")
	if got := canonical(t, out); got != want {
		t.Errorf("result changed with its inputs:\n got %s\nwant %s", got, want)
	}

	before := canonical(t, doc)
	out["emails"].([]any)[0].(map[string]any)["value"] = "changed again"
	out[testURN].(map[string]any)["tags"].([]any)[0] = "changed"
	if got := canonical(t, doc); got != before {
		t.Errorf("input changed with the result:\n got %s\nwant %s", got, before)
	}
}

// TestApplyErrors checks the error contract: a *ScimError, comparable with
// errors.As, naming the failing operation, and never the library's shared
// predefined value.
func TestApplyErrors(t *testing.T) {
	ops := []scim.PatchOperation{op("replace", "title", "x"), op("replace", "active", "yes")}
	_, changed, err := patch.Apply(map[string]any{"userName": "u"}, ops, schema.CoreUserSchema())
	var se *scimerrors.ScimError
	if !errors.As(err, &se) {
		t.Fatalf("err = %#v; want a *errors.ScimError", err)
	}
	if se.ScimType != scimerrors.ScimTypeInvalidValue || se.Status != 400 || !strings.HasPrefix(se.Detail, "Operations[1]: ") {
		t.Errorf("err = %+v; want a 400 invalidValue naming Operations[1]", *se)
	}
	if changed {
		t.Error("changed = true on error")
	}
	if scimerrors.ScimErrorInvalidValue.Detail != "A required value was missing, or the value specified was not compatible with the operation or attribute type, or resource schema." {
		t.Errorf("the library's predefined error was modified: %q", scimerrors.ScimErrorInvalidValue.Detail)
	}
}

func TestApplyNilDocument(t *testing.T) {
	out, changed, err := patch.Apply(nil, []scim.PatchOperation{op("add", "title", "x")}, schema.CoreUserSchema())
	if err != nil || !changed || out["title"] != "x" {
		t.Errorf("Apply(nil) = %v, %v, %v", out, changed, err)
	}
}
