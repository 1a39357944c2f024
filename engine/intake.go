package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// OnWrite is the SCIM server's write hook (scim.WriteHook): inside the
// write's transaction it classifies the change, updates the person's
// lifecycle record and the audit log, and schedules "converge now" for the
// person on every target — so the 2xx the client gets means all of it is
// durable. It runs again if the store re-runs the transaction.
func (e *Engine) OnWrite(tx store.Tx, before, after *store.Resource) (func(), error) {
	now := e.now()
	pol := e.Policy()
	var (
		events []transitionEvent
		err    error
	)
	switch kindOf(before, after) {
	case store.KindUser:
		events, err = e.userWrite(tx, pol, before, after, now)
	case store.KindGroup:
		events, err = e.groupWrite(tx, pol, before, after, now)
	}
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	return func() {
		for _, ev := range events {
			e.metrics.transitions.WithLabelValues(string(ev.transition), ev.source).Inc()
		}
		e.Wake()
	}, nil
}

type transitionEvent struct {
	transition mapper.Transition
	source     string
}

func kindOf(before, after *store.Resource) store.Kind {
	if after != nil {
		return after.Kind
	}
	return before.Kind
}

// userWrite handles a user create, replace or delete.
func (e *Engine) userWrite(tx store.Tx, pol *mapper.Policy, before, after *store.Resource, now time.Time) ([]transitionEvent, error) {
	res := after
	if res == nil {
		res = before
	}
	person, err := personOf(tx, res.ID)
	if err != nil {
		return nil, err
	}
	var rec *mapper.Record
	if person != "" {
		if rec, err = loadRecord(tx, person); err != nil {
			return nil, err
		}
	}
	var id *mapper.Identity
	if after != nil {
		if id, err = identityOf(tx, after); err != nil {
			return nil, err
		}
	}
	if rec == nil && id == nil {
		return nil, nil // deleting a user the engine never saw
	}
	corr, err := pol.Correlate(id, now)
	if err != nil {
		return nil, &hookErr{fmt.Sprintf("correlation key: %v", err)}
	}
	if rec == nil {
		prev, err := leftPerson(tx, res.Source, corr, now)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			rec, person = prev, prev.ID
			if prev.UserID != "" && prev.UserID != res.ID {
				// The old SCIM record still exists (deactivated): it no
				// longer speaks for this person.
				if err := tx.DeleteDoc(nsUser, prev.UserID); err != nil {
					return nil, err
				}
			}
		}
	}
	next, ch, err := pol.Observe(rec, res.ID, res.Source, id, now)
	if err != nil {
		return nil, &hookErr{err.Error()}
	}
	if rec != nil && next.Generation == rec.Generation && next.UserID == rec.UserID {
		return nil, nil
	}
	if person == "" {
		person = next.ID
	}
	if rec != nil && !next.Purged.IsZero() && rec.Purged.IsZero() {
		ch.Transition = mapper.Leaver
	}
	if after != nil && corr != next.Correlation {
		// A deleted record keeps its key: a later record with the same key
		// is this person coming back.
		if next.Correlation != "" {
			if err := tx.DeleteDoc(nsCorr, corrKey(next.Source, next.Correlation)); err != nil {
				return nil, err
			}
		}
		if corr != "" {
			if err := tx.PutDoc(nsCorr, corrKey(next.Source, corr), []byte(person)); err != nil {
				return nil, err
			}
		}
		next.Correlation = corr
	}
	if err := putJSON(tx, nsPerson, person, next); err != nil {
		return nil, err
	}
	if after != nil {
		if err := tx.PutDoc(nsUser, res.ID, []byte(person)); err != nil {
			return nil, err
		}
	} else if err := tx.DeleteDoc(nsUser, res.ID); err != nil {
		return nil, err
	}
	a := newAuditor(tx, now)
	if err := a.add(person, Event{Kind: EventTransition, Transition: ch.Transition, Effective: ch.Effective,
		Changed: ch.Changed, Source: res.Source, User: res.ID, Generation: next.Generation}); err != nil {
		return nil, err
	}
	if err := e.scheduleAll(tx, pol, person, now); err != nil {
		return nil, err
	}
	return []transitionEvent{{ch.Transition, res.Source}}, nil
}

// groupWrite re-observes every user whose group names a write changes:
// members added or removed, or all members of a renamed or deleted group.
func (e *Engine) groupWrite(tx store.Tx, pol *mapper.Policy, before, after *store.Resource, now time.Time) ([]transitionEvent, error) {
	affected := map[string]bool{}
	ids := func(r *store.Resource) map[string]bool {
		m := map[string]bool{}
		if r != nil {
			for _, mem := range r.Members {
				m[mem.Value] = true
			}
		}
		return m
	}
	b, a := ids(before), ids(after)
	renamed := before == nil || after == nil || before.Name != after.Name
	for id := range b {
		if !a[id] || renamed {
			affected[id] = true
		}
	}
	for id := range a {
		if !b[id] || renamed {
			affected[id] = true
		}
	}
	var events []transitionEvent
	for _, uid := range slices.Sorted(maps.Keys(affected)) {
		u, err := tx.Get(store.KindUser, uid)
		if errors.Is(err, store.ErrNotFound) {
			continue // a nested group, or a user deleted in this transaction
		}
		if err != nil {
			return nil, err
		}
		ev, err := e.userWrite(tx, pol, u, u, now)
		if err != nil {
			return nil, err
		}
		events = append(events, ev...)
	}
	return events, nil
}

// identityOf builds the policy's view of a stored user.
func identityOf(r store.Reader, res *store.Resource) (*mapper.Identity, error) {
	user := make(map[string]any, len(res.Attributes)+3)
	for k, v := range res.Attributes {
		user[k] = v
	}
	user["id"] = res.ID
	user["userName"] = res.Name
	if res.ExternalID != "" {
		user["externalId"] = res.ExternalID
	}
	gids, err := r.GroupsOf(res.ID)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, gid := range gids {
		g, err := r.Get(store.KindGroup, gid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		groups = append(groups, g.Name)
	}
	slices.Sort(groups)
	return &mapper.Identity{User: user, Groups: groups}, nil
}

// scheduleAll makes the person due now on every target.
func (e *Engine) scheduleAll(tx store.Tx, pol *mapper.Policy, person string, due time.Time) error {
	for _, t := range pol.TargetNames {
		if err := e.sched.ScheduleTx(tx, Key(t, person), due); err != nil {
			return fmt.Errorf("engine: schedule %s: %w", Key(t, person), err)
		}
	}
	return nil
}

// leftPerson returns the terminated or purged person whose correlation key
// is corr in source, or nil: a new record matching them is that person
// coming back, not a new one.
func leftPerson(r store.Reader, source, corr string, now time.Time) (*mapper.Record, error) {
	if corr == "" {
		return nil, nil
	}
	pid, err := getString(r, nsCorr, corrKey(source, corr))
	if err != nil || pid == "" {
		return nil, err
	}
	prev, err := loadRecord(r, pid)
	if err != nil || prev == nil {
		return nil, err
	}
	if st := prev.StateAt(now); st != mapper.StateTerminated && st != mapper.StatePurged {
		return nil, nil
	}
	return prev, nil
}

func corrKey(source, key string) string { return source + "/" + strconv.Quote(key) }

// hookErr is a write the policy cannot accept (an unparsable date, a
// correlation expression failing on the data); cmd maps it to the SCIM
// layer's client error through the Rejected interface.
type hookErr struct{ detail string }

func (e *hookErr) Error() string { return e.detail }

// Rejected marks the error as the client's fault.
func (e *hookErr) Rejected() string { return e.detail }
