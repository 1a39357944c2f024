// Package queue is Tenure's durable delay queue. A job is a key
// "target/identity" meaning "converge this identity on this target"; the
// queue holds at most one due time per key (the earliest), hands a due key to
// one worker at a time under a lease, and keeps failures as dead letters
// that are never trimmed. Scheduled lifecycle work — accounts ahead of a
// start date, a mover's grace-period revocation, a leaver's delayed delete,
// every retry — lives here.
//
// A key is in exactly one state: scheduled (waiting for its due time),
// in flight (claimed, under a lease), or dead. A key scheduled while in
// flight records a pending due time that takes effect when the key is acked,
// so a worker may schedule the next boundary before it acks and crash at any
// point without losing it, and a write that lands mid-run re-runs the key
// right after.
//
// A job fails when its worker calls Retry or Kill, or when its lease runs
// out before the worker finishes: a worker that crashes or hangs on a
// job is a failed attempt like any other, so a job that takes down its
// worker every time dead-letters after the retry horizon instead of
// looping forever.
//
// Implementations live in subpackages (queue/boltq in the store's bbolt
// file, queue/redisq on Redis) and pass queue/conformance.
package queue

import (
	"context"
	"errors"
	"time"

	"github.com/tenurehq/tenure/store"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: the key is not in the state the operation needs (Replay
	// of a key that is not dead, and so on).
	ErrNotFound = errors.New("queue: not found")
	// ErrLeaseLost: the job's lease expired (a failed attempt: see Claim)
	// or the key was finished or claimed again; the worker must drop its
	// result.
	ErrLeaseLost = errors.New("queue: lease lost")
)

// State is where a key is.
type State string

// Key states.
const (
	Scheduled State = "scheduled"
	InFlight  State = "inflight"
	Dead      State = "dead"
)

// Job is a claimed key. Ack, Retry, Kill and Extend take the Job so that only
// the current holder of the lease can finish it.
type Job struct {
	Key      string
	Due      time.Time // the due time it was claimed at
	Attempts int       // failed attempts before this claim
	Lease    string    // opaque lease token
	LeaseEnd time.Time
}

// Entry describes a key for inspection.
type Entry struct {
	Key       string
	State     State
	Due       time.Time // scheduled: due; in flight: lease end; dead: when it died
	Pending   time.Time // in flight only: due time recorded while running (zero if none)
	Attempts  int
	FirstFail time.Time // start of the current run of failures (zero if none)
	LastError string
}

// Counts is the number of keys in each state.
type Counts struct {
	Scheduled, InFlight, Dead int
	// OldestDue is the earliest due time among scheduled keys (zero if none).
	OldestDue time.Time
}

// Queue is the delay-queue contract.
type Queue interface {
	// Schedule makes key due at due. A scheduled key keeps the earlier of
	// its due time and due; an in-flight key records due as pending (the
	// earliest wins), to take effect on Ack; a dead key is left dead
	// (Replay revives it).
	Schedule(ctx context.Context, key string, due time.Time) error
	// Claim leases up to n keys that are due now and not in flight,
	// earliest due first. It first ends the leases that have run out, so a
	// crashed worker's key is claimable again once its lease ends. An
	// expired lease is a failed attempt at its lease end, handled as Retry
	// handles one: Attempts counts it, LastError becomes
	// LeaseExpiredError, FirstFail starts if unset, and a key that has kept
	// failing for longer than the retry horizon becomes a dead letter;
	// otherwise the key is scheduled at the earlier of the due time it was
	// claimed at and its pending due time, with no delay.
	Claim(ctx context.Context, n int, lease time.Duration) ([]Job, error)
	// Extend pushes a held lease's end to now + lease.
	Extend(ctx context.Context, job Job, lease time.Duration) (Job, error)
	// Ack finishes a job. A pending due time recorded while it ran becomes
	// the key's schedule; otherwise the key leaves the queue. Attempts and
	// the last error are cleared.
	Ack(ctx context.Context, job Job) error
	// Retry returns a failed job to the schedule at now + after (or the
	// pending due time if earlier), counting the attempt and keeping err's
	// text. A key that has kept failing for longer than the retry horizon
	// becomes a dead letter instead.
	Retry(ctx context.Context, job Job, after time.Duration, err error) error
	// Kill makes a job a dead letter now, keeping err's text (permanent
	// failures).
	Kill(ctx context.Context, job Job, err error) error
	// Replay schedules a dead key now, with its attempts reset.
	Replay(ctx context.Context, key string) error
	// Cancel removes a scheduled or dead key; a key in flight loses its
	// pending due time (the run in progress finishes).
	Cancel(ctx context.Context, key string) error
	// Get describes one key; ErrNotFound if the queue does not hold it.
	Get(ctx context.Context, key string) (Entry, error)
	// List returns keys in a state ordered by Entry.Due, skipping offset.
	List(ctx context.Context, state State, offset, limit int) ([]Entry, error)
	// Counts reports the size of each state and the oldest due time.
	Counts(ctx context.Context) (Counts, error)
	Close() error
}

// TxScheduler is implemented by queues that live in the store's backend: a
// store write and the jobs it implies commit in one transaction, so an
// accepted SCIM write can never lose its jobs. tx must come from that
// backend's Store.Update.
type TxScheduler interface {
	ScheduleTx(tx store.Tx, key string, due time.Time) error
}

// TxAcker is implemented by queues that live in the store's backend: a
// worker's result and the ack of its job commit in one transaction (one
// durable commit per converge instead of two). A lease lost in the
// meantime is not an error: the job stays with whoever holds it now, which
// acks its own run; the rest of tx commits regardless.
type TxAcker interface {
	AckTx(tx store.Tx, job Job) error
}

// TxClaimer is implemented by queues that live in the store's backend: a
// worker that finishes a job claims its next in the transaction that
// records the result and acks the job, so while a backlog lasts each
// converge costs one commit instead of two. ClaimTx claims as Claim does
// (expired leases first), as part of tx; claimed reports the jobs once the
// Update that ran tx has returned nil, and must not be called otherwise.
type TxClaimer interface {
	ClaimTx(tx store.Tx, n int, lease time.Duration) (claimed func() []Job, err error)
}

// Options are the settings every implementation takes.
type Options struct {
	// RetryHorizon is how long a key may keep failing (Retry, expired
	// leases) before it becomes a dead letter, measured from its first
	// failure since it was last acked or replayed. Default 72h.
	RetryHorizon time.Duration
	// Now is the clock. Implementations backed by a shared server (Redis)
	// use the server's clock when Now is nil, so replicas never disagree
	// about what is due; tests inject a clock.
	Now func() time.Time
}

// DefaultRetryHorizon is the default of Options.RetryHorizon.
const DefaultRetryHorizon = 72 * time.Hour

// LeaseExpiredError is the LastError of a key whose last attempt ended
// with its lease running out.
const LeaseExpiredError = "lease expired"
