package redisstore

import (
	"context"
	"sync"
)

// The two groups of a gate.
const (
	views   = 0
	commits = 1
)

// gate keeps a Store's Views and commits apart: Views run together,
// commits run together, never a View and a commit at once. It is
// phase-fair: a group that waits for the other is next, and newcomers of
// the holding group queue behind it, so steady reads cannot starve writes
// nor the reverse. Like sync.RWMutex it is not reentrant: a View that
// opens another View may wait for a commit that waits for the first.
type gate struct {
	mu      sync.Mutex
	holders [2]int
	waiting [2]int
	next    int           // the group admitted first once the gate is free
	changed chan struct{} // closed and replaced on every leave or give-up
}

// enter waits until group k may hold the gate, or ctx ends.
func (g *gate) enter(ctx context.Context, k int) error {
	o := 1 - k
	g.mu.Lock()
	for g.holders[o] > 0 || (g.waiting[o] > 0 && g.next != k) {
		if g.holders[o] > 0 {
			g.next = k // our turn comes when the holders are done
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		ch := g.changed
		g.waiting[k]++
		g.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		g.mu.Lock()
		g.waiting[k]--
		if err != nil {
			g.broadcast()
			g.mu.Unlock()
			return err
		}
	}
	g.holders[k]++
	g.mu.Unlock()
	return nil
}

// leave ends one hold of group k.
func (g *gate) leave(k int) {
	g.mu.Lock()
	g.holders[k]--
	if g.holders[k] == 0 {
		g.broadcast()
	}
	g.mu.Unlock()
}

func (g *gate) broadcast() {
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}
