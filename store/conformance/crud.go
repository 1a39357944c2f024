package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/store"
)

func testCreateGet(t *testing.T, b Backend) {
	s := open(t, b)
	u := fullUser("u1", "src", "alice")
	u.Version = 7 // Create ignores what the caller sets
	g := fullGroup("g1", "src", "Admins")
	create(t, s, u, g)
	if u.Version != 1 || g.Version != 1 {
		t.Errorf("Create set Version %d and %d, want 1", u.Version, g.Version)
	}
	checkResource(t, get(t, s, store.KindUser, "u1"), u)
	checkResource(t, get(t, s, store.KindGroup, "g1"), g)

	// The store keeps its own copy, and hands out copies.
	u.Attributes["active"] = false
	u.Attributes["name"].(map[string]any)["givenName"] = "Changed"
	got := get(t, s, store.KindUser, "u1")
	if got.Attributes["active"] != true || got.Attributes["name"].(map[string]any)["givenName"] != "Älice" {
		t.Errorf("changing the created resource changed the stored one: %v", got.Attributes)
	}
	got.Name = "mallory"
	got.Members = append(got.Members, store.Member{Value: "x"})
	got.Attributes["emails"].([]any)[0].(map[string]any)["value"] = "mallory@example.com"
	wantU := fullUser("u1", "src", "alice")
	wantU.Version = 1
	checkResource(t, get(t, s, store.KindUser, "u1"), wantU)

	// Numbers come back as json.Number, not float64, so large ones survive.
	if n, ok := get(t, s, store.KindUser, "u1").Attributes["x-big"].(json.Number); !ok || n != "123456789012345678901234567890" {
		t.Errorf("x-big = %#v, want json.Number", n)
	}
}

func testPut(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, fullUser("u1", "src", "alice"), fullGroup("g1", "src", "Admins"))

	// Replace every field, dropping some.
	u := user("u1", "src", "Alicia")
	u.Attributes = map[string]any{"active": false, "title": "CEO", "x-n": json.Number("0.1")}
	u.Created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	u.Modified = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	u.Version = 0 // Put ignores what the caller sets
	update(t, s, func(tx store.Tx) error { return tx.Put(u) })
	if u.Version != 2 {
		t.Errorf("Put set Version %d, want 2", u.Version)
	}
	checkResource(t, get(t, s, store.KindUser, "u1"), u)

	g := fullGroup("g1", "src", "Administrators")
	g.Members = g.Members[:1]
	g.ExternalID = "other"
	g.Version = 99
	update(t, s, func(tx store.Tx) error { return tx.Put(g) })
	if g.Version != 2 {
		t.Errorf("Put set group Version %d, want 2", g.Version)
	}
	checkResource(t, get(t, s, store.KindGroup, "g1"), g)

	// Each Put adds one to the stored version, also within one transaction.
	update(t, s, func(tx store.Tx) error {
		for want := uint64(3); want <= 5; want++ {
			u.Version = 1
			if err := tx.Put(u); err != nil {
				return err
			}
			if u.Version != want {
				return fmt.Errorf("Put set Version %d, want %d", u.Version, want)
			}
		}
		return nil
	})
	if v := get(t, s, store.KindUser, "u1").Version; v != 5 {
		t.Errorf("stored Version = %d, want 5", v)
	}
}

func testDelete(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "src", "alice"), user("u2", "src", "bob"), group("g1", "src", "G", "u1"))
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete(store.KindUser, "u1"); err != nil {
			return err
		}
		return tx.Delete(store.KindGroup, "g1")
	})
	view(t, s, func(r store.Reader) error {
		_, err := r.Get(store.KindUser, "u1")
		checkErr(t, "Get deleted user", err, store.ErrNotFound)
		_, err = r.Get(store.KindGroup, "g1")
		checkErr(t, "Get deleted group", err, store.ErrNotFound)
		ids, err := r.LookupName(store.KindUser, "src", "alice")
		checkIDs(t, "LookupName of deleted user", ids, nil...)
		if n, _ := r.Count(store.KindUser, "src"); n != 1 {
			t.Errorf("Count = %d, want 1", n)
		}
		return err
	})
	err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Delete(store.KindUser, "u1") })
	checkErr(t, "second Delete", err, store.ErrNotFound)

	// The id and name are free again, and the new resource is the newest.
	create(t, s, user("u1", "src", "ALICE"))
	view(t, s, func(r store.Reader) error {
		all, err := r.List(store.KindUser, "src", 0, 10)
		checkIDs(t, "List after re-create", idsOf(all), "u2", "u1")
		return err
	})
	if v := get(t, s, store.KindUser, "u1").Version; v != 1 {
		t.Errorf("re-created Version = %d, want 1", v)
	}
}

func testNotFound(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "src", "alice"))
	update(t, s, func(tx store.Tx) error {
		_, err := tx.Get(store.KindUser, "nope")
		checkErr(t, "Get missing", err, store.ErrNotFound)
		_, err = tx.Get(store.KindGroup, "u1") // a user, not a group
		checkErr(t, "Get with the wrong kind", err, store.ErrNotFound)
		err = tx.Put(user("nope", "src", "x"))
		checkErr(t, "Put missing", err, store.ErrNotFound)
		err = tx.Put(group("u1", "src", "x"))
		checkErr(t, "Put with the wrong kind", err, store.ErrNotFound)
		err = tx.Delete(store.KindUser, "nope")
		checkErr(t, "Delete missing", err, store.ErrNotFound)
		err = tx.Delete(store.KindGroup, "u1")
		checkErr(t, "Delete with the wrong kind", err, store.ErrNotFound)
		return nil
	})
	_, err := store.Get(t.Context(), s, store.KindUser, "nope")
	checkErr(t, "store.Get missing", err, store.ErrNotFound)
}

func testDuplicateID(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "src", "alice"), group("g1", "src", "G"))
	for _, r := range []*store.Resource{
		user("u1", "src", "someone-else"),
		user("u1", "other-source", "alice"),
		group("g1", "src", "H"),
	} {
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(r) })
		checkErr(t, fmt.Sprintf("Create duplicate %s %s", r.Kind, r.ID), err, store.ErrConflict)
	}
	if got := get(t, s, store.KindUser, "u1"); got.Name != "alice" || got.Source != "src" {
		t.Errorf("duplicate Create changed the resource: %+v", got)
	}
}

func testUserNameUnique(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "a", "alice"), user("u2", "a", "älice"), user("u3", "a", "bob"))
	conflict := func(what string, fn func(tx store.Tx) error) {
		t.Helper()
		checkErr(t, what, s.Update(t.Context(), fn), store.ErrConflict)
	}
	conflict("Create ALICE", func(tx store.Tx) error { return tx.Create(user("x1", "a", "ALICE")) })
	conflict("Create ÄLICE", func(tx store.Tx) error { return tx.Create(user("x2", "a", "ÄLICE")) })
	conflict("Put rename to BOB", func(tx store.Tx) error { return tx.Put(user("u1", "a", "BOB")) })

	// The same name in another source, a group or a case-only rename of the
	// user itself is fine.
	create(t, s, user("b1", "b", "ALICE"), group("g1", "a", "alice"))
	update(t, s, func(tx store.Tx) error { return tx.Put(user("u1", "a", "Alice")) })

	// Renaming frees the old name.
	update(t, s, func(tx store.Tx) error { return tx.Put(user("u3", "a", "robert")) })
	create(t, s, user("u4", "a", "Bob"))
	conflict("Create robert", func(tx store.Tx) error { return tx.Create(user("x3", "a", "Robert")) })

	// Group names are not unique, not even exactly.
	create(t, s, group("g2", "a", "alice"), group("g3", "a", "ALICE"))
	update(t, s, func(tx store.Tx) error { return tx.Put(group("g1", "a", "Alice")) })
	view(t, s, func(r store.Reader) error {
		n, err := r.Count(store.KindGroup, "a")
		if n != 3 {
			t.Errorf("group Count = %d, want 3", n)
		}
		return err
	})
}

// testCaseFolding pins the rule: two names are the same exactly when
// strings.EqualFold says so.
func testCaseFolding(t *testing.T, b Backend) {
	s := open(t, b)
	pairs := [][2]string{
		{"alice", "ALICE"},
		{"ÄLICE", "älice"},
		{"kate", "\u212Aate"},        // KELVIN SIGN folds to k
		{"σοφία", "ΣΟΦΊΑ"},           // Greek
		{"ΟΔΥΣΣΕΥΣ", "οδυσσευς"},     // final sigma folds with sigma
		{"ǅemal", "ǆemal"},           // title case
		{"straße", "STRASSE"},        // full case folding is not applied
		{"i", "İ"},                   // dotted capital I is no simple fold of i
		{"ı", "I"},                   // nor is dotless i of I
		{"é", "e\u0301"},             // no normalization
		{"alice", "alice "},          // no trimming
		{"a\x00b", "A\x00B"},         // NUL is just a rune
		{"ꞵ", "Ꞵ"},                   // Latin Small Letter Beta (Unicode 8)
		{"\U00010428", "\U00010400"}, // Deseret, outside the BMP
	}
	for i, p := range pairs {
		source := fmt.Sprintf("src%d", i)
		want := strings.EqualFold(p[0], p[1])
		create(t, s, user(fmt.Sprintf("u%d", i), source, p[0]))
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.Create(user(fmt.Sprintf("v%d", i), source, p[1]))
		})
		if want {
			checkErr(t, fmt.Sprintf("Create %q after %q", p[1], p[0]), err, store.ErrConflict)
		} else if err != nil {
			t.Errorf("Create %q after %q: %v, want success (EqualFold is false)", p[1], p[0], err)
		}
		view(t, s, func(r store.Reader) error {
			ids, err := r.LookupName(store.KindUser, source, p[1])
			if want {
				checkIDs(t, fmt.Sprintf("LookupName(%q) with %q stored", p[1], p[0]), ids, fmt.Sprintf("u%d", i))
			} else {
				checkIDs(t, fmt.Sprintf("LookupName(%q) with %q stored", p[1], p[0]), ids, fmt.Sprintf("v%d", i))
			}
			return err
		})
	}
}
