package scim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/store"
)

// timezone and addresses[].country are checked alike: on every write that
// sets or changes them, with a detail naming the attribute; a missing
// required attribute is named too.
func TestValidationEvenHanded(t *testing.T) {
	srv := newTestServer(t)
	id := srv.createUser("okta", "valid@example.com", map[string]any{
		"timezone": "Europe/Berlin", "addresses": []any{map[string]any{"type": "work", "country": "DE"}}})
	user := func(extra string) string {
		return `{"schemas":["` + SchemaUser + `"],"userName":"v@example.com"` + extra + `}`
	}
	patch := func(op string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + op + `]}`
	}
	cases := []struct {
		name, method, path, body string
		want                     int
		detail                   string // a substring of the error detail
	}{
		{"valid timezone and country", "POST", "/Users", user(`,"timezone":"America/New_York","addresses":[{"country":"US"},{"locality":"x"}]`), 201, ""},
		{"reserved country code directories use", "POST", "/Users", user(`,"userName":"uk@example.com","addresses":[{"country":"UK"}]`), 201, ""},
		{"unknown timezone", "POST", "/Users", user(`,"timezone":"Mars/Olympus"`), 400, `timezone "Mars/Olympus" is not an IANA time zone name`},
		{"server-local timezone", "POST", "/Users", user(`,"timezone":"Local"`), 400, `timezone "Local"`},
		{"country name", "POST", "/Users", user(`,"addresses":[{"country":"Germany"}]`), 400, `addresses[0].country "Germany" is not an ISO 3166-1 alpha-2 country code`},
		{"alpha-3 code", "POST", "/Users", user(`,"addresses":[{"country":"US"},{"country":"DEU"}]`), 400, `addresses[1].country "DEU"`},
		{"lower case code", "POST", "/Users", user(`,"addresses":[{"country":"de"}]`), 400, `send \"DE\"`},
		{"unassigned code", "POST", "/Users", user(`,"addresses":[{"country":"ZZ"}]`), 400, `addresses[0].country "ZZ"`},
		{"PUT with an unknown timezone", "PUT", "/Users/" + id, `{"schemas":["` + SchemaUser + `"],"userName":"valid@example.com","timezone":"Berlin"}`, 400, `timezone "Berlin"`},
		{"PUT with a country name", "PUT", "/Users/" + id, `{"schemas":["` + SchemaUser + `"],"userName":"valid@example.com","addresses":[{"country":"France"}]}`, 400, `addresses[0].country "France"`},
		{"PATCH of the timezone", "PATCH", "/Users/" + id, patch(`{"op":"replace","path":"timezone","value":"CET+1"}`), 400, `timezone "CET+1"`},
		{"PATCH of a country", "PATCH", "/Users/" + id, patch(`{"op":"replace","path":"addresses[type eq \"work\"].country","value":"Deutschland"}`), 400, `addresses[0].country "Deutschland"`},
		{"PATCH to valid values", "PATCH", "/Users/" + id, patch(`{"op":"replace","value":{"timezone":"Asia/Tokyo","addresses[type eq \"work\"].country":"JP"}}`), 200, ""},
		{"POST without userName", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"title":"x"}`, 400, "userName is required"},
		{"POST with a null userName", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"USERNAME":null}`, 400, "userName is required"},
		{"PUT without userName", "PUT", "/Users/" + id, `{"schemas":["` + SchemaUser + `"],"title":"x"}`, 400, "userName is required"},
		{"userName not a string", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":5}`, 400, "userName must be a string, not a number"},
		{"group without displayName", "POST", "/Groups", `{"schemas":["` + SchemaGroup + `"],"members":[]}`, 400, "displayName is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := srv.do("okta", c.method, c.path, []byte(c.body))
			if r.Status != c.want {
				t.Fatalf("%d %s; want %d", r.Status, r.Body, c.want)
			}
			if c.detail == "" {
				return
			}
			m := r.JSON(t)
			if m["scimType"] != "invalidValue" || !strings.Contains(m["detail"].(string), strings.ReplaceAll(c.detail, `\"`, `"`)) {
				t.Errorf("error %s; want invalidValue with a detail containing %s", r.Body, c.detail)
			}
		})
	}
}

// A user stored before the checks (written straight into the store) with
// values they refuse keeps working until a write changes those values.
func TestUserValuesGrandfathered(t *testing.T) {
	var st store.Store
	srv := newTestServer(t, func(o *Options) { st = o.Store })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Create(&store.Resource{Kind: store.KindUser, ID: "legacy", Source: "okta", Name: "legacy@example.com",
			Attributes: map[string]any{"userName": "legacy@example.com", "timezone": "Mars/Olympus",
				"addresses": []any{map[string]any{"type": "work", "country": "Germany"}}}, Created: now, Modified: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	ops := func(op string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + op + `]}`)
	}
	if r := srv.do("okta", http.MethodPatch, "/Users/legacy", ops(`{"op":"replace","value":{"active":false}}`)); r.Status != http.StatusOK {
		t.Errorf("PATCH of another attribute: %d %s", r.Status, r.Body)
	}
	if r := srv.do("okta", http.MethodPatch, "/Users/legacy", ops(`{"op":"add","path":"addresses","value":[{"type":"home","country":"Narnia"}]}`)); r.Status != http.StatusBadRequest {
		t.Errorf("PATCH adding a bad country: %d %s; want 400", r.Status, r.Body)
	}
	if r := srv.do("okta", http.MethodPatch, "/Users/legacy", ops(`{"op":"replace","path":"timezone","value":"Europe/Paris"}`)); r.Status != http.StatusOK {
		t.Errorf("PATCH to a valid timezone: %d %s", r.Status, r.Body)
	}
}
