package targets

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
)

// Account is the state of one identity's account on one target: what the
// engine wants (desired) or what it last applied.
type Account struct {
	// Exists is false when the account must not exist (before the prehire
	// lead, after a leaver's delete, out of scope).
	Exists  bool `json:"exists"`
	Enabled bool `json:"enabled"`
	// Container is where the account lives (an OU for directories); ""
	// means the target's default.
	Container string `json:"container,omitempty"`
	// Attributes are the mapped attribute values: string, bool, int64,
	// float64, or []string. Absent keys are unset on the target.
	Attributes map[string]any `json:"attributes,omitempty"`
	// References are attributes naming another identity's account on this
	// target, as that account's Link.Ref (a DN, a downstream id). The engine
	// resolves them through the other identity's link.
	References map[string]string `json:"references,omitempty"`
	// Entitlements are the grants (groups) the account holds, sorted.
	Entitlements []string `json:"entitlements,omitempty"`
}

// Clone returns a deep copy.
func (a *Account) Clone() *Account {
	if a == nil {
		return nil
	}
	c := *a
	c.Attributes = maps.Clone(a.Attributes)
	for k, v := range c.Attributes {
		if l, ok := v.([]string); ok {
			c.Attributes[k] = slices.Clone(l)
		}
	}
	c.References = maps.Clone(a.References)
	c.Entitlements = slices.Clone(a.Entitlements)
	return &c
}

// Link is what Tenure remembers about an identity's account on a target.
type Link struct {
	// ID is the target's stable anchor (entryUUID, objectGUID, a SCIM id):
	// it survives renames and moves.
	ID string `json:"id,omitempty"`
	// Ref is how other accounts refer to this one (a DN for a manager
	// attribute, the downstream id for SCIM).
	Ref string `json:"ref,omitempty"`
	// Applied is the state last converged; nil before the first converge.
	Applied *Account `json:"applied,omitempty"`
	// Name is the naming value a collision rule chose for the account
	// (coll2) when the mapped one (Wanted: coll) was taken; a target keeps
	// using Name while the mapping still yields Wanted, so the choice is
	// stable across converges and rehires.
	Name   string `json:"name,omitempty"`
	Wanted string `json:"wanted,omitempty"`
}

// OpKind names one kind of change to an account.
type OpKind string

// Operation kinds. Disable and Delete are destructive; the engine's guard
// counts what takes access away from an existing account (see
// engine.takesAccess), which a create that starts disabled does not.
const (
	OpCreate  OpKind = "create"
	OpUpdate  OpKind = "update" // attributes or references changed
	OpMove    OpKind = "move"
	OpEnable  OpKind = "enable"
	OpDisable OpKind = "disable"
	OpGrant   OpKind = "grant"
	OpRevoke  OpKind = "revoke"
	OpDelete  OpKind = "delete"
	// OpLink adopts an existing account instead of creating one; only
	// the dry run shows it (a Finder saw the account).
	OpLink OpKind = "link"
)

// Destructive reports whether ops of this kind take access away when they
// apply to an existing account.
func (k OpKind) Destructive() bool { return k == OpDisable || k == OpDelete }

// ChangeOps are the operations of one write that changed the named
// attributes (sorted here) and, if status, set the account enabled or
// disabled: what every kind reports for its modify.
func ChangeOps(changed []string, status, enabled bool) []Op {
	var ops []Op
	if len(changed) > 0 {
		slices.Sort(changed)
		ops = append(ops, Op{Kind: OpUpdate, Detail: fmt.Sprint(slices.Compact(changed))})
	}
	if status {
		kind := OpDisable
		if enabled {
			kind = OpEnable
		}
		ops = append(ops, Op{Kind: kind})
	}
	return ops
}

// Op is one planned or applied change.
type Op struct {
	Kind OpKind `json:"op"`
	// Detail says what: the attribute names, the container, the entitlement.
	Detail string `json:"detail,omitempty"`
}

func (o Op) String() string {
	if o.Detail == "" {
		return string(o.Kind)
	}
	return string(o.Kind) + " " + o.Detail
}

// Plan lists the operations that take an account from applied (nil: unknown
// or never converged) to desired. It is what `tenure plan` prints and what
// the engine audits. Targets are not handed it: they read the account and
// may find more to do (drift), but with no drift they do exactly this
// (targets/conformance checks it).
func Plan(applied *Account, desired *Account) []Op {
	var ops []Op
	if !desired.Exists {
		// Never applied means nothing to delete as far as Tenure knows; a
		// target that reads its directory still removes a stray account.
		if applied != nil && applied.Exists {
			ops = append(ops, Op{Kind: OpDelete})
		}
		return ops
	}
	if applied == nil || !applied.Exists {
		ops = append(ops, Op{Kind: OpCreate, Detail: desired.Container})
		if !desired.Enabled {
			ops = append(ops, Op{Kind: OpDisable})
		}
		for _, e := range desired.Entitlements {
			ops = append(ops, Op{Kind: OpGrant, Detail: e})
		}
		return ops
	}
	if changed := changedKeys(applied, desired); len(changed) > 0 {
		ops = append(ops, Op{Kind: OpUpdate, Detail: fmt.Sprint(changed)})
	}
	if applied.Container != desired.Container {
		ops = append(ops, Op{Kind: OpMove, Detail: desired.Container})
	}
	if applied.Enabled != desired.Enabled {
		if desired.Enabled {
			ops = append(ops, Op{Kind: OpEnable})
		} else {
			ops = append(ops, Op{Kind: OpDisable})
		}
	}
	have := map[string]bool{}
	for _, e := range applied.Entitlements {
		have[e] = true
	}
	for _, e := range desired.Entitlements {
		if !have[e] {
			ops = append(ops, Op{Kind: OpGrant, Detail: e})
		}
		delete(have, e)
	}
	for _, e := range slices.Sorted(maps.Keys(have)) {
		ops = append(ops, Op{Kind: OpRevoke, Detail: e})
	}
	return ops
}

// changedKeys lists the attribute and reference names whose values differ.
func changedKeys(a, b *Account) []string {
	set := map[string]bool{}
	for k, v := range a.Attributes {
		if w, ok := b.Attributes[k]; !ok || !reflect.DeepEqual(v, w) {
			set[k] = true
		}
	}
	for k := range b.Attributes {
		if _, ok := a.Attributes[k]; !ok {
			set[k] = true
		}
	}
	for k, v := range a.References {
		if b.References[k] != v {
			set[k] = true
		}
	}
	for k, v := range b.References {
		if a.References[k] != v {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Request asks a target to converge one identity's account.
type Request struct {
	// Identity is the person's id in Tenure (stable across rehires).
	Identity string
	// Desired is the state to reach. References hold resolved Refs.
	Desired *Account
	// Link is what the engine remembers; nil for an identity the target
	// has never seen. Targets use Link.ID to find the account after
	// renames and moves, and may compare Link.Applied with what they read
	// to repair drift.
	Link *Link
	// Claim must succeed before the target writes to an account that it
	// found rather than created or located by Link.ID (see ClaimAccount);
	// nil claims nothing (a target driven directly by a test).
	Claim ClaimFunc
}

// Result is a converge's outcome.
type Result struct {
	// Link is the account's new link (ID and Ref), with Applied set to the
	// state reached; the zero Link after a delete.
	Link Link
	// Ops are the operations actually performed (none when already converged).
	Ops []Op
}

// Target is a downstream system. Converge must be idempotent: the engine
// calls it again after crashes and retries, and for drift repair.
// Failures are *Error values (Retryable, Permanent); unclassified errors
// count as retryable. A *Conflict may come with a Result listing what was
// done on the person's own account before the target stopped; any other
// error comes with a nil Result.
type Target interface {
	Converge(ctx context.Context, req *Request) (*Result, error)
}
