package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// Ownership: each account a target holds (its anchor: entryUUID,
// objectGUID, a downstream id) is linked to at most one person. The index
// owner/<target>/<anchor> → person is written in the same transaction as
// the link (linkAnchor, the one function every linking path goes through:
// a target's claim before it adopts an account, the converge's record, an
// operator's link), and refuses a second owner with a *targets.Conflict.
// A converge that meets a conflict writes nothing to the account and is
// parked (park): shown on both people, counted, audited, and run again when
// the person's data changes, an operator resolves it, or after
// conflictRecheck.

// conflictRecheck is how long a parked conflict waits before the key runs
// again on its own (the collision may have been cleared by hand).
const conflictRecheck = time.Hour

// EventConflict and EventResolved audit conflicts.
const (
	EventConflict EventKind = "conflict" // a converge parked on an ownership conflict
	EventResolved EventKind = "resolved" // a parked conflict cleared
	EventDropped  EventKind = "dropped"  // a destructive step no longer applied when it came to run
)

func ownerKey(target, anchor string) string { return target + "/" + anchor }

// ownerOf returns the person that links anchor on target ("" for none).
func ownerOf(r store.Reader, target, anchor string) (string, error) {
	return getString(r, nsOwner, ownerKey(target, anchor))
}

// linkAnchor records that anchor on target belongs to person, or returns a
// *targets.Conflict naming its owner. A person linked to another anchor
// before gives that one up.
func linkAnchor(tx store.Tx, target, person, anchor, ref string) error {
	if anchor == "" {
		return nil
	}
	owner, err := ownerOf(tx, target, anchor)
	if err != nil {
		return err
	}
	if owner != "" && owner != person {
		return &targets.Conflict{Reason: targets.ConflictOwned, ID: anchor, Ref: ref, Owner: owner,
			Detail: "the account is linked to another person"}
	}
	if owner == person {
		return nil
	}
	return tx.PutDoc(nsOwner, ownerKey(target, anchor), []byte(person))
}

// relink links person's account on target to anchor (linkAnchor) and
// returns their link state naming it, not yet stored; an account linked
// before is released, and what was applied to it is forgotten.
func relink(tx store.Tx, target, person, anchor, ref string) (*LinkState, error) {
	if err := linkAnchor(tx, target, person, anchor, ref); err != nil {
		return nil, err
	}
	ls, err := loadLink(tx, target, person)
	if err != nil || ls == nil {
		return &LinkState{Link: targets.Link{ID: anchor, Ref: ref}}, err
	}
	switch {
	case ls.ID != anchor:
		if err := releaseAnchor(tx, target, person, ls.ID); err != nil {
			return nil, err
		}
		ls.Link = targets.Link{ID: anchor, Ref: ref}
	case ref != "":
		ls.Ref = ref
	}
	return ls, nil
}

// releaseAnchor gives up person's ownership of anchor, if it is theirs.
func releaseAnchor(tx store.Tx, target, person, anchor string) error {
	if anchor == "" {
		return nil
	}
	owner, err := ownerOf(tx, target, anchor)
	if err != nil || owner != person {
		return err
	}
	return tx.DeleteDoc(nsOwner, ownerKey(target, anchor))
}

// claimFunc is the targets.ClaimFunc of one converge: it links the account
// to person at once, in a transaction of its own, before the target writes
// to it. owned is the anchor the person's link already names (free).
func (e *Engine) claimFunc(target, person, owned string) targets.ClaimFunc {
	return func(ctx context.Context, id, ref string) error {
		if id == "" {
			return targets.Permanent("claim", errors.New("an account without an anchor cannot be linked"))
		}
		if id == owned {
			return nil
		}
		err := e.st.Update(ctx, func(tx store.Tx) error {
			// The link names the account from now on, so a converge cut
			// short finds it by anchor, not by search.
			ls, err := relink(tx, target, person, id, ref)
			if err != nil {
				return err
			}
			return putJSON(tx, nsLink, Key(target, person), ls)
		})
		if err == nil {
			owned = id
		}
		return err
	}
}

// park records a conflict for (target, person): the link keeps its
// account (if any) and gets the conflict, the owner's side gets a clash
// entry, the conflict is audited when new, and the key comes back after
// conflictRecheck unless a write or an operator runs it sooner. done, if
// set, is what the target did on the person's own account before it
// stopped (audited). A collision with an account another person links
// names that person as the owner, so both see it.
func (e *Engine) park(ctx context.Context, target, person string, rec *mapper.Record, c *targets.Conflict, now time.Time, done *targets.Result) Outcome {
	if done != nil {
		for _, op := range done.Ops {
			e.metrics.operations.WithLabelValues(target, string(op.Kind), "ok").Inc()
		}
	}
	e.metrics.conflicts.WithLabelValues(target, string(c.Reason)).Inc()
	e.metrics.converges.WithLabelValues(target, "conflict").Inc()
	e.log.Warn("engine: ownership conflict; parked", "target", target, "person", person, "reason", c.Reason, "account", c.Ref, "owner", c.Owner, "detail", c.Detail)
	err := e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		ls, err := loadLink(tx, target, person)
		if err != nil {
			return err
		}
		if ls == nil {
			ls = &LinkState{}
		}
		if c.Owner == "" && c.ID != "" {
			owner, err := ownerOf(tx, target, c.ID)
			if err != nil {
				return err
			}
			if owner != person {
				c.Owner = owner
			}
		}
		if done != nil && len(done.Ops) > 0 {
			ev := Event{Kind: EventApplied, Target: target, Ops: done.Ops, Generation: rec.Generation}
			if err := newAuditor(tx, now).add(person, ev); err != nil {
				return err
			}
		}
		if done != nil && done.Link.ID != "" && done.Link.ID == ls.ID {
			// The person's own account changed where it stands: remember
			// it, so later converges revoke what was granted meanwhile.
			ls.Link = done.Link
		}
		old := ls.Conflict
		same := old != nil && old.Conflict == *c
		if old != nil && old.Owner != "" && old.Owner != c.Owner {
			if err := tx.DeleteDoc(nsClash, clashKey(old.Owner, target, person)); err != nil {
				return err
			}
		}
		cs := &ConflictState{Conflict: *c, Since: now, Generation: rec.Generation}
		if same {
			cs.Since = old.Since
		}
		ls.Conflict = cs
		ls.Generation, ls.At, ls.Result = rec.Generation, now, c.Error()
		ls.Next = now.Add(conflictRecheck)
		if err := putJSON(tx, nsLink, Key(target, person), ls); err != nil {
			return err
		}
		if c.Owner != "" {
			if err := tx.PutDoc(nsClash, clashKey(c.Owner, target, person), nil); err != nil {
				return err
			}
		}
		if !same {
			ev := Event{Kind: EventConflict, Target: target, Error: c.Error(), Generation: rec.Generation, Detail: string(c.Reason)}
			if err := newAuditor(tx, now).add(person, ev); err != nil {
				return err
			}
			if c.Owner != "" {
				ev.Detail = "contested by person " + person
				if err := newAuditor(tx, now).add(c.Owner, ev); err != nil {
					return err
				}
			}
		}
		return e.sched.ScheduleTx(tx, Key(target, person), ls.Next)
	})
	if err != nil {
		return Outcome{Err: fmt.Errorf("engine: parking a conflict: %w", err), Retry: true, Delay: backoff(0, 0)}
	}
	return Outcome{}
}

// clearConflict drops a parked conflict from ls (in tx) and audits it.
func clearConflict(tx store.Tx, target, person string, old *ConflictState, why string, now time.Time) error {
	if old == nil {
		return nil
	}
	if old.Owner != "" {
		if err := tx.DeleteDoc(nsClash, clashKey(old.Owner, target, person)); err != nil {
			return err
		}
	}
	return newAuditor(tx, now).add(person, Event{Kind: EventResolved, Target: target, Detail: why, Error: old.Error()})
}

func clashKey(owner, target, person string) string { return owner + "/" + target + "/" + person }

// Contest is another person's conflict over one of this person's accounts.
type Contest struct {
	Target string `json:"target"`
	Person string `json:"person"`
}

// contests lists who is parked on a conflict over person's accounts.
func contests(r store.Reader, person string) ([]Contest, error) {
	var out []Contest
	err := r.ScanDocs(nsClash, person+"/", false, func(k string, _ []byte) (bool, error) {
		target, other, ok := SplitKey(k[len(person)+1:])
		if ok {
			out = append(out, Contest{Target: target, Person: other})
		}
		return true, nil
	})
	return out, err
}

// ConflictView is one parked conflict, for the admin API.
type ConflictView struct {
	Target   string        `json:"target"`
	Person   string        `json:"person"`
	Conflict ConflictState `json:"conflict"`
}

// Conflicts lists every parked conflict, by target and person.
func (e *Engine) Conflicts(ctx context.Context) ([]ConflictView, error) {
	var out []ConflictView
	err := e.st.View(ctx, func(r store.Reader) error {
		out = out[:0]
		return r.ScanDocs(nsLink, "", false, func(k string, val []byte) (bool, error) {
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("engine: link %s: %w", k, err)
			}
			if ls.Conflict != nil {
				target, person, _ := SplitKey(k)
				out = append(out, ConflictView{Target: target, Person: person, Conflict: *ls.Conflict})
			}
			return true, nil
		})
	})
	return out, err
}

// ErrOwned: an operator's link names an account another person links.
var ErrOwned = errors.New("engine: the account is linked to another person")

// Link is an operator's decision that the account anchor (ref: its DN or
// downstream id, optional) on target is the person's: the link names it
// from now on, any parked conflict is cleared and the key runs now. An
// account another person links is refused with ErrOwned: unlink it there
// first. Audited with actor.
func (e *Engine) Link(ctx context.Context, target, id, anchor, ref, actor string) (*LinkState, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	if anchor == "" {
		return nil, errors.New("engine: link: no account id")
	}
	now := e.now()
	var out *LinkState
	err := e.st.Update(ctx, func(tx store.Tx) error {
		person, err := e.personID(tx, id)
		if err != nil {
			return err
		}
		ls, err := relink(tx, target, person, anchor, ref)
		var c *targets.Conflict
		if errors.As(err, &c) {
			return fmt.Errorf("%w (person %s)", ErrOwned, c.Owner)
		}
		if err != nil {
			return err
		}
		if err := clearConflict(tx, target, person, ls.Conflict, "linked by an operator", now); err != nil {
			return err
		}
		ls.Conflict = nil
		ls.Result = "linked by " + actor
		if err := putJSON(tx, nsLink, Key(target, person), ls); err != nil {
			return err
		}
		if err := newAuditor(tx, now).add(person, Event{Kind: EventAdmin, Target: target, Actor: actor,
			Detail: fmt.Sprintf("linked to account %s %s", anchor, ref)}); err != nil {
			return err
		}
		out = ls
		return e.sched.ScheduleTx(tx, Key(target, person), now)
	})
	if err == nil {
		e.Wake()
	}
	return out, err
}

// Unlink is an operator's decision that the person's link on target is
// wrong: the account is no longer theirs (nothing is written to it), any
// parked conflict is cleared. The key is not run: the person's next change
// or `tenure jobs run` converges them again, which looks for an account as
// for someone never converged. Audited with actor.
func (e *Engine) Unlink(ctx context.Context, target, id, actor string) (*LinkState, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	now := e.now()
	var out *LinkState
	err := e.st.Update(ctx, func(tx store.Tx) error {
		person, err := e.personID(tx, id)
		if err != nil {
			return err
		}
		ls, err := loadLink(tx, target, person)
		if err != nil {
			return err
		}
		if ls == nil {
			ls = &LinkState{}
		}
		old := ls.Link
		if err := releaseAnchor(tx, target, person, old.ID); err != nil {
			return err
		}
		if err := clearConflict(tx, target, person, ls.Conflict, "unlinked by an operator", now); err != nil {
			return err
		}
		ls.Link, ls.Conflict, ls.Result = targets.Link{}, nil, "unlinked by "+actor
		if err := putJSON(tx, nsLink, Key(target, person), ls); err != nil {
			return err
		}
		out = ls
		return newAuditor(tx, now).add(person, Event{Kind: EventAdmin, Target: target, Actor: actor,
			Detail: fmt.Sprintf("unlinked from account %s %s", orDash(old.ID), old.Ref)})
	})
	return out, err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// personID resolves a person id or SCIM user id to a stored person.
func (e *Engine) personID(r store.Reader, id string) (string, error) {
	person, err := personOf(r, id)
	if err != nil {
		return "", err
	}
	if person == "" {
		person = id
	}
	rec, err := loadRecord(r, person)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", ErrNoIdentity
	}
	return person, nil
}
