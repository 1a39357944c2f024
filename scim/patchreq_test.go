package scim

import (
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scim2/filter-parser/v2"
)

// TestParsePathAsFilterParser: every path parsePath's fast path takes is
// parsed into exactly the tree filter-parser builds, for the shapes
// clients send and for random strings built of their pieces.
func TestParsePathAsFilterParser(t *testing.T) {
	check := func(p string) bool {
		t.Helper()
		fast, err := simplePath(p)
		if err != nil {
			return false
		}
		want, err := filter.ParsePath([]byte(p))
		if err != nil {
			t.Errorf("%q: the fast path took it, filter-parser refuses it: %v", p, err)
			return true
		}
		if !reflect.DeepEqual(fast, want) {
			t.Errorf("%q:\nfast          %#v %#v\nfilter-parser %#v %#v", p, fast, fast.ValueExpression, want, want.ValueExpression)
		}
		return true
	}
	for _, p := range []string{
		"userName", "name.givenName", "emails", "active", "externalId",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		"urn:ietf:params:scim:schemas:core:2.0:User:userName",
		`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
		`emails[type eq "work"].value`, `emails[Type EQ "work"].Value`, `emails[value pr]`,
		`addresses[type eq "work"].locality`, `phoneNumbers[type eq "mobile"].value`,
		`emails[value co "@example.com"].display`, `emails[value sw "a"]`, `x-y_z[a-b le "é"]`,
	} {
		if !check(p) {
			t.Errorf("%q: not taken by the fast path", p)
		}
	}
	pieces := []string{"emails", "name", "value", "type", "x", "A1", "-", "_", "$ref", "2",
		"urn:", "urn:ietf:params:scim:schemas:core:2.0:User:", "URN:a:", ":", ".", "[", "]", " ", "  ",
		"eq", "EQ", "pr", "co", "and", "not", `"`, `"a"`, `"a b"`, `"]"`, `\"`, "é", "(", ")", "1", "true"}
	r := rand.New(rand.NewPCG(15, 15))
	taken := 0
	for range 50000 {
		var b strings.Builder
		for range 1 + r.IntN(9) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if check(b.String()) {
			taken++
		}
	}
	if taken < 500 {
		t.Errorf("only %d random paths took the fast path", taken)
	}
}

// TestPatchRequestAnswers: malformed PatchOp requests get the answers the
// library gave them.
func TestPatchRequestAnswers(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("okta", "patchreq@example.com", nil)
	for _, tt := range []struct {
		body     string
		scimType string
	}{
		{`[]`, "invalidSyntax"},
		{`{"schemas":"` + schemaPatchOp + `","Operations":[]}`, "invalidSyntax"},
		{`{"schemas":[1],"Operations":[]}`, "invalidSyntax"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":{}}`, "invalidSyntax"},
		{`{"schemas":["` + SchemaUser + `"],"Operations":[{"op":"add","path":"title","value":"x"}]}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `","x"],"Operations":[{"op":"add","path":"title","value":"x"}]}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `"]}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":null}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":["add"]}`, "invalidPath"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":1,"path":"title","value":"x"}]}`, "invalidPath"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"add","path":7,"value":"x"}]}`, "invalidPath"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"add","path":"emails[","value":"x"}]}`, "invalidPath"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"copy","path":"title","value":"x"}]}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"add","path":"title"}]}`, "invalidValue"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"remove"}]}`, "noTarget"},
		{`{"schemas":["` + schemaPatchOp + `"],"Operations":[{"op":"replace","path":"nope","value":"x"}]}`, "invalidPath"},
	} {
		r := srv.do("okta", http.MethodPatch, "/Users/"+uid, tt.body)
		if m := r.JSON(t); r.Status != http.StatusBadRequest || m["scimType"] != tt.scimType {
			t.Errorf("%s: %d %s, want 400 %s", tt.body, r.Status, r.Body, tt.scimType)
		}
	}
	r := srv.do("okta", http.MethodPatch, "/Users/"+uid,
		`{"schemas":["`+schemaPatchOp+`"],"Operations":[{"op":"Replace","path":"title","value":"Boss"}]}`)
	m := r.JSON(t)
	if r.Status != http.StatusOK || m["title"] != "Boss" || r.Header.Get("Etag") != `W/"2"` || r.Header.Get("Content-Type") != "application/scim+json" ||
		m["meta"].(map[string]any)["location"] != srv.URL+Prefix+"/Users/"+uid || m["schemas"].([]any)[0] != SchemaUser {
		t.Errorf("PATCH: %d %v %s", r.Status, r.Header, r.Body)
	}
}
