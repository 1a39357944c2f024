package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// GuardState is a target's guard: the destructive operations admitted in
// the current window and, once tripped, the people whose destructive work
// waits for an admin. It lives in the store, so every replica sees it.
//
// Only operations that take access away count (see takesAccess): disabling
// an enabled account, deleting an existing one, revoking every entitlement
// of an account that stays. Creates (a pre-hire's disabled account
// included), enables, grants and single revocations never count and are
// never held. Each (person, operation) counts once per window, however
// often its converge runs again (retries during an outage). The drift
// pass's removals of exclusive-group members no grant explains count too,
// each (member, group) once, under a key that is no person (memberKey).
type GuardState struct {
	Target    string    `json:"target"`
	Tripped   bool      `json:"tripped"`
	TrippedAt time.Time `json:"trippedAt,omitzero"`
	// Counted are the destructive operations admitted in the window.
	Counted []GuardCount `json:"counted,omitempty"`
	// Held are the people whose destructive work waits for an admin, and
	// the exclusive-group members whose removal waits ("member <value>
	// of <group>", see memberKey).
	Held []string `json:"held,omitempty"`
	// Approved maps each person an admin released to the record
	// generation approved: all of that generation's destructive work (a
	// leaver's disable and move now, the delete weeks later) runs without
	// counting or being held again. A newer change needs no approval
	// unless it trips the guard itself. An exclusive-group member maps to
	// 0 until its removal is done.
	Approved map[string]uint64 `json:"approved,omitempty"`
	// NowOnly are the approved people whose approval covers only the
	// operations held when it was given (ApproveGuardNow): a later step
	// of the same change (the delete after the delay) counts again.
	NowOnly []string `json:"nowOnly,omitempty"`
	// Released is how many held people the last approval released.
	Released int `json:"released,omitempty"`
}

// GuardCount is one destructive operation the guard admitted.
type GuardCount struct {
	Person string         `json:"person"`
	Op     targets.OpKind `json:"op"`
	At     time.Time      `json:"at"`
}

// OpRevokeAll is the guard's name for revoking every entitlement of an
// account that stays (a conversion's revoke-all).
const OpRevokeAll targets.OpKind = "revoke-all"

// takesAccess lists the operations of a converge from applied to desired
// that take access away: the ones the guard counts and holds.
func takesAccess(applied, desired *targets.Account) []targets.OpKind {
	if applied == nil || !applied.Exists {
		return nil // nothing to take: a create, a pre-hire's disabled account
	}
	switch {
	case !desired.Exists:
		return []targets.OpKind{targets.OpDelete}
	case applied.Enabled && !desired.Enabled:
		return []targets.OpKind{targets.OpDisable}
	case len(applied.Entitlements) > 0 && len(desired.Entitlements) == 0:
		return []targets.OpKind{OpRevokeAll}
	}
	return nil
}

// Errors admin callers branch on.
var (
	// ErrGuardNotTripped: approve or discard on a guard that holds nothing.
	ErrGuardNotTripped = errors.New("engine: guard is not tripped")
	// ErrNoTarget: the policy names no such target.
	ErrNoTarget = errors.New("engine: no such target")
)

// admit decides whether a converge of person (at record generation gen)
// that takes access away (kinds) may run now. When the target's guard is
// tripped, or this converge trips it, the person is held and admit reports
// held. Operations already admitted in the window, and an approved
// generation's, run without counting.
func (e *Engine) admit(ctx context.Context, target, person string, gen uint64, kinds []targets.OpKind, now time.Time) (held bool, err error) {
	g := e.Policy().Guard
	if g.Threshold < 0 || len(kinds) == 0 {
		return false, nil
	}
	var (
		tripped bool
		count   int
	)
	err = e.st.Update(ctx, func(tx store.Tx) error {
		held, tripped = false, false
		gs, err := loadGuard(tx, target)
		if err != nil {
			return err
		}
		gs.Counted = slices.DeleteFunc(gs.Counted, func(c GuardCount) bool { return !c.At.After(now.Add(-g.Window)) })
		if v, ok := gs.Approved[person]; ok {
			if v == gen && !slices.Contains(gs.NowOnly, person) {
				return nil // approved: the whole sequence of this change
			}
			delete(gs.Approved, person)
			if i := slices.Index(gs.NowOnly, person); i >= 0 {
				gs.NowOnly = slices.Delete(gs.NowOnly, i, i+1)
				if v == gen {
					// Approved for what was held: counted as admitted
					// (so its retries pass), the approval used up.
					for _, k := range kinds {
						gs.Counted = append(gs.Counted, GuardCount{Person: person, Op: k, At: now})
					}
					return putJSON(tx, nsGuard, target, gs)
				}
			}
		}
		var fresh []targets.OpKind
		for _, k := range kinds {
			if !slices.ContainsFunc(gs.Counted, func(c GuardCount) bool { return c.Person == person && c.Op == k }) {
				fresh = append(fresh, k)
			}
		}
		switch {
		case len(fresh) == 0:
			// Admitted before in this window (a retry): it runs.
		case gs.Tripped:
			held = true
		case len(gs.Counted)+len(fresh) > g.Threshold:
			gs.Tripped, gs.TrippedAt, held, tripped = true, now, true, true
		default:
			for _, k := range fresh {
				gs.Counted = append(gs.Counted, GuardCount{Person: person, Op: k, At: now})
			}
		}
		count = len(gs.Counted)
		if held && !slices.Contains(gs.Held, person) {
			gs.Held = append(gs.Held, person)
			detail := "held: the target's guard is tripped"
			if tripped {
				detail = fmt.Sprintf("guard tripped: more than %d destructive operations within %s", g.Threshold, g.Window)
			}
			if err := newAuditor(tx, now).add(person, Event{Kind: EventGuard, Target: target, Detail: detail}); err != nil {
				return err
			}
		}
		return putJSON(tx, nsGuard, target, gs)
	})
	if err != nil {
		return false, fmt.Errorf("engine: guard %s: %w", target, err)
	}
	if held {
		e.metrics.guard.WithLabelValues(target).Set(1)
	}
	if tripped {
		e.log.Warn("engine: guard tripped; destructive operations held until an admin approves",
			"target", target, "counted", count, "threshold", g.Threshold, "window", g.Window, "person", person)
	}
	return held, nil
}

func loadGuard(r store.Reader, target string) (*GuardState, error) {
	gs, err := getJSON[GuardState](r, nsGuard, target)
	if err != nil || gs != nil {
		return gs, err
	}
	return &GuardState{Target: target}, nil
}

// Guard returns a target's guard state.
func (e *Engine) Guard(ctx context.Context, target string) (*GuardState, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	var gs *GuardState
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		gs, err = loadGuard(r, target)
		return err
	})
	return gs, err
}

// ApproveGuard releases a tripped guard: the held people converge now, their
// destructive operations let through without tripping it again.
func (e *Engine) ApproveGuard(ctx context.Context, target, actor string) (*GuardState, error) {
	return e.resolveGuard(ctx, target, actor, true, false)
}

// ApproveGuardNow is ApproveGuard for the held operations only: a later
// destructive step of the same change (a leaver's delete after the delay)
// is counted, and held if it trips the guard, again.
func (e *Engine) ApproveGuardNow(ctx context.Context, target, actor string) (*GuardState, error) {
	return e.resolveGuard(ctx, target, actor, true, true)
}

// DiscardGuard releases a tripped guard without performing the held
// destructive work: each held person's account stays as it is, and their
// current state counts as converged until their next change. Use it when
// the batch was a mistake (an HR export bug) and the source is being fixed.
func (e *Engine) DiscardGuard(ctx context.Context, target, actor string) (*GuardState, error) {
	return e.resolveGuard(ctx, target, actor, false, false)
}

func (e *Engine) resolveGuard(ctx context.Context, target, actor string, approve, nowOnly bool) (*GuardState, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	now := e.now()
	var out *GuardState
	err := e.st.Update(ctx, func(tx store.Tx) error {
		gs, err := loadGuard(tx, target)
		if err != nil {
			return err
		}
		if !gs.Tripped {
			return ErrGuardNotTripped
		}
		a := newAuditor(tx, now)
		out = &GuardState{Target: target}
		for _, person := range gs.Held {
			detail := "guard discarded: destructive operations dropped"
			switch {
			case isMemberKey(person):
				// An exclusive group's member: approving releases its
				// removal, which a cleanup of the target runs at once;
				// discarding leaves the member until the next drift pass
				// proposes the removal again.
				detail = "guard discarded: the member stays until the next drift pass"
				if approve {
					detail = "guard approved: the member's removal released"
					if out.Approved == nil {
						out.Approved = map[string]uint64{}
					}
					out.Approved[person] = 0
					if err := requestCleanup(tx, target, now); err != nil {
						return err
					}
				}
			case approve:
				detail = "guard approved: this change's destructive operations released (the later delete too)"
				if nowOnly {
					detail = "guard approved: the held destructive operations released (later steps count again)"
					out.NowOnly = append(out.NowOnly, person)
				}
				rec, err := loadRecord(tx, person)
				if err != nil {
					return err
				}
				if rec != nil {
					if out.Approved == nil {
						out.Approved = map[string]uint64{}
					}
					out.Approved[person] = rec.Generation
				}
				if err := e.sched.ScheduleTx(tx, Key(target, person), now); err != nil {
					return err
				}
			default:
				if err := e.acceptAsConverged(tx, target, person); err != nil {
					return err
				}
			}
			if err := a.add(person, Event{Kind: EventAdmin, Target: target, Actor: actor, Detail: detail}); err != nil {
				return err
			}
		}
		// Earlier approvals stay until their generation's work is done;
		// the window starts again.
		for p, gen := range gs.Approved {
			if _, ok := out.Approved[p]; !ok {
				if out.Approved == nil {
					out.Approved = map[string]uint64{}
				}
				out.Approved[p] = gen
				if slices.Contains(gs.NowOnly, p) {
					out.NowOnly = append(out.NowOnly, p)
				}
			}
		}
		if approve {
			out.Released = len(gs.Held)
		}
		return putJSON(tx, nsGuard, target, out)
	})
	if err != nil {
		return nil, err
	}
	e.metrics.guard.WithLabelValues(target).Set(0)
	e.log.Info("engine: guard resolved", "target", target, "approved", approve, "actor", actor)
	e.Wake()
	return out, nil
}

// acceptAsConverged marks the person's current record generation as
// reconciled on target without changing the account.
func (e *Engine) acceptAsConverged(tx store.Tx, target, person string) error {
	rec, err := loadRecord(tx, person)
	if err != nil || rec == nil {
		return err
	}
	ls, err := loadLink(tx, target, person)
	if err != nil {
		return err
	}
	if ls == nil {
		ls = &LinkState{}
	}
	ls.Generation, ls.Result = rec.Generation, "destructive operations discarded by an admin"
	return putJSON(tx, nsLink, Key(target, person), ls)
}
