package scim

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/store/boltdb"
)

// FuzzRequest drives the whole SCIM handler (auth, body handling, quirk
// rewriting, the library, filters, PATCH, the store) with arbitrary methods,
// paths, queries and bodies. No input may produce a 5xx or a panic, and no
// successful answer may show a userName that checkUserName refuses (every
// user here was written through the SCIM API).
func FuzzRequest(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"GET", "/Users?filter=userName%20eq%20%22a%22&startIndex=1&count=100", ""},
		{"GET", "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22x%22", ""},
		{"GET", "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22G%22", ""},
		{"GET", "/Users?sortBy=name.familyName&sortOrder=descending&attributes=userName,emails", ""},
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"f@x","password":"p","groups":[],"active":"False"}`},
		{"POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"G","members":[{"value":"seed-user"}]}`},
		{"PATCH", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"name.givenName":"N","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"m"}}]}`},
		{"PATCH", "/Groups/seed-group", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"seed-user"}]},{"op":"add","path":"members","value":[{"value":"seed-user"}]}]}`},
		{"PUT", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"seed@x","emails":[{"value":"a","primary":true},{"value":"b","primary":true}]}`},
		{"POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"not (active eq true)","count":-3}`},
		{"DELETE", "/Groups/seed-group", ""},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:extension:tenure:2.0:User", ""},
		// userNames checkUserName refuses, on every path that sets one.
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"zw\u200bsp@x"}`},
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ｆｕｌｌ@x"}`},
		{"POST", "/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"bad\xff\\ud800\"}"},
		{"PUT", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":" seed@x\t"}`},
		{"PUT", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Jose\u0301 M\u00fcller"}`},
		{"PATCH", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"userName":"\ufeffseed@x","active":true}}]}`},
		{"PATCH", "/Users/seed-user", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:userName","value":"seed\u202e@x"}]}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, []byte(s.body))
	}
	st, err := boltdb.Open(filepath.Join(f.TempDir(), "fuzz.db"), boltdb.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ids := []string{"seed-user", "seed-group"}
	n := 0
	srv, err := New(Options{Store: st, Sources: []Source{{Name: "fuzz", Token: "t"}}, Logger: slog.New(slog.DiscardHandler),
		MaxBodyBytes: 1 << 16,
		NewID: func() string {
			if n < len(ids) {
				n++
				return ids[n-1]
			}
			return newUUID()
		}})
	if err != nil {
		f.Fatal(err)
	}
	serve := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req, err := http.NewRequest(method, "http://tenure"+Prefix+path, bytes.NewReader(body))
		if err != nil {
			return nil
		}
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/scim+json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	serve("POST", "/Users", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"seed@x"}`))
	serve("POST", "/Groups", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"seed"}`))

	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		rec := serve(method, path, body)
		if rec == nil {
			return // not a valid URL; net/http would never deliver it
		}
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code/100 == 2 {
			for _, name := range userNames(rec.Body.Bytes()) {
				if err := checkUserName(name); err != nil {
					t.Fatalf("%s %s %q: %d with userName %q: %v", method, path, body, rec.Code, name, err)
				}
			}
		}
	})
}

// userNames returns the userNames in a user or list response.
func userNames(body []byte) []string {
	var m struct {
		UserName  any `json:"userName"`
		Resources []struct {
			UserName any `json:"userName"`
		} `json:"Resources"`
	}
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var out []string
	if s, ok := m.UserName.(string); ok {
		out = append(out, s)
	}
	for _, r := range m.Resources {
		if s, ok := r.UserName.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
