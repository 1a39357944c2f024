package console

import (
	"strings"
	"testing"
)

func TestCompileRoles(t *testing.T) {
	for _, c := range []struct {
		name  string
		exprs RoleExprs
		err   string // "" for none; else each substring must appear
	}{
		{"all three", RoleExprs{Admin: `"admins" in person.groups`, Approver: `person.state == "active"`, Auditor: `claims.email.endsWith("@example.com")`}, ""},
		{"one", RoleExprs{Auditor: "true"}, ""},
		{"docs example, optional claim", RoleExprs{Auditor: `claims.?groups.orValue([]).exists(g, g == "Security Audit")`}, ""},
		{"syntax", RoleExprs{Admin: `person.groups.exists(g, g ==`}, `console.roles.admin: "person.groups.exists(g, g =="`},
		{"not bool", RoleExprs{Approver: `person.userName`}, ""},
		{"string literal", RoleExprs{Approver: `"yes"`}, "console.roles.approver: \"\\\"yes\\\"\": result type string is not bool"},
		{"unknown variable", RoleExprs{Auditor: `user.userName == "x"`}, "console.roles.auditor"},
		{"two at once", RoleExprs{Admin: `1`, Auditor: `nope`}, "console.roles.admin|console.roles.auditor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := CompileRoles(c.exprs)
			if c.err == "" {
				if err != nil || rs == nil {
					t.Fatalf("CompileRoles: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CompileRoles: no error; want %q", c.err)
			}
			for _, want := range strings.Split(c.err, "|") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestRolesOf(t *testing.T) {
	rs, err := CompileRoles(RoleExprs{
		Admin:    `"tenure-admins" in person.groups`,
		Approver: `person.state == "active"`,
		Auditor:  `claims.groups.exists(g, g == "audit")`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		person map[string]any
		claims map[string]any
		want   string
	}{
		{"admin and approver", map[string]any{"groups": []string{"tenure-admins"}, "state": "active"}, map[string]any{}, "admin,approver"},
		{"auditor by claim", map[string]any{"groups": []string{}, "state": "terminated"}, map[string]any{"groups": []any{"audit"}}, "auditor"},
		// A claim that is absent fails its expression: no role, not an error.
		{"absent claim", map[string]any{"groups": []string{}, "state": "terminated"}, map[string]any{}, ""},
		{"leaver keeps no approver role", map[string]any{"groups": []string{}, "state": "terminated"}, map[string]any{"groups": []any{}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := roleNames(rs.Of(c.person, c.claims)); got != c.want {
				t.Errorf("roles %q; want %q", got, c.want)
			}
		})
	}
}

func TestSigninReturn(t *testing.T) {
	c := &Console{path: "/console"}
	for in, want := range map[string]string{
		"":                          "/console/",
		"/console/people?q=bob":     "/console/people?q=bob",
		"https://evil.example/":     "/console/",
		"//evil.example/console/":   "/console/",
		"/consolex/":                "/console/",
		"/console/\\evil":           "/console/",
		"/console/people\r\nX-A: b": "/console/",
	} {
		if got := c.signinReturn(in); got != want {
			t.Errorf("signinReturn(%q) = %q; want %q", in, got, want)
		}
	}
}
