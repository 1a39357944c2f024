package backend_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/backend"
	"github.com/tenurehq/tenure/backend/embedded"
	"github.com/tenurehq/tenure/backend/redis"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// TestPairs opens each backend as serve does and checks what makes it a
// pair: a store write and the job it schedules commit together or not at
// all, and the queue refuses another backend's transaction.
func TestPairs(t *testing.T) {
	rs := testenv.Redis(t)
	dir := t.TempDir()
	cfgs := []struct {
		name string
		open backend.Opener
		cfg  func(n int) config.Store
	}{
		{"embedded", embedded.Open, func(n int) config.Store {
			return config.Store{Kind: config.StoreEmbedded, Embedded: &config.EmbeddedStore{Path: filepath.Join(dir, "sub", strings.Repeat("x", n)+"tenure.db"), LockTimeout: time.Second}}
		}},
		{"redis", redis.Open, func(n int) config.Store {
			return config.Store{Kind: config.StoreRedis, Redis: &config.RedisStore{URL: rs.URL(), Prefix: "pair" + strings.Repeat("x", n)}}
		}},
	}
	ctx := context.Background()
	for _, c := range cfgs {
		t.Run(c.name, func(t *testing.T) {
			be, err := c.open(c.cfg(0), queue.Options{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			other, err := c.open(c.cfg(1), queue.Options{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			sched, ok := be.Queue.(queue.TxScheduler)
			if !ok {
				t.Fatalf("%T is not a queue.TxScheduler", be.Queue)
			}
			due := time.Now().Add(time.Hour)
			user := func(name string) *store.Resource {
				return &store.Resource{Kind: store.KindUser, ID: name, Source: "hr", Name: name}
			}

			// Committed together.
			if err := be.Store.Update(ctx, func(tx store.Tx) error {
				if err := tx.Create(user("u1")); err != nil {
					return err
				}
				return sched.ScheduleTx(tx, "dir/u1", due)
			}); err != nil {
				t.Fatal(err)
			}
			// Rolled back together.
			errFn := errors.New("the write's own failure")
			if err := be.Store.Update(ctx, func(tx store.Tx) error {
				if err := tx.Create(user("u2")); err != nil {
					return err
				}
				if err := sched.ScheduleTx(tx, "dir/u2", due); err != nil {
					return err
				}
				return errFn
			}); !errors.Is(err, errFn) {
				t.Fatalf("Update = %v, want the function's error", err)
			}
			if _, err := be.Queue.Get(ctx, "dir/u1"); err != nil {
				t.Errorf("the committed job: %v", err)
			}
			if _, err := be.Queue.Get(ctx, "dir/u2"); !errors.Is(err, queue.ErrNotFound) {
				t.Errorf("the rolled back job: %v, want ErrNotFound", err)
			}
			err = be.Store.View(ctx, func(r store.Reader) error {
				_, err := r.Get(store.KindUser, "u2")
				return err
			})
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the rolled back user: %v, want ErrNotFound", err)
			}

			// Another backend's transaction is refused, not half-joined.
			err = other.Store.Update(ctx, func(tx store.Tx) error { return sched.ScheduleTx(tx, "dir/u3", due) })
			if err == nil {
				t.Error("ScheduleTx in another backend's transaction succeeded")
			}
		})
	}
}
