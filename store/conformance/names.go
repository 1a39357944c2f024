package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/store"
)

// checkNames compares Names(kind, ids) with want, one name per id.
func checkNames(t *testing.T, r store.Reader, when string, kind store.Kind, ids []string, want ...string) {
	t.Helper()
	got, err := r.Names(kind, ids)
	if err != nil {
		t.Errorf("%s: Names(%s, %q): %v", when, kind, ids, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: Names(%s, %q) = %q, want %q", when, kind, ids, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: Names(%s, %q) = %q, want %q", when, kind, ids, got, want)
			return
		}
	}
}

func testNames(t *testing.T, b Backend) {
	s := open(t, b)
	long := strings.Repeat("Ω", 8000) // 16 KB
	create(t, s, user("u1", "a", "Ada"), user("u2", "b", "bob ✓"), user("u3", "a", long),
		group("g1", "a", "Admins", "u1"), group("g2", "a", "", "u2"))
	users, groups := []string{"u1", "u2", "u3", "g1", "nobody", "u1"}, []string{"g2", "g1", "u1", ""}
	check := func(r store.Reader, when string, wantUsers, wantGroups []string) {
		t.Helper()
		checkNames(t, r, when, store.KindUser, users, wantUsers...)
		checkNames(t, r, when, store.KindGroup, groups, wantGroups...)
		checkNames(t, r, when, store.KindUser, nil)
	}
	created := func(r store.Reader) error {
		// Another kind's id and an unknown one have no name; order and
		// repetitions are the caller's; any source.
		check(r, "created", []string{"Ada", "bob ✓", long, "", "", "Ada"}, []string{"", "Admins", "", ""})
		return nil
	}
	view(t, s, created)

	// A rename is seen at once, inside its transaction too, and after the
	// commit; a case change is a rename.
	update(t, s, func(tx store.Tx) error {
		err := errors.Join(tx.Put(user("u1", "a", "ADA")), tx.Put(group("g1", "a", "Root", "u1")), tx.Put(user("u2", "b", "bob ✓")))
		check(tx, "renamed, in the Update", []string{"ADA", "bob ✓", long, "", "", "ADA"}, []string{"", "Root", "", ""})
		return err
	})
	renamed := func(r store.Reader) error {
		check(r, "renamed", []string{"ADA", "bob ✓", long, "", "", "ADA"}, []string{"", "Root", "", ""})
		return nil
	}
	view(t, s, renamed)

	// An aborted rename and a failed Put change nothing.
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Put(user("u1", "a", "Augusta")); err != nil {
			return err
		}
		checkNames(t, tx, "before the abort", store.KindUser, []string{"u1"}, "Augusta")
		return errBoom
	})
	checkErr(t, "aborted Update", err, errBoom)
	update(t, s, func(tx store.Tx) error {
		create := tx.Create(user("u9", "a", "ADA")) // the userName is taken
		checkErr(t, "Create of a taken userName", create, store.ErrConflict)
		checkNames(t, tx, "after the failed Create", store.KindUser, []string{"u9", "u1"}, "", "ADA")
		return nil
	})
	view(t, s, renamed)

	// A deleted resource has no name; a new one under its id has its own.
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.Delete(store.KindUser, "u3"), tx.Delete(store.KindGroup, "g2"))
	})
	view(t, s, func(r store.Reader) error {
		check(r, "deleted", []string{"ADA", "bob ✓", "", "", "", "ADA"}, []string{"", "Root", "", ""})
		return nil
	})
	create(t, s, user("u3", "a", "Again"))
	view(t, s, func(r store.Reader) error {
		checkNames(t, r, "recreated", store.KindUser, []string{"u3"}, "Again")
		return nil
	})

	if b.Reopen != nil {
		s = b.Reopen(t, s)
		t.Cleanup(func() { s.Close() })
		view(t, s, func(r store.Reader) error {
			check(r, "reopened", []string{"ADA", "bob ✓", "Again", "", "", "ADA"}, []string{"", "Root", "", ""})
			return nil
		})
	}
}

// testNamesRandom renames, creates and deletes users and groups at random,
// aborting some transactions, and checks after every write and every
// commit that Names agrees with the records.
func testNamesRandom(t *testing.T, b Backend) {
	s := open(t, b)
	rng := rand.New(rand.NewPCG(16, 2))
	ids := map[store.Kind][]string{store.KindUser: {"u1", "u2", "u3"}, store.KindGroup: {"g1", "g2"}}
	agree := func(when string, r store.Reader) error {
		for kind, list := range ids {
			var want []string
			for _, id := range list {
				res, err := r.Get(kind, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
					want = append(want, "")
				case err != nil:
					return fmt.Errorf("%s: Get %s %s: %w", when, kind, id, err)
				default:
					want = append(want, res.Name)
				}
			}
			checkNames(t, r, when, kind, list, want...)
		}
		return nil
	}
	randomRounds(t, s, rng, 150, func() *store.Resource {
		kind := []store.Kind{store.KindUser, store.KindGroup}[rng.IntN(2)]
		list := ids[kind]
		return &store.Resource{Kind: kind, ID: list[rng.IntN(len(list))], Source: "a",
			Name: []string{"x", "X", "y", "ÿ", "Ÿ", "z"}[rng.IntN(6)]}
	}, agree)
}
