// Package targettest provides in-memory targets for tests: Recording, a
// recording test double for engine and end-to-end tests (an account per
// identity, no names, no ownership), and Memory, a whole target kind in
// memory (names, correlation, claims, collision rules, groups) that passes
// targets/conformance as the real kinds do against real servers. Neither
// is registered in the production binary.
package targettest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tenurehq/tenure/targets"
)

// Call is one Converge as the target saw it.
type Call struct {
	Identity string
	Desired  targets.Account
	Ops      []targets.Op // what the target did (from its own state)
	Err      error
}

// Recording keeps accounts in memory, records every call, and counts
// overlapping converges of one identity (which the engine must never cause).
type Recording struct {
	// Fail, if set, is consulted before each converge; a non-nil error is
	// returned as is (use targets.Retryable / targets.Permanent).
	Fail func(req *targets.Request) error
	// Delay makes each converge take this long (to expose overlaps).
	Delay time.Duration
	// Applied, if set, is called after each successful converge (outside
	// the target's lock), for latency measurements.
	Applied func(identity string)
	// Listed, if set, is called by Accounts after it has taken its
	// snapshot and before it reports it (outside the lock), so a test can
	// race a converge with a listing.
	Listed func()
	// RemoveFail, if set, is consulted before each Remove; a non-nil
	// error is returned as is.
	RemoveFail func(id string) error

	mu       sync.Mutex
	accounts map[string]*targets.Account // by anchor
	calls    []Call
	running  map[string]int
	starts   int
	overlaps int
	created  int
	removed  []string
}

var (
	_ targets.Target    = (*Recording)(nil)
	_ targets.Inventory = (*Recording)(nil)
	_ targets.Remover   = (*Recording)(nil)
)

// New returns an empty recording target.
func New() *Recording {
	return &Recording{accounts: map[string]*targets.Account{}, running: map[string]int{}}
}

const anchorPrefix = "acct-"

func anchor(identity string) string { return anchorPrefix + identity }

func ref(identity string) string { return "ref-" + identity }

// Converge implements targets.Target against the in-memory accounts,
// planning from the actual account (not the link), as a drift-aware target
// does.
func (r *Recording) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	r.mu.Lock()
	if r.running[req.Identity] > 0 {
		r.overlaps++
	}
	r.running[req.Identity]++
	r.starts++
	fail := r.Fail
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running[req.Identity]--
		r.mu.Unlock()
	}()
	if r.Delay > 0 {
		select {
		case <-time.After(r.Delay):
		case <-ctx.Done():
			return nil, targets.Retryable("recording", ctx.Err(), 0)
		}
	}
	if fail != nil {
		if err := fail(req); err != nil {
			r.mu.Lock()
			r.calls = append(r.calls, Call{Identity: req.Identity, Desired: *req.Desired.Clone(), Err: err})
			r.mu.Unlock()
			return nil, err
		}
	}
	if r.Applied != nil {
		defer r.Applied(req.Identity)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := anchor(req.Identity)
	cur := r.accounts[a]
	ops := targets.Plan(cur, req.Desired)
	if !req.Desired.Exists && cur == nil {
		ops = nil // already absent
	}
	r.calls = append(r.calls, Call{Identity: req.Identity, Desired: *req.Desired.Clone(), Ops: ops})
	if !req.Desired.Exists {
		delete(r.accounts, a)
		return &targets.Result{Ops: ops}, nil
	}
	if cur == nil {
		r.created++
	}
	r.accounts[a] = req.Desired.Clone()
	return &targets.Result{
		Link: targets.Link{ID: a, Ref: ref(req.Identity), Applied: req.Desired.Clone()},
		Ops:  ops,
	}, nil
}

// Account returns a copy of the identity's account, or nil.
func (r *Recording) Account(identity string) *targets.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accounts[anchor(identity)].Clone()
}

// Identities returns the identities that have accounts, sorted. Planted
// accounts count under the identity they were planted for.
func (r *Recording) Identities() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range maps.Keys(r.accounts) {
		out = append(out, a[len(anchorPrefix):])
	}
	slices.Sort(out)
	return out
}

// Calls returns every converge so far.
func (r *Recording) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Created counts account creations (a rehire must not add one while the
// old account exists).
func (r *Recording) Created() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.created
}

// Overlaps counts converges that started while another converge of the
// same identity was running.
func (r *Recording) Overlaps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlaps
}

// Starts counts converges begun, including failed and cancelled ones.
func (r *Recording) Starts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// RunningCount is how many converges of identity are running now.
func (r *Recording) RunningCount(identity string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[identity]
}

// Running returns the identities being converged right now.
func (r *Recording) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, n := range r.running {
		if n > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Tamper changes an account behind Tenure's back (drift).
func (r *Recording) Tamper(identity string, fn func(*targets.Account)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.accounts[anchor(identity)]; a != nil {
		fn(a)
	}
}

// Plant creates an account for identity behind Tenure's back (an account
// no converge made, e.g. one an administrator added) and returns its
// anchor. For an identity Tenure knows, a later converge adopts it.
func (r *Recording) Plant(identity string, a *targets.Account) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a == nil {
		a = &targets.Account{Exists: true, Enabled: true}
	}
	r.accounts[anchor(identity)] = a.Clone()
	return anchor(identity)
}

// Accounts implements targets.Inventory: every account, in anchor order,
// named by its identity.
func (r *Recording) Accounts(ctx context.Context, fn func(targets.Found) error) error {
	r.mu.Lock()
	ids := slices.Sorted(maps.Keys(r.accounts))
	listed := r.Listed
	r.mu.Unlock()
	if listed != nil {
		listed()
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return targets.Retryable("recording list", err, 0)
		}
		identity := id[len(anchorPrefix):]
		if err := fn(targets.Found{ID: id, Ref: ref(identity), Name: identity}); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements targets.Remover: the account with anchor id is
// deleted; one already gone is success.
func (r *Recording) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return targets.Retryable("recording remove", err, 0)
	}
	r.mu.Lock()
	fail := r.RemoveFail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(id); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.accounts[id]; ok {
		delete(r.accounts, id)
		r.removed = append(r.removed, id)
	}
	return nil
}

// Removed returns the anchors Remove deleted, in order.
func (r *Recording) Removed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.removed)
}
