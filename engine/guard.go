package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tenurehq/tenure/store"
)

// GuardState is a target's guard: the destructive operations admitted in
// the current window and, once tripped, the people whose destructive work
// waits for an admin. It lives in the store, so every replica sees it.
type GuardState struct {
	Target    string      `json:"target"`
	Tripped   bool        `json:"tripped"`
	TrippedAt time.Time   `json:"trippedAt,omitzero"`
	Recent    []time.Time `json:"recent,omitempty"` // admitted destructive converges in the window
	Held      []string    `json:"held,omitempty"`   // people whose destructive work is held
	// Allowance is how many destructive converges an approval lets through
	// without counting (the held batch itself).
	Allowance int `json:"allowance,omitempty"`
}

// Errors admin callers branch on.
var (
	// ErrGuardNotTripped: approve or discard on a guard that holds nothing.
	ErrGuardNotTripped = errors.New("engine: guard is not tripped")
	// ErrNoTarget: the policy names no such target.
	ErrNoTarget = errors.New("engine: no such target")
)

// admit decides whether a destructive converge of person on target may run
// now. When the target's guard is tripped, or this converge trips it, the
// person is held and admit reports held.
func (e *Engine) admit(ctx context.Context, target, person string, now time.Time) (held bool, err error) {
	g := e.Policy().Guard
	if g.Threshold < 0 {
		return false, nil
	}
	var tripped bool
	err = e.st.Update(ctx, func(tx store.Tx) error {
		held, tripped = false, false
		gs, err := loadGuard(tx, target)
		if err != nil {
			return err
		}
		switch {
		case gs.Tripped:
			held = true
		case gs.Allowance > 0:
			gs.Allowance--
		default:
			gs.Recent = slices.DeleteFunc(gs.Recent, func(t time.Time) bool { return !t.After(now.Add(-g.Window)) })
			if len(gs.Recent)+1 > g.Threshold {
				gs.Tripped, gs.TrippedAt, held, tripped = true, now, true, true
			} else {
				gs.Recent = append(gs.Recent, now)
			}
		}
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
			"target", target, "threshold", g.Threshold, "window", g.Window)
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
	return e.resolveGuard(ctx, target, actor, true)
}

// DiscardGuard releases a tripped guard without performing the held
// destructive work: each held person's account stays as it is, and their
// current state counts as converged until their next change. Use it when
// the batch was a mistake (an HR export bug) and the source is being fixed.
func (e *Engine) DiscardGuard(ctx context.Context, target, actor string) (*GuardState, error) {
	return e.resolveGuard(ctx, target, actor, false)
}

func (e *Engine) resolveGuard(ctx context.Context, target, actor string, approve bool) (*GuardState, error) {
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
		for _, person := range gs.Held {
			detail := "guard discarded: destructive operations dropped"
			if approve {
				detail = "guard approved: destructive operations released"
				if err := e.sched.ScheduleTx(tx, Key(target, person), now); err != nil {
					return err
				}
			} else if err := e.acceptAsConverged(tx, target, person); err != nil {
				return err
			}
			if err := a.add(person, Event{Kind: EventAdmin, Target: target, Actor: actor, Detail: detail}); err != nil {
				return err
			}
		}
		out = &GuardState{Target: target}
		if approve {
			out.Allowance = len(gs.Held)
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
