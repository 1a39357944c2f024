package boltdb_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

// TestBackup takes a hot backup while writers keep committing, verifies it,
// opens it as a store and finds every resource committed before it began.
func TestBackup(t *testing.T) {
	s := openTemp(t, boltdb.Options{})
	ctx := t.Context()
	create := func(id string) error {
		return s.Update(ctx, func(tx store.Tx) error {
			return tx.Create(&store.Resource{Kind: store.KindUser, ID: id, Source: "hr", Name: id})
		})
	}
	var before []string
	for i := range 200 {
		id := "before-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if err := create(id); err != nil {
			t.Fatal(err)
		}
		before = append(before, id)
	}
	// Writers during the backup neither wait for it nor corrupt it.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := create("during-" + strings.Repeat("y", i%50) + string(rune('a'+i%26))); err != nil && !strings.Contains(err.Error(), "exists") {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	close(stop)
	wg.Wait()
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (wrote %d)", n, err, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := boltdb.Verify(path); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	restored, err := boltdb.Open(path, boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	for _, id := range before {
		if r, err := store.Get(ctx, restored, store.KindUser, id); err != nil || r.Name != id {
			t.Errorf("restored %s: %+v, %v", id, r, err)
		}
	}

	// A copy cut short is refused, not mapped (reading past its end would
	// kill the process).
	short := filepath.Join(t.TempDir(), "short.db")
	if err := os.WriteFile(short, buf.Bytes()[:buf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := boltdb.Verify(short); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Verify of half a backup: %v", err)
	}

	// A cancelled backup stops with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Backup(cctx, &bytes.Buffer{}); err == nil {
		t.Error("a cancelled backup succeeded")
	}
}

func TestVerifyRejects(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not bolt"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "none.db"), "garbage": garbage} {
		if err := boltdb.Verify(path); err == nil {
			t.Errorf("%s: Verify accepted it", name)
		}
	}
}
