package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenurehq/tenure/store"
)

// The namespaces of the document tests.
const (
	nsLife  store.Namespace = "lifecycle"
	nsAudit store.Namespace = "audit.v1"
)

// kv is a document as a scan visits it.
type kv struct{ key, val string }

// docModel is what a namespace should hold: key → value.
type docModel map[string]string

// scan returns the documents of m whose key starts with prefix, in the
// order ScanDocs must visit them.
func (m docModel) scan(prefix string, desc bool) []kv {
	var out []kv
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv{k, v})
		}
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	if desc {
		slices.Reverse(out)
	}
	return out
}

// with returns a copy of m with changes applied; a change to "" deletes.
func (m docModel) with(changes map[string]string) docModel {
	out := docModel{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func putDocs(t *testing.T, s store.Store, ns store.Namespace, m docModel) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for k, v := range m {
			if err := tx.PutDoc(ns, k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

func scanDocs(r store.Reader, ns store.Namespace, prefix string, desc bool) ([]kv, error) {
	var got []kv
	err := r.ScanDocs(ns, prefix, desc, func(k string, v []byte) (bool, error) {
		got = append(got, kv{k, string(v)})
		return true, nil
	})
	return got, err
}

// checkScan compares a full scan of ns with what m holds under prefix.
func checkScan(t *testing.T, what string, r store.Reader, ns store.Namespace, m docModel, prefix string, desc bool) {
	t.Helper()
	got, err := scanDocs(r, ns, prefix, desc)
	if err != nil {
		t.Errorf("%s: ScanDocs(%s, %q, desc=%v): %v", what, ns, prefix, desc, err)
		return
	}
	if want := m.scan(prefix, desc); !slices.Equal(got, want) {
		t.Errorf("%s: ScanDocs(%s, %q, desc=%v) =\n %q\nwant\n %q", what, ns, prefix, desc, got, want)
	}
}

// checkDocs checks every document of m with GetDoc and the whole of ns with
// ascending and descending scans.
func checkDocs(t *testing.T, what string, r store.Reader, ns store.Namespace, m docModel) {
	t.Helper()
	for k, v := range m {
		got, err := r.GetDoc(ns, k)
		if err != nil || string(got) != v {
			t.Errorf("%s: GetDoc(%s, %q) = %q, %v; want %q", what, ns, k, got, err, v)
		}
	}
	checkScan(t, what, r, ns, m, "", false)
	checkScan(t, what, r, ns, m, "", true)
}

// numbered returns n documents "<prefix>000"…, enough to span several of
// the round trips a backend may read a scan in.
func numbered(prefix string, n int) docModel {
	m := docModel{}
	for i := range n {
		k := fmt.Sprintf("%s%03d", prefix, i)
		m[k] = "v" + k
	}
	return m
}

func testDocs(t *testing.T, b Backend) {
	s := open(t, b)
	view(t, s, func(r store.Reader) error {
		_, err := r.GetDoc(nsLife, "k1")
		checkErr(t, "GetDoc of a namespace never written", err, store.ErrNotFound)
		got, err := scanDocs(r, nsLife, "", false)
		if err != nil || len(got) != 0 {
			t.Errorf("ScanDocs of a namespace never written = %q, %v", got, err)
		}
		return nil
	})

	// Any byte may be in a document; an empty one is a document too.
	binary := make([]byte, 256<<10)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	longNS := store.Namespace(strings.Repeat("n", 64))
	longKey := strings.Repeat("k", store.MaxDocKey)
	putDocs(t, s, nsLife, docModel{"k1": "v1", "bin": string(binary), "empty": ""})
	putDocs(t, s, longNS, docModel{longKey: "long"})
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after PutDoc", r, nsLife, docModel{"k1": "v1", "bin": string(binary), "empty": ""})
		checkDocs(t, "longest namespace and key", r, longNS, docModel{longKey: "long"})
		got, err := r.GetDoc(nsLife, "empty")
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("GetDoc of an empty document = %#v, %v; want a non-nil empty slice", got, err)
		}
		return nil
	})

	// Overwrite, delete, delete again, delete in a namespace never written.
	update(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.PutDoc(nsLife, "k1", []byte("v2")),
			tx.DeleteDoc(nsLife, "bin"),
		)
	})
	update(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.DeleteDoc(nsLife, "bin"),
			tx.DeleteDoc(nsLife, "never"),
			tx.DeleteDoc("fresh", "never"),
		)
	})
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after overwrite and delete", r, nsLife, docModel{"k1": "v2", "empty": ""})
		_, err := r.GetDoc(nsLife, "bin")
		checkErr(t, "GetDoc of a deleted document", err, store.ErrNotFound)
		_, err = r.GetDoc("fresh", "never")
		checkErr(t, "GetDoc after deleting in a namespace never written", err, store.ErrNotFound)
		return nil
	})
	err := s.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.GetDoc(nsLife, "bin")
		return err
	})
	checkErr(t, "GetDoc of a deleted document in Update", err, store.ErrNotFound)
}

func testDocNamespaces(t *testing.T, b Backend) {
	s := open(t, b)
	// Namespaces that prefix each other, and keys that look like key paths.
	models := map[store.Namespace]docModel{
		"a":          {"k": "a/k", "b:k": "a/b:k", "b": "a/b"},
		"a.b":        {"k": "a.b/k", "b:k": "a.b/b:k"},
		"a-":         {"k": "a-/k"},
		nsLife:       {"k": "life/k"},
		"lifecycle2": {"k": "life2/k"},
	}
	for ns, m := range models {
		putDocs(t, s, ns, m)
	}
	view(t, s, func(r store.Reader) error {
		for ns, m := range models {
			checkDocs(t, "namespaces side by side", r, ns, m)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteDoc("a", "k") })
	delete(models["a"], "k")
	view(t, s, func(r store.Reader) error {
		for ns, m := range models {
			checkDocs(t, "after deleting a/k", r, ns, m)
		}
		return nil
	})
}

func testDocInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	cases := []struct {
		what string
		ns   store.Namespace
		key  string
	}{
		{"empty namespace", "", "k"},
		{"upper-case namespace", "Life", "k"},
		{"namespace with a colon", "a:b", "k"},
		{"namespace with a slash", "a/b", "k"},
		{"namespace with a space", "a b", "k"},
		{"non-ASCII namespace", "é", "k"},
		{"namespace of 65 bytes", store.Namespace(strings.Repeat("n", 65)), "k"},
		{"empty key", nsLife, ""},
		{"key with NUL", nsLife, "a\x00b"},
		{"key of MaxDocKey+1 bytes", nsLife, strings.Repeat("k", store.MaxDocKey+1)},
	}
	invalid := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: error %v, want a failure that is not ErrNotFound", what, err)
		}
	}
	// Failed writes leave no trace: the valid write beside them commits alone.
	update(t, s, func(tx store.Tx) error {
		for _, c := range cases {
			invalid("PutDoc with "+c.what, tx.PutDoc(c.ns, c.key, []byte("x")))
			invalid("DeleteDoc with "+c.what, tx.DeleteDoc(c.ns, c.key))
			_, err := tx.GetDoc(c.ns, c.key)
			invalid("GetDoc in Update with "+c.what, err)
		}
		return tx.PutDoc(nsLife, "a", []byte("ok"))
	})
	view(t, s, func(r store.Reader) error {
		for _, c := range cases {
			_, err := r.GetDoc(c.ns, c.key)
			invalid("GetDoc with "+c.what, err)
			if c.key == "k" {
				invalid("ScanDocs with "+c.what, r.ScanDocs(c.ns, "", false, func(string, []byte) (bool, error) {
					t.Errorf("ScanDocs with %s visited a document", c.what)
					return true, nil
				}))
			}
		}
		checkDocs(t, "after the failed writes", r, nsLife, docModel{"a": "ok"})
		return nil
	})
}

// scanKeys sort differently as bytes than as runes or with a collation,
// and sit next to 0xff, where a scan's upper bound is easy to get wrong.
var scanKeys = []string{
	"a", "a/1", "a/10", "a/2", "a\x7f", "a\xfe\xff", "a\xff", "a\xff\xff", "a\xffb", "ab", "b",
	"é", "é/x", "ê", "日本/1", "日本/2", "日本語", "~", "\xff", "\xff\xff", "\xff\xffz",
}

func testDocScan(t *testing.T, b Backend) {
	s := open(t, b)
	m := numbered("n/", 300)
	for _, k := range scanKeys {
		m[k] = "v" + k
	}
	putDocs(t, s, nsLife, m)
	putDocs(t, s, nsAudit, docModel{"a/1": "other namespace", "n/150": "other namespace"})
	cases := []struct {
		prefix string
		asc    []string // when set, pins the oracle down
	}{
		{prefix: ""},
		{prefix: "a", asc: []string{"a", "a/1", "a/10", "a/2", "ab", "a\x7f", "a\xfe\xff", "a\xff", "a\xffb", "a\xff\xff"}},
		{prefix: "a/", asc: []string{"a/1", "a/10", "a/2"}},
		{prefix: "a/1", asc: []string{"a/1", "a/10"}},
		{prefix: "a\xfe", asc: []string{"a\xfe\xff"}},
		{prefix: "a\xff", asc: []string{"a\xff", "a\xffb", "a\xff\xff"}},
		{prefix: "a\xff\xff", asc: []string{"a\xff\xff"}},
		{prefix: "é", asc: []string{"é", "é/x"}},
		{prefix: "\xc3", asc: []string{"é", "é/x", "ê"}}, // a prefix that cuts a rune
		{prefix: "日本", asc: []string{"日本/1", "日本/2", "日本語"}},
		{prefix: "日本/", asc: []string{"日本/1", "日本/2"}},
		{prefix: "\xff", asc: []string{"\xff", "\xff\xff", "\xff\xffz"}},
		{prefix: "\xff\xff", asc: []string{"\xff\xff", "\xff\xffz"}},
		{prefix: "\xff\xff\xff"},
		{prefix: "b", asc: []string{"b"}},
		{prefix: "zz"},
		{prefix: "n/"},
		{prefix: "n/1"},
		{prefix: "n/29"},
		{prefix: "n/300"},
	}
	for _, c := range cases {
		if c.asc != nil {
			var got []string
			for _, d := range m.scan(c.prefix, false) {
				got = append(got, d.key)
			}
			if !slices.Equal(got, c.asc) {
				t.Fatalf("test oracle for %q = %q, want %q", c.prefix, got, c.asc)
			}
		}
	}
	check := func(when string, r store.Reader) {
		for _, c := range cases {
			checkScan(t, when, r, nsLife, m, c.prefix, false)
			checkScan(t, when, r, nsLife, m, c.prefix, true)
		}
	}
	view(t, s, func(r store.Reader) error { check("View", r); return nil })
	update(t, s, func(tx store.Tx) error { check("Update", tx); return nil })
}

func testDocScanStops(t *testing.T, b Backend) {
	s := open(t, b)
	m := numbered("n/", 300)
	putDocs(t, s, nsLife, m)
	for _, desc := range []bool{false, true} {
		for _, stop := range []int{1, 3, 128, 129, 299} {
			want := m.scan("", desc)[:stop]
			var got []kv
			view(t, s, func(r store.Reader) error {
				return r.ScanDocs(nsLife, "", desc, func(k string, v []byte) (bool, error) {
					got = append(got, kv{k, string(v)})
					return len(got) < stop, nil
				})
			})
			if !slices.Equal(got, want) {
				t.Errorf("ScanDocs(desc=%v) stopping after %d visited %d: %q…", desc, stop, len(got), got[:min(len(got), 3)])
			}
			calls := 0
			err := s.View(t.Context(), func(r store.Reader) error {
				return r.ScanDocs(nsLife, "n/", desc, func(string, []byte) (bool, error) {
					if calls++; calls == stop {
						return true, errBoom
					}
					return true, nil
				})
			})
			if err != errBoom || calls != stop {
				t.Errorf("ScanDocs(desc=%v) with fn failing at call %d = %v after %d calls; want the error as is", desc, stop, err, calls)
			}
		}
	}
}

func testDocReadOwnWrites(t *testing.T, b Backend) {
	s := open(t, b)
	before := numbered("n/", 300)
	before["m"] = "vm"
	putDocs(t, s, nsLife, before)
	// Writes on both sides of the chunk boundaries a backend may read in,
	// at both ends, and of keys that are put and deleted again.
	changes := map[string]string{
		"n/":     "new first",
		"n/000":  "",
		"n/000a": "new",
		"n/010":  "rewritten after delete",
		"n/127":  "",
		"n/127a": "new",
		"n/128":  "overwritten",
		"n/200":  "overwritten",
		"n/255":  "",
		"n/299z": "new last",
		"n/500":  "",
		"o":      "new",
	}
	after := before.with(changes)
	update(t, s, func(tx store.Tx) error {
		u := user("u1", "a", "alice")
		if err := tx.Create(u); err != nil {
			return err
		}
		var errs []error
		for _, k := range []string{"n/010", "n/500"} {
			errs = append(errs, tx.DeleteDoc(nsLife, k), tx.PutDoc(nsLife, k, []byte("first")))
		}
		for k, v := range changes {
			if v == "" {
				errs = append(errs, tx.DeleteDoc(nsLife, k))
			} else {
				errs = append(errs, tx.PutDoc(nsLife, k, []byte(v)))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		checkDocs(t, "in the writing Update", tx, nsLife, after)
		for k, v := range changes {
			if _, err := tx.GetDoc(nsLife, k); v == "" {
				checkErr(t, "GetDoc of "+k+" deleted in the same Update", err, store.ErrNotFound)
			}
		}
		for _, prefix := range []string{"n/", "n/12", "n/0", "n/5", "o", "p"} {
			checkScan(t, "in the writing Update", tx, nsLife, after, prefix, false)
			checkScan(t, "in the writing Update", tx, nsLife, after, prefix, true)
		}
		// The resource written in the same transaction is there too.
		if _, err := tx.Get(store.KindUser, "u1"); err != nil {
			t.Errorf("Get of a user created beside the documents: %v", err)
		}
		return nil
	})
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after commit", r, nsLife, after)
		_, err := r.Get(store.KindUser, "u1")
		return err
	})
}

// testDocScanWritesElsewhere writes, from inside a scan, to a namespace not
// written before and to the resources, as the store contract allows.
func testDocScanWritesElsewhere(t *testing.T, b Backend) {
	s := open(t, b)
	life := numbered("person/", 300)
	putDocs(t, s, nsLife, life)
	events := docModel{}
	for k := range life {
		events["event/"+k] = life[k]
	}
	update(t, s, func(tx store.Tx) error {
		visited := 0
		err := tx.ScanDocs(nsLife, "person/", true, func(k string, v []byte) (bool, error) {
			visited++
			if err := tx.PutDoc(nsAudit, "event/"+k, v); err != nil {
				return false, err
			}
			return true, tx.Create(user("u-"+k, "a", k))
		})
		if visited != len(life) {
			t.Errorf("ScanDocs writing elsewhere visited %d documents, want %d", visited, len(life))
		}
		return err
	})
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after writing during a scan", r, nsLife, life)
		checkDocs(t, "written during a scan", r, nsAudit, events)
		n, err := r.Count(store.KindUser, "a")
		if n != len(life) {
			t.Errorf("Count of users created during a scan = %d, want %d", n, len(life))
		}
		return err
	})
}

func testDocUpdateErrorAborts(t *testing.T, b Backend) {
	s := open(t, b)
	seed := docModel{"k1": "v1", "k2": "v2"}
	putDocs(t, s, nsLife, seed)
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for _, err := range []error{
			tx.PutDoc(nsLife, "k1", []byte("changed")),
			tx.PutDoc(nsLife, "k3", []byte("new")),
			tx.DeleteDoc(nsLife, "k2"),
			tx.PutDoc(nsAudit, "e1", []byte("new namespace")),
			tx.Create(user("u1", "a", "alice")),
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
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after the aborted Update", r, nsLife, seed)
		checkDocs(t, "after the aborted Update", r, nsAudit, nil)
		_, err := r.Get(store.KindUser, "u1")
		checkErr(t, "Get of a user created by the aborted Update", err, store.ErrNotFound)
		return nil
	})
}

func testDocCopies(t *testing.T, b Backend) {
	s := open(t, b)
	update(t, s, func(tx store.Tx) error {
		val := []byte("hello")
		if err := tx.PutDoc(nsLife, "k", val); err != nil {
			return err
		}
		val[0] = 'X' // after PutDoc, the slice is the caller's again
		got, err := tx.GetDoc(nsLife, "k")
		if err != nil {
			return err
		}
		if string(got) != "hello" {
			t.Errorf("changing the slice given to PutDoc changed the document: %q", got)
		}
		got[0] = 'Y'
		return tx.ScanDocs(nsLife, "", false, func(_ string, v []byte) (bool, error) {
			if string(v) != "hello" {
				t.Errorf("changing the slice GetDoc returned changed the document: %q", v)
			}
			v[0] = 'Z'
			return true, nil
		})
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.GetDoc(nsLife, "k")
		if err != nil {
			return err
		}
		got[0] = 'Y'
		err = r.ScanDocs(nsLife, "", false, func(_ string, v []byte) (bool, error) {
			v[0] = 'Z'
			return true, nil
		})
		checkDocs(t, "after changing returned slices", r, nsLife, docModel{"k": "hello"})
		return err
	})
}

func testDocReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot reopen")
	}
	s := open(t, b)
	life := numbered("person/", 200)
	audit := docModel{"person/0000000001/1": "e1", "person/0000000001/2": "e2", "\xff": "last"}
	putDocs(t, s, nsLife, life)
	putDocs(t, s, nsAudit, audit)
	update(t, s, func(tx store.Tx) error { return tx.DeleteDoc(nsLife, "person/007") })
	delete(life, "person/007")

	s2 := b.Reopen(t, s)
	t.Cleanup(func() { s2.Close() })
	view(t, s2, func(r store.Reader) error {
		checkDocs(t, "after reopen", r, nsLife, life)
		checkDocs(t, "after reopen", r, nsAudit, audit)
		_, err := r.GetDoc(nsLife, "person/007")
		checkErr(t, "GetDoc of a deleted document after reopen", err, store.ErrNotFound)
		return nil
	})
	putDocs(t, s2, nsLife, docModel{"person/007": "back"})
	view(t, s2, func(r store.Reader) error {
		checkDocs(t, "writing after reopen", r, nsLife, life.with(docModel{"person/007": "back"}))
		return nil
	})
}

// increment adds one to the decimal counter in ns/key, read and written in
// one Update; runs counts the times the update function ran.
func increment(s store.Store, t *testing.T, ns store.Namespace, key string, runs *atomic.Int32) error {
	return s.Update(t.Context(), func(tx store.Tx) error {
		runs.Add(1)
		n := 0
		v, err := tx.GetDoc(ns, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		return tx.PutDoc(ns, key, []byte(strconv.Itoa(n+1)))
	})
}

// testDocConcurrentCounter has many writers increment one document: every
// increment must land, so a backend must run a function again when the
// document it read changed before it committed.
func testDocConcurrentCounter(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, each = 8, 25
	var runs atomic.Int32
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if err := increment(s, t, nsLife, "counter", &runs); err != nil {
					t.Errorf("increment: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d increments ran %d times", writers*each, runs.Load())
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after concurrent increments", r, nsLife, docModel{"counter": strconv.Itoa(writers * each)})
		return nil
	})
}

// testDocConcurrentDistinct has writers increment documents of their own in
// one namespace and append events to another: all of it must land.
func testDocConcurrentDistinct(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, each = 16, 10
	var runs atomic.Int32
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("person/%02d", w)
			for i := range each {
				if err := increment(s, t, nsLife, key, &runs); err != nil {
					t.Errorf("increment %s: %v", key, err)
					return
				}
				event := fmt.Sprintf("%s/%02d", key, i)
				if err := s.Update(t.Context(), func(tx store.Tx) error {
					return tx.PutDoc(nsAudit, event, []byte(event))
				}); err != nil {
					t.Errorf("PutDoc %s: %v", event, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d increments ran %d times", writers*each, runs.Load())
	counters, events := docModel{}, docModel{}
	for w := range writers {
		key := fmt.Sprintf("person/%02d", w)
		counters[key] = strconv.Itoa(each)
		for i := range each {
			event := fmt.Sprintf("%s/%02d", key, i)
			events[event] = event
		}
	}
	view(t, s, func(r store.Reader) error {
		checkDocs(t, "after concurrent updates", r, nsLife, counters)
		checkDocs(t, "after concurrent updates", r, nsAudit, events)
		return nil
	})
}

// errTaken is testDocUniqueClaim's "another writer owns it".
var errTaken = errors.New("taken")

// testDocUniqueClaim is the engine's one-owner index: writers race to
// claim the same keys, each claim reading the index document and, if it is
// free, writing it and the claimer's own link document in one Update. Every
// key must end with exactly one owner, whose link names it, and no other
// link may name it: a backend must not let two Updates that read the same
// free document both commit.
func testDocUniqueClaim(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, keys = 8, 20
	nsOwner, nsLink := store.Namespace("owner"), store.Namespace("link")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			me := fmt.Sprintf("w%d", w)
			for k := range keys {
				key := fmt.Sprintf("t/anchor-%02d", (k+w)%keys) // different orders
				err := s.Update(t.Context(), func(tx store.Tx) error {
					owner, err := tx.GetDoc(nsOwner, key)
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						return err
					case string(owner) == me:
						return nil
					default:
						return errTaken
					}
					if err := tx.PutDoc(nsOwner, key, []byte(me)); err != nil {
						return err
					}
					return tx.PutDoc(nsLink, me+"/"+key, []byte(key))
				})
				if err != nil && !errors.Is(err, errTaken) {
					t.Errorf("claim %s: %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	view(t, s, func(r store.Reader) error {
		owners, err := scanDocs(r, nsOwner, "", false)
		if err != nil {
			return err
		}
		links, err := scanDocs(r, nsLink, "", false)
		if err != nil {
			return err
		}
		if len(owners) != keys {
			t.Errorf("%d keys owned, want %d", len(owners), keys)
		}
		holders := map[string][]string{}
		for _, l := range links {
			me, _, _ := strings.Cut(l.key, "/")
			holders[l.val] = append(holders[l.val], me)
		}
		for _, o := range owners {
			if h := holders[o.key]; len(h) != 1 || h[0] != o.val {
				t.Errorf("%s is owned by %s but linked by %v", o.key, o.val, h)
			}
		}
		return nil
	})
}
