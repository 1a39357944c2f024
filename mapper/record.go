package mapper

import (
	"slices"
	"time"
)

// State is where a person is in the lifecycle at a given time.
type State string

// Lifecycle states.
const (
	StatePending    State = "pending"    // hired, start date not reached
	StateActive     State = "active"     // working
	StateTerminated State = "terminated" // termination reached
	StatePurged     State = "purged"     // deleted at the source in purge mode
)

// Record is a person's lifecycle record: what happened to them and when.
// It is the engine's input together with the policy; every field is a time
// or a fact, never a pending action, so the desired state at any time is a
// pure function of (record, policy, time).
type Record struct {
	// ID is the person's id in Tenure: the SCIM id of their first record.
	// A rehire by correlation keeps it, so downstream accounts stay theirs.
	ID     string `json:"id"`
	Source string `json:"source"`
	// UserID is the SCIM user that is this person now; "" once the source
	// deleted it.
	UserID string `json:"userId,omitempty"`
	// Correlation is the person's correlation key (policy), if any.
	Correlation string `json:"correlation,omitempty"`
	// Identity is the person as last written (kept after a source DELETE so
	// the leaver's accounts can still be converged).
	Identity Identity `json:"identity"`

	Hired time.Time `json:"hired"`        // first seen
	Start time.Time `json:"start"`        // effective start (start date, or when seen active); zero: never started
	End   time.Time `json:"end,omitzero"` // effective termination (zero: none)
	// PrevEnd is the termination before the latest rehire. Until the
	// rehire's own prehire window opens, an account they still have stays
	// as that termination left it (disabled, in the leaver container), but
	// its pending delete is cancelled.
	PrevEnd time.Time `json:"prevEnd,omitzero"`
	Rehired time.Time `json:"rehired,omitzero"`
	Moved   time.Time `json:"moved,omitzero"`
	Purged  time.Time `json:"purged,omitzero"`

	// OldGrants are grants of a previous position kept until the mover
	// grace ends.
	OldGrants []OldGrant `json:"oldGrants,omitempty"`
	// Requested is access decisions granted (approved requests, kept by
	// a mover review), each with its start and end.
	Requested []RequestedGrant `json:"requested,omitempty"`
	// History is the most recent transitions, oldest first.
	History []Event `json:"history,omitempty"`

	// Generation counts the writes that may change desired state; the
	// engine records per target which generation it converged.
	Generation uint64    `json:"generation"`
	Changed    time.Time `json:"changed"` // when Generation last moved
}

// OldGrant is an entitlement a mover keeps until Until.
type OldGrant struct {
	Target      string    `json:"target"`
	Entitlement string    `json:"entitlement"`
	Until       time.Time `json:"until"`
}

// Event is one recorded transition.
type Event struct {
	At         time.Time  `json:"at"`
	Transition Transition `json:"transition"`
	// Effective is when it takes effect, if not At (a future start or
	// termination).
	Effective time.Time `json:"effective,omitzero"`
	Changed   []string  `json:"changed,omitempty"` // position attributes
}

// MaxHistory bounds Record.History; the audit log keeps everything.
const MaxHistory = 50

// StateAt is the person's state at t.
func (r *Record) StateAt(t time.Time) State {
	switch {
	case !r.Purged.IsZero():
		return StatePurged
	case !r.End.IsZero() && !t.Before(r.End):
		return StateTerminated
	case t.Before(r.Start):
		return StatePending
	}
	return StateActive
}

// Clone returns a deep enough copy for a read-modify-write.
func (r *Record) Clone() *Record {
	c := *r
	c.OldGrants = slices.Clone(r.OldGrants)
	c.Requested = slices.Clone(r.Requested)
	for i := range c.Requested {
		c.Requested[i].Entitlements = slices.Clone(r.Requested[i].Entitlements)
	}
	c.History = slices.Clone(r.History)
	c.Identity.Groups = slices.Clone(r.Identity.Groups)
	if r.Identity.User != nil {
		c.Identity.User = plainCopy(r.Identity.User)
	}
	return &c
}

func plainCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			out[k] = plainCopy(x)
		case []any:
			l := make([]any, len(x))
			for i, e := range x {
				if em, ok := e.(map[string]any); ok {
					l[i] = plainCopy(em)
				} else {
					l[i] = e
				}
			}
			out[k] = l
		default:
			out[k] = v
		}
	}
	return out
}

// celView is the lifecycle variable of policy expressions. Times that are
// not set are left out, so has(lifecycle.end) and lifecycle.?end work, and a
// mapping of lifecycle.end leaves the attribute unset for someone without a
// termination.
func (r *Record) celView(now time.Time) map[string]any {
	v := map[string]any{"state": string(r.StateAt(now))}
	for k, t := range map[string]time.Time{
		"hired": r.Hired, "start": r.Start, "end": r.End, "rehired": r.Rehired, "moved": r.Moved,
	} {
		if !t.IsZero() {
			v[k] = t
		}
	}
	return v
}

// utc stores the record's times in UTC: RFC 3339 keeps offsets to the
// minute only, so a time in a zone with a historical offset in seconds
// (local mean time before 1900) would not survive the engine's JSON storage.
func (r *Record) utc() {
	for _, t := range []*time.Time{&r.Hired, &r.Start, &r.End, &r.PrevEnd, &r.Rehired, &r.Moved, &r.Purged, &r.Changed} {
		*t = t.UTC()
	}
	for i := range r.OldGrants {
		r.OldGrants[i].Until = r.OldGrants[i].Until.UTC()
	}
	for i := range r.Requested {
		g := &r.Requested[i]
		g.Start, g.Until = g.Start.UTC(), g.Until.UTC()
	}
}

// startFrom is the effective start for a start date from the source, or
// fallback when there is none. A start date at or before the previous
// termination is the old employment's (HR systems often keep the original
// hire date on a rehire): the new employment starts at fallback instead.
func (r *Record) startFrom(start, fallback time.Time) time.Time {
	if start.IsZero() || (!r.PrevEnd.IsZero() && !start.After(r.PrevEnd)) {
		return fallback
	}
	return start
}

// follow takes the start and end dates of the document of someone hired:
// the record's times follow the HR data until the person leaves.
func (r *Record) follow(start, end time.Time) {
	if s := r.startFrom(start, time.Time{}); !s.IsZero() {
		r.Start = s
	}
	r.End = end
}

// sameState reports whether o and r lead to the same desired state at every
// time: the same times, kept grants and identity. Times compare as
// instants, documents as JSON values, so a record read back from storage
// equals the one written.
func (r *Record) sameState(o *Record) bool {
	eq := func(a, b time.Time) bool { return a.Equal(b) }
	return eq(r.Start, o.Start) && eq(r.End, o.End) && eq(r.PrevEnd, o.PrevEnd) &&
		eq(r.Rehired, o.Rehired) && eq(r.Moved, o.Moved) && eq(r.Purged, o.Purged) &&
		slices.EqualFunc(r.OldGrants, o.OldGrants, func(a, b OldGrant) bool {
			return a.Target == b.Target && a.Entitlement == b.Entitlement && a.Until.Equal(b.Until)
		}) &&
		slices.EqualFunc(r.Requested, o.Requested, func(a, b RequestedGrant) bool {
			return a.Request == b.Request && a.Start.Equal(b.Start) && a.Until.Equal(b.Until)
		}) &&
		sameIdentity(&r.Identity, &o.Identity)
}

func (r *Record) addEvent(e Event) {
	r.History = append(r.History, e)
	if n := len(r.History) - MaxHistory; n > 0 {
		r.History = slices.Delete(r.History, 0, n)
	}
}
