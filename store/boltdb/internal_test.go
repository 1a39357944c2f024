package boltdb

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// TestRandomOps applies random writes, renames, source moves and
// membership changes and after each transaction checks that every index
// holds exactly the entries the stored records imply.
func TestRandomOps(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "tenure.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	random := func() *store.Resource {
		r := &store.Resource{
			Kind:   store.Kind(pick(string(store.KindUser), string(store.KindGroup))),
			ID:     pick("1", "2", "3", "4", "5", "6", "7", "8"),
			Source: pick("a", "b"),
			Name:   pick("x", "X", "y", "Ÿ", "ÿ", "z", "x\x00y", ""),
		}
		r.ExternalID = pick("", "", "e1", "E1", "e1\x00")
		if r.Kind == store.KindGroup {
			for range rng.IntN(4) {
				r.Members = append(r.Members, store.Member{Value: pick("1", "2", "3", "9")})
			}
		}
		return r
	}
	var ops [4]int
	for i := range 3000 {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			for range 1 + rng.IntN(3) {
				r := random()
				var err error
				switch op := rng.IntN(3); op {
				case 0:
					err = tx.Create(r)
				case 1:
					err = tx.Put(r)
				case 2:
					err = tx.Delete(r.Kind, r.ID)
				}
				switch {
				case err == nil:
					ops[0]++
				case errors.Is(err, store.ErrConflict):
					ops[1]++
				case errors.Is(err, store.ErrNotFound):
					ops[2]++
				default:
					return err
				}
			}
			if rng.IntN(10) == 0 {
				ops[3]++
				return errors.New("abort")
			}
			return nil
		})
		if err != nil && err.Error() != "abort" {
			t.Fatalf("op %d: %v", i, err)
		}
		if err := s.db.View(checkIndexes); err != nil {
			t.Fatalf("after transaction %d: %v", i, err)
		}
	}
	t.Logf("writes: %d ok, %d conflicts, %d not found; %d aborted transactions", ops[0], ops[1], ops[2], ops[3])
}

// checkIndexes rebuilds every index from the records and compares.
func checkIndexes(btx *bbolt.Tx) error {
	members := map[string]string{}
	resourceNames := map[store.Kind]map[string]string{store.KindUser: {}, store.KindGroup: {}}
	for _, kind := range []store.Kind{store.KindUser, store.KindGroup} {
		kb, _ := bucketsOf(kind)
		order, names, exts, counts := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
		n := map[string]uint64{}
		var seqs []uint64
		err := btx.Bucket([]byte(kb.resources)).ForEach(func(k, v []byte) error {
			rec, err := (&Tx{btx: btx}).load(kb, string(k))
			if err != nil {
				return err
			}
			if rec.ID != string(k) || rec.Kind != kind {
				return fmt.Errorf("record %s/%s holds %s/%s", kind, k, rec.Kind, rec.ID)
			}
			seqs = append(seqs, rec.Seq)
			e := entriesOf(rec, rec.Seq)
			for _, idx := range []struct {
				m   map[string]string
				key []byte
			}{{order, e.order}, {names, e.name}, {exts, e.externalID}} {
				m, key := idx.m, idx.key
				if key == nil {
					continue
				}
				if other, ok := m[string(key)]; ok {
					return fmt.Errorf("%s and %s share index key %q", other, rec.ID, key)
				}
				m[string(key)] = rec.ID
			}
			n[rec.Source]++
			for _, mem := range e.members {
				members[string(memberKey(mem, rec.ID))] = ""
			}
			resourceNames[kind][rec.ID] = rec.Name
			return nil
		})
		if err != nil {
			return err
		}
		for src, c := range n {
			counts[src] = string(appendSeq(nil, c))
		}
		if slices.Sort(seqs); len(seqs) > 0 && seqs[len(seqs)-1] > btx.Bucket([]byte(kb.order)).Sequence() {
			return fmt.Errorf("%s: seq %d beyond the order sequence", kind, seqs[len(seqs)-1])
		}
		for name, want := range map[string]map[string]string{kb.order: order, kb.names: names, kb.externalIDs: exts, kb.counts: counts} {
			if err := sameContents(btx, name, want); err != nil {
				return err
			}
		}
	}
	for kind, want := range resourceNames {
		if err := sameContents(btx, nameBucket(kind), want); err != nil {
			return err
		}
	}
	return sameContents(btx, bucketMembers, members)
}

func sameContents(btx *bbolt.Tx, bucket string, want map[string]string) error {
	got := map[string]string{}
	btx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
		got[string(k)] = string(v)
		return nil
	})
	if !maps.Equal(got, want) {
		return fmt.Errorf("bucket %s:\n got %q\nwant %q", bucket, got, want)
	}
	return nil
}

func TestSeqScanExact(t *testing.T) {
	// A group named "a\x00" plus 7 bytes must not match a lookup of "a".
	s, err := Open(filepath.Join(t.TempDir(), "tenure.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(t.Context(), func(tx store.Tx) error {
		for i, name := range []string{"a\x00bcdefgh", "a", "a\x00", "A\x00\x00\x00\x00\x00\x00\x00\x00"} {
			g := &store.Resource{Kind: store.KindGroup, ID: fmt.Sprint(i), Source: "s", Name: name, ExternalID: name}
			if err := tx.Create(g); err != nil {
				return err
			}
		}
		for _, name := range []string{"a", "a\x00"} {
			ids, _ := tx.LookupName(store.KindGroup, "s", name)
			ext, _ := tx.LookupExternalID(store.KindGroup, "s", name)
			want := map[string]string{"a": "1", "a\x00": "2"}[name]
			if !slices.Equal(ids, []string{want}) || !slices.Equal(ext, []string{want}) {
				t.Errorf("lookups of %q = %q, %q; want [%s]", name, ids, ext, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
