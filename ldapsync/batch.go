package ldapsync

import (
	"context"
	"errors"
	"slices"
	"sync"

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
	v      V
	result chan R // buffered: a leader never blocks on a caller gone
}

// do queues v under key and returns its result. The caller that finds no
// batch of key running leads: it sends the waiting values, at most limit,
// through flush (one result per value, in order) — its own value among
// them — and, if more have queued meanwhile, leaves the rest to a
// goroutine that sends batch after batch until none wait. So no caller
// waits for more than the batch in flight when it came and its own, and
// under a steady stream no converge is kept sending others' batches. A
// caller whose ctx ends stops waiting (its value may still be sent; a
// converge runs again and finds it so, as after any cancelled request).
func (b *coalescer[K, V, R]) do(ctx context.Context, key K, v V, limit int, flush func(context.Context, []V) []R, failed func(error) R) (R, error) {
	c := &call[V, R]{v: v, result: make(chan R, 1)}
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
		if batch := b.take(key, q, limit); batch != nil {
			b.send(ctx, batch, flush, failed)
		}
		if b.more(key, q) {
			// The drain is no one caller's: it outlives ctx, as a
			// request already sent does.
			go b.drain(context.WithoutCancel(ctx), key, q, limit, flush, failed)
		}
	}
	select {
	case r := <-c.result:
		return r, nil
	case <-ctx.Done():
		var zero R
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

// more reports whether calls wait under key; if none, the key stops
// running, so that the next caller leads.
func (b *coalescer[K, V, R]) more(key K, q *batchQueue[V, R]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(q.waiting) > 0 {
		return true
	}
	q.running = false
	delete(b.pending, key)
	return false
}

// drain sends key's batches until none wait.
func (b *coalescer[K, V, R]) drain(ctx context.Context, key K, q *batchQueue[V, R], limit int, flush func(context.Context, []V) []R, failed func(error) R) {
	for batch := b.take(key, q, limit); batch != nil; batch = b.take(key, q, limit) {
		b.send(ctx, batch, flush, failed)
	}
}

// send flushes one batch and hands each call its result.
func (b *coalescer[K, V, R]) send(ctx context.Context, batch []*call[V, R], flush func(context.Context, []V) []R, failed func(error) R) {
	if err := ctx.Err(); err != nil {
		for _, c := range batch {
			c.result <- failed(err)
		}
		return
	}
	vals := make([]V, len(batch))
	for i, c := range batch {
		vals[i] = c.v
	}
	for i, r := range flush(ctx, vals) {
		batch[i].result <- r
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
