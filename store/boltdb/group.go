package boltdb

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// group commits concurrent writers together: a writer that finds no commit
// running commits at once, alone; writers that arrive while a commit runs
// queue, and when it ends the first of them commits the whole queue in one
// transaction and one fsync. The batch is whatever arrived during the
// previous commit, so a lone write waits for nothing and a busy store
// commits back to back, as often as the disk allows. bbolt's own Batch
// instead holds every batch open for a fixed delay, which a lone writer
// pays in full and which, under a trickle of writes, still leaves most
// commits with a single caller.
type group struct {
	db      *bbolt.DB
	mu      sync.Mutex
	running bool     // a leader is committing
	queue   []*write // waiting for the next commit
}

type write struct {
	fn   func(*bbolt.Tx) error
	done chan signal // buffered: the leader never waits for a follower
}

// signal ends a follower's wait: with its result, an order to run fn in a
// transaction of its own, or the batch it now leads.
type signal struct {
	err  error
	solo bool
	lead []*write
}

// write runs fn in a write transaction and returns once it is on disk.
func (g *group) write(fn func(*bbolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan signal, 1)}
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		return g.lead([]*write{w})
	}
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	s := <-w.done
	switch {
	case s.lead != nil:
		return g.lead(s.lead)
	case s.solo:
		return g.db.Update(fn)
	}
	return s.err
}

// lead commits batch, whose first write is the caller's, hands the writers
// that queued meanwhile to the next leader, and returns the caller's result.
func (g *group) lead(batch []*write) error {
	self := batch[0]
	results := g.commit(batch)
	g.mu.Lock()
	next := g.queue
	g.queue = nil
	g.running = len(next) > 0
	g.mu.Unlock()
	if len(next) > 0 {
		next[0].done <- signal{lead: next}
	}
	var out signal
	for w, s := range results {
		if w == self {
			out = s
			continue
		}
		w.done <- s
	}
	if out.solo {
		return g.db.Update(self.fn)
	}
	return out.err
}

// commit runs the batch's functions in one transaction. A function that
// fails is taken out and told to run alone (its error may come from the
// writes of others before it, which are then re-run without it), as bbolt's
// Batch does.
func (g *group) commit(batch []*write) map[*write]signal {
	results := make(map[*write]signal, len(batch))
	for len(batch) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bbolt.Tx) error {
			for i, w := range batch {
				if err := safely(w.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		// Success, a commit error, or a lone function's own error: final.
		if failed < 0 || len(batch) == 1 && !isPanic(err) {
			for _, w := range batch {
				results[w] = signal{err: err}
			}
			return results
		}
		results[batch[failed]] = signal{solo: true}
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
	return results
}

// isPanic reports whether err is a recovered panic: a lone function that
// panicked still runs again in its caller, to panic there.
func isPanic(err error) bool {
	_, ok := err.(panicked)
	return ok
}

// panicked is a function's panic, turned into an error so that the batch
// survives it; the function then runs alone in its caller and panics there.
type panicked struct{ reason any }

func (p panicked) Error() string {
	if err, ok := p.reason.(error); ok {
		return err.Error()
	}
	return fmt.Sprint("panic: ", p.reason)
}

func safely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(tx)
}
