package boltdb_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/store/conformance"
)

func openTemp(t testing.TB, opts boltdb.Options) *boltdb.Store {
	t.Helper()
	s, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	conformance.RunTests(t, conformance.Backend{
		New: func(t *testing.T) store.Store {
			return openTemp(t, boltdb.Options{Registerer: prometheus.NewRegistry()})
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*boltdb.Store).DB().Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s2, err := boltdb.Open(path, boltdb.Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			return s2
		},
	})
}

func TestOpenLocked(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	start := time.Now()
	_, err := boltdb.Open(s.DB().Path(), boltdb.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, bbolt.ErrTimeout) {
		t.Errorf("second Open = %v, want bbolt.ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v despite the 50ms timeout", d)
	}
}

func TestOpenNewerLayout(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	path := s.DB().Path()
	err := s.DB().Update(func(btx *bbolt.Tx) error {
		return btx.Bucket([]byte("store/meta")).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 2})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s2, err := boltdb.Open(path, boltdb.Options{}); err == nil {
		s2.Close()
		t.Fatal("Open accepted a file with layout version 2")
	}
}

// TestBoltHook shows how another package writes its own bucket in the same
// transaction as a store change: both commit, or neither does.
func TestBoltHook(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	queue := []byte("delayqueue")
	if err := s.DB().Update(func(btx *bbolt.Tx) error {
		_, err := btx.CreateBucketIfNotExists(queue)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, fail := range []bool{true, false} {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "alice"}); err != nil {
				return err
			}
			btx := tx.(*boltdb.Tx).Bolt()
			if err := btx.Bucket(queue).Put([]byte("job-u1"), []byte("deprovision")); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		})
		if fail != (err == boom) {
			t.Fatalf("Update (fail=%v) = %v", fail, err)
		}
		var job []byte
		s.DB().View(func(btx *bbolt.Tx) error {
			job = btx.Bucket(queue).Get([]byte("job-u1"))
			return nil
		})
		_, err = store.Get(t.Context(), s, store.KindUser, "u1")
		if fail && (job != nil || err == nil) {
			t.Errorf("aborted Update left job %q, user error %v", job, err)
		}
		if !fail && (string(job) != "deprovision" || err != nil) {
			t.Errorf("committed Update: job %q, user error %v", job, err)
		}
	}
}

func TestViewIsReadOnly(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	err := s.View(t.Context(), func(r store.Reader) error {
		return r.(store.Tx).Create(&store.Resource{Kind: store.KindUser, ID: "u1", Source: "a", Name: "alice"})
	})
	if !errors.Is(err, bbolt.ErrTxNotWritable) {
		t.Errorf("Create in View = %v, want bbolt.ErrTxNotWritable", err)
	}
}

func TestInvalidKeys(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	long := make([]byte, bbolt.MaxKeySize)
	for i := range long {
		long[i] = 'x'
	}
	for _, r := range []*store.Resource{
		{Kind: "Robot", ID: "r1", Source: "a"},
		{Kind: store.KindUser, ID: "", Source: "a"},
		{Kind: store.KindUser, ID: "u\x00", Source: "a"},
		{Kind: store.KindUser, ID: "u1", Source: ""},
		{Kind: store.KindUser, ID: "u1", Source: "a\x00b"},
		{Kind: store.KindUser, ID: "u1", Source: "a", Name: string(long)},
		{Kind: store.KindUser, ID: "u1", Source: "a", ExternalID: string(long)},
		{Kind: store.KindGroup, ID: "g1", Source: "a", Members: []store.Member{{Value: ""}}},
		{Kind: store.KindUser, ID: "u1", Source: "a", Attributes: map[string]any{"bad": func() {}}},
	} {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.Create(r); err == nil {
				return fmt.Errorf("Create %+v succeeded", r)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	// Nothing was written along the way.
	err := s.View(t.Context(), func(r store.Reader) error {
		n, err := r.Count(store.KindUser, "a")
		if n != 0 {
			t.Errorf("Count = %d after failed Creates", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEachWhileWriting deletes, renames and creates resources from inside
// Each, which bolt cursors alone would not survive.
func TestEachWhileWriting(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	const n = 500 // several of Each's chunks
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for i := range n {
			if err := tx.Create(&store.Resource{Kind: store.KindUser, ID: fmt.Sprintf("u%03d", i), Source: "a", Name: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var visited []string
	err = s.Update(t.Context(), func(tx store.Tx) error {
		visited = visited[:0]
		return tx.Each(store.KindUser, "a", func(r *store.Resource) (bool, error) {
			visited = append(visited, r.ID)
			// Delete the next one, rename this one, and add one at the end.
			var i int
			fmt.Sscanf(r.ID, "u%d", &i)
			if err := tx.Delete(store.KindUser, fmt.Sprintf("u%03d", i+1)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			r.Name = "renamed " + r.Name
			if err := tx.Put(r); err != nil {
				return false, err
			}
			return true, tx.Create(&store.Resource{Kind: store.KindUser, ID: fmt.Sprintf("new%03d", i), Source: "a", Name: "new" + r.ID})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(visited) != n/2 {
		t.Errorf("visited %d, want %d", len(visited), n/2)
	}
	for i, id := range visited {
		if want := fmt.Sprintf("u%03d", 2*i); id != want {
			t.Fatalf("visit %d was %s, want %s", i, id, want)
		}
	}
	s.View(t.Context(), func(r store.Reader) error {
		got, _ := r.Count(store.KindUser, "a")
		if got != n {
			t.Errorf("Count = %d, want %d", got, n)
		}
		return nil
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openTemp(t, boltdb.Options{Registerer: reg})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			s.Update(t.Context(), func(tx store.Tx) error {
				return tx.Create(&store.Resource{Kind: store.KindUser, ID: fmt.Sprint(i), Source: "a", Name: fmt.Sprint(i)})
			})
		})
	}
	wg.Wait()
	s.View(t.Context(), func(store.Reader) error { return errors.New("aborted") })

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	var updates, aborted uint64
	for _, m := range byName["tenure_store_operation_duration_seconds"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch {
		case labels["op"] == "update" && labels["result"] == "ok":
			updates = m.GetHistogram().GetSampleCount()
		case labels["op"] == "view" && labels["result"] == "aborted":
			aborted = m.GetHistogram().GetSampleCount()
		}
	}
	if updates != 20 || aborted != 1 {
		t.Errorf("duration histogram counted %d updates and %d aborted views, want 20 and 1", updates, aborted)
	}
	batch := byName["tenure_store_boltdb_batch_size"].GetMetric()
	if len(batch) != 1 || batch[0].GetHistogram().GetSampleSum() != 20 {
		t.Errorf("batch size histogram = %v, want calls summing to 20", batch)
	} else {
		h := batch[0].GetHistogram()
		t.Logf("20 concurrent Updates committed in %d transactions", h.GetSampleCount())
	}

	// Close unregisters, so the same registerer takes a reopened store.
	path := s.DB().Path()
	s.Close()
	s2, err := boltdb.Open(path, boltdb.Options{Registerer: reg})
	if err != nil {
		t.Fatalf("reopen on the same registerer: %v", err)
	}
	s2.Close()
}
