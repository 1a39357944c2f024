package conformance

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tenurehq/tenure/store"
)

// seedOrder creates 25 users in source "a", interleaved with users of
// source "b" and groups of source "a", so that every ordered read has to
// keep to its kind and source. It returns the ids in "a" in creation order.
func seedOrder(t *testing.T, s store.Store) []string {
	t.Helper()
	var want []string
	update(t, s, func(tx store.Tx) error {
		want = want[:0] // the function may run again
		for i := range 25 {
			// Ids sort differently from creation order, so a backend
			// cannot pass by sorting ids.
			id := fmt.Sprintf("a-%02d", (i*7)%25)
			want = append(want, id)
			if err := tx.Create(user(id, "a", "user "+id)); err != nil {
				return err
			}
			if i%3 == 0 {
				if err := tx.Create(user(fmt.Sprintf("b-%02d", i), "b", fmt.Sprintf("user b-%02d", i))); err != nil {
					return err
				}
			}
			if i%5 == 0 {
				if err := tx.Create(group(fmt.Sprintf("ga-%02d", i), "a", "group")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return want
}

func testCountListEach(t *testing.T, b Backend) {
	s := open(t, b)
	want := seedOrder(t, s)
	view(t, s, func(r store.Reader) error {
		for _, c := range []struct {
			kind   store.Kind
			source string
			want   int
		}{
			{store.KindUser, "a", 25},
			{store.KindUser, "b", 9},
			{store.KindGroup, "a", 5},
			{store.KindGroup, "b", 0},
			{store.KindUser, "nope", 0},
		} {
			if n, err := r.Count(c.kind, c.source); err != nil || n != c.want {
				t.Errorf("Count(%s, %s) = %d, %v; want %d", c.kind, c.source, n, err, c.want)
			}
		}

		list := func(offset, limit int, want ...string) {
			t.Helper()
			got, err := r.List(store.KindUser, "a", offset, limit)
			if err != nil {
				t.Fatalf("List(%d, %d): %v", offset, limit, err)
			}
			checkIDs(t, fmt.Sprintf("List(%d, %d)", offset, limit), idsOf(got), want...)
		}
		list(0, 100, want...)
		list(0, 10, want[:10]...)
		list(10, 10, want[10:20]...)
		list(20, 10, want[20:]...)
		list(24, 1, want[24])
		list(25, 10)
		list(1000, 10)
		list(3, 0)               // SCIM count=0: nothing
		list(3, -1)              // a negative count counts as 0
		list(-5, 3, want[:3]...) // an offset before the start counts as 0
		groups, err := r.List(store.KindGroup, "a", 0, 100)
		checkIDs(t, "List(Group, a)", idsOf(groups), "ga-00", "ga-05", "ga-10", "ga-15", "ga-20")
		if len(groups) > 0 && (groups[0].Kind != store.KindGroup || groups[0].Name != "group") {
			t.Errorf("List returned %+v, want the whole group", groups[0])
		}

		var each []string
		err = errors.Join(err, r.Each(store.KindUser, "a", func(res *store.Resource) (bool, error) {
			if res.Source != "a" || res.Name != "user "+res.ID {
				t.Errorf("Each gave %+v", res)
			}
			each = append(each, res.ID)
			return true, nil
		}))
		checkIDs(t, "Each(User, a)", each, want...)
		each = nil
		err = errors.Join(err, r.Each(store.KindGroup, "b", func(res *store.Resource) (bool, error) {
			each = append(each, res.ID)
			return true, nil
		}))
		checkIDs(t, "Each(Group, b)", each, nil...)
		return err
	})

	// Count follows deletes and creates.
	update(t, s, func(tx store.Tx) error {
		for _, id := range want[:5] {
			if err := tx.Delete(store.KindUser, id); err != nil {
				return err
			}
		}
		return tx.Create(user("a-new", "a", "new"))
	})
	view(t, s, func(r store.Reader) error {
		n, err := r.Count(store.KindUser, "a")
		if n != 21 {
			t.Errorf("Count after 5 deletes and a create = %d, want 21", n)
		}
		all, lerr := r.List(store.KindUser, "a", 0, 100)
		checkIDs(t, "List after changes", idsOf(all), append(want[5:len(want):len(want)], "a-new")...)
		return errors.Join(err, lerr)
	})
}

// testListPagingUnderChange walks pages while the source changes between
// them. Puts and Creates never disturb paging, nor do deletes past the
// current page; deleting a resource already paged past moves the rest up.
func testListPagingUnderChange(t *testing.T, b Backend) {
	s := open(t, b)
	want := seedOrder(t, s)
	page := func(offset int) []string {
		t.Helper()
		var ids []string
		view(t, s, func(r store.Reader) error {
			got, err := r.List(store.KindUser, "a", offset, 10)
			ids = idsOf(got)
			return err
		})
		return ids
	}

	p1 := page(0)
	checkIDs(t, "page 1", p1, want[:10]...)
	update(t, s, func(tx store.Tx) error {
		// A Put keeps the resource's place.
		if err := tx.Put(user(want[3], "a", "renamed")); err != nil {
			return err
		}
		// Deleting one the caller has not seen yet skips nothing.
		if err := tx.Delete(store.KindUser, want[12]); err != nil {
			return err
		}
		// A new resource comes last.
		return tx.Create(user("a-new", "a", "new"))
	})
	checkIDs(t, "page 1 again", page(0), want[:10]...)
	p2 := page(10)
	checkIDs(t, "page 2", p2, append(want[10:12:12], want[13:21]...)...)
	p3 := page(20)
	checkIDs(t, "page 3", p3, append(want[21:25:25], "a-new")...)
	checkIDs(t, "page 4", page(30), nil...)

	// Offsets count what exists now: deleting a resource on a page already
	// read moves the next page's first resource onto the previous page.
	update(t, s, func(tx store.Tx) error { return tx.Delete(store.KindUser, want[1]) })
	checkIDs(t, "page 2 after deleting from page 1", page(10), append(want[11:12:12], want[13:22]...)...)
}

func testEachStops(t *testing.T, b Backend) {
	s := open(t, b)
	want := seedOrder(t, s)
	view(t, s, func(r store.Reader) error {
		var seen []string
		err := r.Each(store.KindUser, "a", func(res *store.Resource) (bool, error) {
			seen = append(seen, res.ID)
			return len(seen) < 3, nil
		})
		if err != nil {
			t.Errorf("Each stopped by fn: %v, want nil", err)
		}
		checkIDs(t, "Each stopped after 3", seen, want[:3]...)

		seen = nil
		err = r.Each(store.KindUser, "a", func(res *store.Resource) (bool, error) {
			seen = append(seen, res.ID)
			if len(seen) == 2 {
				return true, errBoom
			}
			return true, nil
		})
		checkErr(t, "Each with a failing fn", err, errBoom)
		checkIDs(t, "Each stopped by an error", seen, want[:2]...)
		return nil
	})
}

// Seq is the creation order made visible: increasing across creates, kept by
// Put, never taken from the caller.
func testSeq(t *testing.T, b Backend) {
	s := open(t, b)
	want := seedOrder(t, s)
	var last uint64
	view(t, s, func(r store.Reader) error {
		for i, id := range want {
			res, err := r.Get(store.KindUser, id)
			if err != nil {
				return err
			}
			if res.Seq <= last {
				t.Errorf("user %d (%s) has Seq %d after %d: not increasing in creation order", i, id, res.Seq, last)
			}
			last = res.Seq
		}
		return nil
	})
	first := get(t, s, store.KindUser, want[0])
	update(t, s, func(tx store.Tx) error {
		u := *first
		u.Seq = 1 << 40
		u.Name = "renamed"
		if err := tx.Put(&u); err != nil {
			return err
		}
		if u.Seq != first.Seq {
			return fmt.Errorf("Put set Seq %d, want it kept at %d", u.Seq, first.Seq)
		}
		n := user("late", "a", "late user")
		n.Seq = 3
		if err := tx.Create(n); err != nil {
			return err
		}
		if n.Seq <= last {
			return fmt.Errorf("Create set Seq %d, want more than %d", n.Seq, last)
		}
		return nil
	})
	if got := get(t, s, store.KindUser, want[0]).Seq; got != first.Seq {
		t.Errorf("stored Seq after Put = %d, want %d", got, first.Seq)
	}
}
