// Package targettest provides a recording in-memory target for engine and
// end-to-end tests. It is a test double: real targets (LDAP, SCIM) have
// their own conformance suites against real servers. It is never
// registered in the production binary.
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

	mu       sync.Mutex
	accounts map[string]*targets.Account // by anchor
	calls    []Call
	running  map[string]int
	starts   int
	overlaps int
	created  int
}

var _ targets.Target = (*Recording)(nil)

// New returns an empty recording target.
func New() *Recording {
	return &Recording{accounts: map[string]*targets.Account{}, running: map[string]int{}}
}

func anchor(identity string) string { return "acct-" + identity }

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
		Link: targets.Link{ID: a, Ref: "ref-" + req.Identity, Applied: req.Desired.Clone()},
		Ops:  ops,
	}, nil
}

// Account returns a copy of the identity's account, or nil.
func (r *Recording) Account(identity string) *targets.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accounts[anchor(identity)].Clone()
}

// Accounts returns the identities that have accounts, sorted.
func (r *Recording) Accounts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range maps.Keys(r.accounts) {
		out = append(out, a[len("acct-"):])
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
