package boltdb_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

func benchUser(i int) *store.Resource {
	name := fmt.Sprintf("user%06d@example.com", i)
	return &store.Resource{
		Kind:       store.KindUser,
		ID:         fmt.Sprintf("%08x-7d2c-4b1e-9f00-%012d", i, i),
		Source:     "okta",
		ExternalID: fmt.Sprintf("00u%017d", i),
		Name:       name,
		Attributes: map[string]any{
			"active":      true,
			"displayName": fmt.Sprintf("User %d", i),
			"name":        map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)},
			"emails":      []any{map[string]any{"value": name, "type": "work", "primary": true}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
				"employeeNumber": json.Number(fmt.Sprint(i)),
				"department":     "Engineering",
			},
		},
	}
}

// BenchmarkCreateParallel creates users from p×GOMAXPROCS goroutines. Each
// Update waits for its own durable commit, so one writer is bound by the
// batch delay plus an fsync; more writers share commits and ns/op falls.
func BenchmarkCreateParallel(b *testing.B) {
	for _, p := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			s := openTemp(b, boltdb.Options{Registerer: reg})
			var next atomic.Int64
			b.SetParallelism(p)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := benchUser(int(next.Add(1)))
					if err := s.Update(b.Context(), func(tx store.Tx) error { return tx.Create(u) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			if sum, count := batchSize(b, reg); count > 0 {
				b.ReportMetric(sum/count, "creates/commit")
			}
		})
	}
}

func batchSize(b *testing.B, reg *prometheus.Registry) (sum, count float64) {
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "tenure_store_boltdb_batch_size" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleSum(), float64(h.GetSampleCount())
		}
	}
	return 0, 0
}

// fixture is a store file with 100k users, built once per test binary and
// shared by the read benchmarks; TestMain removes it.
type fixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

const fixtureUsers = 100_000

var users100k fixture

func TestMain(m *testing.M) {
	code := m.Run()
	if users100k.dir != "" {
		os.RemoveAll(users100k.dir)
	}
	os.Exit(code)
}

// open100k opens the fixture, building it on first use.
func open100k(b *testing.B) *boltdb.Store {
	b.Helper()
	f := &users100k
	f.once.Do(func() {
		if f.dir, f.err = os.MkdirTemp("", "tenure-bench-"); f.err != nil {
			return
		}
		f.path = filepath.Join(f.dir, "users.db")
		s, err := boltdb.Open(f.path, boltdb.Options{})
		if err != nil {
			f.err = err
			return
		}
		defer s.Close()
		const perTx = 10_000
		for start := 0; start < fixtureUsers && f.err == nil; start += perTx {
			f.err = s.Update(b.Context(), func(tx store.Tx) error {
				for i := start; i < start+perTx; i++ {
					if err := tx.Create(benchUser(i)); err != nil {
						return err
					}
				}
				return nil
			})
		}
	})
	if f.err != nil {
		b.Fatalf("build fixture: %v", f.err)
	}
	s, err := boltdb.Open(f.path, boltdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkGetByID(b *testing.B) {
	s := open100k(b)
	ids := make([]string, fixtureUsers)
	for i := range ids {
		ids[i] = benchUser(i).ID
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A stride coprime to the size visits ids in scattered order.
		id := ids[(i*7919)%fixtureUsers]
		i++
		var r *store.Resource
		err := s.View(b.Context(), func(tx store.Reader) error {
			var err error
			r, err = tx.Get(store.KindUser, id)
			return err
		})
		if err != nil || r.ID != id {
			b.Fatalf("Get %s: %v", id, err)
		}
	}
}

func BenchmarkLookupUserName(b *testing.B) {
	s := open100k(b)
	names := make([]string, fixtureUsers)
	for i := range names {
		names[i] = strings.ToUpper(benchUser(i).Name) // the lookup folds case
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := names[(i*7919)%fixtureUsers]
		i++
		var ids []string
		err := s.View(b.Context(), func(tx store.Reader) error {
			var err error
			ids, err = tx.LookupName(store.KindUser, "okta", name)
			return err
		})
		if err != nil || len(ids) != 1 {
			b.Fatalf("LookupName %s = %v, %v", name, ids, err)
		}
	}
}
