package ldapsync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"
)

// Group membership writes are coalesced across converges, the way bulk
// provisioning tools and AD admins write them: while one modify of a
// group is in flight, the values other converges add to (or remove from)
// that group wait, and go to the directory together in the next modify —
// one round trip and one write of the group entry for many people, where
// a modify per person costs each person a round trip and, on a large
// group, the directory a rewrite of the whole member list. There is no
// timer: a value that finds no modify of its group in flight goes at
// once, alone, so a lone joiner waits for nothing (as the store's group
// commit).
//
// Each converge still gets its own result. A modify of many values is
// atomic in LDAP: when the directory refuses it for something a value can
// cause (already a member, not a member, a syntax or constraint error),
// the values are written one by one, as before coalescing, so one bad
// value fails only its own converge and "already a member" / "not a
// member" stay a success that changed nothing. When the directory could
// not be reached, every value of the batch gets that (retryable) error.

// maxBatch bounds the values of one modify: Active Directory refuses a
// modify of more than 5,000 values of one attribute, and a smaller modify
// keeps one refused batch's one-by-one fallback short.
const maxBatch = 500

// memberBatcher holds the waiting values per group, attribute and
// direction. The zero value is ready to use.
type memberBatcher struct {
	mu      sync.Mutex
	pending map[batchKey]*batchQueue
	// modifies counts the modifies sent, for tests.
	modifies int
}

type batchKey struct {
	group, attr string // group: normalised DN; attr: lower case
	add         bool
}

// batchQueue is one key's waiting values; running while a leader is
// writing them.
type batchQueue struct {
	running bool
	waiting []*memberWrite
}

type memberWrite struct {
	value  string
	result chan memberResult // buffered: a leader never blocks on a waiter gone
}

type memberResult struct {
	done bool // false: it already was (was not) a member
	err  error
}

// write adds value to (or removes it from) group g's attribute attr,
// coalesced with the other converges' values for the same group, and
// returns this value's result. send writes one batch of values with one
// modify and returns the directory's error for it.
func (b *memberBatcher) write(ctx context.Context, g, attr, value string, add bool, send func(ctx context.Context, values []string) (done []bool, err error)) (bool, error) {
	key := batchKey{group: normalDN(g), attr: strings.ToLower(attr), add: add}
	w := &memberWrite{value: value, result: make(chan memberResult, 1)}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[batchKey]*batchQueue{}
	}
	q := b.pending[key]
	if q == nil {
		q = &batchQueue{}
		b.pending[key] = q
	}
	q.waiting = append(q.waiting, w)
	lead := !q.running
	q.running = true
	b.mu.Unlock()

	if lead {
		b.lead(ctx, key, q, send)
	}
	select {
	case r := <-w.result:
		return r.done, r.err
	case <-ctx.Done():
		// The value may still be written by the batch it is in; the
		// converge runs again and finds it so, as after any cancelled
		// modify.
		return false, ctx.Err()
	}
}

// lead writes the key's waiting values, batch after batch, until none
// wait: values that arrive while a batch is in flight form the next. The
// leader's own value is in the first batch, so its converge waits at most
// for the batches that queued behind it meanwhile.
func (b *memberBatcher) lead(ctx context.Context, key batchKey, q *batchQueue, send func(ctx context.Context, values []string) ([]bool, error)) {
	for {
		b.mu.Lock()
		n := min(len(q.waiting), maxBatch)
		if n == 0 {
			q.running = false
			delete(b.pending, key)
			b.mu.Unlock()
			return
		}
		batch := slices.Clone(q.waiting[:n])
		q.waiting = slices.Delete(q.waiting, 0, n)
		b.modifies++
		b.mu.Unlock()
		if err := ctx.Err(); err != nil {
			for _, w := range batch {
				w.result <- memberResult{err: err}
			}
			continue
		}
		b.flush(ctx, batch, send)
	}
}

// flush writes one batch: one modify of every distinct value; if the
// directory refuses it for something a value may cause, one modify per
// value.
func (b *memberBatcher) flush(ctx context.Context, batch []*memberWrite, send func(ctx context.Context, values []string) ([]bool, error)) {
	var values []string
	for _, w := range batch {
		if !slices.Contains(values, w.value) {
			values = append(values, w.value)
		}
	}
	done, err := send(ctx, values)
	if err != nil && len(values) > 1 && refusedByDirectory(err) {
		done = make([]bool, len(values))
		errs := make([]error, len(values))
		for i, v := range values {
			var d []bool
			d, errs[i] = send(ctx, []string{v})
			done[i] = len(d) == 1 && d[0]
		}
		b.mu.Lock()
		b.modifies += len(values)
		b.mu.Unlock()
		for _, w := range batch {
			i := slices.Index(values, w.value)
			w.result <- memberResult{done: done[i], err: errs[i]}
		}
		return
	}
	for _, w := range batch {
		r := memberResult{err: err}
		if err == nil {
			// A value two converges wrote at once changed the group
			// once: the first of them did it.
			i := slices.Index(values, w.value)
			r.done = done[i] && w == firstWith(batch, w.value)
		}
		w.result <- r
	}
}

func firstWith(batch []*memberWrite, value string) *memberWrite {
	for _, w := range batch {
		if w.value == value {
			return w
		}
	}
	return nil
}

// refusedByDirectory reports whether the directory answered err (an LDAP
// result code other than busy or unavailable), as opposed to not being
// reached: only then may a value of the batch be the cause.
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
