package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/conformance"
	"github.com/tenurehq/tenure/store/redisstore"
)

// client returns a client of srv that is closed when t ends.
func client(t testing.TB, srv *testenv.RedisServer) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{srv.Addr()}})
	t.Cleanup(func() { c.Close() })
	return c
}

func open(t testing.TB, c redis.UniversalClient, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := testenv.Redis(t)
	n := 0
	conformance.RunTests(t, conformance.Backend{
		New: func(t *testing.T) store.Store {
			// A prefix per test: the tests share one server.
			n++
			return open(t, client(t, srv), redisstore.Options{
				Prefix:     fmt.Sprintf("conf%d", n),
				Registerer: prometheus.NewRegistry(),
			})
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			// A restarted process: a new client and store on the same data.
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, client(t, srv), redisstore.Options{Prefix: fmt.Sprintf("conf%d", n)})
		},
	})
}

// TestTxHook shows how another package writes in the store's transaction:
// queued commands commit with the store's writes, or not at all.
func TestTxHook(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	s := open(t, c, redisstore.Options{})
	ctx := t.Context()
	key := "{tenure}:hook"

	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "alice"}); err != nil {
			return err
		}
		return tx.(*redisstore.Tx).Queue(func(p redis.Pipeliner) error {
			p.Set(ctx, key, "with u1", 0)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, err := c.Get(ctx, key).Result(); err != nil || got != "with u1" {
		t.Errorf("queued SET: %q, %v", got, err)
	}

	// A failing update function drops the queued commands.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx store.Tx) error {
		tx.(*redisstore.Tx).Queue(func(p redis.Pipeliner) error {
			p.Set(ctx, key, "aborted", 0)
			return nil
		})
		return boom
	})
	if err != boom {
		t.Errorf("Update = %v, want boom", err)
	}
	// So does a failing queued function, whose error Update returns.
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: "u2", Source: "a", Name: "bob"}); err != nil {
			return err
		}
		return tx.(*redisstore.Tx).Queue(func(p redis.Pipeliner) error { return boom })
	})
	if err != boom {
		t.Errorf("Update with a failing queued function = %v, want boom", err)
	}
	if got, _ := c.Get(ctx, key).Result(); got != "with u1" {
		t.Errorf("after aborted Updates the key is %q", got)
	}
	if _, err := store.Get(ctx, s, store.KindUser, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("u2 after the queued function failed: %v, want ErrNotFound", err)
	}

	// A watched key changed by another client makes the function run again.
	var runs atomic.Int32
	err = s.Update(ctx, func(tx store.Tx) error {
		rtx := tx.(*redisstore.Tx)
		if err := rtx.Watch(key); err != nil {
			return err
		}
		v, err := rtx.Reader().Get(rtx.Context(), key).Result()
		if err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			c.Set(ctx, key, "changed", 0) // another client, between read and EXEC
		}
		return rtx.Queue(func(p redis.Pipeliner) error {
			p.Set(ctx, key, v+"+1", 0)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, _ := c.Get(ctx, key).Result(); runs.Load() != 2 || got != "changed+1" {
		t.Errorf("after a conflict: %d runs, key %q; want 2 runs and changed+1", runs.Load(), got)
	}
}

// TestKeysInOneSlot checks the layout the package documents: every key
// carries the hash tag.
func TestKeysInOneSlot(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	s := open(t, c, redisstore.Options{Prefix: "p"})
	ctx := t.Context()
	err := s.Update(ctx, func(tx store.Tx) error {
		u := &store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "Alice", ExternalID: "e"}
		g := &store.Resource{Kind: store.KindGroup, ID: "g1", Source: "a", Name: "G",
			Members: []store.Member{{Value: "u1"}}}
		return errors.Join(tx.Create(u), tx.Create(g), tx.PutDoc("lifecycle", "person/1", []byte("r1")))
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"{p}:res:User:u1": true, "{p}:res:Group:g1": true, "{p}:order:User:a": true, "{p}:order:Group:a": true,
		"{p}:uname:User:a\x00alice": true, "{p}:gname:Group:a\x00g": true, "{p}:xid:User:a\x00e": true,
		"{p}:groups:u1": true, "{p}:groupname:g1": true, "{p}:username:u1": true, "{p}:seq": true, "{p}:layout": true,
		"{p}:doc:lifecycle:person/1": true, "{p}:docidx:lifecycle": true,
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("missing key %q", k)
	}
	if id, _ := c.Get(ctx, "{p}:uname:User:a\x00alice").Result(); id != "u1" {
		t.Errorf("uname key: %q", id)
	}
	if v, _ := c.Get(ctx, "{p}:layout").Result(); v != "2" {
		t.Errorf("layout: %q", v)
	}
	if doc, _ := c.Get(ctx, "{p}:doc:lifecycle:person/1").Result(); doc != "r1" {
		t.Errorf("document: %q", doc)
	}
	if idx, _ := c.ZRangeWithScores(ctx, "{p}:docidx:lifecycle", 0, -1).Result(); len(idx) != 1 ||
		idx[0].Member != "person/1" || idx[0].Score != 0 {
		t.Errorf("document index: %v", idx)
	}
}

// TestConflictsRetry has many writers update one resource: every increment
// must land, through runs repeated after conflicts.
func TestConflictsRetry(t *testing.T) {
	srv := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	s := open(t, client(t, srv), redisstore.Options{Registerer: reg})
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Create(&store.Resource{Kind: store.KindUser, ID: "u", Source: "a", Name: "n",
			Attributes: map[string]any{"n": 0}})
	}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := store.Modify(ctx, s, store.KindUser, "u", func(r *store.Resource) error {
					var n int
					fmt.Sscan(fmt.Sprint(r.Attributes["n"]), &n)
					r.Attributes["n"] = n + 1
					return nil
				})
				if err != nil {
					t.Errorf("Modify: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	r, err := store.Get(ctx, s, store.KindUser, "u")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.Attributes["n"]); got != fmt.Sprint(writers*each) || r.Version != writers*each+1 {
		t.Errorf("n = %s, Version %d; want %d, %d", got, r.Version, writers*each, writers*each+1)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "tenure_store_redis_tx_conflicts_total" {
			t.Logf("%d conflicts for %d updates", int(mf.GetMetric()[0].GetCounter().GetValue()), writers*each)
		}
	}
}

// conflicts returns the store's conflict counter.
func conflicts(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tenure_store_redis_tx_conflicts_total" {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	t.Fatal("no conflict counter")
	return 0
}

// TestDocsNoFalseConflicts has writers read-modify-write documents of their
// own in one namespace, as the lifecycle engine does for different people:
// a document has a key of its own, so they never conflict.
func TestDocsNoFalseConflicts(t *testing.T) {
	srv := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	s := open(t, client(t, srv), redisstore.Options{Registerer: reg})
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("person/%d", w)
			for i := range each {
				err := s.Update(t.Context(), func(tx store.Tx) error {
					v, err := tx.GetDoc("lifecycle", key)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					if want := fmt.Sprint(i); i > 0 && string(v) != want {
						return fmt.Errorf("%s = %q, want %s", key, v, want)
					}
					return tx.PutDoc("lifecycle", key, []byte(fmt.Sprint(i+1)))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := conflicts(t, reg); n != 0 {
		t.Errorf("%d conflicts between writers of different documents, want 0", n)
	}
}

// TestDocScanConflicts checks that ScanDocs inside Update WATCHes what it
// read: another client adding a document to the namespace, or changing one
// the scan visited, runs the function again.
func TestDocScanConflicts(t *testing.T) {
	srv := testenv.Redis(t)
	s := open(t, client(t, srv), redisstore.Options{})
	other := open(t, client(t, srv), redisstore.Options{})
	ctx := t.Context()
	put := func(s store.Store, key, val string) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutDoc("audit", key, []byte(val)) }); err != nil {
			t.Fatal(err)
		}
	}
	put(s, "e/1", "1")
	for _, c := range []struct{ what, key, val, want string }{
		{"a document added", "e/2", "2", "e/1=1 e/2=2"},
		{"a visited document changed", "e/1", "changed", "e/1=changed e/2=2"},
	} {
		runs := 0
		err := s.Update(ctx, func(tx store.Tx) error {
			runs++
			var seen []string
			err := tx.ScanDocs("audit", "e/", false, func(k string, v []byte) (bool, error) {
				seen = append(seen, k+"="+string(v))
				return true, nil
			})
			if err != nil {
				return err
			}
			if runs == 1 {
				put(other, c.key, c.val) // another client, between the scan and EXEC
			}
			return tx.PutDoc("summary", "scan", []byte(strings.Join(seen, " ")))
		})
		if err != nil {
			t.Fatalf("%s: Update: %v", c.what, err)
		}
		var summary []byte
		err = s.View(ctx, func(r store.Reader) error {
			summary, err = r.GetDoc("summary", "scan")
			return err
		})
		if err != nil || runs != 2 || string(summary) != c.want {
			t.Errorf("%s: %d runs, summary %q, %v; want 2 runs and %q", c.what, runs, summary, err, c.want)
		}
	}
}
