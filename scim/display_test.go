package scim

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// Group members carry display (RFC 7643 §4.2): the member's current
// userName or displayName, on GET, list and root search, following
// renames; on both backends.
func TestMemberDisplay(t *testing.T) {
	onBackends(t, func(t *testing.T, opts ...serverOpt) {
		srv := newTestServer(t, opts...)
		ada := srv.createUser("okta", "ada@example.com", nil)
		bob := srv.createUser("okta", "bob@example.com", nil)
		group := func(name string, members ...map[string]any) string {
			t.Helper()
			list := []any{}
			for _, m := range members {
				list = append(list, m)
			}
			r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": name, "members": list})
			if r.Status != http.StatusCreated {
				t.Fatalf("create group %s: %d %s", name, r.Status, r.Body)
			}
			return r.JSON(t)["id"].(string)
		}
		sub := group("Sub", map[string]any{"value": bob})
		eng := group("Eng", map[string]any{"value": ada, "display": "what Okta sent"}, map[string]any{"value": bob}, map[string]any{"value": sub})
		patch := func(path, attr, value string) {
			t.Helper()
			r := srv.do("okta", http.MethodPatch, path, map[string]any{"schemas": []string{schemaPatchOp},
				"Operations": []any{map[string]any{"op": "replace", "path": attr, "value": value}}})
			if r.Status/100 != 2 {
				t.Fatalf("PATCH %s %s: %d %s", path, attr, r.Status, r.Body)
			}
		}
		// displays reads the members' display of eng from a response.
		displays := func(m map[string]any) string {
			ms, _ := m["members"].([]any)
			out := ""
			for _, e := range ms {
				e := e.(map[string]any)
				who := map[string]string{ada: "ada", bob: "bob", sub: "sub"}[e["value"].(string)]
				out += fmt.Sprintf("%s=%v ", who, e["display"])
			}
			return out
		}
		first := func(m map[string]any) map[string]any {
			res, _ := m["Resources"].([]any)
			if len(res) != 1 {
				t.Fatalf("want one resource: %v", m)
			}
			return res[0].(map[string]any)
		}
		reads := []struct {
			name string
			path string
			pick func(map[string]any) map[string]any
		}{
			{"GET", "/Groups/" + eng, func(m map[string]any) map[string]any { return m }},
			{"list", "/Groups?filter=" + url.QueryEscape(`displayName eq "Eng"`), first},
			{"list, sorted", "/Groups?sortBy=displayName&filter=" + url.QueryEscape(`displayName sw "E"`), first},
			{"root search", "/?filter=" + url.QueryEscape(`displayName eq "Eng"`), first},
			{"attributes=members.display", "/Groups/" + eng + "?attributes=members.display,members.value", func(m map[string]any) map[string]any { return m }},
		}
		check := func(when, want string) {
			t.Helper()
			for _, rd := range reads {
				r := srv.do("okta", http.MethodGet, rd.path, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("%s, %s: %d %s", when, rd.name, r.Status, r.Body)
				}
				if got := displays(rd.pick(r.JSON(t))); got != want {
					t.Errorf("%s, %s: %s, want %s", when, rd.name, got, want)
				}
			}
		}
		check("created", "ada=ada@example.com bob=bob@example.com sub=Sub ")
		patch("/Users/"+ada, "userName", "augusta@example.com")
		patch("/Groups/"+sub, "displayName", "Subgroup")
		check("renamed", "ada=augusta@example.com bob=bob@example.com sub=Subgroup ")
		r := srv.do("okta", http.MethodPut, "/Users/"+bob, map[string]any{"schemas": []string{SchemaUser}, "userName": "Robert@example.com"})
		if r.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
		check("renamed by PUT", "ada=augusta@example.com bob=Robert@example.com sub=Subgroup ")
		// Entra's excludedAttributes=members reads no member at all.
		r = srv.do("okta", http.MethodGet, "/Groups/"+eng+"?excludedAttributes=members", nil)
		if r.Status != http.StatusOK || r.JSON(t)["members"] != nil {
			t.Errorf("excludedAttributes=members: %d %s", r.Status, r.Body)
		}
	})
}
