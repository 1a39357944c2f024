package scim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAuth(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"wrong scheme", "Basic " + testTokens["okta"]},
		{"wrong token", "Bearer nope"},
		{"token prefix", "Bearer " + testTokens["okta"][:5]},
		{"empty bearer", "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.do("nobody", http.MethodGet, "/Users", nil, "Authorization", tt.header)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.Status)
			}
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			body := r.JSON(t)
			if body["status"] != "401" || body["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
				t.Errorf("body = %v", body)
			}
		})
	}
	t.Run("lowercase bearer scheme accepted", func(t *testing.T) {
		r := srv.do("nobody", http.MethodGet, "/Users", nil, "Authorization", "bearer "+testTokens["okta"])
		if r.Status != http.StatusOK {
			t.Fatalf("status %d", r.Status)
		}
	})
}

// A source sees and changes only what it created: everything else is 404.
func TestCrossSourceIsolation(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("okta", "alice@example.com", map[string]any{"externalId": "ext-1"})
	g := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Okta Group"})
	gid := g.JSON(t)["id"].(string)

	patch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}
	put := map[string]any{"schemas": []string{SchemaUser}, "userName": "alice@example.com"}
	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/Users/" + uid, nil},
		{http.MethodPatch, "/Users/" + uid, patch},
		{http.MethodPut, "/Users/" + uid, put},
		{http.MethodDelete, "/Users/" + uid, nil},
		{http.MethodGet, "/Groups/" + gid, nil},
		{http.MethodDelete, "/Groups/" + gid, nil},
	} {
		t.Run(tt.method+tt.path[:7], func(t *testing.T) {
			if r := srv.do("entra", tt.method, tt.path, tt.body); r.Status != http.StatusNotFound {
				t.Fatalf("entra %s %s: %d %s", tt.method, tt.path, r.Status, r.Body)
			}
		})
	}
	for _, filter := range []string{`userName eq "alice@example.com"`, `externalId eq "ext-1"`, `id eq "` + uid + `"`} {
		r := srv.do("entra", http.MethodGet, "/Users?filter="+urlq(filter), nil)
		if n := r.JSON(t)["totalResults"]; n != float64(0) {
			t.Errorf("entra filter %s sees %v okta users", filter, n)
		}
	}
	if n := srv.do("entra", http.MethodGet, "/Users", nil).JSON(t)["totalResults"]; n != float64(0) {
		t.Errorf("entra lists %v okta users", n)
	}
	// Another source may hold the same userName: uniqueness is per source.
	srv.createUser("entra", "ALICE@example.com", nil)
	// And cannot put okta's user in its group.
	r := srv.do("entra", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "x",
		"members": []any{map[string]any{"value": uid}}})
	if r.Status != http.StatusBadRequest || r.JSON(t)["scimType"] != "invalidValue" {
		t.Errorf("cross-source member: %d %s", r.Status, r.Body)
	}
	// Okta's user is untouched.
	if r := srv.do("okta", http.MethodGet, "/Users/"+uid, nil); r.Status != http.StatusOK || r.JSON(t)["meta"].(map[string]any)["version"] != `W/"1"` {
		t.Errorf("okta user changed: %d %s", r.Status, r.Body)
	}
}

func urlq(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "[", "%5B", "]", "%5D", "@", "%40").Replace(s)
}

func TestBodyLimitsAndMediaType(t *testing.T) {
	srv := newTestServer(t)
	big := fmt.Sprintf(`{"schemas":["%s"],"userName":"big","displayName":"%s"}`, SchemaUser, strings.Repeat("x", 70<<10))
	r := srv.do("okta", http.MethodPost, "/Users", big)
	if r.Status != http.StatusRequestEntityTooLarge || r.JSON(t)["status"] != "413" {
		t.Errorf("oversized body: %d %s", r.Status, r.Body)
	}
	r = srv.do("okta", http.MethodPost, "/Users", `{"userName":"x"}`, "Content-Type", "text/plain")
	if r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d %s", r.Status, r.Body)
	}
	r = srv.do("okta", http.MethodPost, "/Users", fmt.Sprintf(`{"schemas":["%s"],"userName":"plainjson"}`, SchemaUser), "Content-Type", "application/json")
	if r.Status != http.StatusCreated {
		t.Errorf("application/json: %d %s", r.Status, r.Body)
	}
}

func TestBadInputIsA4xxWithScimType(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("okta", "bad.input@example.com", nil)
	patchOp := func(ops string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		scimType                 string
	}{
		{"not json", "POST", "/Users", `{"userName":`, 400, "invalidSyntax"},
		{"no schemas", "POST", "/Users", `{"userName":"x"}`, 400, "invalidSyntax"},
		{"no userName", "POST", "/Users", `{"schemas":["` + SchemaUser + `"]}`, 400, "invalidValue"},
		{"blank userName", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"  "}`, 400, "invalidValue"},
		{"wrong type", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"x","active":7}`, 400, "invalidValue"},
		{"bad start date", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"x","` + SchemaTenure + `":{"startDate":"next tuesday"}}`, 400, "invalidValue"},
		{"bad timezone", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"x","timezone":"Mars/Olympus"}`, 400, "invalidValue"},
		{"bad filter", "GET", "/Users?filter=" + urlq(`userName eq`), "", 400, "invalidFilter"},
		{"unknown filter attribute", "GET", "/Users?filter=" + urlq(`usrName eq "x"`), "", 400, "invalidFilter"},
		{"bad sortOrder", "GET", "/Users?sortBy=userName&sortOrder=sideways", "", 400, "invalidValue"},
		{"bad count", "GET", "/Users?count=many", "", 400, ""},
		{"patch no ops", "PATCH", "/Users/" + uid, patchOp(`[]`), 400, "invalidValue"},
		{"patch remove no path", "PATCH", "/Users/" + uid, patchOp(`[{"op":"remove"}]`), 400, "noTarget"},
		{"patch bad op", "PATCH", "/Users/" + uid, patchOp(`[{"op":"move","path":"userName","value":"x"}]`), 400, "invalidValue"},
		{"patch unknown path", "PATCH", "/Users/" + uid, patchOp(`[{"op":"replace","path":"nope","value":"x"}]`), 400, "invalidPath"},
		{"patch remove userName", "PATCH", "/Users/" + uid, patchOp(`[{"op":"remove","path":"userName"}]`), 400, "invalidValue"},
		{"unknown member", "POST", "/Groups", `{"schemas":["` + SchemaGroup + `"],"displayName":"g","members":[{"value":"nope"}]}`, 400, "invalidValue"},
		{"bulk", "POST", "/Bulk", `{}`, 501, ""},
		{"unknown endpoint", "GET", "/Widgets", "", 404, ""},
		{"method not allowed", "DELETE", "/Users", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := srv.do("okta", tt.method, tt.path, body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			m := r.JSON(t)
			if m["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || m["status"] != fmt.Sprint(tt.status) {
				t.Errorf("not a SCIM error: %s", r.Body)
			}
			if tt.scimType != "" && m["scimType"] != tt.scimType {
				t.Errorf("scimType = %v, want %s", m["scimType"], tt.scimType)
			}
		})
	}
}

func TestETags(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("okta", "etag@example.com", nil)
	get := srv.do("okta", http.MethodGet, "/Users/"+uid, nil)
	tag := get.Header.Get("Etag")
	if tag != `W/"1"` {
		t.Fatalf("ETag = %q", tag)
	}
	if r := srv.do("okta", http.MethodGet, "/Users/"+uid, nil, "If-None-Match", tag); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("If-None-Match current: %d %q", r.Status, r.Body)
	}
	if r := srv.do("okta", http.MethodGet, "/Users/"+uid, nil, "If-None-Match", `W/"7"`); r.Status != http.StatusOK {
		t.Errorf("If-None-Match stale: %d", r.Status)
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"E"}]}`
	if r := srv.do("okta", http.MethodPatch, "/Users/"+uid, patch, "If-Match", `W/"9"`); r.Status != http.StatusPreconditionFailed {
		t.Errorf("If-Match stale: %d %s", r.Status, r.Body)
	}
	r := srv.do("okta", http.MethodPatch, "/Users/"+uid, patch, "If-Match", tag)
	if r.Status != http.StatusOK || r.Header.Get("Etag") != `W/"2"` {
		t.Errorf("If-Match current: %d %s %s", r.Status, r.Header.Get("Etag"), r.Body)
	}
	// The same PATCH again changes nothing: no new version.
	if r := srv.do("okta", http.MethodPatch, "/Users/"+uid, patch); r.Header.Get("Etag") != `W/"2"` {
		t.Errorf("no-op PATCH bumped the version: %s", r.Header.Get("Etag"))
	}
	if r := srv.do("okta", http.MethodDelete, "/Users/"+uid, nil, "If-Match", `W/"1"`); r.Status != http.StatusPreconditionFailed {
		t.Errorf("DELETE If-Match stale: %d", r.Status)
	}
	if r := srv.do("okta", http.MethodDelete, "/Users/"+uid, nil, "If-Match", "*"); r.Status != http.StatusNoContent {
		t.Errorf("DELETE If-Match *: %d %s", r.Status, r.Body)
	}
}

func TestListSortProjectSearch(t *testing.T) {
	srv := newTestServer(t)
	for _, u := range []struct{ name, title string }{{"carol", "CTO"}, {"alice", "Engineer"}, {"bob", "Engineer"}} {
		srv.createUser("hr", u.name+"@example.com", map[string]any{"title": u.title,
			"emails": []any{map[string]any{"type": "work", "value": u.name + "@work.example.com"}}})
	}
	names := func(r response) []string {
		var out []string
		for _, res := range r.JSON(t)["Resources"].([]any) {
			out = append(out, res.(map[string]any)["userName"].(string))
		}
		return out
	}
	tests := []struct {
		name, query string
		want        []string
		total       float64
	}{
		{"creation order", "", []string{"carol@example.com", "alice@example.com", "bob@example.com"}, 3},
		{"sort ascending", "sortBy=userName", []string{"alice@example.com", "bob@example.com", "carol@example.com"}, 3},
		{"sort descending", "sortBy=userName&sortOrder=descending", []string{"carol@example.com", "bob@example.com", "alice@example.com"}, 3},
		{"filter scan", "filter=" + urlq(`title eq "engineer"`), []string{"alice@example.com", "bob@example.com"}, 2},
		{"filter or", "filter=" + urlq(`userName eq "bob@example.com" or userName eq "carol@example.com"`), []string{"carol@example.com", "bob@example.com"}, 2},
		{"filter not", "filter=" + urlq(`not (title eq "Engineer")`), []string{"carol@example.com"}, 1},
		{"value path", "filter=" + urlq(`emails[type eq "work" and value sw "ali"]`), []string{"alice@example.com"}, 1},
		{"paging past the end", "startIndex=10&count=5", nil, 3},
		{"count zero", "count=0", nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.do("hr", http.MethodGet, "/Users?"+tt.query, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := names(r); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if got := r.JSON(t)["totalResults"]; got != tt.total {
				t.Errorf("totalResults = %v, want %v", got, tt.total)
			}
		})
	}
	t.Run("attributes", func(t *testing.T) {
		r := srv.do("hr", http.MethodGet, "/Users?attributes=userName&sortBy=userName&count=1", nil)
		res := r.JSON(t)["Resources"].([]any)[0].(map[string]any)
		if res["userName"] != "alice@example.com" || res["id"] == nil || res["title"] != nil || res["emails"] != nil {
			t.Errorf("projection: %v", res)
		}
	})
	t.Run("excludedAttributes", func(t *testing.T) {
		r := srv.do("hr", http.MethodGet, "/Users?excludedAttributes=emails,title&count=1", nil)
		res := r.JSON(t)["Resources"].([]any)[0].(map[string]any)
		if res["userName"] == nil || res["title"] != nil || res["emails"] != nil {
			t.Errorf("projection: %v", res)
		}
	})
	t.Run("POST .search with a value-path filter", func(t *testing.T) {
		r := srv.do("hr", http.MethodPost, "/Users/.search", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
			"filter":     `emails[type eq "work"].value eq "BOB@work.example.com"`,
			"attributes": []string{"userName"},
		})
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if got := names(r); len(got) != 1 || got[0] != "bob@example.com" {
			t.Errorf("got %v", got)
		}
	})
}

func TestServiceProviderConfigAndDiscovery(t *testing.T) {
	srv := newTestServer(t)
	spc := srv.do("okta", http.MethodGet, "/ServiceProviderConfig", nil).JSON(t)
	for _, k := range []string{"patch", "filter", "sort", "etag"} {
		if spc[k].(map[string]any)["supported"] != true {
			t.Errorf("%s not advertised as supported: %v", k, spc[k])
		}
	}
	if spc["authenticationSchemes"].([]any)[0].(map[string]any)["specUri"] != "https://www.rfc-editor.org/rfc/rfc6750" {
		t.Errorf("authenticationSchemes: %v", spc["authenticationSchemes"])
	}
	rt := srv.do("okta", http.MethodGet, "/ResourceTypes", nil).JSON(t)
	if rt["totalResults"] != float64(2) {
		t.Errorf("ResourceTypes: %v", rt)
	}
	r := srv.do("okta", http.MethodGet, "/Schemas/"+SchemaTenure, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "workerId") {
		t.Errorf("tenure schema: %d %s", r.Status, r.Body)
	}
}

// Tokens and passwords must never reach the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	srv := newTestServer(t)
	const password = "Sup3r-S3cret-Passw0rd"
	srv.createUser("okta", "logs@example.com", map[string]any{"password": password})
	srv.do("nobody", http.MethodGet, "/Users", nil, "Authorization", "Bearer wrong-token-value-xyz")
	srv.do("okta", http.MethodGet, "/Users/nope", nil)
	srv.do("okta", http.MethodPost, "/Users", `{"userName": "`+password+`"`) // malformed, echoes nothing
	logs := srv.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("no access log captured:\n%s", logs)
	}
	for name, secret := range map[string]string{"password": password, "bad token": "wrong-token-value-xyz",
		"okta token": testTokens["okta"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
	// And the password is not stored either: reading it back returns nothing.
	r := srv.do("okta", http.MethodGet, "/Users?filter="+urlq(`userName eq "logs@example.com"`), nil)
	if strings.Contains(string(r.Body), password) {
		t.Error("password returned")
	}
}

func TestMetrics(t *testing.T) {
	srv := newTestServer(t)
	srv.createUser("okta", "m@example.com", nil)
	srv.do("okta", http.MethodGet, "/Users/nope", nil)
	n, err := testutil.GatherAndCount(srv.reg, "tenure_scim_requests_total", "tenure_scim_request_duration_seconds")
	if err != nil || n < 3 {
		t.Fatalf("metrics: %d series, %v", n, err)
	}
	want := `
# HELP tenure_scim_requests_total SCIM requests by resource, method and status code.
# TYPE tenure_scim_requests_total counter
tenure_scim_requests_total{method="GET",resource="Users",status="404"} 1
tenure_scim_requests_total{method="POST",resource="Users",status="201"} 1
`
	if err := testutil.GatherAndCompare(srv.reg, strings.NewReader(want), "tenure_scim_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestItemsPerPageIsThePageSize(t *testing.T) {
	srv := newTestServer(t)
	// A value that spells the key, to prove the rewrite only touches the
	// top-level member.
	srv.createUser("hr", "ipp@example.com", map[string]any{"displayName": `"itemsPerPage":5`})
	srv.createUser("hr", "ipp2@example.com", nil)
	for _, tt := range []struct {
		query string
		want  float64
	}{{"", 2}, {"count=1", 1}, {"count=0", 0}, {"startIndex=2", 1}, {"startIndex=9", 0}} {
		r := srv.do("hr", http.MethodGet, "/Users?"+tt.query, nil).JSON(t)
		if r["itemsPerPage"] != tt.want || r["totalResults"] != float64(2) {
			t.Errorf("%q: itemsPerPage %v totalResults %v, want %v and 2", tt.query, r["itemsPerPage"], r["totalResults"], tt.want)
		}
	}
	r := srv.do("hr", http.MethodGet, "/Users?filter="+urlq(`userName eq "ipp@example.com"`), nil).JSON(t)
	if r["Resources"].([]any)[0].(map[string]any)["displayName"] != `"itemsPerPage":5` {
		t.Errorf("resource content rewritten: %v", r["Resources"])
	}
}

// A base URL configured with a trailing slash makes clients ask for
// /scim/v2//Users: served in place, never redirected (a redirected POST
// can lose its body).
func TestRepeatedSlashesServedInPlace(t *testing.T) {
	srv := newTestServer(t)
	r := srv.do("okta", http.MethodPost, "//Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "slash@example.com",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST //Users: status %d", r.Status)
	}
	id, _ := r.JSON(t)["id"].(string)
	for _, path := range []string{"//Users//" + id, "///Users/" + id} {
		if r := srv.do("okta", http.MethodGet, path, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: status %d", path, r.Status)
		}
	}
	if r := srv.do("okta", http.MethodGet, "//Users?filter="+strings.ReplaceAll(`userName eq "slash@example.com"`, " ", "%20"), nil); r.Status != http.StatusOK || r.JSON(t)["totalResults"] != 1.0 {
		t.Errorf("filter through //Users: %d", r.Status)
	}
}

func TestCanonicalPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/scim/v2/Users", "/scim/v2/Users"},
		{"/scim/v2/users", "/scim/v2/Users"},
		{"/scim/v2/USERS/abc", "/scim/v2/Users/abc"},
		{"/scim/v2/groups/", "/scim/v2/Groups"},
		{"/scim/v2/Users/", "/scim/v2/Users"},
		{"/scim/v2/Users//", "/scim/v2/Users"},
		{"/scim/v2/users/ABC/", "/scim/v2/Users/ABC"}, // ids keep their case
		{"/scim/v2/users/.search", "/scim/v2/Users/.search"},
		{"/scim/v2/.SEARCH", "/scim/v2/.search"},
		{"/scim/v2/serviceproviderconfig", "/scim/v2/ServiceProviderConfig"},
		{"/scim/v2/resourcetypes/user", "/scim/v2/ResourceTypes/user"},
		{"/scim/v2/schemas", "/scim/v2/Schemas"},
		{"/scim/v2/bulk", "/scim/v2/Bulk"},
		{"/scim/v2/Userz", "/scim/v2/Userz"},
		{"/scim/v2/", "/scim/v2/"},
		{"/scim/v2", "/scim/v2/"},
		{"//scim//v2///users", "/scim/v2/Users"},
		{"/admin/v1/users/", "/admin/v1/users/"},
	} {
		if got := canonicalPath(c.in); got != c.want {
			t.Errorf("canonicalPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Endpoints in another case and collections with a trailing slash are
// served in place: a write through them lands, nothing is redirected.
func TestLenientRouting(t *testing.T) {
	srv := newTestServer(t)
	r := srv.do("hr", http.MethodPost, "/users/", map[string]any{
		"schemas": []string{SchemaUser}, "userName": "lenient@example.com",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /users/: %d %s", r.Status, r.Body)
	}
	id, _ := r.JSON(t)["id"].(string)
	if loc := r.Header.Get("Location"); !strings.HasSuffix(loc, Prefix+"/Users/"+id) {
		t.Errorf("Location %q: want the canonical /Users/%s", loc, id)
	}
	filter := "filter=" + strings.ReplaceAll(`userName eq "lenient@example.com"`, " ", "%20")
	patch := map[string]any{"schemas": []string{schemaPatchOp},
		"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "Lenient"}}}
	cases := []struct {
		method, path string
		body         any
		want         int
		check        func(map[string]any) bool
	}{
		{http.MethodGet, "/Users/?" + filter, nil, 200, func(m map[string]any) bool { return m["totalResults"] == 1.0 }},
		{http.MethodGet, "/users?" + filter, nil, 200, func(m map[string]any) bool { return m["totalResults"] == 1.0 }},
		{http.MethodGet, "/USERS/" + id + "/", nil, 200, func(m map[string]any) bool { return m["id"] == id }},
		{http.MethodPatch, "/users/" + id, patch, 200, func(m map[string]any) bool { return m["title"] == "Lenient" }},
		{http.MethodPost, "/users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
			"filter": `title eq "Lenient"`}, 200, func(m map[string]any) bool { return m["totalResults"] == 1.0 }},
		{http.MethodPost, "/groups/", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Lenient",
			"members": []any{map[string]any{"value": id}}}, 201, func(m map[string]any) bool { return m["displayName"] == "Lenient" }},
		{http.MethodGet, "/Groups/?filter=" + strings.ReplaceAll(`displayName eq "Lenient"`, " ", "%20"), nil, 200,
			func(m map[string]any) bool { return m["totalResults"] == 1.0 }},
		{http.MethodGet, "/serviceproviderconfig", nil, 200, func(m map[string]any) bool { return m["patch"] != nil }},
		{http.MethodGet, "/resourcetypes/", nil, 200, func(m map[string]any) bool { return m["totalResults"] == 2.0 }},
		{http.MethodGet, "/Userz", nil, 404, nil},
		{http.MethodDelete, "/users/" + id + "/", nil, 204, nil},
		{http.MethodGet, "/Users/" + id, nil, 404, nil},
	}
	for _, c := range cases {
		r := srv.do("hr", c.method, c.path, c.body)
		if r.Status != c.want {
			t.Errorf("%s %s: %d %s; want %d", c.method, c.path, r.Status, r.Body, c.want)
			continue
		}
		if c.check != nil && !c.check(r.JSON(t)) {
			t.Errorf("%s %s: unexpected body %s", c.method, c.path, r.Body)
		}
	}
}
