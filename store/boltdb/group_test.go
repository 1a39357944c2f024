package boltdb

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// holdCommit starts a lone write that holds the commit open until the
// returned release is called, so that later writers queue behind it.
func holdCommit(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Write(func(tx *bbolt.Tx) error {
			close(started)
			<-hold
			return tx.Bucket(bucketTest).Put([]byte("holder"), []byte("1"))
		})
	}()
	<-started
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
}

// waitQueued waits until n writers wait for the next commit.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.group.mu.Lock()
		got := len(s.group.queue)
		s.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

var bucketTest = []byte("grouptest")

func openGroupStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "tenure.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucketTest); return err }); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGroupCommit: writers that arrive during a commit share the next one,
// a failing writer gets its own error after running alone while the rest
// commit, and a panicking writer panics in its own goroutine only.
func TestGroupCommit(t *testing.T) {
	s := openGroupStore(t)
	release := holdCommit(t, s)

	const n = 8
	var (
		mu       sync.Mutex
		txIDs    = map[int]int{} // writer → bolt tx id of its last run
		runs     = map[int]int{}
		wg       sync.WaitGroup
		errs     = make([]error, n)
		panicked any
	)
	boom := errors.New("boom")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					panicked = p
					mu.Unlock()
				}
			}()
			errs[i] = s.Write(func(tx *bbolt.Tx) error {
				mu.Lock()
				txIDs[i], runs[i] = tx.ID(), runs[i]+1
				mu.Unlock()
				switch i {
				case 3:
					return boom
				case 5:
					panic("writer 5")
				}
				return tx.Bucket(bucketTest).Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
			})
		}()
		waitQueued(t, s, i+1) // in order: writer 0 leads the next group
	}
	release()
	wg.Wait()

	if panicked != "writer 5" {
		t.Errorf("recovered %v, want writer 5's panic in its own goroutine", panicked)
	}
	shared := txIDs[0]
	for i := range n {
		switch i {
		case 3:
			if !errors.Is(errs[i], boom) || runs[i] != 2 {
				t.Errorf("writer 3: %v after %d runs, want boom after 2 (group, then alone)", errs[i], runs[i])
			}
		case 5:
			if runs[i] != 2 {
				t.Errorf("writer 5 ran %d times, want 2 (group, then alone to panic)", runs[i])
			}
		default:
			if errs[i] != nil {
				t.Errorf("writer %d: %v", i, errs[i])
			}
			if txIDs[i] != shared {
				t.Errorf("writer %d committed in tx %d, writer 0 in %d: want one commit for the group", i, txIDs[i], shared)
			}
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		for i := range n {
			got := tx.Bucket(bucketTest).Get(fmt.Appendf(nil, "k%d", i))
			if want := i != 3 && i != 5; (got != nil) != want {
				t.Errorf("k%d stored = %v, want %v", i, got != nil, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupLoneWriter: a lone writer's error is its own, from one run.
func TestGroupLoneWriter(t *testing.T) {
	s := openGroupStore(t)
	boom := errors.New("boom")
	runs := 0
	err := s.Write(func(*bbolt.Tx) error { runs++; return boom })
	if !errors.Is(err, boom) || runs != 1 {
		t.Errorf("lone failing writer: %v after %d runs, want boom after 1", err, runs)
	}
	if err := s.Write(func(tx *bbolt.Tx) error { return tx.Bucket(bucketTest).Put([]byte("a"), []byte("b")) }); err != nil {
		t.Errorf("lone writer: %v", err)
	}
}
