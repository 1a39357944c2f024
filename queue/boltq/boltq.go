// Package boltq is the embedded delay queue: it keeps its buckets in the
// store's bbolt file (store/boltdb), so that a SCIM write and the jobs it
// implies commit in one transaction through [Queue.ScheduleTx].
//
// # Layout
//
// The queue owns the top-level buckets whose names start with "queue/".
// Times are int64 nanoseconds since 1970, 8 bytes big-endian; they are
// clamped to [1970, 2262], so byte order is time order.
//
//	queue/jobs    key             → record: state, due, pending, attempts, first failure,
//	                                last error, lease token, lease end (see record.go)
//	queue/due     due+key         → empty   (scheduled keys, by due time)
//	queue/leases  leaseEnd+key    → empty   (in-flight keys, by lease end)
//	queue/dead    died+key        → empty   (dead keys, by time of death)
//	queue/meta    "schema"        → layout version
//	              "counts"        → keys per state, 3 × 8 bytes
//
// Each key is in exactly one index, the one of its state, listed under its
// Entry.Due; every transition rewrites the record, moves the index entry
// and adjusts the counts in the same transaction. The fixed-width time
// prefix needs no separator, so a key may hold any byte; keys due at the
// same time follow in byte order.
//
// # Costs
//
// Claim first looks in a read transaction whether the first entry of
// queue/due or queue/leases is at or before now, so idle workers never take
// the writer lock or fsync. Otherwise one write transaction returns every
// expired lease to the schedule (the sweep: a cursor from the start of
// queue/leases up to now, so O(log n) when nothing has expired) and takes
// up to n keys from the start of queue/due: O((n + expired) · log n) page
// reads plus the rewritten pages. Counts reads the three counters and the
// first due key; Get one record; List walks the index from its start, so
// deep offsets cost O(offset).
//
// # Lease expiry
//
// There is no background sweeper: Claim ends expired leases before it
// claims, in the same transaction, so a crashed worker's key is claimable
// as soon as its lease ends and someone asks for work (a queue nobody
// claims from has nobody to hand it to anyway). Each expiry is a failed
// attempt dated at the lease end, not at the sweep, so a sweep that comes
// late (no worker was running) does not age the key's run of failures;
// past the retry horizon the key becomes a dead letter. Until the sweep
// Get and List show the key in flight with a lease end in the past, and
// its holder's calls already fail with ErrLeaseLost: a lease is checked
// against the clock, not against the sweep.
//
// # Transactions
//
// Every write goes through bbolt's Batch and returns once it is on disk,
// so a claimed or acked state survives a crash, and concurrent callers
// (workers, SCIM writes through the store) share one commit and fsync. A
// lone caller pays the batch delay (10ms by default) on top of the fsync.
// Refusals — ErrLeaseLost, ErrNotFound — are detected before anything is
// written and reported without failing the shared transaction, which
// bbolt would otherwise roll back and re-run for every other caller.
// Calls check ctx before they queue for a transaction; once queued they run
// to the end, since a commit cannot be abandoned halfway.
package boltq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

// errClosed is returned after Close.
var errClosed = errors.New("queue closed")

// Queue is a queue.Queue in a store/boltdb file. It is safe for concurrent use.
type Queue struct {
	st      *boltdb.Store
	db      *bbolt.DB
	now     func() time.Time
	horizon time.Duration
	log     *slog.Logger
	metrics *queue.Metrics
	closed  atomic.Bool
}

var (
	_ queue.Queue       = (*Queue)(nil)
	_ queue.TxScheduler = (*Queue)(nil)
)

// New opens the queue in st's file, creating its buckets on first use.
// The queue does not own st: Close leaves it open, and st must outlive the
// queue. log (nil discards) receives lease expiries and dead letters; reg
// (nil registers nothing) the queue's metrics, which Close unregisters.
func New(st *boltdb.Store, opts queue.Options, log *slog.Logger, reg prometheus.Registerer) (*Queue, error) {
	if st == nil {
		return nil, errors.New("boltq: new: nil store")
	}
	if opts.RetryHorizon < 0 {
		return nil, fmt.Errorf("boltq: new: negative retry horizon %v", opts.RetryHorizon)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	q := &Queue{
		st:      st,
		db:      st.DB(),
		now:     now,
		horizon: cmp.Or(opts.RetryHorizon, queue.DefaultRetryHorizon),
		log:     log.With("backend", "boltdb"),
	}
	if err := q.db.Update(initBuckets); err != nil {
		return nil, fmt.Errorf("boltq: new: %w", boltErr(err))
	}
	m, err := queue.NewMetrics(reg, "boltdb", q.Counts, q.now)
	if err != nil {
		return nil, fmt.Errorf("boltq: new: %w", err)
	}
	q.metrics = m
	return q, nil
}

// Close unregisters the metrics; later calls fail. The store stays open.
// Closing a closed Queue returns nil.
func (q *Queue) Close() error {
	if q.closed.CompareAndSwap(false, true) {
		q.metrics.Unregister()
	}
	return nil
}

// Schedule implements queue.Queue.
func (q *Queue) Schedule(ctx context.Context, key string, due time.Time) error {
	err := checkKey(key)
	if err == nil {
		at := nanos(due)
		err = q.update(ctx, func(t *txn, _ int64) error { return t.schedule(key, at) })
	}
	return wrap("schedule", key, err)
}

// ScheduleTx implements queue.TxScheduler: it schedules key inside tx, a
// transaction of store/boltdb's Update on the queue's file, so it commits
// or rolls back with the store's changes. Like the store's writes, it is
// safe in an update function that runs more than once, and when it fails
// it has written nothing, so the caller may handle the error and go on.
// It does not look at any context: the store checked it before tx began.
func (q *Queue) ScheduleTx(tx store.Tx, key string, due time.Time) error {
	btx, err := q.boltTx(tx)
	if err == nil {
		err = checkKey(key)
	}
	var t *txn
	if err == nil {
		t, err = openTxn(btx)
	}
	if err == nil {
		err = t.schedule(key, nanos(due))
	}
	return wrap("schedule in store tx", key, err)
}

var (
	_ queue.TxAcker   = (*Queue)(nil)
	_ queue.TxClaimer = (*Queue)(nil)
)

// AckTx implements queue.TxAcker: the ack is written in tx.
func (q *Queue) AckTx(tx store.Tx, job queue.Job) error {
	btx, err := q.boltTx(tx)
	var t *txn
	if err == nil {
		t, err = openTxn(btx)
	}
	if err == nil {
		err = t.ack(job, nanos(q.now()))
		if errors.Is(err, queue.ErrLeaseLost) || errors.Is(err, queue.ErrNotFound) {
			return nil // someone else holds the key now
		}
	}
	if err != nil {
		return wrap("ack in store tx", job.Key, err)
	}
	q.metrics.Acked()
	return nil
}

// boltTx returns the writable bolt transaction of tx, a store/boltdb
// transaction on the queue's own file.
func (q *Queue) boltTx(tx store.Tx) (*bbolt.Tx, error) {
	if q.closed.Load() {
		return nil, errClosed
	}
	return q.st.BoltTx(tx)
}

// Claim implements queue.Queue.
func (q *Queue) Claim(ctx context.Context, n int, lease time.Duration) ([]queue.Job, error) {
	if err := q.ready(ctx); err != nil {
		return nil, wrap("claim", "", err)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("boltq: claim: lease %v is not positive", lease)
	}
	if n <= 0 {
		return nil, nil
	}
	if busy, err := q.busy(ctx); err != nil || !busy {
		return nil, wrap("claim", "", err)
	}
	var (
		jobs    []queue.Job
		expired []expiry
	)
	err := q.update(ctx, func(t *txn, now int64) error {
		var err error
		if expired, err = t.sweep(now, q.horizon); err != nil {
			return err
		}
		jobs, err = t.claim(now, n, lease)
		return err
	})
	if err != nil {
		return nil, wrap("claim", "", err)
	}
	q.claimed(jobs, expired)
	return jobs, nil
}

// claimed logs and counts a committed claim.
func (q *Queue) claimed(jobs []queue.Job, expired []expiry) {
	for _, e := range expired {
		if e.died {
			q.deadLetter(e.key, "lease expired past the retry horizon", e.attempts, queue.LeaseExpiredError)
		} else {
			q.log.Warn("queue lease expired; failed attempt, key returned to the schedule",
				"key", e.key, "lease_end", timeOf(e.leaseEnd), "attempts", e.attempts)
		}
	}
	q.metrics.LeaseExpired(len(expired))
	q.metrics.Claimed(len(jobs))
}

// ClaimTx implements queue.TxClaimer: Claim, inside tx. A worker that
// finishes a job claims its next one in the commit that records the
// result, so while a backlog lasts each converge costs one commit.
func (q *Queue) ClaimTx(tx store.Tx, n int, lease time.Duration) (func() []queue.Job, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("boltq: claim in store tx: lease %v is not positive", lease)
	}
	btx, err := q.boltTx(tx)
	var t *txn
	if err == nil {
		t, err = openTxn(btx)
	}
	var (
		jobs    []queue.Job
		expired []expiry
	)
	if err == nil && n > 0 {
		now := nanos(q.now())
		if expired, err = t.sweep(now, q.horizon); err == nil {
			jobs, err = t.claim(now, n, lease)
		}
	}
	if err != nil {
		return nil, wrap("claim in store tx", "", err)
	}
	var once sync.Once
	return func() []queue.Job {
		once.Do(func() { q.claimed(jobs, expired) })
		return jobs
	}, nil
}

// busy reports, in a read transaction, whether a Claim at this moment has
// anything to do: a due key or an expired lease.
func (q *Queue) busy(ctx context.Context) (bool, error) {
	var busy bool
	err := q.view(ctx, func(t *txn) error {
		now := nanos(q.now())
		busy = startsBy(t.due, now) || startsBy(t.leases, now)
		return nil
	})
	return busy, err
}

// Extend implements queue.Queue.
func (q *Queue) Extend(ctx context.Context, job queue.Job, lease time.Duration) (queue.Job, error) {
	if lease <= 0 {
		return queue.Job{}, fmt.Errorf("boltq: extend %q: lease %v is not positive", job.Key, lease)
	}
	var out queue.Job
	err := q.update(ctx, func(t *txn, now int64) error {
		var err error
		out, err = t.extend(job, now, lease)
		return err
	})
	if err != nil {
		return queue.Job{}, wrap("extend", job.Key, err)
	}
	return out, nil
}

// Ack implements queue.Queue.
func (q *Queue) Ack(ctx context.Context, job queue.Job) error {
	err := q.update(ctx, func(t *txn, now int64) error { return t.ack(job, now) })
	if err != nil {
		return wrap("ack", job.Key, err)
	}
	q.metrics.Acked()
	return nil
}

// Retry implements queue.Queue.
func (q *Queue) Retry(ctx context.Context, job queue.Job, after time.Duration, cause error) error {
	msg := errorText(cause)
	var died bool
	err := q.update(ctx, func(t *txn, now int64) error {
		var err error
		died, err = t.retry(job, now, after, q.horizon, msg)
		return err
	})
	if err != nil {
		return wrap("retry", job.Key, err)
	}
	if died {
		q.deadLetter(job.Key, "retry horizon passed", uint32(job.Attempts)+1, msg)
	} else {
		q.metrics.Retried()
	}
	return nil
}

// Kill implements queue.Queue.
func (q *Queue) Kill(ctx context.Context, job queue.Job, cause error) error {
	msg := errorText(cause)
	err := q.update(ctx, func(t *txn, now int64) error { return t.kill(job, now, msg) })
	if err != nil {
		return wrap("kill", job.Key, err)
	}
	q.deadLetter(job.Key, "killed", uint32(job.Attempts)+1, msg)
	return nil
}

func (q *Queue) deadLetter(key, why string, attempts uint32, msg string) {
	q.metrics.DeadLettered()
	q.log.Warn("queue dead letter", "key", key, "why", why, "attempts", attempts, "err", msg)
}

// Replay implements queue.Queue.
func (q *Queue) Replay(ctx context.Context, key string) error {
	err := q.update(ctx, func(t *txn, now int64) error { return t.replay(key, now) })
	return wrap("replay", key, err)
}

// Cancel implements queue.Queue. Cancelling a key the queue does not hold
// does nothing.
func (q *Queue) Cancel(ctx context.Context, key string) error {
	err := q.update(ctx, func(t *txn, _ int64) error { return t.cancel(key) })
	return wrap("cancel", key, err)
}

// update runs fn in a write transaction through the store's Write (alone:
// its own commit; overlapping other writers of the file: a shared batch) and
// returns once it is durable. fn may run more than once, each time in a new
// transaction (bbolt re-runs a batch without a call that failed), so it
// must take everything from the transaction and the time it is given, and
// its caller must keep only the results of the last run. fn's refusals
// (ErrLeaseLost, ErrNotFound) come back as update's error, but commit the
// batch: fn returned them before writing anything.
func (q *Queue) update(ctx context.Context, fn func(t *txn, now int64) error) error {
	if err := q.ready(ctx); err != nil {
		return err
	}
	var refused error
	err := q.st.Write(func(btx *bbolt.Tx) error {
		refused = nil
		t, err := openTxn(btx)
		if err != nil {
			return err
		}
		err = fn(t, nanos(q.now()))
		if errors.Is(err, queue.ErrLeaseLost) || errors.Is(err, queue.ErrNotFound) {
			refused, err = err, nil
		}
		return err
	})
	if err != nil {
		return boltErr(err)
	}
	return refused
}

// view runs fn in a read transaction.
func (q *Queue) view(ctx context.Context, fn func(t *txn) error) error {
	if err := q.ready(ctx); err != nil {
		return err
	}
	err := q.db.View(func(btx *bbolt.Tx) error {
		t, err := openTxn(btx)
		if err != nil {
			return err
		}
		return fn(t)
	})
	return boltErr(err)
}

func (q *Queue) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if q.closed.Load() {
		return errClosed
	}
	return nil
}

// boltErr reports a file the store has closed as store.ErrClosed.
func boltErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	}
	return err
}

// wrap prefixes err with the operation and key; it keeps nil nil. A long
// key is cut: the message is for logs, and keys may run to kilobytes.
func wrap(op, key string, err error) error {
	if len(key) > 128 {
		key = key[:128] + "…"
	}
	switch {
	case err == nil:
		return nil
	case key == "":
		return fmt.Errorf("boltq: %s: %w", op, err)
	default:
		return fmt.Errorf("boltq: %s %q: %w", op, key, err)
	}
}
