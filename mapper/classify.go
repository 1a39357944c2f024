package mapper

import (
	"fmt"
	"reflect"
	"slices"
	"time"
)

// status is an identity document's own lifecycle position at a time.
type status int

const (
	stNone     status = iota // no document (new, or deleted at the source)
	stPending                // active, start date in the future
	stActive                 // active, started, not ended
	stInactive               // active false, or end date reached
)

func (s status) live() bool { return s == stPending || s == stActive }

func (p *Policy) status(id *Identity, now time.Time) (status, error) {
	if id == nil {
		return stNone, nil
	}
	end, err := id.EndDate(p.Location)
	if err != nil {
		return 0, err
	}
	if !id.Active() || (!end.IsZero() && !now.Before(end)) {
		return stInactive, nil
	}
	start, err := id.StartDate(p.Location)
	if err != nil {
		return 0, err
	}
	if now.Before(start) {
		return stPending, nil
	}
	return stActive, nil
}

// Change is a classified write.
type Change struct {
	Transition Transition
	// Changed lists the position attributes that changed (movers).
	Changed []string
	// Effective is when the transition takes effect if later than now: a
	// pre-hire's start, a future-dated termination.
	Effective time.Time
}

// Classify names the transition from before to after at now. before is nil
// for a new person, after is nil for a DELETE from the source. It sees the
// two documents only; Observe, which also has the lifecycle record, refines
// the name where the documents alone cannot tell (a rehire by correlation,
// the first activation of someone created inactive).
func (p *Policy) Classify(before, after *Identity, now time.Time) (Change, error) {
	bs, err := p.status(before, now)
	if err != nil {
		return Change{}, fmt.Errorf("mapper: classify: %w", err)
	}
	as, err := p.status(after, now)
	if err != nil {
		return Change{}, fmt.Errorf("mapper: classify: %w", err)
	}
	switch {
	case bs == stNone && as == stNone:
		return Change{Transition: None}, nil
	case bs == stNone:
		return p.arrival(after, as), nil
	case as == stNone:
		if bs.live() {
			return Change{Transition: Leaver}, nil
		}
		return Change{Transition: None}, nil
	case !bs.live() && as.live():
		ch := Change{Transition: Rehire}
		if as == stPending {
			ch.Effective, _ = after.StartDate(p.Location)
		}
		return ch, nil
	case bs.live() && !as.live():
		return Change{Transition: Leaver}, nil
	case bs == stPending && as == stActive:
		return Change{Transition: Joiner}, nil
	case bs == stActive && as == stPending:
		// The start date moved into the future: pre-hire again.
		start, _ := after.StartDate(p.Location)
		return Change{Transition: PreHire, Effective: start}, nil
	}
	if as.live() {
		bEnd, _ := before.EndDate(p.Location)
		aEnd, _ := after.EndDate(p.Location)
		if !aEnd.IsZero() && !aEnd.Equal(bEnd) {
			return Change{Transition: Leaver, Effective: aEnd}, nil
		}
		if changed := Changed(before, after, p.Position); len(changed) > 0 {
			tr := Mover
			if slices.Contains(changed, p.ConversionAttr) {
				tr = Conversion
			}
			return Change{Transition: tr, Changed: changed}, nil
		}
	}
	if !sameIdentity(before, after) {
		return Change{Transition: Update}, nil
	}
	return Change{Transition: None}, nil
}

// arrival names the first document of a person: joiner, pre-hire, or none
// for someone created inactive.
func (p *Policy) arrival(after *Identity, as status) Change {
	switch as {
	case stActive:
		return Change{Transition: Joiner}
	case stPending:
		start, _ := after.StartDate(p.Location)
		return Change{Transition: PreHire, Effective: start}
	}
	return Change{Transition: None}
}

// sameIdentity compares two documents as JSON values (numbers by value,
// groups as a set).
func sameIdentity(a, b *Identity) bool {
	return reflect.DeepEqual(plain(a.User), plain(b.User)) && slices.Equal(sortedSet(a.Groups), sortedSet(b.Groups))
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// Observe applies a write to a person's lifecycle record: it classifies the
// change, sets the record's times and the mover's kept grants, and records
// the transition. rec is nil for a new person (userID becomes the person's
// id); after is nil for a DELETE from the source. A rehire by correlation
// passes the terminated (or purged) person's record with a new userID. The
// returned record is a new value; rec is not changed. The generation moves
// (and an event is recorded) only when the write changed something the
// desired state depends on.
func (p *Policy) Observe(rec *Record, userID, source string, after *Identity, now time.Time) (*Record, Change, error) {
	var before *Identity
	fresh := rec == nil
	if fresh {
		rec = &Record{ID: userID, Source: source, Hired: now}
	} else {
		rec = rec.Clone()
		// Kept grants that have run out are gone whatever the write says;
		// dropping them is not a change of its own.
		rec.OldGrants = slices.DeleteFunc(rec.OldGrants, func(g OldGrant) bool { return !now.Before(g.Until) })
		if st := rec.StateAt(now); rec.UserID != "" || (st != StateTerminated && st != StatePurged) {
			before = &rec.Identity
		}
	}
	orig := rec.Clone()
	ch, err := p.Classify(before, after, now)
	if err != nil {
		return nil, Change{}, err
	}
	if !fresh && before == nil && after != nil && ch.Transition != None {
		// A new SCIM record matched a person who left, by correlation.
		ch.Transition = Rehire
	}
	if ch.Transition == Rehire && rec.Start.IsZero() {
		// Someone created inactive was never hired: the first activation
		// is a joiner (or pre-hire), not a rehire.
		ast, err := p.status(after, now)
		if err != nil {
			return nil, Change{}, fmt.Errorf("mapper: classify: %w", err)
		}
		ch = p.arrival(after, ast)
	}
	if after != nil {
		rec.UserID = userID
	} else {
		rec.UserID = ""
	}
	var start, end time.Time
	if after != nil {
		if start, err = after.StartDate(p.Location); err != nil {
			return nil, Change{}, fmt.Errorf("mapper: observe: %w", err)
		}
		if end, err = after.EndDate(p.Location); err != nil {
			return nil, Change{}, fmt.Errorf("mapper: observe: %w", err)
		}
	}
	switch ch.Transition {
	case Joiner, PreHire:
		rec.Start = rec.startFrom(start, now)
		rec.End = end
	case Rehire:
		rec.PrevEnd = rec.End
		rec.Rehired = now
		rec.Purged = time.Time{}
		rec.Start = rec.startFrom(start, now)
		rec.End = end
		rec.OldGrants = nil
		// What decisions granted belonged to the old employment.
		rec.Requested = nil
	case Leaver:
		if after == nil || !after.Active() || (!end.IsZero() && !now.Before(end)) {
			// Terminated now. A termination learned late (an end date
			// already past) takes effect when Tenure learns of it, not
			// retroactively: the leaver's disabled period before a
			// delete_after is never cut short by an HR system's delay.
			if rec.End.IsZero() || rec.End.After(now) {
				rec.End = now
			}
		} else {
			rec.follow(start, end) // a future-dated termination
		}
	case Mover, Conversion:
		rec.Moved = now
		if ch.Transition == Conversion && p.RevokeAll {
			rec.OldGrants = nil
		} else {
			p.keepOldGrants(rec, before, after, now)
		}
		fallthrough
	default:
		if fresh && after != nil && ch.Transition == None {
			// Created inactive: a record that has ended without starting.
			rec.End = now
		} else if after != nil && rec.StateAt(now) != StateTerminated {
			rec.follow(start, end)
		}
	}
	if after == nil && p.SourceDelete == "purge" && rec.Purged.IsZero() {
		rec.Purged = now
		ch.Transition = Leaver
	}
	if after != nil {
		rec.Identity = Identity{User: plainCopy(after.User), Groups: slices.Clone(after.Groups)}
	}
	rec.utc()
	if fresh || ch.Transition != None || !orig.sameState(rec) {
		rec.Generation++
		rec.Changed = now
	}
	if fresh || ch.Transition != None {
		rec.addEvent(Event{At: now, Transition: ch.Transition, Effective: ch.Effective, Changed: ch.Changed})
	}
	return rec, ch, nil
}

// keepOldGrants records, per target, what the old position granted that the
// new one does not, to be kept until the mover grace ends. A target whose
// rules fail to evaluate keeps nothing: a policy mistake must not refuse
// the HR system's write (the converge reports it), and revoking at once is
// the safe side.
func (p *Policy) keepOldGrants(rec *Record, before, after *Identity, now time.Time) {
	if p.MoverGrace <= 0 {
		return
	}
	until := now.Add(p.MoverGrace)
	for _, name := range p.TargetNames {
		old, err := p.grants(before, rec, name, now)
		if err != nil {
			continue
		}
		cur, err := p.grants(after, rec, name, now)
		if err != nil {
			continue
		}
		have := map[string]bool{}
		for _, g := range cur {
			have[g.Entitlement] = true
		}
		for _, g := range old {
			if have[g.Entitlement] {
				continue
			}
			keep := until
			if !g.Until.IsZero() && g.Until.Before(keep) {
				keep = g.Until // a time-bound grant ending inside the grace ends on its own time
			}
			i := slices.IndexFunc(rec.OldGrants, func(o OldGrant) bool {
				return o.Target == name && o.Entitlement == g.Entitlement
			})
			if i >= 0 {
				rec.OldGrants[i].Until = keep
				continue
			}
			rec.OldGrants = append(rec.OldGrants, OldGrant{Target: name, Entitlement: g.Entitlement, Until: keep})
		}
	}
}
