package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// ErrNoIdentity: no person has that id or SCIM user id.
var ErrNoIdentity = errors.New("engine: no such identity")

// IdentityView is everything Tenure knows about one person, for the admin
// API: the lifecycle record (with the identity as last written), the link
// and queue entry per target, and the most recent audit events.
type IdentityView struct {
	Record  *mapper.Record        `json:"record"`
	State   mapper.State          `json:"state"`
	Targets map[string]TargetView `json:"targets"`
	// Contests are other people parked on a conflict over this person's
	// accounts (the person's own conflicts are on their links).
	Contests []Contest `json:"contests,omitempty"`
	Events   []Event   `json:"events"`
}

// TargetView is one target's side of a person.
type TargetView struct {
	Link *LinkState   `json:"link,omitempty"`
	Job  *queue.Entry `json:"job,omitempty"` // the key's queue entry, if any
}

// RecentEvents is how many audit events Identity returns.
const RecentEvents = 50

// Identity looks a person up by person id or by any SCIM user id that
// maps to them.
func (e *Engine) Identity(ctx context.Context, id string) (*IdentityView, error) {
	v := &IdentityView{Targets: map[string]TargetView{}}
	pol := e.Policy()
	err := e.st.View(ctx, func(r store.Reader) error {
		person, err := personOf(r, id)
		if err != nil {
			return err
		}
		if person == "" {
			person = id
		}
		if v.Record, err = loadRecord(r, person); err != nil {
			return err
		}
		if v.Record == nil {
			return ErrNoIdentity
		}
		for _, t := range pol.TargetNames {
			ls, err := loadLink(r, t, person)
			if err != nil {
				return err
			}
			v.Targets[t] = TargetView{Link: ls}
		}
		if v.Contests, err = contests(r, person); err != nil {
			return err
		}
		v.Events, err = Events(r, person, RecentEvents)
		return err
	})
	if err != nil {
		return nil, err
	}
	v.State = v.Record.StateAt(e.now())
	for t, tv := range v.Targets {
		ent, err := e.q.Get(ctx, Key(t, v.Record.ID))
		switch {
		case err == nil:
			tv.Job = &ent
			v.Targets[t] = tv
		case !errors.Is(err, queue.ErrNotFound):
			return nil, fmt.Errorf("engine: identity %s: %w", id, err)
		}
	}
	return v, nil
}

// Reconcile schedules every known person on target now, so each account is
// read and repaired (drift) through the normal converge path. It returns
// how many keys it scheduled.
func (e *Engine) Reconcile(ctx context.Context, target string) (int, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return 0, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	var people []string
	err := e.st.View(ctx, func(r store.Reader) error {
		return r.ScanDocs(nsPerson, "", false, func(person string, _ []byte) (bool, error) {
			people = append(people, person)
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	// Scheduled in chunks, each one transaction: a commit per person made
	// reconciling 2,000 people take 25 s on the embedded store.
	now := e.now()
	scheduled := 0
	for chunk := range slices.Chunk(people, reconcileChunk) {
		err := e.st.Update(ctx, func(tx store.Tx) error {
			for _, p := range chunk {
				if err := e.sched.ScheduleTx(tx, Key(target, p), now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return scheduled, err // the earlier chunks stay scheduled
		}
		scheduled += len(chunk)
		e.Wake()
	}
	return scheduled, nil
}

// reconcileChunk is how many people one reconcile transaction schedules:
// large enough to share commits, small enough that a Redis transaction
// (WATCH + MULTI/EXEC) stays short.
const reconcileChunk = 500
