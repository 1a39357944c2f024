package query

import (
	"errors"
	"strings"
	"testing"
)

// CompileEach evaluates an attribute a type lacks as absent there, and
// refuses only an attribute no type has.
func TestCompileEach(t *testing.T) {
	us, ue := userSchemas()
	gs, ge := groupSchemas()
	types := []Schemas{{Core: us, Exts: ue}, {Core: gs, Exts: ge}}
	user := map[string]any{"userName": "ada@example.com", "displayName": "Ada", "active": true}
	group := map[string]any{"displayName": "Admins", "members": []any{map[string]any{"value": "u1"}}}
	cases := []struct {
		filter     string
		user, grp  bool
		unknownErr string // non-empty: the error names this
	}{
		{filter: `displayName sw "A"`, user: true, grp: true},
		{filter: `userName sw "a"`, user: true},
		{filter: `members[value eq "u1"]`, grp: true},
		{filter: `members[value eq "u1"] or userName sw "a"`, user: true, grp: true},
		{filter: `members pr and displayName pr`, grp: true},
		{filter: `not (userName pr)`, grp: true},
		{filter: `active eq true or members.value eq "u1"`, user: true, grp: true},
		{filter: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr or displayName eq "Admins"`, grp: true},
		{filter: `shoeSize eq "9"`, unknownErr: `unknown attribute "shoeSize"`},
		{filter: `userName pr or shoeSize pr`, unknownErr: `unknown attribute "shoeSize"`},
		{filter: `emails[typo eq "x"] or members pr`, unknownErr: `unknown attribute "emails.typo"`},
		{filter: `urn:example:nope:2.0:User:x pr`, unknownErr: `unknown`},
		{filter: `EMAILS[TYPO eq "x"] or members pr`, unknownErr: `unknown attribute "emails.TYPO"`},
		{filter: `userName eq`, unknownErr: `syntax error`},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			fs, err := CompileEach(c.filter, types...)
			if c.unknownErr != "" {
				if !errors.Is(err, ErrInvalidFilter) || !strings.Contains(err.Error(), c.unknownErr) {
					t.Fatalf("err = %v; want ErrInvalidFilter naming %s", err, c.unknownErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fs[0].Match(user); got != c.user {
				t.Errorf("user: %v, want %v", got, c.user)
			}
			if got := fs[1].Match(group); got != c.grp {
				t.Errorf("group: %v, want %v", got, c.grp)
			}
		})
	}
}
