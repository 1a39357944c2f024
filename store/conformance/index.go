package conformance

import (
	"testing"

	"github.com/tenurehq/tenure/store"
)

func testLookupName(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s,
		user("u1", "a", "Alice"),
		user("u2", "b", "alice"),
		group("g1", "a", "Alice"), // a group named like a user
		group("g2", "a", "Staff"),
		group("g3", "a", "staff"),
		group("g4", "b", "STAFF"),
		group("g5", "a", "STAFF"),
	)
	lookup := func(kind store.Kind, source, name string, want ...string) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			ids, err := r.LookupName(kind, source, name)
			checkIDs(t, "LookupName("+string(kind)+", "+source+", "+name+")", ids, want...)
			return err
		})
	}
	// Case-insensitive, scoped by kind and source; groups in creation order.
	lookup(store.KindUser, "a", "ALICE", "u1")
	lookup(store.KindUser, "b", "ALICE", "u2")
	lookup(store.KindGroup, "a", "alice", "g1")
	lookup(store.KindGroup, "a", "sTaFf", "g2", "g3", "g5")
	lookup(store.KindGroup, "b", "staff", "g4")
	lookup(store.KindUser, "a", "staff")
	lookup(store.KindUser, "c", "alice")
	lookup(store.KindUser, "a", "alic")

	// Renames and deletes move and drop entries; a Put keeps a group's place.
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put(group("g2", "a", "STAFF")); err != nil {
			return err
		}
		if err := tx.Put(group("g3", "a", "Former staff")); err != nil {
			return err
		}
		if err := tx.Put(user("u1", "a", "Alicia")); err != nil {
			return err
		}
		return tx.Delete(store.KindGroup, "g5")
	})
	lookup(store.KindGroup, "a", "staff", "g2")
	lookup(store.KindGroup, "a", "former STAFF", "g3")
	lookup(store.KindUser, "a", "alice")
	lookup(store.KindUser, "a", "alicia", "u1")
	create(t, s, group("g6", "a", "staff"), group("g0", "a", "Staff"))
	lookup(store.KindGroup, "a", "STAFF", "g2", "g6", "g0")
}

func testLookupExternalID(t *testing.T, b Backend) {
	s := open(t, b)
	withExt := func(r *store.Resource, ext string) *store.Resource {
		r.ExternalID = ext
		return r
	}
	create(t, s,
		withExt(user("u1", "a", "alice"), "E-1"),
		withExt(user("u2", "a", "bob"), "e-1"),   // differs in case only
		withExt(user("u3", "a", "carol"), "E-1"), // externalId need not be unique
		withExt(user("u4", "b", "alice"), "E-1"),
		withExt(group("g1", "a", "G"), "E-1"),
		user("u5", "a", "dave"), // none
	)
	lookup := func(kind store.Kind, source, ext string, want ...string) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			ids, err := r.LookupExternalID(kind, source, ext)
			checkIDs(t, "LookupExternalID("+string(kind)+", "+source+", "+ext+")", ids, want...)
			return err
		})
	}
	lookup(store.KindUser, "a", "E-1", "u1", "u3")
	lookup(store.KindUser, "a", "e-1", "u2")
	lookup(store.KindUser, "b", "E-1", "u4")
	lookup(store.KindGroup, "a", "E-1", "g1")
	lookup(store.KindGroup, "b", "E-1")
	lookup(store.KindUser, "a", "E-")
	lookup(store.KindUser, "a", "")

	update(t, s, func(tx store.Tx) error {
		if err := tx.Put(withExt(user("u1", "a", "alice"), "E-2")); err != nil {
			return err
		}
		if err := tx.Put(user("u2", "a", "bob")); err != nil { // drops its externalId
			return err
		}
		if err := tx.Put(withExt(user("u5", "a", "dave"), "E-1")); err != nil {
			return err
		}
		return tx.Delete(store.KindGroup, "g1")
	})
	lookup(store.KindUser, "a", "E-1", "u3", "u5")
	lookup(store.KindUser, "a", "E-2", "u1")
	lookup(store.KindUser, "a", "e-1")
	lookup(store.KindGroup, "a", "E-1")
	if got := get(t, s, store.KindUser, "u2").ExternalID; got != "" {
		t.Errorf("ExternalID after Put without one = %q, want empty", got)
	}
}

func testGroupsOf(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "a", "u1"), user("u2", "a", "u2"), user("u3", "a", "u3"))
	// Created in the opposite of id order: GroupsOf sorts by id.
	create(t, s,
		group("g-b", "a", "B", "u1", "u2", "u2"), // a duplicate member is one membership
		group("g-a", "a", "A", "u2", "g-b"),      // a nested group
		group("g-c", "b", "C", "u2"),             // another source
	)
	groupsOf := func(member string, want ...string) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			ids, err := r.GroupsOf(member)
			checkIDs(t, "GroupsOf("+member+")", ids, want...)
			return err
		})
	}
	groupsOf("u1", "g-b")
	groupsOf("u2", "g-a", "g-b", "g-c")
	groupsOf("g-b", "g-a")
	groupsOf("u3")
	groupsOf("nobody")

	// Put adds and removes members; u2, listed twice before, stays.
	update(t, s, func(tx store.Tx) error { return tx.Put(group("g-b", "a", "B", "u3", "u2")) })
	groupsOf("u1")
	groupsOf("u2", "g-a", "g-b", "g-c")
	groupsOf("u3", "g-b")
	update(t, s, func(tx store.Tx) error { return tx.Put(group("g-b", "a", "B", "u3")) })
	groupsOf("u2", "g-a", "g-c")

	// Deleting a group removes its memberships; deleting a member does not
	// touch the groups that list it, since membership lives on the group.
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete(store.KindGroup, "g-a"); err != nil {
			return err
		}
		return tx.Delete(store.KindUser, "u3")
	})
	groupsOf("u2", "g-c")
	groupsOf("g-b")
	groupsOf("u3", "g-b")
	if m := get(t, s, store.KindGroup, "g-b").Members; len(m) != 1 || m[0].Value != "u3" {
		t.Errorf("g-b members after deleting u3 = %+v, want u3 still listed", m)
	}
}
