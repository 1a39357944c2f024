package ldapsync

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// Requests of many converges that meet at the directory are coalesced,
// the way bulk provisioning tools and AD admins write: while one request
// of a kind (a modify of one group, a search under one base) is in
// flight, the others of that kind wait, and go to the directory together
// in the next one — one round trip for many people, where a request per
// person costs each person one. There is no timer: a request that finds
// none of its kind in flight goes at once, alone, so a lone joiner waits
// for nothing (as the store's group commit does).
//
// Each converge still gets its own result: group.go's member writes and
// lookup.go's searches say how a batch's answer is split, and when the
// directory's answer to a batch cannot be split safely they ask again
// one by one.

// coalescer holds the waiting requests per key. The zero value is ready.
type coalescer[K comparable, V, R any] struct {
	mu      sync.Mutex
	pending map[K]*batchQueue[V, R]
	// sent counts the requests sent to the directory, for tests.
	sent int
}

// batchQueue is one key's waiting calls; running while a leader sends.
type batchQueue[V, R any] struct {
	running bool
	waiting []*call[V, R]
}

type call[V, R any] struct {
	ctx    context.Context // the caller's
	v      V
	result chan R // buffered: a sender never blocks on a caller gone
}

// do queues v under key and returns its result. The caller that finds no
// batch of key running starts a goroutine that sends the waiting values,
// at most limit at a time, through flush (one result per value, in order),
// batch after batch until none wait; so no caller waits for more than the
// batch in flight when it came and its own. A caller whose ctx ends
// returns at once with ctx's error. Its value is left out of any batch not
// yet sent; one already sent goes on for the others in it, and a converge
// runs again and finds it written or not, as after any cancelled request.
// No caller's cancellation fails another's value: a batch is sent under a
// context that ends only when every caller in it has given up.
func (b *coalescer[K, V, R]) do(ctx context.Context, key K, v V, limit int, flush func(context.Context, []V) []R, failed func(error) R) (R, error) {
	var zero R
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c := &call[V, R]{ctx: ctx, v: v, result: make(chan R, 1)}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[K]*batchQueue[V, R]{}
	}
	q := b.pending[key]
	if q == nil {
		q = &batchQueue[V, R]{}
		b.pending[key] = q
	}
	q.waiting = append(q.waiting, c)
	lead := !q.running
	q.running = true
	b.mu.Unlock()

	if lead {
		go b.drain(key, q, limit, flush, failed)
	}
	select {
	case r := <-c.result:
		return r, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// take removes the next batch of key's waiting calls; nil, and the key no
// longer running, when none wait.
func (b *coalescer[K, V, R]) take(key K, q *batchQueue[V, R], limit int) []*call[V, R] {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(q.waiting), limit)
	if n == 0 {
		q.running = false
		delete(b.pending, key)
		return nil
	}
	batch := slices.Clone(q.waiting[:n])
	q.waiting = slices.Delete(q.waiting, 0, n)
	return batch
}

// drain sends key's batches until none wait.
func (b *coalescer[K, V, R]) drain(key K, q *batchQueue[V, R], limit int, flush func(context.Context, []V) []R, failed func(error) R) {
	for batch := b.take(key, q, limit); batch != nil; batch = b.take(key, q, limit) {
		b.send(batch, flush, failed)
	}
}

// send flushes one batch, without the calls whose ctx has ended, and hands
// each call its result. The batch's context ends when the last caller
// still in it gives up; it keeps the first one's values.
func (b *coalescer[K, V, R]) send(batch []*call[V, R], flush func(context.Context, []V) []R, failed func(error) R) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.result <- failed(err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(live[0].ctx))
	defer cancel()
	var left atomic.Int64 // callers still waiting; cancel once none is
	left.Store(int64(len(live)))
	vals := make([]V, len(live))
	for i, c := range live {
		vals[i] = c.v
		stop := context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	for i, r := range flush(ctx, vals) {
		live[i].result <- r
	}
}

// count adds n to the requests sent.
func (b *coalescer[K, V, R]) count(n int) {
	b.mu.Lock()
	b.sent += n
	b.mu.Unlock()
}

// waiting is how many calls wait under key, for tests.
func (b *coalescer[K, V, R]) waiting(key K) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.pending[key]; q != nil {
		return len(q.waiting)
	}
	return 0
}

// refusedByDirectory reports whether the directory answered err (an LDAP
// result code other than busy or unavailable), as opposed to not being
// reached: only then may one value of a batch be the cause.
func refusedByDirectory(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode == ldap.ErrorNetwork {
		return false
	}
	switch le.ResultCode {
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultTimeLimitExceeded:
		return false
	}
	return true
}
