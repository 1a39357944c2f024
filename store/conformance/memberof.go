package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/store"
)

// checkMemberOf compares MemberOf(member) with want, "id=name" each.
func checkMemberOf(t *testing.T, r store.Reader, when, member string, want ...string) {
	t.Helper()
	refs, err := r.MemberOf(member)
	if err != nil {
		t.Errorf("%s: MemberOf(%q): %v", when, member, err)
		return
	}
	got := make([]string, len(refs))
	for i, g := range refs {
		got[i] = g.ID + "=" + g.Name
	}
	checkIDs(t, fmt.Sprintf("%s: MemberOf(%q)", when, member), got, want...)
}

func testMemberOf(t *testing.T, b Backend) {
	s := open(t, b)
	long := strings.Repeat("Ω", 8000) // 16 KB
	create(t, s, user("u1", "a", "u1"), user("u2", "a", "u2"), user("u3", "a", "u3"))
	create(t, s,
		group("g-b", "a", "B", "u1", "u2", "u2"),     // a duplicate member is one membership
		group("g-a", "a", "A\x00nul ✓", "u2", "g-b"), // a nested group; any bytes in a name
		group("g-c", "b", "", "u2"),                  // another source, and no name
		group("g-d", "a", long, "u3"),
	)
	check := func(when, member string, want ...string) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			checkMemberOf(t, r, when, member, want...)
			return nil
		})
	}
	check("created", "u1", "g-b=B")
	check("created", "u2", "g-a=A\x00nul ✓", "g-b=B", "g-c=")
	check("created", "g-b", "g-a=A\x00nul ✓")
	check("created", "u3", "g-d="+long)
	check("created", "nobody")
	check("created", "")

	// A rename reaches every member, a case change included; a Put that
	// keeps the name keeps it.
	update(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.Put(group("g-b", "a", "b", "u1", "u2")),
			tx.Put(group("g-a", "a", "Renamed", "u2", "g-b")),
			tx.Put(group("g-c", "b", "", "u2")),
		)
	})
	check("renamed", "u1", "g-b=b")
	check("renamed", "u2", "g-a=Renamed", "g-b=b", "g-c=")
	check("renamed", "g-b", "g-a=Renamed")

	// Members added and removed, and a group moved to another source.
	update(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.Put(group("g-b", "a", "b", "u3", "u2")),
			tx.Put(group("g-c", "a", "C", "u1")),
		)
	})
	check("moved", "u1", "g-c=C")
	check("moved", "u2", "g-a=Renamed", "g-b=b")
	check("moved", "u3", "g-b=b", "g-d="+long)

	// Deleting a group removes it; deleting a member leaves the groups that
	// list it, as GroupsOf does.
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.Delete(store.KindGroup, "g-a"), tx.Delete(store.KindUser, "u3"))
	})
	check("deleted", "u2", "g-b=b")
	check("deleted", "g-b")
	check("deleted", "u3", "g-b=b", "g-d="+long)

	// A new group under a deleted group's id has its own name.
	create(t, s, group("g-a", "a", "Again", "u1"))
	check("recreated", "u1", "g-a=Again", "g-c=C")

	if b.Reopen != nil {
		s = b.Reopen(t, s)
		t.Cleanup(func() { s.Close() })
		check("reopened", "u1", "g-a=Again", "g-c=C")
		check("reopened", "u3", "g-b=b", "g-d="+long)
	}
}

func testMemberOfInUpdate(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "a", "u1"), group("g1", "a", "One", "u1"))
	update(t, s, func(tx store.Tx) error {
		checkMemberOf(t, tx, "before writes", "u1", "g1=One")
		if err := tx.Create(group("g2", "a", "Two", "u1")); err != nil {
			return err
		}
		checkMemberOf(t, tx, "after Create", "u1", "g1=One", "g2=Two")
		if err := tx.Put(group("g1", "a", "Uno", "u1")); err != nil {
			return err
		}
		checkMemberOf(t, tx, "after a rename", "u1", "g1=Uno", "g2=Two")
		if err := tx.Delete(store.KindGroup, "g2"); err != nil {
			return err
		}
		checkMemberOf(t, tx, "after Delete", "u1", "g1=Uno")
		return nil
	})
	view(t, s, func(r store.Reader) error {
		checkMemberOf(t, r, "committed", "u1", "g1=Uno")
		return nil
	})

	// An aborted rename, and a failed one inside a transaction that commits,
	// leave the name as it was.
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Put(group("g1", "a", "Eins", "u1")); err != nil {
			return err
		}
		checkMemberOf(t, tx, "before the abort", "u1", "g1=Eins")
		return errBoom
	})
	checkErr(t, "aborted Update", err, errBoom)
	update(t, s, func(tx store.Tx) error {
		err := tx.Put(group("g9", "a", "Nine", "u1"))
		checkErr(t, "Put of a missing group", err, store.ErrNotFound)
		return nil
	})
	view(t, s, func(r store.Reader) error {
		checkMemberOf(t, r, "after the aborts", "u1", "g1=Uno")
		return nil
	})
}

// testMemberOfRandom writes random groups (renames, member changes, nested
// groups, source moves, deletes, aborted transactions) and checks after
// every write and every commit that MemberOf agrees with GroupsOf and the
// group records.
func testMemberOfRandom(t *testing.T, b Backend) {
	s := open(t, b)
	rng := rand.New(rand.NewPCG(15, 3))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	members := []string{"u1", "u2", "u3", "g1", "g2", "g3", "g4"}
	for _, u := range members[:3] {
		create(t, s, user(u, "a", u))
	}
	// agree returns its errors rather than calling t.Fatal: it runs inside
	// update functions too.
	agree := func(when string, r store.Reader) error {
		t.Helper()
		for _, m := range members {
			ids, err := r.GroupsOf(m)
			if err != nil {
				return fmt.Errorf("%s: GroupsOf(%s): %w", when, m, err)
			}
			var want []string
			for _, id := range ids {
				g, err := r.Get(store.KindGroup, id)
				if err != nil {
					return fmt.Errorf("%s: Get group %s: %w", when, id, err)
				}
				want = append(want, id+"="+g.Name)
			}
			checkMemberOf(t, r, when, m, want...)
		}
		return nil
	}
	randomRounds(t, s, rng, 200, func() *store.Resource {
		g := group(pick("g1", "g2", "g3", "g4"), pick("a", "b"), pick("x", "X", "y", "", "ÿ", "Ÿ"))
		for range rng.IntN(4) {
			g.Members = append(g.Members, store.Member{Value: pick(members...)})
		}
		return g
	}, agree)
}

// randomRounds runs rounds Updates of one to three random writes each (a
// Create, a Put or a Delete of the resource next returns; conflicts and
// missing resources are part of the game), an eighth of them aborted, and
// checks agree after every write, inside its Update, and after every
// commit.
func randomRounds(t *testing.T, s store.Store, rng *rand.Rand, rounds int, next func() *store.Resource, agree func(when string, r store.Reader) error) {
	t.Helper()
	for i := range rounds {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			for range 1 + rng.IntN(3) {
				r := next()
				var err error
				switch rng.IntN(4) {
				case 0:
					err = tx.Create(r)
				case 1, 2:
					err = tx.Put(r)
				case 3:
					err = tx.Delete(r.Kind, r.ID)
				}
				if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err := agree(fmt.Sprintf("write %d, in its Update", i), tx); err != nil {
					return err
				}
			}
			if rng.IntN(8) == 0 {
				return errBoom
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBoom) {
			t.Fatalf("write %d: %v", i, err)
		}
		view(t, s, func(r store.Reader) error { return agree(fmt.Sprintf("after write %d", i), r) })
		if t.Failed() {
			return
		}
	}
}
