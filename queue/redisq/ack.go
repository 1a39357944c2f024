package redisq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tenurehq/tenure/queue"
)

// Acks share script calls. AckMany sends a worker's batch in one call;
// Ack calls from concurrent workers are gathered as a group commit. An
// Ack that finds fewer than ackCalls ack calls out sends its own at once,
// from its own goroutine, so a lone Ack costs what it did alone; Acks that
// arrive while ackCalls are out wait, and when one returns the first of
// them is handed the lead and sends all that waited (up to MaxClaim) in
// one call. Many workers acking at once thus share a few round trips,
// script calls, ZREMs and DELs instead of one each. Each job's ack is
// still atomic and checked against its own lease.

// ackCalls is how many ack calls of one Queue may be out at once before
// further Acks wait to share the next. It is 2, not 1, because waiting for
// a call out costs an Ack up to a round trip, which shows where a few
// workers do nothing but ack in turn (BenchmarkScheduleClaimAck with
// ack=each and 4 workers lost less to it with two calls out than with
// one); where many workers ack at once, the calls saved outweigh it
// (docs/benchmarks.md).
const ackCalls = 2

// acker gathers the Acks of concurrent callers.
type acker struct {
	mu      sync.Mutex
	pending []*ackReq // waiting for a call out to return
	out     int       // ack calls out
}

// ackReq is one Ack call waiting for its outcome.
type ackReq struct {
	job queue.Job
	err error
	// batch is set when the request is handed the lead: the requests to
	// send, itself first.
	batch []*ackReq
	wake  chan struct{} // outcome set, or lead handed over
}

// Ack implements queue.Queue.
func (q *Queue) Ack(ctx context.Context, job queue.Job) error {
	if err := q.ready(ctx); err != nil {
		return wrap("ack", job.Key, err)
	}
	r := &ackReq{job: job, wake: make(chan struct{}, 1)}
	a := &q.acks
	a.mu.Lock()
	if a.out == ackCalls {
		// Once queued the ack is sent whatever ctx does, as every change
		// is (see write), so the caller waits for its outcome.
		a.pending = append(a.pending, r)
		a.mu.Unlock()
		<-r.wake
		if r.batch == nil {
			return r.err
		}
	} else {
		a.out++
		a.mu.Unlock()
		r.batch = []*ackReq{r}
	}
	q.leadAcks(r.batch)
	return r.err
}

// leadAcks sends batch, whose first request is the caller's, in one call;
// it wakes the others with their outcomes and hands the lead to the first
// of the requests that waited meanwhile, or ends it.
func (q *Queue) leadAcks(batch []*ackReq) {
	jobs := make([]queue.Job, len(batch))
	for i, r := range batch {
		jobs[i] = r.job
	}
	acked, err := q.ackBatch(context.Background(), jobs)

	a := &q.acks
	a.mu.Lock()
	var next []*ackReq
	if n := min(len(a.pending), MaxClaim); n > 0 {
		next = slices.Clone(a.pending[:n])
		a.pending = slices.Clone(a.pending[n:])
	} else {
		a.out--
	}
	a.mu.Unlock()

	for i, r := range batch {
		switch {
		case err != nil:
			r.err = wrap("ack", r.job.Key, err)
		case !acked[i]:
			r.err = wrap("ack", r.job.Key, queue.ErrLeaseLost)
		}
		if i > 0 {
			r.wake <- struct{}{}
		}
	}
	if next != nil {
		next[0].batch = next
		next[0].wake <- struct{}{}
	}
}

// AckMany acks each job as Ack does, in one script call per MaxClaim
// jobs, so that a worker finishing a batch pays one round trip for it
// rather than one per job. Each job's ack is atomic, the whole is not: a
// job whose lease the caller no longer holds is not acked while the others
// are, and the error joins one error wrapping queue.ErrLeaseLost per such
// job. On any other error some jobs may have been acked; their leases are
// gone, so calling it again reports those as lost.
func (q *Queue) AckMany(ctx context.Context, jobs []queue.Job) error {
	if err := q.ready(ctx); err != nil {
		return wrap("ack many", "", err)
	}
	var errs []error
	for batch := range slices.Chunk(jobs, MaxClaim) {
		acked, err := q.ackBatch(ctx, batch)
		if err != nil {
			return errors.Join(append(errs, wrap("ack many", "", err))...)
		}
		for i, ok := range acked {
			if !ok {
				errs = append(errs, wrap("ack many", batch[i].Key, queue.ErrLeaseLost))
			}
		}
	}
	return errors.Join(errs...)
}

// ackBatch runs ackScript on up to MaxClaim jobs and reports which it
// acked; the others' leases were lost.
func (q *Queue) ackBatch(ctx context.Context, jobs []queue.Job) ([]bool, error) {
	args := make([]any, 0, 2+2*len(jobs))
	args = append(args, q.nowArg(), q.keys.jp)
	for _, j := range jobs {
		args = append(args, j.Key, j.Lease)
	}
	res, err := q.once(ctx, ackScript, []string{q.keys.due, q.keys.leases}, args...).Int64Slice()
	if err == nil && len(res) != len(jobs) {
		err = fmt.Errorf("script returned %d values for %d jobs", len(res), len(jobs))
	}
	if err != nil {
		return nil, err
	}
	acked := make([]bool, len(jobs))
	for i, r := range res {
		if acked[i] = r != 0; acked[i] {
			q.metrics.Acked()
		}
	}
	return acked, nil
}
