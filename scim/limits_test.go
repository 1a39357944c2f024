package scim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIndexedValueLimits: userName, externalId and group displayName are
// limited to MaxIndexedLength characters on every backend, before the
// store sees them. A value of ~40 KB answered 500 on the embedded store
// (past bbolt's 32 KiB key limit) and was stored on Redis; now both answer
// 400 with a detail naming the limit, and store nothing.
func TestIndexedValueLimits(t *testing.T) {
	onBackends(t, func(t *testing.T, backend ...serverOpt) {
		srv := newTestServer(t, backend...)
		uid := srv.createUser("okta", "limits@example.com", nil)
		r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Limits"})
		if r.Status != http.StatusCreated {
			t.Fatalf("create group: %d %s", r.Status, r.Body)
		}
		gid := r.JSON(t)["id"].(string)
		long, huge := strings.Repeat("n", MaxIndexedLength+1), strings.Repeat("h", 40000)
		patch := func(ops string) string {
			return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`
		}
		user := func(name string, extra ...any) map[string]any {
			u := map[string]any{"schemas": []string{SchemaUser}, "userName": name}
			for i := 0; i+1 < len(extra); i += 2 {
				u[extra[i].(string)] = extra[i+1]
			}
			return u
		}
		group := func(name string) map[string]any {
			return map[string]any{"schemas": []string{SchemaGroup}, "displayName": name}
		}
		before := snapshot(t, srv)
		for _, tt := range []struct {
			name, method, path string
			body               any
			detail             string
		}{
			{"userName", http.MethodPost, "/Users", user(long), "userName is 257 characters long; at most 256"},
			{"userName 40 KB", http.MethodPost, "/Users", user(huge), "at most 16384"},
			{"externalId", http.MethodPost, "/Users", user("x@example.com", "externalId", long), "externalId is 257 characters long"},
			{"externalId 40 KB", http.MethodPost, "/Users", user("x@example.com", "externalId", huge), "at most 16384"},
			{"displayName", http.MethodPost, "/Groups", group(long), "displayName is 257 characters long"},
			{"displayName 40 KB", http.MethodPost, "/Groups", group(huge), "at most 16384"},
			{"PUT userName", http.MethodPut, "/Users/" + uid, user(long), "userName is 257"},
			{"PATCH userName", http.MethodPatch, "/Users/" + uid, patch(`[{"op":"replace","path":"userName","value":"` + long + `"}]`), "userName is 257"},
			{"PATCH pathless userName", http.MethodPatch, "/Users/" + uid, patch(`[{"op":"replace","value":{"userName":"` + long + `"}}]`), "userName is 257"},
			{"PATCH externalId", http.MethodPatch, "/Users/" + uid, patch(`[{"op":"add","path":"externalId","value":"` + long + `"}]`), "externalId is 257"},
			{"PATCH group rename", http.MethodPatch, "/Groups/" + gid, patch(`[{"op":"replace","path":"displayName","value":"` + long + `"}]`), "displayName is 257"},
		} {
			r := srv.do("okta", tt.method, tt.path, tt.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400: %.200s", tt.name, r.Status, r.Body)
				continue
			}
			if m := r.JSON(t); m["scimType"] != "invalidValue" || !strings.Contains(fmt.Sprint(m["detail"]), tt.detail) {
				t.Errorf("%s: %s, want invalidValue with a detail containing %q", tt.name, r.Body, tt.detail)
			}
		}
		if after := snapshot(t, srv); after != before {
			t.Errorf("refused writes changed the store:\n%s\n%s", before, after)
		}
		exact := strings.Repeat("é", MaxIndexedLength) // 512 bytes: the limit counts characters
		if r := srv.do("okta", http.MethodPost, "/Users", user(exact, "externalId", exact)); r.Status != http.StatusCreated {
			t.Errorf("a userName and externalId of %d characters: %d %.200s", MaxIndexedLength, r.Status, r.Body)
		}
		if r := srv.do("okta", http.MethodPost, "/Groups", group(exact)); r.Status != http.StatusCreated {
			t.Errorf("a displayName of %d characters: %d %.200s", MaxIndexedLength, r.Status, r.Body)
		}
	})
}

// TestBodyLimits: the limits checkBody enforces, each answered 400 with a
// detail that names it.
func TestBodyLimits(t *testing.T) {
	srv := newTestServer(t, func(o *Options) { o.MaxBodyBytes = 1 << 20 })
	uid := srv.createUser("okta", "body@example.com", nil)
	patch := func(ops ...string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
	}
	repeat := func(s string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	emails := func(n int) string {
		var e []string
		for i := range n {
			e = append(e, fmt.Sprintf(`{"value":"e%d@example.com"}`, i))
		}
		return "[" + strings.Join(e, ",") + "]"
	}
	user := func(extra string) string {
		return `{"schemas":["` + SchemaUser + `"],"userName":"u@example.com"` + extra + `}`
	}
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		scimType, detail         string
	}{
		{"operations", "PATCH", "/Users/" + uid, patch(repeat(`{"op":"replace","path":"title","value":"x"}`, MaxOperations+1)...),
			400, "invalidValue", "1001 operations; at most 1000 (maxOperations)"},
		{"operations at the limit", "PATCH", "/Users/" + uid, patch(repeat(`{"op":"replace","path":"title","value":"x"}`, MaxOperations)...), 200, "", ""},
		{"string", "POST", "/Users", user(`,"title":"` + strings.Repeat("t", MaxStringLength+1) + `"`),
			400, "invalidValue", "The string at title is 16385 characters long; at most 16384"},
		{"nested string", "POST", "/Users", user(`,"emails":[{"value":"` + strings.Repeat("t", MaxStringLength+1) + `"}]`),
			400, "invalidValue", "The string at emails[0].value is 16385"},
		{"string at the limit", "POST", "/Users", user(`,"title":"` + strings.Repeat("t", MaxStringLength) + `"`), 201, "", ""},
		{"name", "POST", "/Users", user(`,"` + strings.Repeat("n", MaxStringLength+1) + `":1`), 400, "invalidValue", "16385 characters"},
		{"values", "POST", "/Users", user(`,"emails":` + emails(MaxValues+1)), 400, "invalidValue", "emails would hold 1001 values; at most 1000"},
		{"values by PATCH", "PATCH", "/Users/" + uid, patch(`{"op":"add","path":"emails","value":` + emails(MaxValues+1) + `}`),
			400, "invalidValue", "emails would hold 1001 values"},
		{"nesting", "POST", "/Users", user(`,"title":` + strings.Repeat(`{"a":`, MaxNesting) + `1` + strings.Repeat(`}`, MaxNesting)),
			400, "invalidSyntax", "deeper than 32 levels"},
		{"path length", "PATCH", "/Users/" + uid, patch(`{"op":"replace","path":"` + strings.Repeat("p", MaxPathLength+1) + `","value":"x"}`),
			400, "invalidPath", "Operations[0].path: the path is 4097 bytes long; at most 4096"},
		{"path depth", "PATCH", "/Users/" + uid, patch(`{"op":"remove","path":"emails[` + strings.Repeat("(", 40) + `value eq \"x\"` + strings.Repeat(")", 40) + `]"}`),
			400, "invalidPath", "deeper than 32 levels"},
		{"names in different case", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"a@example.com","USERNAME":"b@example.com"}`,
			400, "invalidSyntax", `"USERNAME" and "userName" name the same attribute`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.do("okta", tt.method, tt.path, tt.body)
			if r.Status != tt.status {
				t.Fatalf("%d, want %d: %.300s", r.Status, tt.status, r.Body)
			}
			if tt.status != 400 {
				return
			}
			if m := r.JSON(t); m["scimType"] != tt.scimType || !strings.Contains(fmt.Sprint(m["detail"]), tt.detail) {
				t.Errorf("%s, want scimType %s and a detail containing %q", r.Body, tt.scimType, tt.detail)
			}
		})
	}
	r := srv.do("okta", http.MethodPost, "/Users", user(`,"title":"`+strings.Repeat("x", 1<<20)+`"`))
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(fmt.Sprint(r.JSON(t)["detail"]), "1048576 bytes (server.max_body_bytes)") {
		t.Errorf("a body over the limit: %d %s", r.Status, r.Body)
	}
}

// TestAttributesParameter: attributes and excludedAttributes are
// deduplicated before they are resolved (one attribute named 20,000 times
// cost 23 s of CPU for a list), and more than MaxAttributeNames distinct
// names is a 400.
func TestAttributesParameter(t *testing.T) {
	srv := newTestServer(t, func(o *Options) { o.MaxBodyBytes = 1 << 20 })
	for i := range 200 {
		srv.createUser("okta", fmt.Sprintf("attr%03d@example.com", i), map[string]any{"title": "t"})
	}
	same := strings.TrimSuffix(strings.Repeat("userName,USERNAME,", 10000), ",")
	start := time.Now()
	r := srv.do("okta", http.MethodGet, "/Users?count=200&attributes="+same, nil)
	took := time.Since(start)
	if r.Status != http.StatusOK {
		t.Fatalf("attributes naming userName 20,000 times: %d %.300s", r.Status, r.Body)
	}
	res := r.JSON(t)["Resources"].([]any)
	if len(res) != 200 || res[0].(map[string]any)["title"] != nil || res[0].(map[string]any)["userName"] == nil {
		t.Errorf("projection of a repeated name: %.300s", r.Body)
	}
	// A hang detector, not a benchmark: before deduplication this list took
	// minutes (200 users × 20,000 names resolved).
	if bound := 5 * time.Second * raceSlowdown; took > bound {
		t.Errorf("took %v", took)
	}
	r = srv.do("okta", http.MethodPost, "/Users/.search", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":200,"attributes":[%s]}`,
		strings.TrimSuffix(strings.Repeat(`"userName",`, 20000), ",")))
	if r.Status != http.StatusOK {
		t.Fatalf(".search with attributes naming userName 20,000 times: %d %.300s", r.Status, r.Body)
	}

	var distinct []string
	for i := range MaxAttributeNames + 1 {
		distinct = append(distinct, fmt.Sprintf("a%d", i))
	}
	for _, path := range []string{
		"/Users?attributes=" + strings.Join(distinct, ","),
		"/Users?excludedAttributes=" + strings.Join(distinct, ","),
		"/Users/" + res[0].(map[string]any)["id"].(string) + "?attributes=" + strings.Join(distinct, ","),
	} {
		r := srv.do("okta", http.MethodGet, path, nil)
		if r.Status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.JSON(t)["detail"]), "more than 200 distinct attributes") {
			t.Errorf("%.60s…: %d %.300s", path, r.Status, r.Body)
		}
	}
	if r := srv.do("okta", http.MethodGet, "/Users?count=1&attributes="+strings.Join(distinct[:MaxAttributeNames], ","), nil); r.Status != http.StatusOK {
		t.Errorf("%d distinct names: %d %.300s", MaxAttributeNames, r.Status, r.Body)
	}
	// A write whose response projection is refused writes nothing.
	before := snapshot(t, srv)
	r = srv.do("okta", http.MethodPost, "/Users?attributes="+strings.Join(distinct, ","), map[string]any{"schemas": []string{SchemaUser}, "userName": "never@example.com"})
	if r.Status != http.StatusBadRequest || snapshot(t, srv) != before {
		t.Errorf("POST with too many attributes: %d %.300s", r.Status, r.Body)
	}
}

func TestServiceProviderConfigAdvertisesLimits(t *testing.T) {
	srv := newTestServer(t)
	m := srv.do("okta", http.MethodGet, "/ServiceProviderConfig", nil).JSON(t)
	if p := m["patch"].(map[string]any); p["supported"] != true || p["maxOperations"] != float64(MaxOperations) {
		t.Errorf("patch = %v", p)
	}
	if f := m["filter"].(map[string]any); f["maxResults"] != float64(MaxResults) {
		t.Errorf("filter = %v", f)
	}
	if b := m["bulk"].(map[string]any); b["supported"] != false {
		t.Errorf("bulk = %v", b)
	}
}
