// Package boltdb is the embedded store backend: one bbolt file holds the
// resources, their indexes and (later) other packages' buckets, so that a
// SCIM write and the work it schedules commit in one bolt transaction.
//
// # Layout
//
// The store owns the top-level buckets whose names start with "store/";
// other packages sharing the file (see [Store.DB]) must use other names.
// Per kind K ("User" or "Group"):
//
//	store/resources/K   id                          → JSON record: store.Resource plus "seq"
//	store/order/K       source 0x00 seq             → id   (creation order; seq from NextSequence)
//	store/name/User     source 0x00 fold(userName)  → id   (unique)
//	store/name/Group    source 0x00 fold(name) 0x00 seq  → id   (not unique)
//	store/externalid/K  source 0x00 externalId 0x00 seq  → id   (case-exact, not unique)
//	store/count/K       source                      → count (8 bytes big-endian)
//	store/members       memberID 0x00 groupID       → empty
//	store/groupname     groupID                     → displayName (the group's Name)
//	store/username      userID                      → userName (the user's Name)
//	store/docs/<ns>     key                         → document (a bucket per namespace, nested in store/docs)
//	store/meta          "schema"                    → layout version
//
// seq is an 8-byte big-endian number from the order bucket's NextSequence.
// It is fixed when a resource is created and kept by Put, so a resource
// keeps its place in every creation-ordered index; the record carries it so
// Put and Delete can find the index keys without scanning. Ids and sources
// must not contain NUL, which keeps every prefix scan exact; names and
// externalIds may contain anything, since the fixed-width seq that ends
// their keys makes a key match a prefix only if it is exactly 8 bytes longer.
//
// A namespace's bucket is created by the first PutDoc to it; until then it
// reads as empty. Opening a file written before documents existed adds the
// (empty) store/docs bucket and keeps the layout version. Open also checks
// store/groupname and store/username against the records and repairs them
// (see syncNames), so a file written by a build without those indexes, or
// written by one since, opens with them complete.
//
// # Case folding
//
// userNames (and group displayNames) are compared as [strings.EqualFold]
// does: Unicode simple case folding, rune by rune. The index key maps every
// rune to one fixed member of its fold orbit, its lower case where that is
// in the orbit, so two names share a key exactly when EqualFold reports them
// equal ("ÄLICE" = "älice", "\u212Aate" (Kelvin sign) = "kate", but
// "STRASSE" ≠ "straße" and no Unicode normalization is applied).
//
// # Transactions
//
// [Store.Update] is a group commit ([Store.Write]): concurrent Updates share
// one read-write transaction and one fsync, so write throughput grows with
// the number of writers, and a lone Update commits at once. An Update that
// fails aborts the whole group, which is re-run without it while it runs
// alone; that is why update functions may run more than once.
// Every [Tx] exposes its bolt transaction through [Tx.Bolt] so that other
// packages can write their own buckets in the same commit.
package boltdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives open, close and backend failure events. nil discards them.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none. Close
	// unregisters them, so a store can be reopened on the same registerer.
	Registerer prometheus.Registerer
	// Timeout bounds the wait for the file lock, which another process
	// holding the file keeps. Zero means DefaultTimeout; a negative value
	// fails at once.
	Timeout time.Duration
}

// Store is a store.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db      *bbolt.DB
	log     *slog.Logger
	metrics *metrics
	closed  atomic.Bool
	group   group

	// commit tracks the bolt transaction the current batch runs in, for the
	// batch size metric. Only update functions touch it, and bbolt runs
	// read-write transactions one at a time under its writer lock.
	commit *commitCalls
}

type commitCalls struct {
	tx    *bbolt.Tx
	calls int
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path.
func Open(path string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: timeout,
		// As etcd does: the hashmap freelist stays fast on large fragmented
		// files, and not syncing it saves writes on every commit at the cost
		// of rebuilding it on open. Neither touches durability of the data.
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("boltdb: open %s: file still locked by another process after %v: %w", path, timeout, err)
		}
		return nil, fmt.Errorf("boltdb: open %s: %w", path, err)
	}
	repaired := map[store.Kind]int{}
	unreadable := map[store.Kind][]string{}
	err = db.Update(func(btx *bbolt.Tx) error {
		if err := initBuckets(btx); err != nil {
			return err
		}
		for _, kind := range []store.Kind{store.KindGroup, store.KindUser} {
			var err error
			if repaired[kind], unreadable[kind], err = syncNames(btx, kind); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltdb: open %s: %w", path, err)
	}
	for _, kind := range []store.Kind{store.KindGroup, store.KindUser} {
		what := strings.ToLower(string(kind))
		if n := repaired[kind]; n > 0 {
			log.Info("store "+what+" name index repaired", "backend", "boltdb", "path", path, "entries", n)
		}
		if ids := unreadable[kind]; len(ids) > 0 {
			log.Error("store "+what+" records unreadable", "backend", "boltdb", "path", path, what+"s", ids)
		}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltdb: open %s: %w", path, err)
	}
	log.Info("store opened", "backend", "boltdb", "path", path, "took", time.Since(start))
	s := &Store{db: db, log: log, metrics: m}
	s.group.db = db
	return s, nil
}

// DB returns the underlying bolt database, for packages that keep their own
// buckets in the same file. They must not use bucket names starting with
// "store/". To write in the same transaction as a store change, use
// [Tx.Bolt] inside [Store.Update] rather than a transaction of their own.
func (s *Store) DB() *bbolt.DB { return s.db }

// BoltTx returns the writable bolt transaction under tx, a transaction of
// s inside an Update, for a package that keeps its buckets in s's file and
// writes in the same commit (queue/boltq): the store and its queue are a
// pair, and this is the one place the store's interface is undone.
func (s *Store) BoltTx(tx store.Tx) (*bbolt.Tx, error) {
	t, ok := tx.(*Tx)
	if !ok {
		return nil, fmt.Errorf("boltdb: %T is not a boltdb transaction", tx)
	}
	if t.btx.DB() != s.db {
		return nil, errors.New("boltdb: the transaction is on another file")
	}
	if !t.btx.Writable() {
		return nil, bbolt.ErrTxNotWritable
	}
	return t.btx, nil
}

var _ store.Backuper = (*Store)(nil)

// Backup writes the whole file as of one read transaction (queue included,
// since it shares the file): a hot backup. Writers go on meanwhile, except
// a commit that must grow the file, which waits for the read transaction to
// end: write w to local disk, not to a slow network peer (admin does).
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := s.ready(ctx, "backup"); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("boltdb: backup: %w", err)
	}
	return n, nil
}

// ctxWriter fails writes once ctx is done, so an abandoned download ends
// the read transaction (which would otherwise pin old pages) promptly.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Verify opens the bbolt file at path read-only and checks every page, so
// a backup can be trusted before it is needed. A file shorter than its
// meta page says is refused before bbolt maps it: reading past the end of
// a mapped file kills the process (SIGBUS) rather than returning an error.
func Verify(path string) error {
	if err := checkLength(path); err != nil {
		return fmt.Errorf("boltdb: verify %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("boltdb: verify %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: the checker stops only at the end
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("boltdb: verify %s: %w", path, first)
		}
		if tx.Bucket([]byte(bucketMeta)) == nil {
			return fmt.Errorf("boltdb: verify %s: not a Tenure store", path)
		}
		return nil
	})
}

// checkLength compares the file's length with what its newest meta page
// says the file holds (bbolt's layout: a 16-byte page header, then magic,
// version, page size, flags, root bucket, freelist, high-water page id and
// transaction id).
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var head [72]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("too short for a bbolt file (%d bytes)", fi.Size())
	}
	const magic = 0xED0CDAED
	le := binary.LittleEndian
	if le.Uint32(head[16:]) != magic {
		return errors.New("not a bbolt file")
	}
	pageSize := int64(le.Uint32(head[24:]))
	var need int64
	var newest uint64
	for i := range int64(2) {
		var m [72]byte
		if _, err := f.ReadAt(m[:], i*pageSize); err != nil || le.Uint32(m[16:]) != magic {
			continue
		}
		if txid := le.Uint64(m[64:]); txid >= newest {
			newest, need = txid, int64(le.Uint64(m[56:]))*pageSize
		}
	}
	if fi.Size() < need {
		return fmt.Errorf("truncated: %d bytes, its meta page says %d", fi.Size(), need)
	}
	return nil
}

// View runs fn in a read-only bolt transaction: a consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := s.ready(ctx, "view"); err != nil {
		return err
	}
	start := time.Now()
	var fnErr error
	err := s.db.View(func(btx *bbolt.Tx) error {
		fnErr = fn(&Tx{btx: btx})
		return fnErr
	})
	return s.done("view", start, err, fnErr)
}

// Update runs fn through Write and returns after the commit is on disk. ctx is
// only checked before fn is queued: bbolt cannot abandon a transaction, and
// returning early would leave the caller unsure whether its write happened.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.ready(ctx, "update"); err != nil {
		return err
	}
	start := time.Now()
	runs := 0
	// fnErr is the outcome of fn's last run. bbolt reports fn's error as is
	// when fn fails and a commit error otherwise, so it tells them apart.
	// Runs are sequential: Batch hands fn to the batch goroutine and back.
	var fnErr error
	err := s.Write(func(btx *bbolt.Tx) error {
		runs++
		s.countCall(btx)
		fnErr = fn(&Tx{btx: btx})
		return fnErr
	})
	if runs > 1 {
		s.metrics.reruns.Add(float64(runs - 1))
	}
	return s.done("update", start, err, fnErr)
}

// Write runs fn in a write transaction and returns once it is on disk. A
// writer that finds no commit running commits at once; writers that arrive
// during a commit share the next one (see group). fn may run more than once:
// a group re-runs without a function that failed, which then runs alone.
// The queue in the same file writes through here too, so its claims and
// acks share commits with store writes.
func (s *Store) Write(fn func(*bbolt.Tx) error) error {
	return s.group.write(fn)
}

// countCall counts fn runs per bolt transaction and reports the count when
// that transaction commits; runs in a rolled-back attempt are not reported.
func (s *Store) countCall(btx *bbolt.Tx) {
	c := s.commit
	if c == nil || c.tx != btx {
		c = &commitCalls{tx: btx}
		s.commit = c
		btx.OnCommit(func() { s.metrics.batchSize.Observe(float64(c.calls)) })
	}
	c.calls++
}

// Ping reports whether the file can serve a read transaction.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(ctx, "ping"); err != nil {
		return err
	}
	err := s.db.View(func(btx *bbolt.Tx) error {
		if btx.Bucket([]byte(bucketMeta)) == nil {
			return fmt.Errorf("bucket %s missing", bucketMeta)
		}
		return nil
	})
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltdb: ping: %w", store.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("boltdb: ping: %w", err)
	}
	return nil
}

// Close waits for running transactions, closes the file and unregisters the
// metrics. Updates still waiting for their batch fail with store.ErrClosed.
// Closing a closed Store returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	path := s.db.Path() // empty once closed
	err := s.db.Close()
	s.metrics.Unregister()
	if err != nil {
		return fmt.Errorf("boltdb: close %s: %w", path, err)
	}
	s.log.Info("store closed", "backend", "boltdb", "path", path)
	return nil
}

func (s *Store) ready(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("boltdb: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// done records the outcome of a View or Update and turns bolt's errors into
// the store's. fn's own error goes back unchanged, as store.Store promises.
func (s *Store) done(op string, start time.Time, err, fnErr error) error {
	result := "ok"
	switch {
	case err == nil:
	case fnErr != nil:
		result = "aborted"
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		// Close won the race against a queued Update or a starting View.
		result = "error"
		err = fmt.Errorf("boltdb: %s: %w", op, store.ErrClosed)
	default:
		result = "error"
		err = fmt.Errorf("boltdb: %s: %w", op, err)
		s.log.Error("store transaction failed", "backend", "boltdb", "op", op, "err", err)
	}
	s.metrics.duration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
	return err
}
