package redisstore_test

import (
	"fmt"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

// TestGroupNamesUpgrade runs on data written by a build without group name
// keys (and by such a replica during a rolling upgrade): MemberOf reads
// those groups from their records, the keys are written after the View or
// Update that found them missing, and from then on no record is read. A
// name key a replica without the index left stale is mended by the next
// Put of the group.
func TestGroupNamesUpgrade(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	s := open(t, c, redisstore.Options{Prefix: "up"})
	ctx := t.Context()
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, id := range []string{"u1", "u2"} {
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "a", Name: id}); err != nil {
				return err
			}
		}
		for _, g := range []struct{ id, name string }{{"g1", "One"}, {"g2", "Two"}, {"g3", ""}} {
			r := &store.Resource{Kind: store.KindGroup, ID: g.id, Source: "a", Name: g.name,
				Members: []store.Member{{Value: "u1"}, {Value: "u2"}}}
			if err := tx.Create(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	nameKey := func(id string) string { return "{up}:groupname:" + id }
	want := "[{g1 One} {g2 Two} {g3 }]"
	memberOf := func(when string, read func(fn func(store.Reader) error) error) {
		t.Helper()
		err := read(func(r store.Reader) error {
			got, err := r.MemberOf("u1")
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != want {
				t.Errorf("%s: MemberOf(u1) = %v, want %s", when, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	view := func(fn func(store.Reader) error) error { return s.View(ctx, fn) }
	update := func(fn func(store.Reader) error) error {
		return s.Update(ctx, func(tx store.Tx) error { return fn(tx) })
	}
	backfilled := func(when string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			if n, _ := c.Exists(ctx, nameKey(id)).Result(); n != 1 {
				t.Errorf("%s: %s has no name key", when, id)
			}
		}
	}

	// Data from before the index: no name keys.
	c.Del(ctx, nameKey("g1"), nameKey("g2"), nameKey("g3"))
	memberOf("view without keys", view)
	backfilled("after the view", "g1", "g2", "g3")
	c.Del(ctx, nameKey("g2"))
	memberOf("update without a key", update)
	backfilled("after the update", "g2")

	// Indexed groups are not read: their records could be anything.
	records := map[string]string{}
	for _, id := range []string{"g1", "g2", "g3"} {
		key := "{up}:res:Group:" + id
		records[key], _ = c.Get(ctx, key).Result()
		c.Set(ctx, key, "not a record", 0)
	}
	memberOf("records unreadable", view)
	memberOf("records unreadable", update)
	for key, val := range records {
		c.Set(ctx, key, val, 0)
	}

	// A replica without the index renamed g1: the key is stale until an
	// upgraded replica writes the group.
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(&store.Resource{Kind: store.KindGroup, ID: "g1", Source: "a", Name: "Uno",
			Members: []store.Member{{Value: "u1"}, {Value: "u2"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, nameKey("g1"), "One", 0)
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(&store.Resource{Kind: store.KindGroup, ID: "g1", Source: "a", Name: "Uno",
			Members: []store.Member{{Value: "u1"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := c.Get(ctx, nameKey("g1")).Result(); name != "Uno" {
		t.Errorf("name key after a Put = %q, want Uno", name)
	}
	want = "[{g1 Uno} {g2 Two} {g3 }]"
	memberOf("mended", view)
}

// TestUserNamesUpgrade: users written by a build without user name keys
// get their names from their records, and the keys are written after the
// read; a stale key is mended by the next Put of the user.
func TestUserNamesUpgrade(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	s := open(t, c, redisstore.Options{Prefix: "upu"})
	ctx := t.Context()
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, id := range []string{"u1", "u2"} {
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "a", Name: "name-" + id}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func(id string) string { return "{upu}:username:" + id }
	names := func(when string, want ...string) {
		t.Helper()
		err := s.View(ctx, func(r store.Reader) error {
			got, err := r.Names(store.KindUser, []string{"u1", "u2"})
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: Names = %q, want %q", when, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	c.Del(ctx, key("u1"), key("u2"))
	names("without keys", "name-u1", "name-u2")
	for _, id := range []string{"u1", "u2"} {
		if n, _ := c.Exists(ctx, key(id)).Result(); n != 1 {
			t.Errorf("%s has no name key after the read", id)
		}
	}
	// A replica without the index renamed u1: the key is stale until the
	// next Put, which compares the key, not the record, with the name.
	c.Set(ctx, key("u1"), "stale", 0)
	names("stale", "stale", "name-u2")
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(&store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "name-u1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	names("mended", "name-u1", "name-u2")
}
