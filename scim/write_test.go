package scim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/store"
)

// txTimer is a store that measures how long update functions run, and can
// call a function at the first store call after it is armed.
type txTimer struct {
	store.Store
	mu      sync.Mutex
	longest time.Duration

	armed   atomic.Bool
	onFirst func(update bool)
}

func (s *txTimer) touch(update bool) {
	if s.armed.CompareAndSwap(true, false) {
		s.onFirst(update)
	}
}

func (s *txTimer) View(ctx context.Context, fn func(store.Reader) error) error {
	s.touch(false)
	return s.Store.View(ctx, fn)
}

func (s *txTimer) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.touch(true)
	return s.Store.Update(ctx, func(tx store.Tx) error {
		start := time.Now()
		err := fn(tx)
		s.mu.Lock()
		s.longest = max(s.longest, time.Since(start))
		s.mu.Unlock()
		return err
	})
}

func (s *txTimer) reset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.longest
	s.longest = 0
	return d
}

func timed(ts *txTimer) serverOpt {
	return func(o *Options) {
		ts.Store = o.Store
		o.Store = ts
	}
}

// heavyPatch returns a user with n e-mail addresses and a PATCH of n
// filtered operations on them: each scans every address.
func heavyPatch(t *testing.T, srv *testServer, n int) (id, body string) {
	t.Helper()
	emails := make([]map[string]any, n)
	ops := make([]string, n)
	for i := range n {
		emails[i] = map[string]any{"value": fmt.Sprintf("e%d@example.com", i), "type": fmt.Sprintf("t%d", i)}
		ops[i] = fmt.Sprintf(`{"op":"replace","path":"emails[value co \"e%d@\"].display","value":"d%d"}`, i, i)
	}
	id = srv.createUser("okta", fmt.Sprintf("heavy%d@example.com", time.Now().UnixNano()), map[string]any{"emails": emails})
	return id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestPatchAppliedOutsideWriteTransaction: a PATCH's operations are parsed,
// filtered and applied before the store's write transaction opens; the
// transaction only checks the version and writes. A PATCH of 1,000
// filtered operations ran for its whole length inside the transaction.
func TestPatchAppliedOutsideWriteTransaction(t *testing.T) {
	onBackends(t, func(t *testing.T, backend ...serverOpt) {
		ts := &txTimer{}
		srv := newTestServer(t, append(backend, timed(ts), func(o *Options) { o.MaxBodyBytes = 1 << 20 })...)
		id, body := heavyPatch(t, srv, MaxValues)
		ts.reset()
		start := time.Now()
		r := srv.do("okta", http.MethodPatch, "/Users/"+id, body)
		took := time.Since(start)
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %.300s", r.Status, r.Body)
		}
		if e := r.JSON(t)["emails"].([]any); len(e) != MaxValues || e[7].(map[string]any)["display"] != "d7" {
			t.Fatalf("PATCH result: %.300s", r.Body)
		}
		inTx := ts.reset()
		t.Logf("PATCH took %v, of which %v in the write transaction", took, inTx)
		if inTx > took/4 {
			t.Errorf("the write transaction ran %v of the PATCH's %v: the operations were applied inside it", inTx, took)
		}
	})
}

// TestUnrelatedWriteNotHeldBehindPatch: on the embedded store (one writer
// at a time), a POST sent while a heavy PATCH is being applied completes
// first. An unrelated POST used to wait for the whole PATCH (24.8 s behind
// a 54.9 s one).
func TestUnrelatedWriteNotHeldBehindPatch(t *testing.T) {
	started := make(chan bool, 1)
	ts := &txTimer{onFirst: func(update bool) { started <- update }}
	srv := newTestServer(t, timed(ts), func(o *Options) { o.MaxBodyBytes = 1 << 20 })
	id, body := heavyPatch(t, srv, MaxValues)

	ts.armed.Store(true)
	patchStart := time.Now()
	patchTook := make(chan time.Duration, 1)
	go func() {
		r := srv.do("okta", http.MethodPatch, "/Users/"+id, body)
		if r.Status != http.StatusOK {
			t.Errorf("PATCH: %d %.300s", r.Status, r.Body)
		}
		patchTook <- time.Since(patchStart)
	}()
	<-started // the PATCH reached the store
	postStart := time.Now()
	srv.createUser("okta", "unrelated@example.com", nil)
	post, patch := time.Since(postStart), <-patchTook
	t.Logf("POST took %v during a PATCH of %v", post, patch)
	if post > patch/2 {
		t.Errorf("the unrelated POST took %v during a PATCH of %v: it waited for it", post, patch)
	}
}

// TestConcurrentPatchesOfOneGroup: PATCHes of one group prepared at the
// same time all land (none is lost to another's write), and every answer
// is a 2xx.
func TestConcurrentPatchesOfOneGroup(t *testing.T) {
	onBackends(t, func(t *testing.T, backend ...serverOpt) {
		srv := newTestServer(t, backend...)
		r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Busy"})
		if r.Status != http.StatusCreated {
			t.Fatalf("create group: %d %s", r.Status, r.Body)
		}
		gid := r.JSON(t)["id"].(string)
		const n = 20
		users := make([]string, n)
		for i := range users {
			users[i] = srv.createUser("okta", fmt.Sprintf("busy%d@example.com", i), nil)
		}
		var wg sync.WaitGroup
		for _, uid := range users {
			wg.Go(func() {
				r := srv.do("okta", http.MethodPatch, "/Groups/"+gid,
					`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`)
				if r.Status != http.StatusNoContent {
					t.Errorf("PATCH: %d %s", r.Status, r.Body)
				}
			})
		}
		wg.Wait()
		g := srv.do("okta", http.MethodGet, "/Groups/"+gid, nil).JSON(t)
		if m, _ := g["members"].([]any); len(m) != n {
			t.Errorf("%d members after %d concurrent adds: %v", len(m), n, g["members"])
		}
	})
}

// TestStaleWriteRunsAgain: when another write changes the resource between
// the read a PATCH was applied to and its transaction, the PATCH is
// applied again to the new version: both changes are kept.
func TestStaleWriteRunsAgain(t *testing.T) {
	onBackends(t, func(t *testing.T, backend ...serverOpt) {
		ts := &txTimer{}
		srv := newTestServer(t, append(backend, timed(ts))...)
		id := srv.createUser("okta", "stale@example.com", map[string]any{"title": "old"})
		ts.onFirst = func(bool) {
			// Another writer (another replica) changes the user after the
			// PATCH read it.
			_, err := store.Modify(context.Background(), ts.Store, store.KindUser, id, func(r *store.Resource) error {
				r.Attributes["nickName"] = "sneaky"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}
		ts.armed.Store(true)
		r := srv.do("okta", http.MethodPatch, "/Users/"+id,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"new"}]}`)
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", r.Status, r.Body)
		}
		if m := r.JSON(t); m["title"] != "new" || m["nickName"] != "sneaky" || m["meta"].(map[string]any)["version"] != `W/"3"` {
			t.Errorf("after a write that came between: %s", r.Body)
		}
	})
}
