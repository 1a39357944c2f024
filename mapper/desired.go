package mapper

import (
	"fmt"
	"sort"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
)

// Grant is one entitlement in a desired state and where it comes from.
type Grant struct {
	Entitlement string    `json:"entitlement"`
	Rule        string    `json:"rule"`           // birthright rule name, or "mover grace"
	Until       time.Time `json:"until,omitzero"` // expiry, if time-bound
}

// Desired is what an identity's account on a target should be at a time,
// and when that may next change by the clock alone.
type Desired struct {
	targets.Account
	State State `json:"state"`
	// Next is the next boundary (start − lead, start, termination, delete,
	// grant expiry, grace end) after the time asked about; zero if none.
	Next   time.Time `json:"next,omitzero"`
	Grants []Grant   `json:"grants,omitempty"`
	// Reason says in a few words why the account is in this state.
	Reason string `json:"reason"`
}

// Desired computes the desired account of the person rec on target at now.
// linked says whether the target has an account for them (a link), which
// decides whether a leaver or an out-of-scope person keeps a disabled
// account or gets none. Account.References hold SCIM user ids; the engine
// resolves them to the referenced accounts.
func (p *Policy) Desired(rec *Record, target string, linked bool, now time.Time) (*Desired, error) {
	tp, ok := p.Targets[target]
	if !ok {
		return nil, fmt.Errorf("mapper: desired: no target %q", target)
	}
	d := &Desired{State: rec.StateAt(now)}
	var bounds []time.Time
	id := &rec.Identity
	vars := id.vars(rec, now)

	switch d.State {
	case StatePurged:
		d.Reason = "purged at the source"
		return d, nil
	case StateTerminated:
		del, err := p.leaver(d, tp, vars, rec.End, linked, now)
		if err != nil {
			return nil, err
		}
		d.Next = next([]time.Time{del}, now)
		return d, nil
	}

	inScope := true
	if tp.Scope != nil {
		var err error
		if inScope, err = tp.Scope.Bool(vars); err != nil {
			return nil, err
		}
	}
	if d.State == StatePending {
		open := rec.Start.Add(-p.PrehireLead)
		bounds = append(bounds, open, rec.Start, rec.End)
		if now.Before(open) {
			if err := p.beforeWindow(d, tp, rec, vars, open, linked, inScope); err != nil {
				return nil, err
			}
			d.Next = next(bounds, now)
			return d, nil
		}
		d.Reason = "pre-hire, enabled at " + rec.Start.UTC().Format(time.RFC3339)
	} else {
		bounds = append(bounds, rec.End)
		d.Enabled = true
		d.Reason = "active"
	}
	if !inScope {
		// Leaving a target's scope disables (and moves) an existing account
		// but never deletes it on a timer: only a leaver starts that clock.
		// A target whose leavers are deleted keeps no disabled accounts.
		d.Enabled = false
		d.Reason = "out of scope"
		if linked && tp.Leaver.Mode != config.LeaverDelete {
			if err := p.account(d, tp, vars); err != nil {
				return nil, err
			}
			if tp.Leaver.MoveTo != "" {
				d.Container = tp.Leaver.MoveTo
			}
		}
		d.Next = next(bounds, now)
		return d, nil
	}

	if err := p.account(d, tp, vars); err != nil {
		return nil, err
	}
	grants, err := p.grants(id, rec, target, now)
	if err != nil {
		return nil, err
	}
	for _, g := range rec.OldGrants {
		if g.Target == target && now.Before(g.Until) {
			grants = append(grants, Grant{Entitlement: g.Entitlement, Rule: "mover grace", Until: g.Until})
		}
	}
	grants = append(grants, requestedGrants(rec, target, now)...)
	bounds = append(bounds, requestedBounds(rec, target)...)
	for _, g := range grants {
		bounds = append(bounds, g.Until)
	}
	d.Grants = grants
	d.Entitlements = entitlements(grants)
	d.Next = next(bounds, now)
	return d, nil
}

// beforeWindow fills d for a person whose start is more than the prehire
// lead away. Someone new has no account yet. An account that exists is
// kept, disabled and without entitlements, until the window opens, and is
// never deleted on a timer: it belongs to a rehire (whose pending delete a
// rehire cancels — same person, same accounts) or to a pre-hire whose start
// moved later (deleting and recreating it would lose what it holds). A
// rehire's account, or one out of the target's scope, stays where a leaver's
// would be (move_to); on a target whose leavers are deleted it is absent.
func (p *Policy) beforeWindow(d *Desired, tp *TargetPolicy, rec *Record, vars map[string]any, open time.Time, linked, inScope bool) error {
	starts := rec.Start.UTC().Format(time.RFC3339)
	asLeaver := !rec.PrevEnd.IsZero() || !inScope
	d.Reason = "pre-hire, accounts from " + open.UTC().Format(time.RFC3339)
	if !rec.PrevEnd.IsZero() {
		d.Reason = "rehired, starts " + starts + "; accounts from " + open.UTC().Format(time.RFC3339)
	}
	if !linked || (asLeaver && tp.Leaver.Mode == config.LeaverDelete) {
		return nil
	}
	if err := p.account(d, tp, vars); err != nil {
		return err
	}
	d.Enabled = false
	if asLeaver && tp.Leaver.MoveTo != "" {
		d.Container = tp.Leaver.MoveTo
	}
	d.Reason += "; the existing account stays disabled until then"
	return nil
}

// leaver fills d for a person terminated at end, and returns when the
// account is to be deleted (zero: not by the clock).
func (p *Policy) leaver(d *Desired, tp *TargetPolicy, vars map[string]any, end time.Time, linked bool, now time.Time) (time.Time, error) {
	lv := tp.Leaver
	switch {
	case !linked:
		d.Reason = "terminated, no account"
		return time.Time{}, nil
	case lv.Mode == config.LeaverDelete:
		d.Reason = "terminated, deleted"
		return time.Time{}, nil
	case lv.DeleteAfter > 0 && !now.Before(end.Add(lv.DeleteAfter)):
		d.Reason = "terminated, deleted after " + lv.DeleteAfter.String()
		return time.Time{}, nil
	}
	if err := p.account(d, tp, vars); err != nil {
		return time.Time{}, err
	}
	d.Enabled = false
	if lv.MoveTo != "" {
		d.Container = lv.MoveTo
	}
	d.Reason = "terminated, disabled"
	if lv.DeleteAfter <= 0 {
		return time.Time{}, nil
	}
	del := end.Add(lv.DeleteAfter)
	d.Reason += ", delete at " + del.UTC().Format(time.RFC3339)
	return del, nil
}

// account sets Exists, Container, Attributes and References from the
// target's mappings.
func (p *Policy) account(d *Desired, tp *TargetPolicy, vars map[string]any) error {
	d.Exists = true
	if tp.Container != nil {
		c, err := tp.Container.String(vars)
		if err != nil {
			return err
		}
		d.Container = c
	}
	for name, e := range tp.Attributes {
		v, ok, err := e.Value(vars)
		if err != nil {
			return err
		}
		if ok {
			if d.Attributes == nil {
				d.Attributes = map[string]any{}
			}
			d.Attributes[name] = v
		}
	}
	for name, e := range tp.References {
		v, err := e.String(vars)
		if err != nil {
			return err
		}
		if v != "" {
			if d.References == nil {
				d.References = map[string]string{}
			}
			d.References[name] = v
		}
	}
	return nil
}

// grants evaluates the birthright rules for id on target at now, dropping
// time-bound grants that have expired.
func (p *Policy) grants(id *Identity, rec *Record, target string, now time.Time) ([]Grant, error) {
	if id == nil {
		return nil, nil
	}
	vars := id.vars(rec, now)
	var out []Grant
	for _, r := range p.Rules {
		ents := r.Grants[target]
		if len(ents) == 0 {
			continue
		}
		ok, err := r.When.Bool(vars)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var until time.Time
		switch {
		case r.For > 0 && !rec.Start.IsZero():
			if until = rec.Start.Add(r.For); until.UTC().Year() > 9999 {
				until = time.Time{} // beyond what anything stores: never
			}
		case r.Until != nil:
			if until, err = r.Until.Time(vars, id.Location(p.Location)); err != nil {
				return nil, err
			}
		}
		if !until.IsZero() && !now.Before(until) {
			continue
		}
		for _, e := range ents {
			out = append(out, Grant{Entitlement: e, Rule: r.Name, Until: until})
		}
	}
	return out, nil
}

func entitlements(gs []Grant) []string {
	set := map[string]bool{}
	for _, g := range gs {
		set[g.Entitlement] = true
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// next returns the earliest bound after now, or zero. Bounds after the
// year 9999 (a delete_after added to an end far off) are never.
func next(bounds []time.Time, now time.Time) time.Time {
	var n time.Time
	for _, b := range bounds {
		if b.After(now) && b.UTC().Year() <= 9999 && (n.IsZero() || b.Before(n)) {
			n = b
		}
	}
	return n
}

// Correlate evaluates the correlation key for id; "" when there is none.
func (p *Policy) Correlate(id *Identity, now time.Time) (string, error) {
	if p.Correlation == nil || id == nil {
		return "", nil
	}
	return p.Correlation.String(id.vars(nil, now))
}
