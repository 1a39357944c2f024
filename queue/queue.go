// Package queue is Tenure's durable delay queue. A job is a key
// "target/identity" meaning "converge this identity on this target"; the
// queue holds at most one scheduled due time per key (the earliest), hands a
// due key to one worker at a time under a lease, and keeps failures as dead
// letters that are never trimmed. Scheduled lifecycle work — accounts ahead of
// a start date, a mover's grace-period revocation, a leaver's delayed delete,
// every retry — lives here.
//
// Implementations (embedded in the store's bbolt file, and Redis) arrive with
// their shared conformance suite; this file fixes the contract they meet.
package queue

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for operations on keys the queue does not hold in
// the state the operation needs (e.g. Ack of a key not in flight).
var ErrNotFound = errors.New("queue: not found")

// Job is one claimed key.
type Job struct {
	Key      string
	Due      time.Time // when it became due
	Attempts int       // failed attempts so far
	LeaseEnd time.Time
}

// Queue is the delay queue contract.
type Queue interface {
	// Schedule makes key due at due, keeping the earlier time if the key is
	// already scheduled. For a key in flight it records a pending due time
	// (earliest wins) that takes effect when the key is acked.
	Schedule(ctx context.Context, key string, due time.Time) error
	// Claim leases up to n due keys that are not in flight.
	Claim(ctx context.Context, n int, lease time.Duration) ([]Job, error)
	// Ack finishes a claimed key; a pending due recorded while it ran is scheduled.
	Ack(ctx context.Context, key string) error
	// Retry returns a claimed key to the schedule after a delay, counting the
	// attempt and keeping err as its last error; past the retry horizon the
	// key becomes a dead letter instead.
	Retry(ctx context.Context, key string, after time.Duration, err error) error
	// Replay schedules a dead letter again, now.
	Replay(ctx context.Context, key string) error
	// Cancel removes a key from the schedule (not from flight).
	Cancel(ctx context.Context, key string) error
}
