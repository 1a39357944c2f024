// Package engine runs Tenure's level-triggered reconciliation. Its intake
// (OnWrite, the SCIM server's write hook) turns each SCIM write into a
// lifecycle transition, recorded with the person's lifecycle record and an
// audit event in the write's own transaction, and schedules the key
// "target/person" on every target. Workers claim due keys from the delay
// queue, compute the desired state with mapper at the current time, converge
// the target, record the link and the result, schedule the next boundary and
// only then ack. Retries and duplicates are harmless by construction; a
// periodic sweep re-enqueues anything a crash left behind.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tenurehq/tenure/internal/outage"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// Options configure an Engine.
type Options struct {
	Store store.Store
	// Queue must also implement queue.TxScheduler on Store's backend.
	Queue   queue.Queue
	Policy  *mapper.Policy
	Targets map[string]targets.Target
	// Workers, Lease, Poll and Sweep: see config.Engine. Zero values take
	// the defaults 16, 15s, 250ms, 5m.
	Workers int
	Lease   time.Duration
	Poll    time.Duration
	Sweep   time.Duration
	// Drain bounds how long Run waits for running converges after its
	// context ends before cancelling them (their keys return to the queue).
	Drain time.Duration
	// Notifiers are the channels request and review notifications go
	// to (each gets every message); none: nothing is sent.
	Notifiers []notify.Notifier
	// Now is the clock; tests inject one. Default time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Engine is the reconciler. It is safe for concurrent use.
type Engine struct {
	st      store.Store
	q       queue.Queue
	sched   queue.TxScheduler
	acker   queue.TxAcker   // nil: results and acks commit separately
	claimer queue.TxClaimer // nil: a worker claims its next job in a commit of its own
	targets map[string]targets.Target
	policy  atomic.Pointer[mapper.Policy]
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics
	// rmetrics are the access requests' (requests_metrics.go).
	rmetrics *requestMetrics
	// notifiers are the notification channels (Options.Notifiers,
	// SetNotifiers).
	notifiers atomic.Pointer[[]notify.Notifier]
	// wake holds at most one token: Wake puts it, an idle worker takes it
	// and claims; a worker whose claim found work passes a token on, so a
	// backlog wakes workers one by one and a single write wakes one.
	wake chan struct{}
	// queueDown logs an outage of the queue's backend once, not once per
	// worker's poll.
	queueDown *outage.Log
}

// Default tuning, for Options left zero; `tenure serve` passes the config's
// values, whose defaults (config.Engine) are the same.
const (
	DefaultWorkers = 64
	DefaultLease   = 15 * time.Second
	DefaultPoll    = 250 * time.Millisecond
	DefaultSweep   = 5 * time.Minute
	DefaultDrain   = 10 * time.Second
	// waitRetry is how soon a person waiting for another's account (their
	// manager) is retried; the other's link appearing wakes them sooner.
	waitRetry = 5 * time.Second
	// waitAttempts is how many times a missing reference holds a converge
	// back before the account is converged without it (the reference is
	// set when the other account appears).
	waitAttempts = 3
	maxBackoff   = 5 * time.Minute
	// panicAttempts is how many times a job that panics runs before it is
	// dead-lettered: a panic is a bug, which retrying rarely cures.
	panicAttempts = 3
)

// New builds an engine. It does not start workers: call Run.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Queue == nil || o.Policy == nil {
		return nil, errors.New("engine: store, queue and policy are required")
	}
	sched, ok := o.Queue.(queue.TxScheduler)
	if !ok {
		return nil, errors.New("engine: the queue cannot schedule inside store transactions")
	}
	for _, name := range o.Policy.TargetNames {
		if o.Targets[name] == nil {
			return nil, fmt.Errorf("engine: target %q has a policy but no implementation", name)
		}
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Sweep <= 0 {
		o.Sweep = DefaultSweep
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	rm, err := newRequestMetrics(o.Registerer)
	if err != nil {
		m.set.Unregister()
		return nil, err
	}
	acker, _ := o.Queue.(queue.TxAcker)
	claimer, _ := o.Queue.(queue.TxClaimer)
	if acker == nil {
		claimer = nil // the next claim rides on the ack's commit
	}
	e := &Engine{
		st: o.Store, q: o.Queue, sched: sched, acker: acker, claimer: claimer, targets: o.Targets, opts: o,
		now: o.Now, log: o.Logger, metrics: m, rmetrics: rm, wake: make(chan struct{}, 1),
		queueDown: outage.New(o.Logger, "engine: queue unavailable; workers keep polling and run the work when it is back", "engine: queue available again"),
	}
	e.policy.Store(o.Policy)
	e.SetNotifiers(o.Notifiers)
	return e, nil
}

// Policy returns the policy in force.
func (e *Engine) Policy() *mapper.Policy { return e.policy.Load() }

// SetPolicy replaces the policy (a validated reload). Every target it names
// must have an implementation; the sweep re-converges everyone under it.
func (e *Engine) SetPolicy(p *mapper.Policy) error {
	for _, name := range p.TargetNames {
		if e.targets[name] == nil {
			return fmt.Errorf("engine: target %q has a policy but no implementation (adding targets needs a restart)", name)
		}
	}
	e.policy.Store(p)
	return nil
}

// Wake makes an idle worker claim now instead of at its next poll; if it
// finds work, it wakes another.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default: // a token is waiting already
	}
}

// Close releases the engine's metrics.
func (e *Engine) Close() { e.metrics.set.Unregister(); e.rmetrics.set.Unregister() }

// Run claims and converges due keys until ctx ends, then lets running
// converges finish for up to Options.Drain before cancelling them.
func (e *Engine) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.sweepLoop(ctx) }()
	go func() { defer wg.Done(); e.pollLoop(ctx) }()
	var workers sync.WaitGroup
	for range e.opts.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); e.worker(ctx, work) }()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(e.opts.Drain):
		cancelWork()
		<-done
	}
	wg.Wait()
	return nil
}

// worker claims one due key at a time and converges it under work, until
// ctx ends. Workers claim independently rather than through one claiming
// loop: their claims overlap, so the embedded queue commits them together
// (a single claimer paid a commit per key, which capped throughput at one
// key per commit time), and a slow claim holds up no other worker. With a
// queue.TxClaimer a worker claims its next key in the commit that records
// its result, and claims on its own only when that found nothing. An idle
// worker waits for a Wake token (a write, pollLoop, or a worker that found
// work). A token put while a worker's claim was finding nothing is taken by
// its next wait, so no Wake is lost.
func (e *Engine) worker(ctx, work context.Context) {
	more := func() bool { return ctx.Err() == nil }
	var next []queue.Job
	for {
		jobs := next
		next = nil
		if len(jobs) == 0 {
			if ctx.Err() != nil {
				return
			}
			var err error
			jobs, err = e.q.Claim(ctx, 1, e.opts.Lease)
			switch {
			case err == nil:
				e.queueDown.OK()
			case ctx.Err() == nil:
				e.queueDown.Failed(err)
			}
		}
		if len(jobs) > 0 {
			// There may be more due: another idle worker looks. A job
			// claimed with the last result runs even after ctx ends,
			// like any other job in flight.
			e.Wake()
			next = e.run(work, jobs[0], more)
			continue
		}
		select {
		case <-ctx.Done():
		case <-e.wake:
		}
	}
}

// pollLoop wakes a worker every Options.Poll, for the keys that fall due
// with no write to announce them (start dates, grace ends, retries). One
// poller rather than one per worker: idle workers cost nothing, however
// many there are, and a worker that finds work wakes the next.
func (e *Engine) pollLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Wake()
		}
	}
}

// run converges one claimed key, keeping its lease alive meanwhile. If more
// still holds when the result commits, the commit claims the worker's next
// job too, which run returns.
func (e *Engine) run(ctx context.Context, job queue.Job, more func() bool) []queue.Job {
	e.metrics.inflight.Inc()
	defer e.metrics.inflight.Dec()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobc := make(chan queue.Job, 1)
	jobc <- job
	go e.keepLease(ctx, cancel, jobc)
	out := e.converge(ctx, job.Key, job.Attempts, jobc, more)
	cur := <-jobc // the latest lease token; keepLease stops here
	cancel()
	e.finish(ctx, cur, out)
	if out.next == nil {
		return nil
	}
	return out.next()
}

// keepLease extends the job's lease at a third of its length until ctx
// ends. It owns the job value in jobc while it extends. A lost lease (the
// queue was unreachable for longer than the lease, and another worker may
// have the key now) cancels the converge: two workers must not converge
// one key at once.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelFunc, jobc chan queue.Job) {
	t := time.NewTicker(e.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case job := <-jobc:
			j, err := e.q.Extend(ctx, job, e.opts.Lease)
			switch {
			case err == nil:
				job = j
			case errors.Is(err, queue.ErrLeaseLost):
				e.log.Error("engine: lease lost while converging; cancelling", "key", job.Key)
				cancel()
			case ctx.Err() == nil:
				e.log.Warn("engine: lease extension failed", "key", job.Key, "err", err)
			}
			jobc <- job
		case <-ctx.Done():
			return
		}
	}
}

// Outcome is what a converge asks the queue to do with its key.
type Outcome struct {
	// Err is nil on success.
	Err error
	// Retry: after Delay (Err is retryable, or the key waits for another).
	Retry bool
	Delay time.Duration
	// acked: the job was acked with the result, in its transaction.
	acked bool
	// next reports the jobs claimed in that transaction (nil: none tried).
	next func() []queue.Job
}

// finish acks, retries or dead-letters the job.
func (e *Engine) finish(ctx context.Context, job queue.Job, out Outcome) {
	ctx = context.WithoutCancel(ctx)
	var err error
	switch {
	case out.Err == nil && out.acked:
	case out.Err == nil:
		err = e.q.Ack(ctx, job)
	case out.Retry:
		err = e.q.Retry(ctx, job, out.Delay, out.Err)
	default:
		err = e.q.Kill(ctx, job, out.Err)
	}
	if err != nil {
		e.log.Warn("engine: finishing job failed; it will run again", "key", job.Key, "err", err)
	}
}

// Converge runs one key now: the engine's whole level-triggered step. It
// is exported for `tenure reconcile` and tests; workers call it for claimed
// keys. attempts is how many times the key failed before.
func (e *Engine) Converge(ctx context.Context, key string, attempts int) Outcome {
	return e.converge(ctx, key, attempts, nil, nil)
}

// converge is Converge for a claimed job: held holds the job (its latest
// lease token, which keepLease may renew), so that the result's
// transaction can ack it too; nil leaves the ack to the caller. If more is
// non-nil and still true when the result commits, that transaction also
// claims the caller's next job (Outcome.next).
func (e *Engine) converge(ctx context.Context, key string, attempts int, held chan queue.Job, more func() bool) (out Outcome) {
	defer func() {
		// A panic is a bug met by one job: it fails that job (retried,
		// then dead-lettered with the panic as its error), not the process
		// and every other job with it. What the job held (its lease token
		// in held, a transaction) its own defers have given back.
		if r := recover(); r != nil {
			e.log.Error("engine: a job panicked", "key", key, "panic", r, "stack", string(debug.Stack()))
			out = Outcome{Err: fmt.Errorf("engine: %s: panic: %v", key, r), Retry: attempts+1 < panicAttempts, Delay: backoff(attempts, 0)}
		}
	}()
	if out, ok := e.work(ctx, key, attempts, held); ok {
		return out // a request's, a review's or a notification's key
	}
	target, person, ok := SplitKey(key)
	pol := e.Policy()
	tgt := e.targets[target]
	if _, known := pol.Target(target); !ok || !known || tgt == nil {
		e.log.Warn("engine: dropping job for unknown target", "key", key)
		return Outcome{}
	}
	now := e.now()
	var (
		rec  *mapper.Record
		link *LinkState
	)
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		if rec, err = loadRecord(r, person); err != nil {
			return err
		}
		link, err = loadLink(r, target, person)
		return err
	})
	if err != nil {
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
	}
	if rec == nil {
		return Outcome{} // nobody: a stale key
	}
	d, err := pol.Desired(rec, target, link.Linked(), now)
	if err != nil {
		return e.fail(ctx, target, person, targets.Permanent("policy", err), attempts)
	}
	refs, err := e.resolve(ctx, target, rec, d)
	if err != nil {
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
	}
	if len(refs.waiting) > 0 && attempts < waitAttempts {
		e.metrics.converges.WithLabelValues(target, "waiting").Inc()
		return Outcome{Err: fmt.Errorf("waiting for the account of %v on %s", refs.waiting, target), Retry: true, Delay: waitRetry}
	}
	var wasUnresolved map[string]string
	if link != nil {
		wasUnresolved = link.Unresolved
	}
	for attr, id := range refs.unknown {
		if wasUnresolved[attr] != id {
			e.metrics.unresolved.WithLabelValues(target, attr).Inc()
			e.log.Warn("engine: a reference names no person; the account converges without it until such a user is written",
				"target", target, "person", person, "attribute", attr, "id", id)
		}
	}
	var prev *targets.Link
	var applied *targets.Account
	owned := ""
	if link != nil {
		prev = &link.Link
		applied = link.Applied
		owned = link.ID
	}
	ops := targets.Plan(applied, &d.Account)
	if kinds := takesAccess(applied, &d.Account); len(kinds) > 0 {
		held, err := e.admit(ctx, target, person, rec.Generation, kinds, now)
		if err != nil {
			return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
		}
		if held {
			e.metrics.converges.WithLabelValues(target, "held").Inc()
			return Outcome{}
		}
		if out, stop := e.recheck(ctx, target, person, rec, link, ops, attempts); stop {
			return out
		}
	}
	res, err := tgt.Converge(ctx, &targets.Request{Identity: person, Desired: &d.Account, Link: prev,
		Claim: e.claimFunc(target, person, owned)})
	if c := (*targets.Conflict)(nil); errors.As(err, &c) {
		return e.park(ctx, target, person, rec, c, now, res)
	}
	if err != nil {
		if errors.Is(err, targets.ErrUnavailable) {
			// Nothing reached the target: one unavailability, no
			// operation errors.
			e.metrics.unavailable.WithLabelValues(target).Inc()
			e.metrics.up.WithLabelValues(target).Set(0)
		} else {
			e.metrics.up.WithLabelValues(target).Set(1)
			e.metrics.operations.WithLabelValues(target, failedOp(err), "error").Inc()
		}
		return e.fail(ctx, target, person, err, attempts)
	}
	e.metrics.up.WithLabelValues(target).Set(1)
	var (
		ack, claim func(store.Tx) error
		next       func() []queue.Job
	)
	if held != nil && e.acker != nil {
		job := <-held // no lease extension while the result commits
		defer func() { held <- job }()
		ack = func(tx store.Tx) error { return e.acker.AckTx(tx, job) }
		if more != nil && e.claimer != nil {
			claim = func(tx store.Tx) error {
				next = nil // the Update may run its function again
				if !more() {
					return nil
				}
				var err error
				next, err = e.claimer.ClaimTx(tx, 1, e.opts.Lease)
				return err
			}
		}
	}
	if err := e.record(ctx, target, person, rec, d, res, refs, now, ack, claim); err != nil {
		if c := (*targets.Conflict)(nil); errors.As(err, &c) {
			next = nil
			return e.park(ctx, target, person, rec, c, now, nil)
		}
		// The change is applied but not recorded: run again (idempotent).
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
	}
	for _, op := range res.Ops {
		e.metrics.operations.WithLabelValues(target, string(op.Kind), "ok").Inc()
	}
	e.countDrift(target, ops, res.Ops)
	e.metrics.converges.WithLabelValues(target, "ok").Inc()
	if len(res.Ops) > 0 && (link == nil || link.Generation < rec.Generation) {
		e.metrics.latency.WithLabelValues(target).Observe(e.now().Sub(rec.Changed).Seconds())
	}
	return Outcome{acked: ack != nil, next: next}
}

// record stores the converge's result and schedules the next boundary in
// one transaction, before the job is acked: a crash after it loses nothing.
// ack, if set, acks the job in that transaction, and claim, if set, claims
// the worker's next job at its end.
func (e *Engine) record(ctx context.Context, target, person string, rec *mapper.Record, d *mapper.Desired, res *targets.Result, refs *refResolution, now time.Time, ack, claim func(store.Tx) error) error {
	return e.st.Update(ctx, func(tx store.Tx) error {
		if ack != nil {
			// First, so a boundary scheduled below becomes the job's next
			// due rather than a pending due that the ack would apply.
			if err := ack(tx); err != nil {
				return err
			}
		}
		old, err := loadLink(tx, target, person)
		if err != nil {
			return err
		}
		// The one-owner rule, in the link's own transaction.
		if err := linkAnchor(tx, target, person, res.Link.ID, res.Link.Ref); err != nil {
			return err
		}
		if old != nil && old.ID != "" && old.ID != res.Link.ID {
			if err := releaseAnchor(tx, target, person, old.ID); err != nil {
				return err
			}
		}
		if old != nil && old.Conflict != nil {
			if err := clearConflict(tx, target, person, old.Conflict, "the account converged", now); err != nil {
				return err
			}
		}
		ls := LinkState{Link: res.Link, Generation: rec.Generation, Next: d.Next, At: now, Result: "ok",
			Refs: refs.refs, Unresolved: refs.unknown}
		var oldRefs map[string]string
		if old != nil {
			oldRefs = old.Refs
		}
		if err := keepRefIndex(tx, target, person, oldRefs, ls.Refs); err != nil {
			return err
		}
		if old != nil && old.Ref != "" && old.Ref != ls.Ref {
			// The account moved, was renamed or went away: the accounts
			// that reference it converge again now.
			others, err := referrers(tx, target, person)
			if err != nil {
				return err
			}
			for _, other := range others {
				if err := e.sched.ScheduleTx(tx, Key(target, other), now); err != nil {
					return err
				}
			}
		}
		if ls.Applied == nil {
			ls.Applied = d.Account.Clone()
		}
		if err := putJSON(tx, nsLink, Key(target, person), ls); err != nil {
			return err
		}
		if len(res.Ops) > 0 {
			if err := newAuditor(tx, now).add(person, Event{Kind: EventApplied, Target: target, Ops: res.Ops, Generation: rec.Generation}); err != nil {
				return err
			}
		}
		if !d.Next.IsZero() {
			if err := e.sched.ScheduleTx(tx, Key(target, person), d.Next); err != nil {
				return err
			}
		}
		if ls.Ref != "" && (old == nil || old.Ref != ls.Ref) {
			// Wake the people whose account refers to this one.
			var woken []string
			err := tx.ScanDocs(nsWait, target+"/"+person+"/", false, func(k string, _ []byte) (bool, error) {
				woken = append(woken, k)
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, k := range woken {
				_, other, _ := SplitKey(k[len(target)+1:])
				if err := e.sched.ScheduleTx(tx, Key(target, other), now); err != nil {
					return err
				}
				if err := tx.DeleteDoc(nsWait, k); err != nil {
					return err
				}
			}
		}
		if claim != nil {
			return claim(tx)
		}
		return nil
	})
}

// fail classifies a converge failure, audits it and says what to do.
func (e *Engine) fail(ctx context.Context, target, person string, err error, attempts int) Outcome {
	retry := targets.IsRetryable(err)
	var te *targets.Error
	var after time.Duration
	if errors.As(err, &te) {
		after = te.RetryAfter
	}
	result := "retry"
	if !retry {
		result = "dead"
		e.metrics.dead.WithLabelValues(target).Inc()
	}
	e.metrics.converges.WithLabelValues(target, result).Inc()
	e.log.Warn("engine: converge failed", "target", target, "person", person, "retry", retry, "attempts", attempts+1, "err", err)
	now := e.now()
	aerr := e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		return newAuditor(tx, now).add(person, Event{Kind: EventFailed, Target: target, Error: err.Error(), Retry: retry})
	})
	if aerr != nil {
		e.log.Warn("engine: audit failed", "err", aerr)
	}
	return Outcome{Err: err, Retry: retry, Delay: backoff(attempts, after)}
}

// failedOp names the kind of operation a target failed on, from its
// error's op ("ldap add", "scim update user"), for the operations metric:
// one error per failed attempt, not one per planned operation.
func failedOp(err error) string {
	var te *targets.Error
	if !errors.As(err, &te) {
		return "converge"
	}
	op := te.Op
	for _, m := range []struct{ word, kind string }{
		{"modifydn", string(targets.OpMove)}, {"add", string(targets.OpCreate)}, {"create", string(targets.OpCreate)},
		{"delete", string(targets.OpDelete)}, {"remove", string(targets.OpDelete)},
		{"grant", string(targets.OpGrant)}, {"revoke", string(targets.OpRevoke)},
		{"modify", string(targets.OpUpdate)}, {"update", string(targets.OpUpdate)},
		{"search", "read"}, {"find", "read"}, {"read", "read"}, {"list", "read"}, {"bind", "bind"},
	} {
		if strings.Contains(op, m.word) {
			return m.kind
		}
	}
	return "converge"
}

// backoff is exponential from 1s with ±20% jitter, capped at maxBackoff; a
// delay the target asked for (Retry-After) wins when it is longer.
func backoff(attempts int, asked time.Duration) time.Duration {
	d := time.Second << min(attempts, 16)
	d = min(d, maxBackoff)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(d, asked)
}

// recheck runs just before a destructive step (disable, delete) reaches a
// target, because the world may have changed since it was planned or
// scheduled: the person must still be as the step was computed from (same
// record generation) and the account the link names must still be theirs.
// Otherwise the step is dropped (a newer write has the key run again) or
// parked as a conflict, and stop is true.
func (e *Engine) recheck(ctx context.Context, target, person string, rec *mapper.Record, link *LinkState, ops []targets.Op, attempts int) (Outcome, bool) {
	var (
		now   *mapper.Record
		owner string
	)
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		if now, err = loadRecord(r, person); err != nil {
			return err
		}
		if link != nil && link.ID != "" {
			owner, err = ownerOf(r, target, link.ID)
		}
		return err
	})
	if err != nil {
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}, true
	}
	at := e.now()
	if owner != "" && owner != person {
		return e.park(ctx, target, person, rec, &targets.Conflict{Reason: targets.ConflictOwned, ID: link.ID, Ref: link.Ref,
			Owner: owner, Detail: "a destructive step found the account linked to another person"}, at, nil), true
	}
	if now != nil && now.Generation == rec.Generation {
		return Outcome{}, false
	}
	e.metrics.converges.WithLabelValues(target, "dropped").Inc()
	aerr := e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		return newAuditor(tx, at).add(person, Event{Kind: EventDropped, Target: target, Ops: ops,
			Generation: rec.Generation, Detail: "the person changed before the step ran; the newer state runs instead"})
	})
	if aerr != nil {
		e.log.Warn("engine: audit failed", "err", aerr)
	}
	// The write that changed the person came after this job was claimed
	// (the converge read the record after the claim), so it left a
	// pending due that the ack turns into the next run.
	return Outcome{}, true
}

// RunDue claims and converges every key due now, a batch at a time, until
// none is left; it returns how many converges ran. Tests drive the engine
// with it on an injected clock, and `tenure reconcile` uses it.
func (e *Engine) RunDue(ctx context.Context) (int, error) {
	n := 0
	for {
		jobs, err := e.q.Claim(ctx, e.opts.Workers, e.opts.Lease)
		if err != nil {
			return n, err
		}
		if len(jobs) == 0 {
			return n, nil
		}
		for _, job := range jobs {
			held := make(chan queue.Job, 1)
			held <- job
			e.finish(ctx, job, e.converge(ctx, job.Key, job.Attempts, held, nil))
			n++
		}
	}
}
