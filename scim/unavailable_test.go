package scim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// TestRedisOutageIs503: while Redis is down every SCIM read and write is
// answered 503 with Retry-After and the SCIM Error schema (not 500, which
// Entra counts toward quarantine), the outage is logged once, not per
// request, and the server serves again once Redis is back, without a
// restart.
func TestRedisOutageIs503(t *testing.T) {
	rs := testenv.Redis(t, testenv.AppendfsyncAlways())
	srv := newTestServer(t, onRedis(t, rs))
	uid := srv.createUser("okta", "outage@example.com", nil)
	r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Outage"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create group: %d %s", r.Status, r.Body)
	}
	gid := r.JSON(t)["id"].(string)

	rs.Stop()
	patchOp := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`
	requests := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/Users/" + uid, nil},
		{http.MethodGet, "/Users/" + uid, nil}, // a second time: still one log line
		{http.MethodGet, "/Users?filter=" + urlq(`userName eq "outage@example.com"`), nil},
		{http.MethodGet, "/Groups", nil},
		{http.MethodPost, "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"out\""}`},
		{http.MethodPost, "/Users", map[string]any{"schemas": []string{SchemaUser}, "userName": "new@example.com"}},
		{http.MethodPut, "/Users/" + uid, map[string]any{"schemas": []string{SchemaUser}, "userName": "outage@example.com", "title": "y"}},
		{http.MethodPatch, "/Users/" + uid, patchOp},
		{http.MethodPatch, "/Groups/" + gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + uid + `"}]}]}`},
		{http.MethodDelete, "/Groups/" + gid, nil},
	}
	for _, q := range requests {
		r := srv.do("okta", q.method, q.path, q.body)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != fmt.Sprint(RetryAfter) {
			t.Errorf("%s %s with Redis down: %d, Retry-After %q: %s", q.method, q.path, r.Status, r.Header.Get("Retry-After"), r.Body)
			continue
		}
		m := r.JSON(t)
		if m["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || m["status"] != "503" {
			t.Errorf("%s %s: not a SCIM error: %s", q.method, q.path, r.Body)
		}
	}
	if n := strings.Count(srv.logs.String(), "store unavailable"); n != 1 {
		t.Errorf("%d 'store unavailable' log lines for one outage, want 1:\n%s", n, srv.logs)
	}
	if strings.Contains(srv.logs.String(), "scim request failed") {
		t.Errorf("the outage was logged per request:\n%s", srv.logs)
	}

	rs.Restart(t)
	// After failed dials, go-redis's pool tries a new connection once a
	// second and fails requests fast meanwhile: back within seconds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := srv.do("okta", http.MethodGet, "/Users/"+uid, nil)
		if r.Status == http.StatusOK {
			break
		}
		if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("GET after Redis came back: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := srv.do("okta", http.MethodPatch, "/Users/"+uid, patchOp); r.Status != http.StatusOK {
		t.Fatalf("PATCH after Redis came back: %d %s", r.Status, r.Body)
	}
	if n := strings.Count(srv.logs.String(), "store available again"); n != 1 {
		t.Errorf("%d 'store available again' log lines, want 1:\n%s", n, srv.logs)
	}
}

// TestClosedStoreIs503: a store already closed (a shutdown under way)
// answers 503 too, on the embedded store.
func TestClosedStoreIs503(t *testing.T) {
	var st store.Store
	srv := newTestServer(t, func(o *Options) { st = o.Store })
	uid := srv.createUser("okta", "closed@example.com", nil)
	st.Close()
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		r := srv.do("okta", method, "/Users/"+uid, nil)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s on a closed store: %d %v %s", method, r.Status, r.Header, r.Body)
		}
	}
}

func TestStoreUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{store.ErrNotFound, false},
		{errors.New("boom"), false},
		{fmt.Errorf("boltdb: view: %w", store.ErrClosed), true},
		{fmt.Errorf("redisstore: view: %w", refused), true},
		{fmt.Errorf("redisstore: update: %w", io.EOF), true},
		{fmt.Errorf("x: %w", redisErr("LOADING Redis is loading the dataset in memory")), true},
		{fmt.Errorf("x: %w", redisErr("READONLY You can't write against a read only replica.")), true},
		{fmt.Errorf("x: %w", redisErr("WRONGTYPE Operation against a key holding the wrong kind of value")), false},
		{targets.Unavailable("ldap", refused, 0), false}, // a target's, not the store's
	} {
		if got := StoreUnavailable(tt.err); got != tt.want {
			t.Errorf("StoreUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// redisErr is shaped like go-redis's server errors.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}
