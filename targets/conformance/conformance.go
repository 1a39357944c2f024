// Package conformance is the test suite every target kind passes. A kind's
// tests call RunTests with a Kind whose fixtures put a target of the kind
// on a place of its own on a real server (an LDAP subtree, names of its
// own on a SCIM app):
//
//	func TestKindConformance(t *testing.T) {
//		conformance.RunTests(t, conformance.Kind{New: ..., At: ..., Collisions: ...})
//	}
//
// The suite drives the target as the engine does: each converge carries the
// person's link and a Claim backed by an owner index of the suite's own
// (anchor → person). Beyond the rules targets.go and ownership.go state, it
// pins down these, which the engine relies on:
//
//   - A converge with no drift does exactly what targets.Plan says, op for
//     op, from the last applied state (or, for an account linked rather
//     than created, from the account as it was found).
//   - Converge is idempotent: a second converge from the returned link does
//     nothing (no ops, not one write request, the account byte for byte
//     the same) and returns the same link.
//   - The link names the account by an anchor that survives renames and
//     moves; Link.Applied is the desired state; a delete returns the zero
//     link, and a delete of what is gone does nothing.
//   - Memberships Tenure never granted are left alone; renames and moves
//     keep memberships.
//   - Every converge reads the account: a mapped attribute, the status or a
//     membership changed behind Tenure's back is repaired (attributes
//     Tenure does not map are kept), and an account deleted behind its
//     back is created again under a new anchor.
//   - A reference (manager) is written as the other account's Link.Ref,
//     follows that account's rename, and "" clears it.
//   - An existing account holding the person's name and correlation value
//     is linked, not duplicated, and claimed before anything is written to
//     it; Find names it first.
//   - An account another person links is never written to — not for a
//     disable nor a delete: the claim's *targets.Conflict (owned) is
//     returned, and Find names the account so the engine's index can say
//     whose it is. A delete with nothing to find by does nothing.
//   - An account at the person's name holding another correlation value is
//     never adopted: with the fail rule the converge writes nothing (not
//     even a group) and returns a *targets.Conflict (collision) naming it,
//     Find the same; with the suffix rule the account is created under the
//     first free numbered name (name2), recorded in Link.Name and
//     Link.Wanted and kept by later converges, and Find foresees it.
//   - What cannot succeed fails permanently (no naming value: before any
//     write); an entitlement naming a group that does not exist is created
//     or fails permanently naming it, never a retry loop or a silent skip.
//   - A target that cannot be reached fails retryable and
//     targets.ErrUnavailable; a converge whose context ends while a request
//     is in flight returns promptly, retryable and wrapping the context's
//     error; a converge with a context already done writes nothing.
//
// Kind-specific behaviours (AD's sAMAccountName, posixGroup memberUid,
// PUT-only SCIM apps, hostile values in DNs and filters) stay in the kinds'
// own tests.
package conformance

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// RunTests runs the suite against k, each case on a fixture of its own.
func RunTests(t *testing.T, k Kind) {
	if k.New == nil {
		t.Fatal("conformance: Kind.New is nil")
	}
	tests := []struct {
		name string
		run  func(t *testing.T, k Kind)
	}{
		{"Lifecycle", testLifecycle},
		{"Manager", testManager},
		{"Drift", testDrift},
		{"LinkExisting", testLinkExisting},
		{"Owned", testOwned},
		{"Collision", testCollision},
		{"Permanent", testPermanent},
		{"Unreachable", testUnreachable},
		{"Context", testContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, k) })
	}
}

// run is one case: a fixture and the engine's side of it, an owner index.
type run struct {
	k Kind
	f Fixture
	// owners: anchor → person, one owner each, as the engine's
	// owner/<target>/<anchor> index.
	mu     sync.Mutex
	owners map[string]string
	// claims records each successful claim's Raw of the account at the
	// time of the claim (claim before write).
	claims map[string]string
}

func newRun(t *testing.T, k Kind, o Options) *run {
	t.Helper()
	f := k.New(t, o)
	if _, ok := f.Target().(targets.Finder); !ok {
		t.Fatalf("conformance: %T is not a targets.Finder", f.Target())
	}
	return &run{k: k, f: f, owners: map[string]string{}, claims: map[string]string{}}
}

func (r *run) equalRef(a, b string) bool {
	if r.k.EqualRef != nil {
		return r.k.EqualRef(a, b)
	}
	return a == b
}

// claim is person's ClaimFunc, as the engine's: it refuses an account
// another person owns with an owned conflict, and otherwise records the
// owner and the account as it is at the claim.
func (r *run) claim(t *testing.T, person string) targets.ClaimFunc {
	return func(_ context.Context, id, ref string) error {
		r.mu.Lock()
		cur := r.owners[id]
		r.mu.Unlock()
		if cur != "" && cur != person {
			return &targets.Conflict{Reason: targets.ConflictOwned, ID: id, Ref: ref, Owner: cur}
		}
		raw := r.f.Raw(t, id)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.owners[id] = person
		if _, ok := r.claims[id]; !ok {
			r.claims[id] = raw
		}
		return nil
	}
}

// owner is the person the index holds for anchor id.
func (r *run) owner(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owners[id]
}

// converge runs one converge of person as the engine would: with the
// person's link and claim; a success is recorded in the owner index,
// which fails t if another person owns the account (a converge wrote to an
// account it had not claimed), and a delete releases the old anchor.
func (r *run) converge(t *testing.T, ctx context.Context, person string, link *targets.Link, desired *targets.Account) (*targets.Result, error) {
	t.Helper()
	res, err := r.f.Target().Converge(ctx, &targets.Request{Identity: person, Desired: desired, Link: link, Claim: r.claim(t, person)})
	if err != nil {
		return res, err
	}
	if res == nil {
		t.Fatalf("converge of %s: nil result and no error", person)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := res.Link.ID; id != "" {
		if cur := r.owners[id]; cur != "" && cur != person {
			t.Fatalf("%s converged onto %s, an account %s owns", person, id, cur)
		}
		r.owners[id] = person
	}
	if link != nil && link.ID != "" && link.ID != res.Link.ID && r.owners[link.ID] == person {
		delete(r.owners, link.ID)
	}
	return res, nil
}

func (r *run) find(t *testing.T, person string, link *targets.Link, desired *targets.Account) (*targets.Match, error) {
	t.Helper()
	return r.f.Target().(targets.Finder).Find(t.Context(), &targets.Request{Identity: person, Desired: desired, Link: link})
}

// apply converges person's desired account from link, checks that it did
// one of wants (the first is usually targets.Plan's; nil: nothing) and
// returned a complete link, converges again from that link and checks that
// the second did nothing: no ops, no write request, the account unchanged
// and the same link. It returns the new link.
func (r *run) apply(t *testing.T, person string, link *targets.Link, desired *targets.Account, wants ...[]targets.Op) *targets.Link {
	t.Helper()
	ctx := t.Context()
	res, err := r.converge(t, ctx, person, link, desired)
	if err != nil {
		t.Fatalf("converge of %s: %v", person, err)
	}
	if len(wants) == 0 {
		wants = [][]targets.Op{nil}
	}
	if !slices.ContainsFunc(wants, func(w []targets.Op) bool { return slices.Equal(res.Ops, w) }) {
		t.Errorf("converge of %s did %v, want %v", person, res.Ops, wants[0])
	}
	r.checkLink(t, &res.Link, desired)
	writes, raw := r.f.Writes(t), r.raw(t, res.Link.ID)
	again, err := r.converge(t, ctx, person, &res.Link, desired)
	if err != nil {
		t.Fatalf("second converge of %s: %v", person, err)
	}
	if len(again.Ops) != 0 {
		t.Errorf("second converge of %s did %v", person, again.Ops)
	}
	if n := r.f.Writes(t) - writes; n != 0 {
		t.Errorf("second converge of %s sent %d write requests", person, n)
	}
	if raw2 := r.raw(t, res.Link.ID); raw2 != raw {
		t.Errorf("second converge of %s changed the account:\n%s\n->\n%s", person, raw, raw2)
	}
	if again.Link.ID != res.Link.ID || !r.equalRef(again.Link.Ref, res.Link.Ref) ||
		again.Link.Name != res.Link.Name || again.Link.Wanted != res.Link.Wanted {
		t.Errorf("second converge of %s returned link %+v, the first %+v", person, again.Link, res.Link)
	}
	return &res.Link
}

// raw is the Raw of the account anchored at id; "" for no anchor.
func (r *run) raw(t *testing.T, id string) string {
	t.Helper()
	if id == "" {
		return ""
	}
	return r.f.Raw(t, id)
}

// checkLink checks that l is what a converge to desired returns.
func (r *run) checkLink(t *testing.T, l *targets.Link, desired *targets.Account) {
	t.Helper()
	if !desired.Exists {
		if l.ID != "" || l.Ref != "" || l.Applied != nil {
			t.Errorf("link after a delete = %+v, want the zero link", l)
		}
		return
	}
	if l.ID == "" || l.Ref == "" {
		t.Errorf("link %+v names no account", l)
	}
	if !reflect.DeepEqual(l.Applied, desired) {
		t.Errorf("link's applied state %+v, want the desired %+v", l.Applied, desired)
	}
}

// read reads the account anchored at id, failing t when there is none.
func (r *run) read(t *testing.T, id string) *State {
	t.Helper()
	s := r.f.Read(t, id)
	if s == nil {
		t.Fatalf("account %s does not exist", id)
	}
	return s
}

// wantState checks that the account anchored at id holds what Account(p)
// maps, with the groups given (sorted; nil: p.Groups).
func (r *run) wantState(t *testing.T, id string, p Person, groups []string) *State {
	t.Helper()
	s := r.read(t, id)
	if groups == nil {
		groups = slices.Sorted(slices.Values(p.Groups))
	}
	if s.Name != p.Name || s.Key != p.Key || s.Title != p.Title || s.Enabled != !p.Disabled || s.Container != p.Container {
		t.Errorf("account %s: name %q key %q title %q enabled %v container %q; want %q %q %q %v %q",
			id, s.Name, s.Key, s.Title, s.Enabled, s.Container, p.Name, p.Key, p.Title, !p.Disabled, p.Container)
	}
	if !slices.Equal(s.Groups, groups) && len(s.Groups)+len(groups) > 0 {
		t.Errorf("account %s is in %q, want %q", id, s.Groups, groups)
	}
	if !r.equalRef(s.Manager, p.Manager) {
		t.Errorf("account %s's manager is %q, want %q", id, s.Manager, p.Manager)
	}
	return s
}

// wantConflict checks that err is a *targets.Conflict for reason, neither
// retryable nor permanent, and returns it.
func wantConflict(t *testing.T, err error, reason targets.ConflictReason) *targets.Conflict {
	t.Helper()
	var c *targets.Conflict
	if !errors.As(err, &c) || c.Reason != reason {
		t.Fatalf("err = %v, want a %s conflict", err, reason)
	}
	if targets.IsRetryable(err) || errors.Is(err, targets.ErrPermanent) {
		t.Errorf("a conflict must be neither retried nor dead-lettered: %v", err)
	}
	return c
}

func plan(applied, desired *targets.Account) []targets.Op { return targets.Plan(applied, desired) }
