package patch_test

import (
	"encoding/json"
	"fmt"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenurehq/tenure/scim/patch"
)

// Entra ID replaces a work e-mail the user does not have yet and renames
// them with a pathless dotted key; the library hands both over as parsed.
// Creating the missing e-mail is a deviation from RFC 7644 that a caller
// switches on for Entra (Options.CreateOnFilteredReplace).
func ExampleApply() {
	doc := map[string]any{
		"userName": "bob@example.com",
		"name":     map[string]any{"givenName": "Bob", "familyName": "Babbage"},
	}
	path, _ := filter.ParsePath([]byte(`emails[type eq "work"].value`))
	ops := []scim.PatchOperation{
		{Op: "replace", Path: &path, Value: "bob@example.com"},
		{Op: "replace", Value: map[string]any{"name.givenName": "Robert"}},
	}
	out, changed, err := patch.Options{CreateOnFilteredReplace: true}.Apply(doc, ops, schema.CoreUserSchema(), schema.ExtensionEnterpriseUser())
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b), changed)
	// Output: {"emails":[{"type":"work","value":"bob@example.com"}],"name":{"familyName":"Babbage","givenName":"Robert"},"userName":"bob@example.com"} true
}
