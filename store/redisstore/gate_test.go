package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
)

// TestGate runs views and commits against each other: members of a group
// share the gate, the groups never hold it at once, and neither starves —
// every goroutine finishes its fixed number of holds (a starved group would
// never finish; the test's deadline catches that, not a timed threshold).
func TestGate(t *testing.T) {
	var g gate
	var holders [2]atomic.Int32
	var maxShared [2]atomic.Int32
	var done [2]atomic.Int32
	const rounds = 100
	var wg sync.WaitGroup
	for i := range 16 {
		k := i % 2
		wg.Go(func() {
			for range rounds {
				if err := g.enter(context.Background(), k); err != nil {
					t.Error(err)
					return
				}
				n := holders[k].Add(1)
				if holders[1-k].Load() > 0 {
					t.Errorf("group %d entered while group %d holds the gate", k, 1-k)
				}
				if n > maxShared[k].Load() {
					maxShared[k].Store(n)
				}
				time.Sleep(50 * time.Microsecond)
				holders[k].Add(-1)
				g.leave(k)
				done[k].Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Minute):
		t.Fatalf("holds did not finish: views %d, commits %d of %d each — a group starves",
			done[views].Load(), done[commits].Load(), 8*rounds)
	}
	t.Logf("views: %d holds, up to %d at once; commits: %d holds, up to %d at once",
		done[views].Load(), maxShared[views].Load(), done[commits].Load(), maxShared[commits].Load())
	for k := range 2 {
		if done[k].Load() != 8*rounds {
			t.Errorf("group %d held the gate %d times, want %d", k, done[k].Load(), 8*rounds)
		}
		if maxShared[k].Load() < 2 {
			t.Errorf("group %d never shared the gate", k)
		}
	}
}

// TestGateWaitHonoursContext leaves a view waiting behind a commit: its
// context ends the wait, and the gate works on afterwards.
func TestGateWaitHonoursContext(t *testing.T) {
	var g gate
	if err := g.enter(context.Background(), commits); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.enter(ctx, views); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter behind a commit = %v, want DeadlineExceeded", err)
	}
	// A commit may still join: no view waits any more.
	if err := g.enter(context.Background(), commits); err != nil {
		t.Fatal(err)
	}
	g.leave(commits)
	g.leave(commits)
	if err := g.enter(context.Background(), views); err != nil {
		t.Fatal(err)
	}
	g.leave(views)
}

// TestViewHoldsItsConnection: Updates waiting at the gate for an open View
// hold every pool connection the View does not; the View, which took its
// own before entering the gate, still reads and finishes. (When a View took
// a connection only to read, it waited for the pool to time out.)
func TestViewHoldsItsConnection(t *testing.T) {
	srv := testenv.Redis(t)
	const pool = 2
	c := redis.NewClient(&redis.Options{MaintNotificationsConfig: testenv.RedisNoMaint(), Addr: srv.Addr(), PoolSize: pool, PoolTimeout: 3 * time.Second})
	t.Cleanup(func() { c.Close() })
	s, err := New(c, Options{Prefix: "viewconn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutDoc("ns", "k", []byte("v0")) }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	err = s.View(ctx, func(r store.Reader) error {
		for i := range pool { // more Updates than free connections
			wg.Go(func() {
				if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutDoc("ns", fmt.Sprint("u", i), []byte("x")) }); err != nil {
					t.Error(err)
				}
			})
		}
		for deadline := time.Now().Add(time.Minute); ; {
			if time.Now().After(deadline) {
				return errors.New("the Updates never reached the gate")
			}
			s.gate.mu.Lock()
			n := s.gate.waiting[commits]
			s.gate.mu.Unlock()
			if st := c.PoolStats(); n >= 1 && st.TotalConns == pool && st.IdleConns == 0 {
				break // the pool is empty and an Update waits at the gate
			}
			time.Sleep(time.Millisecond)
		}
		got, err := r.GetDoc("ns", "k")
		if err == nil && string(got) != "v0" {
			err = fmt.Errorf("read %q", got)
		}
		return err
	})
	if err != nil {
		t.Errorf("the View's read: %v", err)
	}
	wg.Wait()
}
