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
			if err := linkAnchor(tx, target, person, id, ref); err != nil {
				return err
			}
			ls, err := loadLink(tx, target, person)
			if err != nil {
				return err
			}
			if ls == nil {
				ls = &LinkState{}
			}
			if ls.ID != "" && ls.ID != id {
				if err := releaseAnchor(tx, target, person, ls.ID); err != nil {
					return err
				}
			}
			// The link names the account from now on, so a converge cut
			// short finds it by anchor, not by search.
			ls.ID, ls.Ref = id, ref
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
// conflictRecheck unless a write or an operator runs it sooner.
func (e *Engine) park(ctx context.Context, target, person string, rec *mapper.Record, c *targets.Conflict, now time.Time) Outcome {
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
