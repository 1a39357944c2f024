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
	corr, err := correlate(pol, id, now)
	if err != nil {
		return nil, err
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
				// References to the old record still name the person.
				if err := tx.PutDoc(nsAlias, prev.UserID, []byte(person)); err != nil {
					return nil, err
				}
			}
		}
	}
	next, ch, err := observe(pol, rec, res.ID, res.Source, id, now)
	if err != nil {
		return nil, err
	}
	if rec == nil && after != nil {
		// The new person would take the SCIM id as theirs: if a person
		// already has it, this is their first record, left behind when
		// they came back through another one.
		first, err := loadRecord(tx, next.ID)
		if err != nil {
			return nil, err
		}
		if first != nil {
			return nil, supersededWrite(first, res.ID, next, now)
		}
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
	claim, err := needsKey(tx, res.Source, corr, next, person)
	if err != nil {
		return nil, err
	}
	if after != nil && claim {
		// A deleted record keeps its key: a later record with the same key
		// is this person coming back.
		take, err := claimCorrelation(tx, pol, res.Source, corr, next, now)
		if err != nil {
			return nil, err
		}
		if take {
			if next.Correlation != "" {
				// The old key, unless someone else holds it by now.
				old := corrKey(next.Source, next.Correlation)
				holder, err := getString(tx, nsCorr, old)
				if err != nil {
					return nil, err
				}
				if holder == person {
					if err := tx.DeleteDoc(nsCorr, old); err != nil {
						return nil, err
					}
				}
			}
			if corr != "" {
				if err := tx.PutDoc(nsCorr, corrKey(next.Source, corr), []byte(person)); err != nil {
					return nil, err
				}
			}
			next.Correlation = corr
		}
	}
	if err := putJSON(tx, nsPerson, person, next); err != nil {
		return nil, err
	}
	if after != nil {
		if err := tx.PutDoc(nsUser, res.ID, []byte(person)); err != nil {
			return nil, err
		}
		// References that named this user before it existed resolve now.
		for _, id := range []string{res.ID, res.ExternalID} {
			if err := e.wakeWaitingFor(tx, id, now); err != nil {
				return nil, err
			}
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
	if err := e.afterTransition(tx, pol, rec, next, ch, now); err != nil {
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
	refs, err := r.MemberOf(res.ID)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, g := range refs {
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
	prev, err := corrHolder(r, source, corr)
	if err != nil || prev == nil || live(prev, now) {
		return nil, err
	}
	return prev, nil
}

// corrHolder returns the person the correlation index names for corr in
// source, or nil: no key, nobody, or an entry whose person is gone (the
// key is free).
func corrHolder(r store.Reader, source, corr string) (*mapper.Record, error) {
	if corr == "" {
		return nil, nil
	}
	pid, err := getString(r, nsCorr, corrKey(source, corr))
	if err != nil || pid == "" {
		return nil, err
	}
	return loadRecord(r, pid)
}

// live reports whether the person is hired and has not left at now: active,
// or pending (pre-hire). A person created inactive has ended and is not.
func live(rec *mapper.Record, now time.Time) bool {
	st := rec.StateAt(now)
	return st != mapper.StateTerminated && st != mapper.StatePurged
}

// needsKey reports whether a write giving person (record next) the
// correlation key corr must claim it: a key that is not theirs yet, or
// their own key that someone else took while they were away (a leaver's
// key taken by another record: the person coming back must not share it).
func needsKey(r store.Reader, source, corr string, next *mapper.Record, person string) (bool, error) {
	if corr != next.Correlation {
		return true, nil
	}
	if corr == "" {
		return false, nil
	}
	holder, err := getString(r, nsCorr, corrKey(source, corr))
	return err == nil && holder != "" && holder != person, err
}

// claimCorrelation decides whether next, the record a write produces, takes
// the correlation key corr in source (the caller checked it is not next's
// key already). The key is free when nobody holds it, when its holder is
// next's own person or someone who left (for a new record that would have
// been a rehire). When it belongs to another live person, a live next is
// refused with a *UniquenessError (two live persons with one key is one
// person with two accounts, or one taking over the other's), and a next
// that is not live itself (created inactive, or deactivated) is written but
// keeps its old key, leaving the holder's alone. The intake and Plan both
// decide through it.
func claimCorrelation(r store.Reader, pol *mapper.Policy, source, corr string, next *mapper.Record, now time.Time) (bool, error) {
	holder, err := corrHolder(r, source, corr)
	if err != nil {
		return false, err
	}
	if holder == nil || holder.ID == next.ID || !live(holder, now) {
		return true, nil
	}
	if !live(next, now) {
		return false, nil
	}
	expr := "lifecycle.correlation"
	if pol.Correlation != nil {
		expr += ": " + pol.Correlation.Text
	}
	return false, &UniquenessError{
		Attribute: expr, Key: corr,
		HolderUser: holder.UserID, HolderPerson: holder.ID, HolderState: holder.StateAt(now),
	}
}

// supersededWrite is a write to a person's first SCIM record (whose id is
// their person id) after they came back through another record by
// correlation: that record no longer speaks for them. A write that would
// make it a live person again is refused; any other write (deactivating
// it, updating it inactive) changes nothing, as its DELETE does.
func supersededWrite(first *mapper.Record, userID string, next *mapper.Record, now time.Time) error {
	if !live(next, now) {
		return nil
	}
	return &UniquenessError{
		Attribute: "id", Key: userID, Superseded: true,
		HolderUser: first.UserID, HolderPerson: first.ID, HolderState: first.StateAt(now),
	}
}

// UniquenessError refuses a user write that would give a second live
// (active or pre-hire) SCIM record to one person: a correlation key that
// already belongs to another live person, or a person's superseded first
// record made active again. The SCIM layer answers 409 with scimType
// uniqueness and the detail; nothing of the write is stored.
type UniquenessError struct {
	// Attribute names what collides: "lifecycle.correlation: <expression>",
	// or "id" for a superseded record.
	Attribute string
	// Key is the correlation key (or the superseded SCIM id).
	Key string
	// HolderUser is the holder's current SCIM user id ("" if the source
	// deleted it); HolderPerson its person id, HolderState its state.
	HolderUser   string
	HolderPerson string
	HolderState  mapper.State
	Superseded   bool
}

func (e *UniquenessError) Error() string { return e.Uniqueness() }

// Uniqueness is the detail of the SCIM 409 uniqueness answer.
func (e *UniquenessError) Uniqueness() string {
	holder := "person " + e.HolderPerson
	if e.HolderUser != "" {
		holder = "user " + e.HolderUser
		if e.HolderPerson != e.HolderUser {
			holder += " (person " + e.HolderPerson + ")"
		}
	}
	state := string(e.HolderState)
	if e.HolderState == mapper.StatePending {
		state = "pre-hire"
	}
	if e.Superseded {
		return fmt.Sprintf("user %s was replaced by %s when its person was rehired by correlation (%s now); "+
			"it cannot become active again: a second active record for one person is refused", e.Key, holder, state)
	}
	return fmt.Sprintf("correlation key %q (%s) already belongs to %s %s; "+
		"a second active record for one person is refused", e.Key, e.Attribute, state, holder)
}

func corrKey(source, key string) string { return source + "/" + strconv.Quote(key) }

// correlate is the policy's correlation key for id; a failure is the
// client's (hookErr).
func correlate(pol *mapper.Policy, id *mapper.Identity, now time.Time) (string, error) {
	corr, err := pol.Correlate(id, now)
	if err != nil {
		return "", &hookErr{fmt.Sprintf("correlation key: %v", err)}
	}
	// The key names a store document (corr/<source>/<quoted key>): one
	// too long for any document is the client's, a 400, not a 500.
	if len(corr) > maxCorrelationKey {
		return "", &hookErr{fmt.Sprintf("correlation key (lifecycle.correlation) is %d bytes, longer than %d", len(corr), maxCorrelationKey)}
	}
	return corr, nil
}

// maxCorrelationKey leaves room in store.MaxDocKey for the source name and
// the key's quoting.
const maxCorrelationKey = 256

// observe is pol.Observe with its failure the client's (hookErr).
func observe(pol *mapper.Policy, rec *mapper.Record, userID, source string, id *mapper.Identity, now time.Time) (*mapper.Record, mapper.Change, error) {
	next, ch, err := pol.Observe(rec, userID, source, id, now)
	if err != nil {
		return nil, ch, &hookErr{err.Error()}
	}
	return next, ch, nil
}

// hookErr is a write the policy cannot accept (an unparsable date, a
// correlation expression failing on the data); cmd maps it to the SCIM
// layer's client error through the Rejected interface.
type hookErr struct{ detail string }

func (e *hookErr) Error() string { return e.detail }

// Rejected marks the error as the client's fault.
func (e *hookErr) Rejected() string { return e.detail }
