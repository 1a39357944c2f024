package scim

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/store"
)

// userNameCases are the names the issue lists (and their neighbours), with
// the part of the 400's detail that says what is wrong; "" means accepted.
var userNameCases = []struct {
	name, userName, want string
}{
	// Accepted: inner spaces, non-ASCII letters (NFC), e-mail shapes.
	{"ascii e-mail", "ada@example.com", ""},
	{"inner space and umlauts", "José Müller", ""},
	{"inner spaces in an e-mail local part", "jose mueller@example.com", ""},
	{"sharp s", "straße@example.de", ""},
	{"greek", "Σωκράτης", ""},
	{"cjk", "山田太郎", ""},
	{"hangul syllables", "김민준", ""},
	{"devanagari with nukta, composed as NFC has it", "\u091c\u093c\u0947\u0921", ""},
	{"arabic", "محمد", ""},
	{"emoji", "ada🚀", ""},
	{"dotted capital I", "İlker", ""},
	{"single character", "a", ""},

	{"empty", "", "userName is required"},
	{"leading space", " ada@example.com", "userName must not begin or end with whitespace (it begins with U+0020)"},
	{"trailing space", "ada@example.com ", "userName must not begin or end with whitespace (it ends with U+0020)"},
	{"trailing tab", "ada@example.com\t", "userName must not begin or end with whitespace (it ends with U+0009)"},
	{"trailing newline", "ada@example.com\n", "userName must not begin or end with whitespace (it ends with U+000A)"},
	{"leading no-break space", "\u00a0ada", "userName must not begin or end with whitespace (it begins with U+00A0)"},
	{"trailing ideographic space", "ada\u3000", "userName must not begin or end with whitespace (it ends with U+3000)"},
	{"only spaces", "   ", "userName must not begin or end with whitespace"},
	{"NUL", "ada\x00@example.com", "userName contains the control character U+0000 (Unicode category Cc)"},
	{"inner newline", "ada\nsmith", "userName contains the control character U+000A (Unicode category Cc)"},
	{"inner tab", "ada\tsmith", "userName contains the control character U+0009"},
	{"DEL", "ada\x7f", "userName contains the control character U+007F"},
	{"C1 control", "ada\u0085x", "userName contains the control character U+0085"},
	{"zero-width space", "ada\u200b@example.com", "userName contains the invisible format character U+200B (Unicode category Cf)"},
	{"leading zero-width space", "\u200bada", "userName contains the invisible format character U+200B"},
	{"zero-width non-joiner", "ada\u200cx", "userName contains the invisible format character U+200C"},
	{"zero-width joiner", "ada\u200dx", "userName contains the invisible format character U+200D"},
	{"soft hyphen", "ada\u00adlovelace", "userName contains the invisible format character U+00AD"},
	{"byte order mark", "\ufeffada", "userName contains the invisible format character U+FEFF"},
	{"right-to-left mark", "ada\u200f", "userName contains the invisible format character U+200F"},
	{"left-to-right mark", "\u200eada", "userName contains the invisible format character U+200E"},
	{"right-to-left override", "ada\u202egpj.exe", "userName contains the invisible format character U+202E"},
	{"first strong isolate", "ada\u2068x\u2069", "userName contains the invisible format character U+2068"},
	{"word joiner", "ada\u2060x", "userName contains the invisible format character U+2060"},
	{"tag character", "ada\U000E0041", "userName contains the invisible format character U+E0041"},
	{"line separator", "ada\u2028x", "userName contains the line or paragraph separator U+2028"},
	{"paragraph separator", "ada\u2029x", "userName contains the line or paragraph separator U+2029"},
	{"hangul filler", "\u3164ada", "userName contains the invisible (default-ignorable) character U+3164"},
	{"combining grapheme joiner", "ada\u034fx", "userName contains the invisible (default-ignorable) character U+034F"},
	{"variation selector", "ada\ufe0f", "userName contains the invisible (default-ignorable) character U+FE0F"},
	{"replacement character", "ada\ufffd", "userName contains U+FFFD, the replacement character"},
	{"invalid UTF-8", "ada\xff", "userName is not valid UTF-8"},

	// Compatibility and canonical variants are refused, naming the form to send.
	{"fullwidth", "ｂｏｂ@x", `userName contains the compatibility character U+FF42 'ｂ', a variant of "b"`},
	{"fullwidth says what to send", "ｂｏｂ@x", `send "bob@x"`},
	{"fullwidth at sign", "bob＠x", `U+FF20 '＠', a variant of "@"`},
	{"ligature", "ﬁona@x", `U+FB01 'ﬁ', a variant of "fi"`},
	{"superscript", "ada²", `U+00B2 '²', a variant of "2"`},
	{"inner no-break space", "José\u00a0Müller", `userName contains the compatibility character U+00A0 '\u00a0', a variant of " "`},
	{"halfwidth katakana", "ｱﾀﾞ", "compatibility character U+FF71"},
	{"long s", "ſam", `U+017F 'ſ', a variant of "s"`},
	{"mathematical bold", "𝐚da", "compatibility character U+1D41A"},
	{"kelvin sign", "\u212aate", "userName is not in Unicode normalization form C: U+212A '\u212a' has the canonical form U+004B; send \"Kate\""},
	{"decomposed é", "Jose\u0301 Müller", `userName is not in Unicode normalization form C (it has decomposed characters or combining marks out of order); send "José Müller"`},
	{"combining marks out of order", "a\u0301\u0323", "userName is not in Unicode normalization form C"},
}

func TestCheckUserName(t *testing.T) {
	for _, tt := range userNameCases {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUserName(tt.userName)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkUserName(%q) = %v, want accepted", tt.userName, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkUserName(%q) accepted, want %q", tt.userName, tt.want)
			}
			e := scimErrorOf(t, err)
			if e.Status != http.StatusBadRequest || e.ScimType != "invalidValue" || !strings.HasPrefix(e.Detail, "userName ") {
				t.Errorf("error %+v, want 400 invalidValue naming userName", e)
			}
			if !strings.Contains(e.Detail, tt.want) {
				t.Errorf("detail %q\nwant it to contain %q", e.Detail, tt.want)
			}
		})
	}
}

// Every userName a write sets goes through the check, whichever way the
// client sends it; a refused write stores nothing.
func TestUserNameRefusedOnEveryWrite(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("okta", "hygiene@example.com", map[string]any{"displayName": "Hy Giene"})
	patchOps := func(ops ...any) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
	}
	writes := []struct {
		name, method, path string
		body               func(userName string) any
	}{
		{"POST", http.MethodPost, "/Users", func(n string) any {
			return map[string]any{"schemas": []string{SchemaUser}, "userName": n, "active": true}
		}},
		{"PUT (Okta)", http.MethodPut, "/Users/" + uid, func(n string) any {
			return map[string]any{"schemas": []string{SchemaUser}, "userName": n, "displayName": "Hy Giene", "active": true}
		}},
		{"PATCH replace path", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patchOps(map[string]any{"op": "replace", "path": "userName", "value": n})
		}},
		{"PATCH add path", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patchOps(map[string]any{"op": "add", "path": "userName", "value": n})
		}},
		{"PATCH pathless replace (Okta)", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patchOps(map[string]any{"op": "replace", "value": map[string]any{"userName": n, "active": true}})
		}},
		{"PATCH pathless Replace with a URN key (Entra)", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patchOps(map[string]any{"op": "Replace", "value": map[string]any{SchemaUser + ":userName": n}})
		}},
		{"PATCH URN path (Entra)", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patchOps(map[string]any{"op": "Replace", "path": SchemaUser + ":userName", "value": n})
		}},
	}
	for _, tt := range userNameCases {
		if tt.want == "" || tt.userName == "" || strings.ContainsRune(tt.userName, 0xFFFD) || !validUTF8(tt.userName) {
			continue // accepted names below; empty, U+FFFD and bad bytes have tests of their own
		}
		for _, w := range writes {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				r := srv.do("okta", w.method, w.path, w.body(tt.userName))
				wantRefused(t, r, tt.want)
			})
		}
	}
	// Nothing above stored anything.
	if n := srv.do("okta", http.MethodGet, "/Users", nil).JSON(t)["totalResults"]; n != float64(1) {
		t.Errorf("totalResults = %v after refused POSTs, want 1", n)
	}
	got := srv.do("okta", http.MethodGet, "/Users/"+uid, nil)
	if m := got.JSON(t); m["userName"] != "hygiene@example.com" || m["meta"].(map[string]any)["version"] != `W/"1"` {
		t.Errorf("user changed by refused writes: %s", got.Body)
	}

	// Accepted names are stored exactly as sent, on every path.
	for _, tt := range userNameCases {
		if tt.want != "" {
			continue
		}
		for _, w := range writes {
			t.Run("accepted "+tt.name+"/"+w.name, func(t *testing.T) {
				r := srv.do("okta", w.method, w.path, w.body(tt.userName))
				if r.Status/100 != 2 {
					t.Fatalf("%s %q: %d %s", w.method, tt.userName, r.Status, r.Body)
				}
				if got := r.JSON(t)["userName"]; got != tt.userName {
					t.Errorf("userName = %q, want %q", got, tt.userName)
				}
				if w.method == http.MethodPost {
					id := r.JSON(t)["id"].(string)
					if r := srv.do("okta", http.MethodDelete, "/Users/"+id, nil); r.Status != http.StatusNoContent {
						t.Errorf("DELETE: %d %s", r.Status, r.Body)
					}
				}
			})
		}
	}
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// Bytes that are not UTF-8, and escapes that are not characters, reach the
// handler as U+FFFD (encoding/json replaces them): refused, naming userName.
func TestUserNameNotUTF8(t *testing.T) {
	srv := newTestServer(t)
	uid := srv.createUser("hr", "utf8@example.com", nil)
	for _, tt := range []struct{ name, method, path, body string }{
		{"POST raw 0xFF", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"ada` + "\xff" + `@example.com"}`},
		{"POST overlong encoding", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"ada` + "\xc0\xaf" + `"}`},
		{"POST unpaired surrogate escape", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"ada\ud800"}`},
		{"POST escaped U+FFFD", "POST", "/Users", `{"schemas":["` + SchemaUser + `"],"userName":"ada\ufffd"}`},
		{"PUT raw 0xFE", "PUT", "/Users/" + uid, `{"schemas":["` + SchemaUser + `"],"userName":"` + "\xfe" + `ada"}`},
		{"PATCH pathless raw 0xFF", "PATCH", "/Users/" + uid,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"userName":"a` + "\xff" + `"}}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantRefused(t, srv.do("hr", tt.method, tt.path, tt.body), "userName contains U+FFFD, the replacement character")
		})
	}
	if n := srv.do("hr", http.MethodGet, "/Users", nil).JSON(t)["totalResults"]; n != float64(1) {
		t.Errorf("totalResults = %v, want 1", n)
	}
}

// Fullwidth "ｂｏｂ" is refused outright rather than stored beside "bob" as a
// second user; case-insensitive uniqueness is unchanged.
func TestUserNameVariantsAndUniqueness(t *testing.T) {
	srv := newTestServer(t)
	bob := srv.createUser("okta", "bob@example.com", nil)
	post := func(n string) response {
		return srv.do("okta", http.MethodPost, "/Users", map[string]any{"schemas": []string{SchemaUser}, "userName": n})
	}
	wantRefused(t, post("ｂｏｂ@example.com"), `send "bob@example.com"`)
	wantRefused(t, post("ＢＯＢ@example.com"), `send "BOB@example.com"`)
	if r := post("BOB@Example.COM"); r.Status != http.StatusConflict || r.JSON(t)["scimType"] != "uniqueness" {
		t.Errorf("case variant: %d %s", r.Status, r.Body)
	}
	// The NFKC form the detail suggests is then an ordinary duplicate.
	if r := post("bob@example.com"); r.Status != http.StatusConflict {
		t.Errorf("suggested form: %d %s", r.Status, r.Body)
	}
	// Renaming another user onto a variant of bob is refused too.
	eve := srv.createUser("okta", "eve@example.com", nil)
	r := srv.do("okta", http.MethodPatch, "/Users/"+eve, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "bob\u200b@example.com"}},
	})
	wantRefused(t, r, "U+200B")
	if n := srv.do("okta", http.MethodGet, "/Users?filter="+urlq(`userName eq "BOB@example.com"`), nil).JSON(t); n["totalResults"] != float64(1) ||
		n["Resources"].([]any)[0].(map[string]any)["id"] != bob {
		t.Errorf("lookup of bob: %v", n)
	}
}

// Users stored before the check (here written straight into the store) are
// readable, listable, patchable and deletable; only a write that changes
// their userName is checked.
func TestUserNameGrandfathered(t *testing.T) {
	var st store.Store
	srv := newTestServer(t, func(o *Options) { st = o.Store })
	legacy := map[string]string{
		"legacy-space": " legacy@example.com",
		"legacy-zwsp":  "leg\u200bacy@example.com",
		"legacy-wide":  "ｌｅｇａｃｙ@example.com",
		"legacy-nfd":   "Jose\u0301@example.com",
		"legacy-nl":    "legacy\n@example.com",
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for id, name := range legacy {
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "okta", Name: name,
				Attributes: map[string]any{"userName": name, "active": true}, Created: now, Modified: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	patchOps := func(ops ...any) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
	}
	for id, name := range legacy {
		t.Run(id, func(t *testing.T) {
			path := "/Users/" + id
			if r := srv.do("okta", http.MethodGet, path, nil); r.Status != http.StatusOK || r.JSON(t)["userName"] != name {
				t.Fatalf("GET: %d %s", r.Status, r.Body)
			}
			r := srv.do("okta", http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq `+quoteJSON(name)), nil)
			if r.Status != http.StatusOK || r.JSON(t)["totalResults"] != float64(1) {
				t.Errorf("filter by its own userName: %d %s", r.Status, r.Body)
			}
			// PATCHes that do not touch userName, Okta's and Entra's shapes.
			for _, p := range []map[string]any{
				patchOps(map[string]any{"op": "replace", "value": map[string]any{"active": false}}),
				patchOps(map[string]any{"op": "Replace", "value": map[string]any{"name.givenName": "Leg", SchemaEnterprise + ":employeeNumber": "7"}}),
				patchOps(map[string]any{"op": "add", "path": "displayName", "value": "Legacy"}),
				// Resending the stored userName is not a change.
				patchOps(map[string]any{"op": "replace", "path": "userName", "value": name}),
			} {
				if r := srv.do("okta", http.MethodPatch, path, p); r.Status != http.StatusOK {
					t.Errorf("PATCH %v: %d %s", p["Operations"], r.Status, r.Body)
				}
			}
			// Okta's PUT resends the stored userName with other changes.
			put := map[string]any{"schemas": []string{SchemaUser}, "userName": name, "displayName": "Put", "active": true}
			if r := srv.do("okta", http.MethodPut, path, put); r.Status != http.StatusOK || r.JSON(t)["displayName"] != "Put" {
				t.Errorf("PUT with the stored userName: %d %s", r.Status, r.Body)
			}
			// A rename to another bad name is checked (the detail names the
			// name's first problem)...
			r = srv.do("okta", http.MethodPatch, path, patchOps(map[string]any{"op": "replace", "path": "userName", "value": name + "\u00ad"}))
			wantRefused(t, r, "")
			// ...and a rename to a clean one is the way out.
			clean := "clean-" + id + "@example.com"
			r = srv.do("okta", http.MethodPatch, path, patchOps(map[string]any{"op": "replace", "value": map[string]any{"userName": clean}}))
			if r.Status != http.StatusOK || r.JSON(t)["userName"] != clean {
				t.Errorf("rename to a clean userName: %d %s", r.Status, r.Body)
			}
			if r := srv.do("okta", http.MethodDelete, path, nil); r.Status != http.StatusNoContent {
				t.Errorf("DELETE: %d %s", r.Status, r.Body)
			}
		})
	}
	// A grandfathered user can also be deleted without first being renamed.
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Create(&store.Resource{Kind: store.KindUser, ID: "legacy-bom", Source: "okta", Name: "\ufefflegacy",
			Attributes: map[string]any{"userName": "\ufefflegacy"}, Created: now, Modified: now})
	}); err != nil {
		t.Fatal(err)
	}
	if r := srv.do("okta", http.MethodDelete, "/Users/legacy-bom", nil); r.Status != http.StatusNoContent {
		t.Errorf("DELETE legacy-bom: %d %s", r.Status, r.Body)
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wantRefused checks a 400 invalidValue SCIM error whose detail names
// userName and contains want.
func wantRefused(t *testing.T, r response, want string) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if s, _ := m["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("schemas = %v", m["schemas"])
	}
	if m["status"] != "400" || m["scimType"] != "invalidValue" {
		t.Errorf("status %v scimType %v, want 400 invalidValue", m["status"], m["scimType"])
	}
	if d, _ := m["detail"].(string); !strings.HasPrefix(d, "userName ") || !strings.Contains(d, want) {
		t.Errorf("detail %q\nwant it to name userName and contain %q", d, want)
	}
}

func scimErrorOf(t *testing.T, err error) scimerr.ScimError {
	t.Helper()
	var e scimerr.ScimError
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not a SCIM error", err, err)
	}
	return e
}
