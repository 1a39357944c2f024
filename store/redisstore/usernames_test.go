package redisstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

// barrier holds goroutines until n have arrived, so that their Updates all
// read (and WATCH) before any of them commits.
type barrier struct {
	left atomic.Int32
	all  chan struct{}
}

func newBarrier(n int) *barrier {
	b := &barrier{all: make(chan struct{})}
	b.left.Store(int32(n))
	return b
}

func (b *barrier) wait(t testing.TB) {
	if b.left.Add(-1) == 0 {
		close(b.all)
	}
	select {
	case <-b.all:
	case <-time.After(20 * time.Second):
		t.Error("barrier: not every goroutine arrived")
	}
}

// replicas opens n stores on one prefix, each with a client and a metrics
// registry of its own, as n Tenure processes would.
func replicas(t *testing.T, srv *testenv.RedisServer, prefix string, n int) ([]*redisstore.Store, []*prometheus.Registry) {
	var ss []*redisstore.Store
	var regs []*prometheus.Registry
	for range n {
		reg := prometheus.NewRegistry()
		ss = append(ss, open(t, client(t, srv), redisstore.Options{Prefix: prefix, Registerer: reg}))
		regs = append(regs, reg)
	}
	return ss, regs
}

func totalConflicts(t *testing.T, regs []*prometheus.Registry) int {
	n := 0
	for _, reg := range regs {
		n += conflicts(t, reg)
	}
	return n
}

// updateOnce runs fn in an Update of s and waits at bar in its first run,
// after fn, so that every goroutine of the test has read before any
// commits. It returns Update's error and how many times fn ran.
func updateOnce(t *testing.T, s *redisstore.Store, bar *barrier, fn func(store.Tx) error) (int, error) {
	runs := 0
	err := s.Update(t.Context(), func(tx store.Tx) error {
		runs++
		err := fn(tx)
		if runs == 1 {
			bar.wait(t)
		}
		return err
	})
	return runs, err
}

// TestCreatesDoNotConflict has 16 Updates, on two replicas, create users
// of distinct userNames at once, each reading before any commits: none
// conflicts, in one process or across the two. Nor do 16 renames to
// distinct names. The creation numbers stay distinct.
func TestCreatesDoNotConflict(t *testing.T) {
	srv := testenv.Redis(t)
	ss, regs := replicas(t, srv, "nc", 2)
	const n = 16
	phase := func(what string, fn func(i int, tx store.Tx) error) {
		t.Helper()
		bar := newBarrier(n)
		var wg sync.WaitGroup
		var extra atomic.Int32
		for i := range n {
			wg.Go(func() {
				runs, err := updateOnce(t, ss[i%2], bar, func(tx store.Tx) error { return fn(i, tx) })
				if err != nil {
					t.Errorf("%s %d: %v", what, i, err)
				}
				extra.Add(int32(runs - 1))
			})
		}
		wg.Wait()
		if c := totalConflicts(t, regs); c != 0 || extra.Load() != 0 {
			t.Errorf("%s: %d conflicts, %d runs repeated; want none", what, c, extra.Load())
		}
	}
	phase("create", func(i int, tx store.Tx) error {
		return tx.Create(&store.Resource{Kind: store.KindUser, ID: fmt.Sprintf("u%02d", i), Source: "a",
			Name: fmt.Sprintf("User%02d", i)})
	})
	phase("rename", func(i int, tx store.Tx) error {
		u, err := tx.Get(store.KindUser, fmt.Sprintf("u%02d", i))
		if err != nil {
			return err
		}
		u.Name = fmt.Sprintf("Renamed%02d", i)
		return tx.Put(u)
	})
	seqs := map[uint64]bool{}
	err := ss[0].View(t.Context(), func(r store.Reader) error {
		for i := range n {
			u, err := r.Get(store.KindUser, fmt.Sprintf("u%02d", i))
			if err != nil {
				return err
			}
			seqs[u.Seq] = true
			for name, want := range map[string]int{fmt.Sprintf("renamed%02d", i): 1, fmt.Sprintf("user%02d", i): 0} {
				if ids, err := r.LookupName(store.KindUser, "a", name); err != nil || len(ids) != want {
					t.Errorf("LookupName(%s) = %v, %v; want %d ids", name, ids, err, want)
				}
			}
		}
		return nil
	})
	if err != nil || len(seqs) != n {
		t.Errorf("%d distinct Seqs for %d users, %v", len(seqs), n, err)
	}
}

// TestSameUserNameRace races two replicas creating one folded userName,
// both reading before either commits: one succeeds, the other runs again
// and fails with ErrConflict. Renames of two users to one name race alike.
func TestSameUserNameRace(t *testing.T) {
	srv := testenv.Redis(t)
	ss, regs := replicas(t, srv, "race", 2)
	race := func(what string, fn func(i int, tx store.Tx) error) {
		t.Helper()
		before := totalConflicts(t, regs)
		bar := newBarrier(2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				_, errs[i] = updateOnce(t, ss[i], bar, func(tx store.Tx) error { return fn(i, tx) })
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("%s: replica %d: %v, want nil or ErrConflict", what, i, err)
			}
		}
		if c := totalConflicts(t, regs) - before; won != 1 || c != 1 {
			t.Errorf("%s: %d succeeded, %d conflicts; want 1 and 1", what, won, c)
		}
	}
	for round := range 5 {
		id := func(i int) string { return fmt.Sprintf("r%d-%d", round, i) }
		name := fmt.Sprintf("racer%d", round)
		race("create", func(i int, tx store.Tx) error {
			n := []string{strings.ToUpper(name), name}[i]
			return tx.Create(&store.Resource{Kind: store.KindUser, ID: id(i), Source: "a", Name: n})
		})
		err := ss[0].Update(t.Context(), func(tx store.Tx) error {
			for i := range 2 {
				err := tx.Create(&store.Resource{Kind: store.KindUser, ID: id(i) + "x", Source: "a", Name: name + "x" + fmt.Sprint(i)})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		race("rename", func(i int, tx store.Tx) error {
			u, err := tx.Get(store.KindUser, id(i)+"x")
			if err != nil {
				return err
			}
			u.Name = []string{"Taken" + name, "tAKEN" + name}[i]
			return tx.Put(u)
		})
		err = ss[1].View(t.Context(), func(r store.Reader) error {
			for _, n := range []string{name, "taken" + name} {
				if ids, err := r.LookupName(store.KindUser, "a", n); err != nil || len(ids) != 1 {
					t.Errorf("LookupName(%s) = %v, %v; want one id", n, ids, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// layout1 writes users as a build of layout 1 did: a record, the
// creation-order entry, the name key for Names, and the userName in the
// source's hash; the counter is set past their seqs.
func layout1(t *testing.T, c redis.UniversalClient, prefix string, users ...*store.Resource) {
	t.Helper()
	ctx := t.Context()
	base := "{" + prefix + "}:"
	var last uint64
	for _, u := range users {
		if u.Seq == 0 {
			u.Seq = last + 1
		}
		last = max(last, u.Seq)
		u.Kind, u.Version = store.KindUser, 1
		data, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, base+"res:User:"+u.ID, data, 0)
			p.ZAdd(ctx, base+"order:User:"+u.Source, redis.Z{Score: float64(u.Seq), Member: u.ID})
			p.Set(ctx, base+"username:"+u.ID, u.Name, 0)
			p.HSet(ctx, base+"uname:User:"+u.Source, store.FoldName(u.Name), u.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if cur, _ := c.Get(ctx, base+"seq").Uint64(); cur < last {
		if err := c.Set(ctx, base+"seq", last, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func lookup(t *testing.T, s store.Store, source, name string) []string {
	t.Helper()
	var ids []string
	err := s.View(t.Context(), func(r store.Reader) error {
		var err error
		ids, err = r.LookupName(store.KindUser, source, name)
		return err
	})
	if err != nil {
		t.Fatalf("LookupName(%s, %s): %v", source, name, err)
	}
	// Inside Update, where the reads are WATCHed, the answer is the same.
	err = s.Update(t.Context(), func(tx store.Tx) error {
		got, err := tx.LookupName(store.KindUser, source, name)
		if fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Errorf("LookupName(%s, %s) = %v in Update, %v in View", source, name, got, ids)
		}
		return err
	})
	if err != nil {
		t.Fatalf("LookupName(%s, %s) in Update: %v", source, name, err)
	}
	return ids
}

func createUser(t *testing.T, s store.Store, id, source, name string) (*store.Resource, error) {
	t.Helper()
	u := &store.Resource{Kind: store.KindUser, ID: id, Source: source, Name: name}
	return u, s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(u) })
}

// renameAndDelete renames user id to name and deletes user gone, in one
// Update.
func renameAndDelete(t *testing.T, s store.Store, id, name, gone string) {
	t.Helper()
	err := s.Update(t.Context(), func(tx store.Tx) error {
		u, err := tx.Get(store.KindUser, id)
		if err != nil {
			return err
		}
		u.Name = name
		return errors.Join(tx.Put(u), tx.Delete(store.KindUser, gone))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateLayout1 opens a store on data of layout 1: its first View
// moves every source's userName hash into name keys and writes the layout
// version, and the store then works on the migrated data. A second process
// finds nothing to do.
func TestMigrateLayout1(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	ctx := t.Context()
	layout1(t, c, "m",
		&store.Resource{ID: "u1", Source: "a", Name: "Alice"},
		&store.Resource{ID: "u2", Source: "a", Name: "bob"},
		&store.Resource{ID: "u3", Source: "a", Name: "Ça"},
		&store.Resource{ID: "u4", Source: "b", Name: "alice"},
	)
	s := open(t, c, redisstore.Options{Prefix: "m"})
	checkIDs := func(source, name string, want ...string) {
		t.Helper()
		if got := lookup(t, s, source, name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("LookupName(%s, %s) = %v, want %v", source, name, got, want)
		}
	}
	checkIDs("a", "ALICE", "u1")

	if n, _ := c.Exists(ctx, "{m}:uname:User:a", "{m}:uname:User:b").Result(); n != 0 {
		t.Errorf("%d layout 1 hashes left after the migration", n)
	}
	for key, want := range map[string]string{
		"{m}:uname:User:a\x00alice": "u1", "{m}:uname:User:a\x00bob": "u2",
		"{m}:uname:User:a\x00" + store.FoldName("Ça"): "u3", "{m}:uname:User:b\x00alice": "u4",
		"{m}:layout": "2",
	} {
		if got, err := c.Get(ctx, key).Result(); got != want {
			t.Errorf("%q = %q, %v; want %q", key, got, err, want)
		}
	}
	checkIDs("a", "çA", "u3")
	checkIDs("b", "Alice", "u4")
	if _, err := createUser(t, s, "u5", "a", "BOB"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Create of a migrated userName: %v, want ErrConflict", err)
	}
	u6, err := createUser(t, s, "u6", "a", "carol")
	if err != nil || u6.Seq <= 4 {
		t.Errorf("Create after the migration: Seq %d, %v; want past the layout 1 counter", u6.Seq, err)
	}
	renameAndDelete(t, s, "u1", "alicia", "u2")
	checkIDs("a", "alice")
	checkIDs("a", "Alicia", "u1")
	checkIDs("a", "bob")
	if _, err := createUser(t, s, "u7", "a", "Bob"); err != nil {
		t.Errorf("Create of a deleted user's name: %v", err)
	}

	// Another process: the layout version says there is nothing to do; and
	// without it, the scan finds no hash and writes it again.
	keys, _ := c.Keys(ctx, "{m}:*").Result()
	for _, del := range []bool{false, true} {
		if del {
			c.Del(ctx, "{m}:layout")
		}
		s2 := open(t, client(t, srv), redisstore.Options{Prefix: "m"})
		if got := lookup(t, s2, "a", "alicia"); fmt.Sprint(got) != "[u1]" {
			t.Errorf("second process: LookupName = %v", got)
		}
		again, _ := c.Keys(ctx, "{m}:*").Result()
		if len(again) != len(keys) {
			t.Errorf("second process: %d keys, want %d", len(again), len(keys))
		}
	}
}

// TestMigrateSettles migrates hashes whose names a name key gives to
// another user, as a replica on layout 1 leaves them during a rolling
// upgrade: a key whose user is gone or renamed yields to the hash's user; a
// name that two users hold stays in the hash, the layout version is not
// written, and once one of them is deleted the next process completes the
// migration.
func TestMigrateSettles(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	ctx := t.Context()
	// Upgraded replicas created dave (u1), erin (u2), eve (u3); then old
	// replicas deleted dave, renamed erin to erin2, created Dave (u4) and
	// Erin (u5), and a duplicate EVE (u6).
	layout1(t, c, "s",
		&store.Resource{ID: "u2", Source: "a", Name: "erin2", Seq: 2},
		&store.Resource{ID: "u3", Source: "a", Name: "eve", Seq: 3},
		&store.Resource{ID: "u4", Source: "a", Name: "Dave", Seq: 4},
		&store.Resource{ID: "u5", Source: "a", Name: "Erin", Seq: 5},
		&store.Resource{ID: "u6", Source: "a", Name: "EVE", Seq: 6},
	)
	for fold, id := range map[string]string{"dave": "u1", "erin": "u2", "eve": "u3"} {
		c.Set(ctx, "{s}:uname:User:a\x00"+fold, id, 0)
	}
	s := open(t, c, redisstore.Options{Prefix: "s"})
	for name, want := range map[string]string{"dave": "[u4]", "erin": "[u5]", "erin2": "[u2]", "eve": "[u3]"} {
		if got := lookup(t, s, "a", name); fmt.Sprint(got) != want {
			t.Errorf("LookupName(%s) = %v, want %s", name, got, want)
		}
	}
	for key, want := range map[string]string{
		"{s}:uname:User:a\x00dave": "u4", "{s}:uname:User:a\x00erin": "u5", "{s}:uname:User:a\x00erin2": "u2",
		"{s}:uname:User:a\x00eve": "u3",
	} {
		if got, _ := c.Get(ctx, key).Result(); got != want {
			t.Errorf("%q = %q, want %q", key, got, want)
		}
	}
	if f, _ := c.HGetAll(ctx, "{s}:uname:User:a").Result(); fmt.Sprint(f) != "map[eve:u6]" {
		t.Errorf("hash after the migration: %v, want the duplicate eve only", f)
	}
	if n, _ := c.Exists(ctx, "{s}:layout").Result(); n != 0 {
		t.Error("layout version written with a duplicate left in the hash")
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(store.KindUser, "u6") }); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, "{s}:uname:User:a").Result(); n != 0 {
		t.Error("deleting the duplicate left its hash field")
	}
	s2 := open(t, client(t, srv), redisstore.Options{Prefix: "s"})
	if got := lookup(t, s2, "a", "EVE"); fmt.Sprint(got) != "[u3]" {
		t.Errorf("LookupName(EVE) = %v, want [u3]", got)
	}
	if v, _ := c.Get(ctx, "{s}:layout").Result(); v != "2" {
		t.Errorf("layout after the duplicate went: %q, want 2", v)
	}
}

// TestRollingUpgrade has a replica still on layout 1 write beside an
// upgraded store (with raw commands, as that build did): the store sees
// the userNames it creates, ignores the name keys of users it deleted or
// renamed, and removes its hash fields when it deletes or renames their
// users.
func TestRollingUpgrade(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	ctx := t.Context()
	s := open(t, c, redisstore.Options{Prefix: "r"})
	for _, u := range []struct{ id, name string }{{"u1", "gina"}, {"u2", "hank"}} {
		if _, err := createUser(t, s, u.id, "a", u.name); err != nil {
			t.Fatal(err)
		}
	}
	seq, _ := c.Get(ctx, "{r}:seq").Uint64()
	// The old replica creates frank, deletes gina, renames hank to hank2.
	layout1(t, c, "r",
		&store.Resource{ID: "u3", Source: "a", Name: "Frank", Seq: seq + 1},
		&store.Resource{ID: "u2", Source: "a", Name: "hank2", Seq: 2})
	c.Del(ctx, "{r}:res:User:u1", "{r}:username:u1")
	c.ZRem(ctx, "{r}:order:User:a", "u1")

	for name, want := range map[string]string{"FRANK": "[u3]", "gina": "[]", "hank": "[]", "hank2": "[u2]"} {
		if got := lookup(t, s, "a", name); fmt.Sprint(got) != want {
			t.Errorf("LookupName(%s) = %v, want %s", name, got, want)
		}
	}
	if _, err := createUser(t, s, "u4", "a", "frank"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Create of the old replica's userName: %v, want ErrConflict", err)
	}
	for _, u := range []struct{ id, name string }{{"u5", "Gina"}, {"u6", "hank"}} {
		if _, err := createUser(t, s, u.id, "a", u.name); err != nil {
			t.Errorf("Create of %s, whose name key is stale: %v", u.name, err)
		}
	}
	renameAndDelete(t, s, "u2", "hank3", "u3")
	if n, _ := c.Exists(ctx, "{r}:uname:User:a").Result(); n != 0 {
		f, _ := c.HGetAll(ctx, "{r}:uname:User:a").Result()
		t.Errorf("hash fields left after their users were deleted and renamed: %v", f)
	}
	for name, want := range map[string]string{"frank": "[]", "gina": "[u5]", "hank": "[u6]", "hank2": "[]", "hank3": "[u2]"} {
		if got := lookup(t, s, "a", name); fmt.Sprint(got) != want {
			t.Errorf("after: LookupName(%s) = %v, want %s", name, got, want)
		}
	}
}

// TestLayoutTooNew: a store written by a later layout is refused, not
// guessed at.
func TestLayoutTooNew(t *testing.T) {
	srv := testenv.Redis(t)
	c := client(t, srv)
	c.Set(t.Context(), "{new}:layout", 3, 0)
	s := open(t, c, redisstore.Options{Prefix: "new"})
	err := s.View(t.Context(), func(store.Reader) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "store layout version") {
		t.Errorf("View on layout 3: %v, want a layout version error", err)
	}
}
