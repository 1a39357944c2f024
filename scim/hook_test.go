package scim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tenurehq/tenure/store"
)

// uniquenessErr is what the engine's intake returns for a second active
// person with a correlation key someone else holds.
type uniquenessErr struct{ detail string }

func (e *uniquenessErr) Error() string      { return "intake: " + e.detail }
func (e *uniquenessErr) Uniqueness() string { return e.detail }

type rejectedErr struct{ detail string }

func (e *rejectedErr) Error() string    { return "intake: " + e.detail }
func (e *rejectedErr) Rejected() string { return e.detail }

// bothErr implements both interfaces: uniqueness wins.
type bothErr struct{ uniquenessErr }

func (e *bothErr) Rejected() string { return "rejected, not unique" }

// keyHook refuses a user write whose enterprise employeeNumber is in refuse,
// returning the error refuse maps it to, and counts the writes it let through
// and the commits it saw.
type keyHook struct {
	refuse map[string]error

	mu                sync.Mutex
	passed, committed int
}

func (h *keyHook) OnWrite(tx store.Tx, before, after *store.Resource) (func(), error) {
	if after != nil && after.Kind == store.KindUser {
		ent, _ := after.Attributes[SchemaEnterprise].(map[string]any)
		num, _ := ent["employeeNumber"].(string)
		if err, ok := h.refuse[num]; ok {
			return nil, err
		}
	}
	h.mu.Lock()
	h.passed++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.committed++
		h.mu.Unlock()
	}, nil
}

func (h *keyHook) counts() (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.passed, h.committed
}

func TestHookUniquenessIs409(t *testing.T) {
	const detail = "employeeNumber E-1 is held by the active user 7c9e6679-7425-40de-944b-e07fc1f90ae7"
	hook := &keyHook{refuse: map[string]error{
		"E-1":  &uniquenessErr{detail},
		"E-W":  fmt.Errorf("correlate: %w", &uniquenessErr{"wrapped " + detail}),
		"E-2":  &bothErr{uniquenessErr{"both: " + detail}},
		"E-R":  &rejectedErr{"employeeNumber must not be R"},
		"E-IO": errors.New("disk on fire"),
	}}
	srv := newTestServer(t, func(o *Options) { o.Hook = hook })
	uid := srv.createUser("okta", "holder.two@example.com", map[string]any{"displayName": "Old",
		SchemaEnterprise: map[string]any{"employeeNumber": "E-0"}})
	withNumber := func(userName, num string) map[string]any {
		return map[string]any{"schemas": []string{SchemaUser, SchemaEnterprise}, "userName": userName, "displayName": "New",
			SchemaEnterprise: map[string]any{"employeeNumber": num}}
	}
	patch := func(ops ...any) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
	}
	writes := []struct {
		name, method, path string
		body               func(num string) any
	}{
		{"POST", http.MethodPost, "/Users", func(n string) any { return withNumber("second@example.com", n) }},
		{"PUT", http.MethodPut, "/Users/" + uid, func(n string) any { return withNumber("holder.two@example.com", n) }},
		{"PATCH path", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patch(map[string]any{"op": "replace", "path": SchemaEnterprise + ":employeeNumber", "value": n},
				map[string]any{"op": "replace", "path": "displayName", "value": "New"})
		}},
		{"PATCH pathless (Entra)", http.MethodPatch, "/Users/" + uid, func(n string) any {
			return patch(map[string]any{"op": "Replace", "value": map[string]any{SchemaEnterprise + ":employeeNumber": n, "displayName": "New"}})
		}},
	}
	cases := []struct {
		num      string
		status   int
		scimType string
		detail   string
	}{
		{"E-1", http.StatusConflict, "uniqueness", detail},
		{"E-W", http.StatusConflict, "uniqueness", "wrapped " + detail},
		{"E-2", http.StatusConflict, "uniqueness", "both: " + detail},
		{"E-R", http.StatusBadRequest, "invalidValue", "employeeNumber must not be R"},
		{"E-IO", http.StatusInternalServerError, "", "Internal error; request id "},
	}
	passed, committed := hook.counts()
	for _, c := range cases {
		for _, w := range writes {
			t.Run(c.num+"/"+w.name, func(t *testing.T) {
				r := srv.do("okta", w.method, w.path, w.body(c.num))
				if r.Status != c.status {
					t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
					t.Errorf("Content-Type = %q", ct)
				}
				m := r.JSON(t)
				if s, _ := m["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
					t.Errorf("schemas = %v", m["schemas"])
				}
				if m["status"] != fmt.Sprint(c.status) {
					t.Errorf("status member %v", m["status"])
				}
				if c.scimType != "" && m["scimType"] != c.scimType {
					t.Errorf("scimType %v, want %s", m["scimType"], c.scimType)
				}
				if c.scimType == "" && m["scimType"] != nil {
					t.Errorf("scimType %v on a 500", m["scimType"])
				}
				if d, _ := m["detail"].(string); !strings.HasPrefix(d, c.detail) || (c.status != 500 && d != c.detail) {
					t.Errorf("detail %q, want %q", d, c.detail)
				}
				if strings.Contains(string(r.Body), "disk on fire") {
					t.Errorf("internal error leaked: %s", r.Body)
				}
			})
		}
	}
	// Nothing was stored: the POSTs left no user, the user is at version 1
	// with its old values, and the hook saw no commit.
	if r := srv.do("okta", http.MethodGet, "/Users?filter="+urlq(`userName eq "second@example.com"`), nil); r.JSON(t)["totalResults"] != float64(0) {
		t.Errorf("refused POST stored a user: %s", r.Body)
	}
	if r := srv.do("okta", http.MethodGet, "/Users", nil); r.JSON(t)["totalResults"] != float64(1) {
		t.Errorf("users: %s", r.Body)
	}
	got := srv.do("okta", http.MethodGet, "/Users/"+uid, nil)
	m := got.JSON(t)
	ent, _ := m[SchemaEnterprise].(map[string]any)
	if got.Status != http.StatusOK || m["displayName"] != "Old" || ent["employeeNumber"] != "E-0" ||
		m["meta"].(map[string]any)["version"] != `W/"1"` || got.Header.Get("Etag") != `W/"1"` {
		t.Errorf("refused writes changed the user: %s", got.Body)
	}
	if p, c := hook.counts(); p != passed || c != committed {
		t.Errorf("hook passed %d→%d, committed %d→%d during refused writes", passed, p, committed, c)
	}
	// The same writes with a free key go through.
	for _, w := range writes {
		if r := srv.do("okta", w.method, w.path, w.body("E-free-"+w.name)); r.Status/100 != 2 {
			t.Errorf("%s with a free key: %d %s", w.name, r.Status, r.Body)
		}
	}
}
