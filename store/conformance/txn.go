package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/store"
)

func testReadOwnWrites(t *testing.T, b Backend) {
	s := open(t, b)
	update(t, s, func(tx store.Tx) error {
		if err := tx.Create(user("u1", "a", "alice")); err != nil {
			return err
		}
		if err := tx.Create(group("g1", "a", "G", "u1")); err != nil {
			return err
		}
		got, err := tx.Get(store.KindUser, "u1")
		if err != nil || got.Name != "alice" || got.Version != 1 {
			t.Errorf("Get after Create in the same Update = %+v, %v", got, err)
		}
		ids, err := tx.LookupName(store.KindUser, "a", "ALICE")
		checkIDs(t, "LookupName in the same Update", ids, "u1")
		groups, err2 := tx.GroupsOf("u1")
		checkIDs(t, "GroupsOf in the same Update", groups, "g1")
		n, err3 := tx.Count(store.KindUser, "a")
		if n != 1 {
			t.Errorf("Count in the same Update = %d, want 1", n)
		}
		if err := tx.Put(user("u1", "a", "alicia")); err != nil {
			return err
		}
		list, err4 := tx.List(store.KindUser, "a", 0, 10)
		if len(list) != 1 || list[0].Name != "alicia" || list[0].Version != 2 {
			t.Errorf("List after Put in the same Update = %+v", list)
		}
		if err := tx.Delete(store.KindGroup, "g1"); err != nil {
			return err
		}
		_, err5 := tx.Get(store.KindGroup, "g1")
		checkErr(t, "Get after Delete in the same Update", err5, store.ErrNotFound)
		return errors.Join(err, err2, err3, err4)
	})
	if got := get(t, s, store.KindUser, "u1"); got.Name != "alicia" || got.Version != 2 {
		t.Errorf("after commit: %+v", got)
	}
}

// seedAbort stores a user and a group and returns a check that they and all
// their index entries are exactly as stored.
func seedAbort(t *testing.T, s store.Store) func(when string) {
	t.Helper()
	u := user("u1", "a", "alice")
	u.ExternalID = "e1"
	create(t, s, u, user("u2", "a", "bob"), group("g1", "a", "G", "u1"))
	return func(when string) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			got, err := r.Get(store.KindUser, "u1")
			if err != nil || got.Name != "alice" || got.ExternalID != "e1" || got.Version != 1 {
				t.Errorf("%s: u1 = %+v, %v; want it unchanged", when, got, err)
			}
			got, err = r.Get(store.KindUser, "u2")
			if err != nil || got.Name != "bob" || got.ExternalID != "" || got.Version != 1 {
				t.Errorf("%s: u2 = %+v, %v; want it unchanged", when, got, err)
			}
			_, err = r.Get(store.KindUser, "u3")
			checkErr(t, when+": Get u3", err, store.ErrNotFound)
			var errs []error
			lookup := func(kind store.Kind, name string, want ...string) {
				ids, err := r.LookupName(kind, "a", name)
				checkIDs(t, when+": LookupName "+name, ids, want...)
				errs = append(errs, err)
			}
			lookup(store.KindUser, "alice", "u1")
			lookup(store.KindUser, "bob", "u2")
			lookup(store.KindUser, "carol")
			lookup(store.KindUser, "dave")
			lookup(store.KindGroup, "G", "g1")
			lookup(store.KindGroup, "H")
			for _, ext := range []string{"e1", "e2", "e3", "e4"} {
				ids, err := r.LookupExternalID(store.KindUser, "a", ext)
				if ext == "e1" {
					checkIDs(t, when+": LookupExternalID e1", ids, "u1")
				} else {
					checkIDs(t, when+": LookupExternalID "+ext, ids, nil...)
				}
				errs = append(errs, err)
			}
			for member, want := range map[string][]string{"u1": {"g1"}, "u2": nil, "u3": nil} {
				ids, err := r.GroupsOf(member)
				checkIDs(t, when+": GroupsOf "+member, ids, want...)
				errs = append(errs, err)
			}
			users, err := r.Count(store.KindUser, "a")
			groups, err2 := r.Count(store.KindGroup, "a")
			if users != 2 || groups != 1 {
				t.Errorf("%s: Count = %d users, %d groups; want 2, 1", when, users, groups)
			}
			list, err3 := r.List(store.KindUser, "a", 0, 10)
			checkIDs(t, when+": List", idsOf(list), "u1", "u2")
			return errors.Join(append(errs, err, err2, err3)...)
		})
	}
}

func testUpdateErrorAborts(t *testing.T, b Backend) {
	s := open(t, b)
	unchanged := seedAbort(t, s)
	err := s.Update(t.Context(), func(tx store.Tx) error {
		u3 := user("u3", "a", "carol")
		u3.ExternalID = "e3"
		u1 := user("u1", "a", "dave")
		u1.ExternalID = "e2"
		for _, err := range []error{
			tx.Create(u3),
			tx.Put(u1),
			tx.Put(group("g1", "a", "H", "u2", "u3")),
			tx.Delete(store.KindUser, "u2"),
			tx.Create(group("g2", "a", "G", "u1")),
		} {
			if err != nil {
				t.Errorf("write before the failure: %v", err)
			}
		}
		return errBoom
	})
	if err != errBoom {
		t.Errorf("Update = %v, want the function's error as is", err)
	}
	unchanged("after the aborted Update")
	// Nothing the aborted Update did is reserved either.
	create(t, s, user("u3", "a", "carol"), group("g2", "a", "G2"))
}

// testFailedWriteLeavesNoTrace checks that a Create, Put or Delete that fails
// leaves nothing behind, so that an update function can handle the error
// and commit.
func testFailedWriteLeavesNoTrace(t *testing.T, b Backend) {
	s := open(t, b)
	unchanged := seedAbort(t, s)
	update(t, s, func(tx store.Tx) error {
		dupID := user("u1", "a", "carol")
		dupID.ExternalID = "e2"
		takenName := user("u3", "a", "ALICE")
		takenName.ExternalID = "e3"
		rename := user("u2", "a", "Alice")
		rename.ExternalID = "e4"
		dupGroup := group("g1", "a", "H", "u2")
		for _, c := range []struct {
			what   string
			err    error
			target error
		}{
			{"Create with a taken id", tx.Create(dupID), store.ErrConflict},
			{"Create with a taken userName", tx.Create(takenName), store.ErrConflict},
			{"Create group with a taken id", tx.Create(dupGroup), store.ErrConflict},
			{"Put renaming to a taken userName", tx.Put(rename), store.ErrConflict},
			{"Put of a missing user", tx.Put(user("u3", "a", "dave")), store.ErrNotFound},
			{"Delete of a missing user", tx.Delete(store.KindUser, "u3"), store.ErrNotFound},
		} {
			checkErr(t, c.what, c.err, c.target)
		}
		if dupID.Version != 0 || rename.Version != 0 {
			t.Errorf("failed writes set Version: %d, %d", dupID.Version, rename.Version)
		}
		return nil
	})
	unchanged("after the failed writes committed")
	create(t, s, user("u3", "a", "carol"))
}

func testConcurrentCreates(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := user(fmt.Sprintf("u%02d", i), "a", fmt.Sprintf("user%02d", i))
			if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(u) }); err != nil {
				t.Errorf("Create %s: %v", u.ID, err)
			}
		})
	}
	wg.Wait()
	view(t, s, func(r store.Reader) error {
		n2, err := r.Count(store.KindUser, "a")
		if n2 != n {
			t.Errorf("Count = %d, want %d", n2, n)
		}
		all, err2 := r.List(store.KindUser, "a", 0, 2*n)
		seen := map[string]bool{}
		for _, u := range all {
			seen[u.ID] = true
		}
		if len(all) != n || len(seen) != n {
			t.Errorf("List gave %d resources, %d distinct; want %d", len(all), len(seen), n)
		}
		for i := range n {
			id := fmt.Sprintf("u%02d", i)
			got, err := r.Get(store.KindUser, id)
			if err != nil || got.Version != 1 {
				t.Errorf("Get %s = %+v, %v", id, got, err)
			}
		}
		return errors.Join(err, err2)
	})
}

func testConcurrentSameUserName(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 32
	variants := []string{"racer", "Racer", "RACER", "rAcEr"}
	var wg sync.WaitGroup
	var won, lost atomic.Int32
	var winner atomic.Value
	for i := range n {
		wg.Go(func() {
			u := user(fmt.Sprintf("u%02d", i), "a", variants[i%len(variants)])
			err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(u) })
			switch {
			case err == nil:
				won.Add(1)
				winner.Store(u.ID)
			case errors.Is(err, store.ErrConflict):
				lost.Add(1)
			default:
				t.Errorf("Create %s: %v, want nil or ErrConflict", u.ID, err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d Creates succeeded and %d conflicted; want 1 and %d", won.Load(), lost.Load(), n-1)
	}
	view(t, s, func(r store.Reader) error {
		ids, err := r.LookupName(store.KindUser, "a", "RaCeR")
		checkIDs(t, "LookupName", ids, winner.Load().(string))
		count, err2 := r.Count(store.KindUser, "a")
		if count != 1 {
			t.Errorf("Count = %d, want 1", count)
		}
		return errors.Join(err, err2)
	})
}

// testConcurrentFailuresIsolated runs succeeding and failing Updates side by
// side. A backend that shares commits between Updates must keep a failing
// one from taking the others down, running them again if it has to.
func testConcurrentFailuresIsolated(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 32
	var runs atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := user(fmt.Sprintf("u%02d", i), "a", fmt.Sprintf("user%02d", i))
			fail := i%2 == 1
			err := s.Update(t.Context(), func(tx store.Tx) error {
				runs.Add(1)
				if err := tx.Create(u); err != nil {
					return err
				}
				if fail {
					return errBoom
				}
				return nil
			})
			if fail && err != errBoom {
				t.Errorf("failing Update %s = %v, want the function's error as is", u.ID, err)
			}
			if !fail && err != nil {
				t.Errorf("Update %s: %v", u.ID, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d update functions ran %d times", n, runs.Load())
	view(t, s, func(r store.Reader) error {
		for i := range n {
			id := fmt.Sprintf("u%02d", i)
			got, err := r.Get(store.KindUser, id)
			if i%2 == 1 {
				checkErr(t, "Get "+id+" of a failed Update", err, store.ErrNotFound)
			} else if err != nil || got.Version != 1 {
				t.Errorf("Get %s = %+v, %v; want Version 1", id, got, err)
			}
		}
		count, err := r.Count(store.KindUser, "a")
		if count != n/2 {
			t.Errorf("Count = %d, want %d", count, n/2)
		}
		return err
	})
}

// testViewSnapshot commits a write while a View is open; the View must not
// see it. A backend may make writers wait for open readers (bbolt does
// when it must grow its memory map); then the check is skipped rather than
// deadlocking, and only the write's later success is checked.
func testViewSnapshot(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "a", "before"))
	done := make(chan error, 1)
	var waited bool
	view(t, s, func(r store.Reader) error {
		if _, err := r.Get(store.KindUser, "u1"); err != nil {
			return err
		}
		go func() {
			_, err := store.Modify(t.Context(), s, store.KindUser, "u1", func(r *store.Resource) error {
				r.Name = "after"
				return nil
			})
			if err == nil {
				err = s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(user("u2", "a", "new")) })
			}
			done <- err
		}()
		select {
		case err := <-done:
			waited = true
			if err != nil {
				return err
			}
		case <-time.After(5 * time.Second):
			t.Log("the writes waited for the View; snapshot not checked")
			return nil
		}
		got, err := r.Get(store.KindUser, "u1")
		if err != nil || got.Name != "before" || got.Version != 1 {
			t.Errorf("View saw a write committed after it began: %+v, %v", got, err)
		}
		_, err2 := r.Get(store.KindUser, "u2")
		checkErr(t, "View reading a resource created after it began", err2, store.ErrNotFound)
		ids, err3 := r.LookupName(store.KindUser, "a", "after")
		checkIDs(t, "LookupName in the older View", ids, nil...)
		n, err4 := r.Count(store.KindUser, "a")
		if n != 1 {
			t.Errorf("Count in the older View = %d, want 1", n)
		}
		return errors.Join(err, err3, err4)
	})
	if !waited {
		if err := <-done; err != nil {
			t.Fatalf("writes after the View: %v", err)
		}
	}
	if got := get(t, s, store.KindUser, "u1"); got.Name != "after" || got.Version != 2 {
		t.Errorf("after the View: %+v", got)
	}
}

func testContextDone(t *testing.T, b Backend) {
	s := open(t, b)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range []struct {
		ctx  context.Context
		want error
	}{{canceled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		ran := false
		err := s.View(c.ctx, func(store.Reader) error { ran = true; return nil })
		checkErr(t, "View", err, c.want)
		err = s.Update(c.ctx, func(tx store.Tx) error {
			ran = true
			return tx.Create(user("u1", "a", "alice"))
		})
		checkErr(t, "Update", err, c.want)
		if ran {
			t.Errorf("fn ran despite a done context (%v)", c.want)
		}
		checkErr(t, "Ping", s.Ping(c.ctx), c.want)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	_, err := store.Get(t.Context(), s, store.KindUser, "u1")
	checkErr(t, "Get after the cancelled Update", err, store.ErrNotFound)
}

func testClosed(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, user("u1", "a", "alice"))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ran := false
	checkErr(t, "View after Close", s.View(t.Context(), func(store.Reader) error { ran = true; return nil }), store.ErrClosed)
	checkErr(t, "Update after Close", s.Update(t.Context(), func(store.Tx) error { ran = true; return nil }), store.ErrClosed)
	if ran {
		t.Error("fn ran after Close")
	}
	checkErr(t, "Ping after Close", s.Ping(t.Context()), store.ErrClosed)
	_, err := store.Get(t.Context(), s, store.KindUser, "u1")
	checkErr(t, "store.Get after Close", err, store.ErrClosed)
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v, want nil or ErrClosed", err)
	}
}

func testReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot reopen")
	}
	s := open(t, b)
	u1 := fullUser("u1", "a", "Älice")
	g1 := fullGroup("g1", "a", "Admins")
	create(t, s, u1, user("u2", "a", "bob"), user("u3", "b", "carol"), g1, group("g2", "a", "ADMINS", "u3"))
	update(t, s, func(tx store.Tx) error {
		u1.Attributes["title"] = "Queen"
		if err := tx.Put(u1); err != nil {
			return err
		}
		return tx.Delete(store.KindUser, "u2")
	})

	s2 := b.Reopen(t, s)
	t.Cleanup(func() { s2.Close() })
	checkErr(t, "View on the store Reopen closed", s.View(t.Context(), func(store.Reader) error { return nil }), store.ErrClosed)

	checkResource(t, get(t, s2, store.KindUser, "u1"), u1)
	checkResource(t, get(t, s2, store.KindGroup, "g1"), g1)
	view(t, s2, func(r store.Reader) error {
		_, err := r.Get(store.KindUser, "u2")
		checkErr(t, "Get deleted u2 after reopen", err, store.ErrNotFound)
		var errs []error
		ids, err := r.LookupName(store.KindUser, "a", "ÄLICE")
		checkIDs(t, "LookupName after reopen", ids, "u1")
		errs = append(errs, err)
		ids, err = r.LookupName(store.KindUser, "a", "bob")
		checkIDs(t, "LookupName of deleted after reopen", ids, nil...)
		errs = append(errs, err)
		ids, err = r.LookupName(store.KindGroup, "a", "admins")
		checkIDs(t, "LookupName groups after reopen", ids, "g1", "g2")
		errs = append(errs, err)
		ids, err = r.LookupExternalID(store.KindUser, "a", "Ext-u1")
		checkIDs(t, "LookupExternalID after reopen", ids, "u1")
		errs = append(errs, err)
		ids, err = r.GroupsOf("u3")
		checkIDs(t, "GroupsOf after reopen", ids, "g1", "g2")
		errs = append(errs, err)
		n, err := r.Count(store.KindUser, "a")
		if n != 1 {
			t.Errorf("Count after reopen = %d, want 1", n)
		}
		return errors.Join(append(errs, err)...)
	})

	// Creation order and versions carry on where they were.
	create(t, s2, user("u0", "a", "new"))
	update(t, s2, func(tx store.Tx) error { return tx.Put(u1) })
	if u1.Version != 3 {
		t.Errorf("Put after reopen set Version %d, want 3", u1.Version)
	}
	view(t, s2, func(r store.Reader) error {
		all, err := r.List(store.KindUser, "a", 0, 10)
		checkIDs(t, "List after reopen and Create", idsOf(all), "u1", "u0")
		return err
	})
}

func testHelperGet(t *testing.T, b Backend) {
	s := open(t, b)
	u := fullUser("u1", "a", "alice")
	create(t, s, u)
	got, err := store.Get(t.Context(), s, store.KindUser, "u1")
	if err != nil {
		t.Fatalf("store.Get: %v", err)
	}
	checkResource(t, got, u)
	_, err = store.Get(t.Context(), s, store.KindGroup, "u1")
	checkErr(t, "store.Get with the wrong kind", err, store.ErrNotFound)
}

func testHelperModify(t *testing.T, b Backend) {
	s := open(t, b)
	create(t, s, fullUser("u1", "a", "alice"), user("u2", "a", "bob"))
	got, err := store.Modify(t.Context(), s, store.KindUser, "u1", func(r *store.Resource) error {
		r.Name = "Alicia"
		r.Attributes["title"] = "Queen"
		return nil
	})
	if err != nil {
		t.Fatalf("Modify: %v", err)
	}
	want := fullUser("u1", "a", "Alicia")
	want.Attributes["title"] = "Queen"
	want.Version = 2
	checkResource(t, got, want)
	checkResource(t, get(t, s, store.KindUser, "u1"), want)

	_, err = store.Modify(t.Context(), s, store.KindUser, "u1", func(r *store.Resource) error {
		r.Name = "changed"
		return errBoom
	})
	if err != errBoom {
		t.Errorf("Modify with a failing updater = %v, want its error as is", err)
	}
	_, err = store.Modify(t.Context(), s, store.KindUser, "u1", func(r *store.Resource) error {
		r.Name = strings.ToUpper("bob")
		return nil
	})
	checkErr(t, "Modify to a taken userName", err, store.ErrConflict)
	_, err = store.Modify(t.Context(), s, store.KindUser, "nope", func(*store.Resource) error { return nil })
	checkErr(t, "Modify of a missing user", err, store.ErrNotFound)
	checkResource(t, get(t, s, store.KindUser, "u1"), want)
}
