package boltdb

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// upgradeFile returns, for a file of the test's own, open (which logs to
// logs, emptied first) and raw, which changes the file behind the store's
// back as another build would.
func upgradeFile(t *testing.T) (open func() *Store, raw func(func(*bbolt.Tx) error), logs *bytes.Buffer) {
	path := filepath.Join(t.TempDir(), "tenure.db")
	logs = &bytes.Buffer{}
	open = func() *Store {
		t.Helper()
		logs.Reset()
		s, err := Open(path, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	raw = func(fn func(btx *bbolt.Tx) error) {
		t.Helper()
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	return open, raw, logs
}

// TestGroupNamesUpgrade opens files the group name index does not match: one
// written before the index existed, and one an older build wrote to after
// (a rename, a create and a delete it did not index). Open repairs both,
// once.
func TestGroupNamesUpgrade(t *testing.T) {
	open, raw, logs := upgradeFile(t)
	check := func(s *Store, when string, want map[string][]string) {
		t.Helper()
		if err := s.db.View(checkIndexes); err != nil {
			t.Errorf("%s: %v", when, err)
		}
		err := s.View(t.Context(), func(r store.Reader) error {
			for member, refs := range want {
				got, err := r.MemberOf(member)
				if err != nil {
					return err
				}
				if fmt.Sprint(got) != fmt.Sprint(refs) {
					t.Errorf("%s: MemberOf(%s) = %v, want %v", when, member, got, refs)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	s := open()
	big := &store.Resource{Kind: store.KindGroup, ID: "g-big", Source: "a", Name: "Everyone"}
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for i := range 500 {
			id := fmt.Sprintf("u%03d", i)
			big.Members = append(big.Members, store.Member{Value: id})
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "a", Name: id}); err != nil {
				return err
			}
		}
		return tx.Create(big)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error {
		return tx.Create(&store.Resource{Kind: store.KindGroup, ID: "g-x", Source: "a", Name: "X", Members: []store.Member{{Value: "u001"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A file from before the index: no bucket at all.
	raw(func(btx *bbolt.Tx) error { return btx.DeleteBucket([]byte(bucketGroupNames)) })
	s = open()
	check(s, "index missing", map[string][]string{"u001": {"{g-big Everyone}", "{g-x X}"}, "u499": {"{g-big Everyone}"}})
	if !strings.Contains(logs.String(), "entries=2") {
		t.Errorf("open did not report the repair: %s", logs.String())
	}
	s.Close()
	s = open()
	if strings.Contains(logs.String(), "repaired") {
		t.Errorf("a second open repaired again: %s", logs.String())
	}
	s.Close()

	// An older build renamed g-x, created g-y and deleted g-old without the
	// index: a stale name, a missing one and a leftover.
	raw(func(btx *bbolt.Tx) error {
		t := &Tx{btx: btx}
		g := &store.Resource{Kind: store.KindGroup, ID: "g-y", Source: "a", Name: "Y", Members: []store.Member{{Value: "u002"}}}
		if err := t.Create(g); err != nil {
			return err
		}
		names := btx.Bucket([]byte(bucketGroupNames))
		return errors.Join(names.Delete([]byte("g-y")), names.Put([]byte("g-x"), []byte("stale")), names.Put([]byte("g-old"), []byte("Old")))
	})
	s = open()
	check(s, "older build", map[string][]string{"u001": {"{g-big Everyone}", "{g-x X}"}, "u002": {"{g-big Everyone}", "{g-y Y}"}})
	if !strings.Contains(logs.String(), "entries=3") {
		t.Errorf("open did not report the repair: %s", logs.String())
	}
	s.Close()

	// A group record that cannot be read does not keep the store from
	// opening; it is reported.
	raw(func(btx *bbolt.Tx) error {
		kb, _ := bucketsOf(store.KindGroup)
		return btx.Bucket([]byte(kb.resources)).Put([]byte("g-x"), []byte("not a record"))
	})
	s = open()
	defer s.Close()
	if !strings.Contains(logs.String(), "store group records unreadable") || !strings.Contains(logs.String(), "g-x") {
		t.Errorf("open did not report the unreadable record: %s", logs.String())
	}
}

// TestUserNamesUpgrade opens a file written before the user name index
// existed, and one an older build renamed a user in: Open repairs both.
func TestUserNamesUpgrade(t *testing.T) {
	open, raw, logs := upgradeFile(t)
	names := func(s *Store, when string, want ...string) {
		t.Helper()
		err := s.View(t.Context(), func(r store.Reader) error {
			got, err := r.Names(store.KindUser, []string{"u1", "u2"})
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: Names = %q, want %q", when, got, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.View(checkIndexes); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	s := open()
	err := s.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.Create(&store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "Ada"}),
			tx.Create(&store.Resource{Kind: store.KindUser, ID: "u2", Source: "a", Name: "Bob"}))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	raw(func(btx *bbolt.Tx) error { return btx.DeleteBucket([]byte(bucketUserNames)) })
	s = open()
	names(s, "index missing", "Ada", "Bob")
	if !strings.Contains(logs.String(), "store user name index repaired") || !strings.Contains(logs.String(), "entries=2") {
		t.Errorf("open did not report the repair: %s", logs.String())
	}
	s.Close()

	raw(func(btx *bbolt.Tx) error {
		return btx.Bucket([]byte(bucketUserNames)).Put([]byte("u1"), []byte("stale"))
	})
	s = open()
	defer s.Close()
	names(s, "stale entry", "Ada", "Bob")
}
