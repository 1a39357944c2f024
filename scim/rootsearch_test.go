package scim

import (
	"net/http"
	"net/url"
	"testing"
)

// Root search: GET /?filter= and POST /.search answer alike, across Users
// and Groups, with schemas and meta.resourceType in every result.
func TestRootSearch(t *testing.T) {
	srv := newTestServer(t)
	ada := srv.createUser("okta", "ada@example.com", map[string]any{"displayName": "Ada"})
	bob := srv.createUser("okta", "bob@example.com", map[string]any{"displayName": "Bob"})
	srv.createUser("entra", "eve@example.com", nil) // another source's: never found
	r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Admins",
		"members": []any{map[string]any{"value": ada}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create group: %d %s", r.Status, r.Body)
	}
	admins := r.JSON(t)["id"].(string)

	cases := []struct {
		name  string
		query url.Values     // GET /?…
		body  map[string]any // the same as a SearchRequest
		want  int
		ids   []string // the Resources' ids, in order
		total float64
	}{
		{name: "everything: users, then groups", query: url.Values{},
			body: map[string]any{}, want: 200, ids: []string{ada, bob, admins}, total: 3},
		{name: "a filter on displayName finds users and groups", query: url.Values{"filter": {`displayName sw "A"`}},
			body: map[string]any{"filter": `displayName sw "A"`}, want: 200, ids: []string{ada, admins}, total: 2},
		{name: "a filter on userName finds only users", query: url.Values{"filter": {`userName eq "bob@example.com"`}},
			body: map[string]any{"filter": `userName eq "bob@example.com"`}, want: 200, ids: []string{bob}, total: 1},
		{name: "a filter on members finds only groups", query: url.Values{"filter": {`members[value eq "` + ada + `"]`}},
			body: map[string]any{"filter": `members[value eq "` + ada + `"]`}, want: 200, ids: []string{admins}, total: 1},
		{name: "attributes of either type, or-ed: each type absent where it lacks one",
			query: url.Values{"filter": {`members[value eq "` + ada + `"] or userName eq "bob@example.com"`}},
			body:  map[string]any{"filter": `members[value eq "` + ada + `"] or userName eq "bob@example.com"`}, want: 200, ids: []string{bob, admins}, total: 2},
		{name: "meta.resourceType", query: url.Values{"filter": {`meta.resourceType eq "Group"`}},
			body: map[string]any{"filter": `meta.resourceType eq "Group"`}, want: 200, ids: []string{admins}, total: 1},
		{name: "sorted across types, descending", query: url.Values{"sortBy": {"displayName"}, "sortOrder": {"descending"}},
			body: map[string]any{"sortBy": "displayName", "sortOrder": "descending"}, want: 200, ids: []string{bob, admins, ada}, total: 3},
		{name: "sorted by an attribute of users only: groups last", query: url.Values{"sortBy": {"userName"}, "sortOrder": {"descending"}},
			body: map[string]any{"sortBy": "userName", "sortOrder": "descending"}, want: 200, ids: []string{admins, bob, ada}, total: 3},
		{name: "paged across the types", query: url.Values{"startIndex": {"2"}, "count": {"2"}},
			body: map[string]any{"startIndex": 2, "count": 2}, want: 200, ids: []string{bob, admins}, total: 3},
		{name: "count 0", query: url.Values{"count": {"0"}},
			body: map[string]any{"count": 0}, want: 200, ids: []string{}, total: 3},
		{name: "past the end", query: url.Values{"startIndex": {"9"}},
			body: map[string]any{"startIndex": 9}, want: 200, ids: []string{}, total: 3},
		{name: "an attribute no type has", query: url.Values{"filter": {`shoeSize eq "9"`}},
			body: map[string]any{"filter": `shoeSize eq "9"`}, want: 400},
		{name: "a filter that does not parse", query: url.Values{"filter": {`userName eq`}},
			body: map[string]any{"filter": `userName eq`}, want: 400},
		{name: "sortBy no type has", query: url.Values{"sortBy": {"shoeSize"}},
			body: map[string]any{"sortBy": "shoeSize"}, want: 400},
		{name: "bad sortOrder", query: url.Values{"sortOrder": {"sideways"}},
			body: map[string]any{"sortOrder": "sideways"}, want: 400},
	}
	for _, c := range cases {
		c.body["schemas"] = []string{schemaSearchRequest}
		for _, how := range []string{"GET", "POST"} {
			t.Run(c.name+"/"+how, func(t *testing.T) {
				var r response
				if how == "GET" {
					r = srv.do("okta", http.MethodGet, "/?"+c.query.Encode(), nil)
				} else {
					r = srv.do("okta", http.MethodPost, "/.search", c.body)
				}
				if r.Status != c.want {
					t.Fatalf("%d %s; want %d", r.Status, r.Body, c.want)
				}
				m := r.JSON(t)
				if c.want != 200 {
					if m["scimType"] == nil {
						t.Errorf("error without scimType: %s", r.Body)
					}
					return
				}
				if m["totalResults"] != c.total {
					t.Errorf("totalResults %v, want %v", m["totalResults"], c.total)
				}
				res, _ := m["Resources"].([]any)
				var ids []string
				for _, e := range res {
					e := e.(map[string]any)
					ids = append(ids, e["id"].(string))
					schemas, _ := e["schemas"].([]any)
					meta, _ := e["meta"].(map[string]any)
					want := SchemaUser
					if meta["resourceType"] == "Group" {
						want = SchemaGroup
					}
					if len(schemas) == 0 || schemas[0] != want || meta["location"] == nil {
						t.Errorf("result %v: schemas %v, meta %v", e["id"], schemas, meta)
					}
				}
				if len(ids) != len(c.ids) || m["itemsPerPage"] != float64(len(c.ids)) {
					t.Fatalf("ids %v (itemsPerPage %v), want %v", ids, m["itemsPerPage"], c.ids)
				}
				for i := range ids {
					if ids[i] != c.ids[i] {
						t.Fatalf("ids %v, want %v", ids, c.ids)
					}
				}
			})
		}
	}
	// Projection applies per type; a user's groups come from the index.
	r = srv.do("okta", http.MethodGet, "/?attributes=userName,displayName,groups&filter="+url.QueryEscape(`displayName eq "Ada"`), nil)
	if r.Status != 200 {
		t.Fatalf("projection: %d %s", r.Status, r.Body)
	}
	u := r.JSON(t)["Resources"].([]any)[0].(map[string]any)
	if u["userName"] != "ada@example.com" || u["groups"] == nil || u["title"] != nil {
		t.Errorf("projected user: %v", u)
	}
	if r := srv.do("okta", http.MethodPut, "/.search", map[string]any{}); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("PUT /.search: %d", r.Status)
	}
}
