// Package redisq is the delay queue on Redis (queue.Queue), shared by any
// number of Tenure replicas. Every state change is one Lua script (see
// scripts.go for each script's KEYS and ARGV), so a key is never in two
// states and never held by two workers, whatever the replicas do at once.
//
// # Layout
//
// With the store's default prefix "tenure" (the queue's keys are under its store's hash tag):
//
//	{tenure}:q:due        zset  scheduled keys by due time (ms)
//	{tenure}:q:leases     zset  in-flight keys by lease end (ms)
//	{tenure}:q:dead       zset  dead keys by time of death (ms); never trimmed
//	{tenure}:q:job:<key>  hash  the key's state, due, pending due, lease token
//	                            and end, attempts, first failure, last error
//
// A key is in exactly one of the sorted sets, the one of its state, and has
// its hash as long as the queue holds it. Keys due at the same time sort in
// byte order of the key, as Redis orders members of equal score. All keys
// share one hash tag, hence one Redis Cluster slot.
//
// # Time
//
// With queue.Options.Now nil, scripts take the time from the server
// (TIME), so the replicas' clocks never matter; with Now set (tests,
// simulations) the queue passes Now's time to every script instead.
//
// # Store transactions
//
// ScheduleTx adds the schedule script to a store/redisstore transaction:
// it runs inside the store's MULTI/EXEC, so a SCIM write and its jobs
// commit together. Inside MULTI the script is sent with EVAL rather than
// EVALSHA, since a server without the script cached (after a restart or a
// failover) would fail EVALSHA there while executing the rest of the
// transaction. Elsewhere scripts run with EVALSHA and fall back to EVAL on
// NOSCRIPT.
//
// # Bulk
//
// ScheduleMany pipelines schedules a thousand to a round trip, for work
// that schedules many keys at once (a reconcile of every identity).
// AckMany acks up to a thousand jobs in one script call, for a worker that
// finishes a claimed batch: per job it saves a round trip, a script call
// and the lease set's ZREM and the hashes' DEL, which are done once for
// the batch. Concurrent Ack calls share script calls the same way, as a
// group commit (ack.go). Claim sends one argument per call whatever its n
// (the lease tokens are a random base the script numbers), so that an
// idle worker's polls stay small.
//
// # Retries
//
// go-redis sends a command again after a read timeout or a broken
// connection. Schedule is idempotent and keeps that; every other script
// that changes the queue is sent at most once (Queue.once), since a second
// run would claim another batch or report a change that happened as
// refused. Such a call fails instead, its outcome unknown, as after any
// failed write: a claim whose reply was lost comes back when its lease
// runs out, counted as a failed attempt.
//
// # Durability
//
// A call returns once Redis has applied the script. Whether the change
// survives a crash of Redis depends on its AOF setting (appendfsync always
// keeps every acknowledged change), and replication to replicas is
// asynchronous.
package redisq

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

// Limits of one Claim call.
const (
	// MaxClaim is the most keys one Claim leases; asking for more gets
	// this many.
	MaxClaim = 1000
	// sweepLimit is the most expired leases one Claim returns to the
	// schedule, so that a mass expiry does not stall Redis in one script.
	sweepLimit = 1000
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("redisq: queue closed")

// Options configures New beyond queue.Options. The zero value is usable.
type Options struct {
	// Logger receives lease expiries and dead letters. nil discards them.
	Logger *slog.Logger
	// Registerer receives the queue's metrics (queue.Metrics); nil
	// registers none. Close unregisters them.
	Registerer prometheus.Registerer
}

// Queue is a queue.Queue on Redis. It is safe for concurrent use.
type Queue struct {
	st      *redisstore.Store
	client  redis.UniversalClient
	keys    keys
	now     func() time.Time // nil: the server's clock
	horizon time.Duration
	log     *slog.Logger
	metrics *queue.Metrics
	acks    acker
	closed  atomic.Bool
}

var (
	_ queue.Queue       = (*Queue)(nil)
	_ queue.TxScheduler = (*Queue)(nil)
)

// keys names the queue's keys.
type keys struct {
	tag                   string // "{prefix}"
	due, leases, dead, jp string // jp: the prefix of the keys' hashes
}

func newKeys(tag string) keys {
	return keys{tag: tag, due: tag + ":q:due", leases: tag + ":q:leases", dead: tag + ":q:dead", jp: tag + ":q:job:"}
}

func (k keys) job(key string) string { return k.jp + key }

// New returns the queue of st: on its Redis, its keys under st's hash tag
// ("{prefix}:q:…"), so that the queue's commands can join st's
// transactions (queue.TxScheduler and the rest). The store stays the
// caller's: Close closes neither it nor its client. New does not contact
// the server.
func New(st *redisstore.Store, opts queue.Options, o Options) (*Queue, error) {
	if st == nil {
		return nil, errors.New("redisq: new: store is nil")
	}
	if opts.RetryHorizon < 0 {
		return nil, fmt.Errorf("redisq: new: negative retry horizon %v", opts.RetryHorizon)
	}
	k := newKeys(st.HashTag())
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		st:      st,
		client:  st.Client(),
		keys:    k,
		now:     opts.Now,
		horizon: cmp.Or(opts.RetryHorizon, queue.DefaultRetryHorizon),
		log:     log.With("backend", "redis"),
	}
	var err error
	if q.metrics, err = queue.NewMetrics(o.Registerer, "redis", q.Counts, opts.Now); err != nil {
		return nil, fmt.Errorf("redisq: new: %w", err)
	}
	return q, nil
}

// Close unregisters the metrics; later calls fail with ErrClosed. The
// client stays open. Closing a closed Queue returns nil.
func (q *Queue) Close() error {
	if q.closed.CompareAndSwap(false, true) {
		q.metrics.Unregister()
	}
	return nil
}

// Schedule implements queue.Queue.
func (q *Queue) Schedule(ctx context.Context, key string, due time.Time) error {
	err := q.ready(ctx)
	if err == nil {
		err = checkKey(key)
	}
	if err == nil {
		err = scheduleScript.Run(q.write(ctx), q.client, []string{q.keys.due, q.keys.job(key)}, key, ms(due)).Err()
	}
	return wrap("schedule", key, err)
}

// Due is a key and its due time, for ScheduleMany.
type Due struct {
	Key string
	Due time.Time
}

// scheduleBatch is how many schedules ScheduleMany sends per round trip.
const scheduleBatch = 1000

// ScheduleMany schedules each key as Schedule does, pipelined, so bulk work
// (a reconcile of every identity) costs a round trip per thousand keys
// rather than per key. Each key's schedule is atomic, the whole is not: on
// an error some keys may have been scheduled. Scheduling is idempotent, so
// calling it again with the same keys is the way to recover.
func (q *Queue) ScheduleMany(ctx context.Context, items []Due) error {
	if err := q.ready(ctx); err != nil {
		return wrap("schedule many", "", err)
	}
	for _, it := range items {
		if err := checkKey(it.Key); err != nil {
			return wrap("schedule many", it.Key, err)
		}
	}
	wctx := q.write(ctx)
	for batch := range slices.Chunk(items, scheduleBatch) {
		if err := ctx.Err(); err != nil {
			return wrap("schedule many", "", err)
		}
		err := q.scheduleBatch(wctx, batch)
		if errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server lost its script cache (a restart, a failover):
			// load the script and send the batch again, which is harmless.
			if err = scheduleScript.Load(wctx, q.client).Err(); err == nil {
				err = q.scheduleBatch(wctx, batch)
			}
		}
		if err != nil {
			return wrap("schedule many", "", err)
		}
	}
	return nil
}

func (q *Queue) scheduleBatch(ctx context.Context, batch []Due) error {
	_, err := q.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range batch {
			scheduleScript.EvalSha(ctx, p, []string{q.keys.due, q.keys.job(it.Key)}, it.Key, ms(it.Due))
		}
		return nil
	})
	return err
}

// ScheduleTx implements queue.TxScheduler for transactions of a
// store/redisstore Store with the queue's prefix: the schedule commits in
// the store's MULTI/EXEC, or not at all. Like the store's writes it may run
// once per run of the update function, and when it fails it has queued
// nothing, so the caller may handle the error and go on.
func (q *Queue) ScheduleTx(tx store.Tx, key string, due time.Time) error {
	err := q.scheduleTx(tx, key, due)
	return wrap("schedule in store tx", key, err)
}

func (q *Queue) scheduleTx(tx store.Tx, key string, due time.Time) error {
	if err := checkKey(key); err != nil {
		return err
	}
	rtx, err := q.storeTx(tx)
	if err != nil {
		return err
	}
	keys, at := []string{q.keys.due, q.keys.job(key)}, ms(due)
	return rtx.Queue(func(p redis.Pipeliner) error {
		// EVAL, not EVALSHA: see the package documentation.
		scheduleScript.Eval(rtx.Context(), p, keys, key, at)
		return nil
	})
}

// storeTx returns tx as a transaction of the queue's store, so that the
// queue's scripts can join its EXEC.
func (q *Queue) storeTx(tx store.Tx) (*redisstore.Tx, error) {
	if q.closed.Load() {
		return nil, ErrClosed
	}
	return q.st.OwnTx(tx)
}

var (
	_ queue.TxAcker   = (*Queue)(nil)
	_ queue.TxClaimer = (*Queue)(nil)
)

// AckTx implements queue.TxAcker: ackScript joins the store's EXEC. Its
// answer is not read (a lost lease acks nothing, as the interface allows),
// so the acks metric counts it when queued: a transaction run again after a
// conflict counts twice, one that fails counts once too many.
func (q *Queue) AckTx(tx store.Tx, job queue.Job) error {
	rtx, err := q.storeTx(tx)
	if err != nil {
		return wrap("ack in store tx", job.Key, err)
	}
	q.metrics.Acked()
	return rtx.Queue(func(p redis.Pipeliner) error {
		// EVAL, not EVALSHA: see the package documentation.
		p.Eval(rtx.Context(), ackScript.src, []string{q.keys.due, q.keys.leases}, q.nowArg(), q.keys.jp, job.Key, job.Lease)
		return nil
	})
}

// Claim implements queue.Queue. It leases at most MaxClaim keys per call.
func (q *Queue) Claim(ctx context.Context, n int, lease time.Duration) ([]queue.Job, error) {
	if err := q.ready(ctx); err != nil {
		return nil, wrap("claim", "", err)
	}
	if lease < time.Millisecond {
		return nil, fmt.Errorf("redisq: claim: lease %v is shorter than 1ms", lease)
	}
	n = min(max(n, 0), MaxClaim)
	base, err := tokenBase()
	if err != nil {
		return nil, fmt.Errorf("redisq: claim: %w", err)
	}
	res, err := q.once(ctx, claimScript, q.claimKeys(), q.claimArgs(n, lease, base)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisq: claim: %w", err)
	}
	jobs, err := q.claimed(res, lease, base)
	if err != nil {
		return nil, fmt.Errorf("redisq: claim: %w", err)
	}
	return jobs, nil
}

func (q *Queue) claimKeys() []string { return []string{q.keys.due, q.keys.leases, q.keys.dead} }

func (q *Queue) claimArgs(n int, lease time.Duration, base string) []any {
	return []any{q.nowArg(), n, lease.Milliseconds(), q.keys.jp, sweepLimit, q.horizon.Milliseconds(), queue.LeaseExpiredError, base}
}

// claimed reads claimScript's answer: the jobs it leased under lease
// tokens numbered from base, after counting and logging the leases it
// ended.
func (q *Queue) claimed(res []any, lease time.Duration, base string) ([]queue.Job, error) {
	if len(res) < 3 || (len(res)-3)%3 != 0 {
		return nil, fmt.Errorf("script returned %d values", len(res))
	}
	now, _ := res[0].(int64)
	q.expired(res[1], res[2])
	end := time.UnixMilli(now + lease.Milliseconds()).UTC()
	jobs := make([]queue.Job, 0, (len(res)-3)/3)
	for i := 3; i < len(res); i += 3 {
		key, _ := res[i].(string)
		due, err1 := parseMs(res[i+1])
		attempts, err2 := parseMs(res[i+2])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		jobs = append(jobs, queue.Job{
			Key: key, Due: timeOf(due), Attempts: int(attempts),
			Lease: base + strconv.Itoa(len(jobs)+1), LeaseEnd: end,
		})
	}
	q.metrics.Claimed(len(jobs))
	return jobs, nil
}

// ClaimTx implements queue.TxClaimer: claimScript joins the store's EXEC
// (as EVAL: see the package documentation), and its answer is read once
// the EXEC has run. A run of the update function that is not the last
// queues a claim that never executes, so nothing is leased for it.
func (q *Queue) ClaimTx(tx store.Tx, n int, lease time.Duration) (func() []queue.Job, error) {
	rtx, err := q.storeTx(tx)
	if err == nil && lease < time.Millisecond {
		err = fmt.Errorf("lease %v is shorter than 1ms", lease)
	}
	var base string
	if err == nil {
		base, err = tokenBase()
	}
	if err != nil {
		return nil, fmt.Errorf("redisq: claim in store tx: %w", err)
	}
	n = min(max(n, 0), MaxClaim)
	var cmd *redis.Cmd
	err = rtx.Queue(func(p redis.Pipeliner) error {
		cmd = p.Eval(rtx.Context(), claimScript.src, q.claimKeys(), q.claimArgs(n, lease, base)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisq: claim in store tx: %w", err)
	}
	return sync.OnceValue(func() []queue.Job {
		if cmd == nil {
			return nil // the transaction never reached its EXEC
		}
		var jobs []queue.Job
		res, err := cmd.Slice()
		if err == nil {
			jobs, err = q.claimed(res, lease, base)
		}
		if err != nil {
			// Whatever the script leased goes back when the lease ends.
			q.log.Error("redisq: claim in store tx: reading the answer", "err", err)
			return nil
		}
		return jobs
	}), nil
}

// expired counts and logs the leases a Claim ended: n of them, of which
// the keys in dead died.
func (q *Queue) expired(n, dead any) {
	count, _ := n.(int64)
	if count == 0 {
		return
	}
	q.metrics.LeaseExpired(int(count))
	died, _ := dead.([]any)
	for _, k := range died {
		q.metrics.DeadLettered()
		q.log.Warn("queue lease expired past the retry horizon; dead letter", "key", k, "err", queue.LeaseExpiredError)
	}
	if back := int(count) - len(died); back > 0 {
		q.log.Warn("queue leases expired; failed attempts, keys returned to the schedule", "count", back)
	}
}

// Extend implements queue.Queue.
func (q *Queue) Extend(ctx context.Context, job queue.Job, lease time.Duration) (queue.Job, error) {
	if err := q.ready(ctx); err != nil {
		return queue.Job{}, wrap("extend", job.Key, err)
	}
	if lease < time.Millisecond {
		return queue.Job{}, fmt.Errorf("redisq: extend %q: lease %v is shorter than 1ms", job.Key, lease)
	}
	res, err := q.once(ctx, extendScript, []string{q.keys.leases, q.keys.job(job.Key)},
		job.Key, job.Lease, q.nowArg(), lease.Milliseconds()).Slice()
	if err != nil {
		return queue.Job{}, wrap("extend", job.Key, err)
	}
	if len(res) == 0 || res[0] != "ok" {
		return queue.Job{}, wrap("extend", job.Key, queue.ErrLeaseLost)
	}
	if len(res) != 4 {
		return queue.Job{}, fmt.Errorf("redisq: extend %q: script returned %d values", job.Key, len(res))
	}
	end, err1 := parseMs(res[1])
	due, err2 := parseMs(res[2])
	attempts, err3 := parseMs(res[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return queue.Job{}, fmt.Errorf("redisq: extend %q: %w", job.Key, err)
	}
	return queue.Job{Key: job.Key, Due: timeOf(due), Attempts: int(attempts), Lease: job.Lease, LeaseEnd: timeOf(end)}, nil
}

// Retry implements queue.Queue.
func (q *Queue) Retry(ctx context.Context, job queue.Job, after time.Duration, jobErr error) error {
	res, err := q.held(ctx, "retry", job, retryScript,
		[]string{q.keys.due, q.keys.leases, q.keys.dead, q.keys.job(job.Key)},
		job.Key, job.Lease, q.nowArg(), max(after, 0).Milliseconds(), errText(jobErr), q.horizon.Milliseconds())
	switch {
	case err != nil:
	case res == "dead":
		q.metrics.DeadLettered()
		q.log.Warn("queue key failed past the retry horizon; dead letter", "key", job.Key, "err", errText(jobErr))
	default:
		q.metrics.Retried()
	}
	return err
}

// Kill implements queue.Queue.
func (q *Queue) Kill(ctx context.Context, job queue.Job, jobErr error) error {
	_, err := q.held(ctx, "kill", job, killScript, []string{q.keys.leases, q.keys.dead, q.keys.job(job.Key)},
		job.Key, job.Lease, q.nowArg(), errText(jobErr))
	if err == nil {
		q.metrics.DeadLettered()
		q.log.Warn("queue key killed; dead letter", "key", job.Key, "err", errText(jobErr))
	}
	return err
}

// held runs a script that acts on a job's lease and turns its 'lost'
// into queue.ErrLeaseLost.
func (q *Queue) held(ctx context.Context, op string, job queue.Job, s *script, keys []string, args ...any) (string, error) {
	if err := q.ready(ctx); err != nil {
		return "", wrap(op, job.Key, err)
	}
	res, err := q.once(ctx, s, keys, args...).Text()
	switch {
	case err != nil:
		return "", wrap(op, job.Key, err)
	case res == "lost":
		return "", wrap(op, job.Key, queue.ErrLeaseLost)
	}
	return res, nil
}

// Replay implements queue.Queue.
func (q *Queue) Replay(ctx context.Context, key string) error {
	err := q.ready(ctx)
	if err == nil {
		var res string
		res, err = q.once(ctx, replayScript, []string{q.keys.due, q.keys.dead, q.keys.job(key)}, key, q.nowArg()).Text()
		if err == nil && res == "notfound" {
			err = queue.ErrNotFound
		}
	}
	return wrap("replay", key, err)
}

// Cancel implements queue.Queue. Cancelling a key the queue does not hold
// fails with queue.ErrNotFound.
func (q *Queue) Cancel(ctx context.Context, key string) error {
	err := q.ready(ctx)
	if err == nil {
		var res string
		res, err = q.once(ctx, cancelScript, []string{q.keys.due, q.keys.dead, q.keys.job(key)}, key).Text()
		if err == nil && res == "notfound" {
			err = queue.ErrNotFound
		}
	}
	return wrap("cancel", key, err)
}

// ready checks ctx and Close before a call does anything.
func (q *Queue) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if q.closed.Load() {
		return ErrClosed
	}
	return nil
}

// write returns the context for a script that changes the queue: once
// sent, it runs to the end, since a caller that stopped waiting for the
// reply could not know whether the change happened.
func (q *Queue) write(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// once runs a script that changes the queue, under write's context, and
// at most once. go-redis sends a command again after a read timeout or a
// broken connection, which is harmless for Schedule but not here: a second
// Claim would lease another batch and orphan the first (whose leases would
// then run out as failed attempts), and a second Ack, Retry, Kill, Replay
// or Cancel would report a change that happened as refused (ErrLeaseLost,
// ErrNotFound). So the command is marked NoRetry, which lets the client
// send it again only when the first send never reached the server; the
// caller gets any other failure as an error, with the outcome unknown, as
// after any failed write. EVALSHA falls back to EVAL on NOSCRIPT, which
// means the script did not run.
func (q *Queue) once(ctx context.Context, s *script, keys []string, args ...any) *redis.Cmd {
	ctx = q.write(ctx)
	cmd := q.eval(ctx, "evalsha", s.sha, keys, args)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd = q.eval(ctx, "eval", s.src, keys, args)
	}
	return cmd
}

func (q *Queue) eval(ctx context.Context, verb, body string, keys []string, args []any) *redis.Cmd {
	argv := make([]any, 0, 3+len(keys)+len(args))
	argv = append(argv, verb, body, len(keys))
	for _, k := range keys {
		argv = append(argv, k)
	}
	cmd := redis.NewCmd(ctx, append(argv, args...)...)
	_ = q.client.Process(ctx, onceCmd{cmd}) // the error is cmd's
	return cmd
}

// onceCmd is a command the client must not send twice.
type onceCmd struct{ *redis.Cmd }

func (onceCmd) NoRetry() bool { return true }

// nowArg is the time scripts act on: Now's when set, else empty for the
// server's clock.
func (q *Queue) nowArg() string {
	if q.now == nil {
		return ""
	}
	return strconv.FormatInt(ms(q.now()), 10)
}

// tokenBase returns the start of a Claim call's lease tokens: a random
// 128-bit value and a dot. claimScript appends each key's number (1, 2, …)
// to it, so that the call sends one argument, not one per key.
func tokenBase() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]) + ".", nil
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// wrap prefixes an error with the operation and key; nil stays nil.
func wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case key == "":
		return fmt.Errorf("redisq: %s: %w", op, err)
	default:
		return fmt.Errorf("redisq: %s %q: %w", op, key, err)
	}
}
