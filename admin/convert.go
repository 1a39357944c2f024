package admin

import (
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/targets"
)

// The engine's types copied into the API's. A nil slice or pointer stays
// nil and an empty one empty, so the JSON is what encoding/json wrote for
// the engine's value (null or [] where a field is not omitempty).

func convertSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func convertPtr[T, U any](in *T, f func(T) U) *U {
	if in == nil {
		return nil
	}
	out := f(*in)
	return &out
}

func accountOf(a targets.Account) Account {
	return Account{Exists: a.Exists, Enabled: a.Enabled, Container: a.Container,
		Attributes: a.Attributes, References: a.References, Entitlements: a.Entitlements}
}

func opOf(o targets.Op) Op { return Op{Kind: string(o.Kind), Detail: o.Detail} }

func opsOf(ops []targets.Op) []Op { return convertSlice(ops, opOf) }

func conflictOf(c targets.Conflict) Conflict {
	return Conflict{Reason: string(c.Reason), ID: c.ID, Ref: c.Ref, Owner: c.Owner, Detail: c.Detail}
}

func conflictStateOf(c engine.ConflictState) ConflictState {
	return ConflictState{Conflict: conflictOf(c.Conflict), Since: c.Since, Generation: c.Generation}
}

func parkedConflictOf(c engine.ConflictView) ParkedConflict {
	return ParkedConflict{Target: c.Target, Person: c.Person, Conflict: conflictStateOf(c.Conflict)}
}

func linkOf(l engine.LinkState) Link {
	return Link{ID: l.ID, Ref: l.Ref, Applied: convertPtr(l.Applied, accountOf), Name: l.Name, Wanted: l.Wanted,
		Generation: l.Generation, Next: l.Next, At: l.At, Result: l.Result,
		Conflict: convertPtr(l.Conflict, conflictStateOf), Refs: l.Refs, Unresolved: l.Unresolved}
}

func recordOf(r mapper.Record) Record {
	return Record{ID: r.ID, Source: r.Source, UserID: r.UserID, Correlation: r.Correlation,
		Identity: PersonState{User: r.Identity.User, Groups: r.Identity.Groups},
		Hired:    r.Hired, Start: r.Start, End: r.End, PrevEnd: r.PrevEnd,
		Rehired: r.Rehired, Moved: r.Moved, Purged: r.Purged,
		OldGrants: convertSlice(r.OldGrants, func(g mapper.OldGrant) OldGrant {
			return OldGrant{Target: g.Target, Entitlement: g.Entitlement, Until: g.Until}
		}),
		Requested: convertSlice(r.Requested, func(g mapper.RequestedGrant) RequestedGrant { return RequestedGrant(g) }),
		History: convertSlice(r.History, func(e mapper.Event) TransitionEvent {
			return TransitionEvent{At: e.At, Transition: string(e.Transition), Effective: e.Effective, Changed: e.Changed}
		}),
		Generation: r.Generation, Changed: r.Changed}
}

func eventOf(e engine.Event) Event {
	return Event{At: e.At, Person: e.Person, Kind: string(e.Kind), Target: e.Target,
		Transition: string(e.Transition), Effective: e.Effective, Changed: e.Changed,
		Source: e.Source, User: e.User, Generation: e.Generation, Ops: opsOf(e.Ops),
		Error: e.Error, Retry: e.Retry, Actor: e.Actor, Detail: e.Detail}
}

func identityOf(v *engine.IdentityView) *Identity {
	out := &Identity{Record: convertPtr(v.Record, recordOf), State: string(v.State),
		Contests: convertSlice(v.Contests, func(c engine.Contest) Contest { return Contest(c) }),
		Events:   convertSlice(v.Events, eventOf)}
	if v.Targets != nil {
		out.Targets = make(map[string]IdentityTarget, len(v.Targets))
		for t, tv := range v.Targets {
			out.Targets[t] = IdentityTarget{Link: convertPtr(tv.Link, linkOf), Job: convertPtr(tv.Job, jobOf)}
		}
	}
	return out
}

func jobOf(e queue.Entry) Job {
	return Job{Key: e.Key, State: string(e.State), Due: e.Due, Pending: e.Pending,
		Attempts: e.Attempts, FirstFail: e.FirstFail, LastError: e.LastError}
}

func guardOf(g engine.GuardState) Guard {
	return Guard{Target: g.Target, Tripped: g.Tripped, TrippedAt: g.TrippedAt,
		Counted: convertSlice(g.Counted, func(c engine.GuardCount) GuardCount {
			return GuardCount{Person: c.Person, Op: string(c.Op), At: c.At}
		}),
		Held: g.Held, Approved: g.Approved, NowOnly: g.NowOnly, Released: g.Released}
}

func planOf(p engine.Plan) Plan {
	return Plan{Person: p.Person, At: p.At, State: string(p.State),
		Targets: convertSlice(p.Targets, func(tp engine.TargetPlan) TargetPlan {
			return TargetPlan{Target: tp.Target, Desired: convertPtr(tp.Desired, desiredOf), Ops: opsOf(tp.Ops),
				Later: convertSlice(tp.Later, func(s engine.PlanStep) PlanStep {
					return PlanStep{At: s.At, State: string(s.State), Reason: s.Reason, Ops: opsOf(s.Ops)}
				}),
				Conflict: convertPtr(tp.Conflict, conflictOf), Lookup: tp.Lookup}
		}),
		Refused: convertPtr(p.Refused, func(r engine.PlanRefusal) PlanRefusal { return PlanRefusal(r) }),
		Change:  Change{Transition: string(p.Change.Transition), Changed: p.Change.Changed, Effective: p.Change.Effective}}
}

func desiredOf(d mapper.Desired) Desired {
	return Desired{Account: accountOf(d.Account), State: string(d.State), Next: d.Next, Reason: d.Reason,
		Grants: convertSlice(d.Grants, func(g mapper.Grant) Grant { return Grant(g) })}
}

func planRequestOf(r PlanRequest) engine.PlanRequest {
	return engine.PlanRequest{ID: r.ID, User: r.User, Source: r.Source, At: r.At}
}

func driftOf(v engine.DriftView) Drift {
	return Drift{Target: v.Target, Last: v.Last, Next: v.Next, Requested: v.Requested,
		Report: convertPtr(v.Report, func(r engine.DriftReport) DriftReport {
			return DriftReport{Target: r.Target, Started: r.Started, Finished: r.Finished, Scheduled: r.Scheduled,
				Until: r.Until, Listed: r.Listed, Orphans: r.Orphans, Inventory: r.Inventory,
				Exclusive: exclusiveOf(r.Exclusive), Error: r.Error}
		}),
		At: v.At, Interval: v.Interval, Spread: v.Spread, Exclusive: v.Exclusive,
		Tally: DriftTally(v.Tally), Since: v.Since, Pending: v.Pending, Linked: v.Linked}
}

func exclusiveOf(gs []engine.ExclusiveGroup) []ExclusiveGroup {
	members := func(ms []engine.ExclusiveMember) []ExclusiveMember {
		return convertSlice(ms, func(m engine.ExclusiveMember) ExclusiveMember { return ExclusiveMember(m) })
	}
	return convertSlice(gs, func(g engine.ExclusiveGroup) ExclusiveGroup {
		return ExclusiveGroup{Group: g.Group, Ref: g.Ref, Members: g.Members,
			Removed: members(g.Removed), Held: members(g.Held), Failed: members(g.Failed), Error: g.Error}
	})
}

func orphanReportOf(r engine.OrphanReport) OrphanReport {
	return OrphanReport{Target: r.Target, Listed: r.Listed, Removed: r.Removed, Failed: r.Failed,
		Orphans: convertSlice(r.Orphans, func(o engine.Orphan) Orphan {
			return Orphan{ID: o.ID, Ref: o.Ref, Name: o.Name, Removed: o.Removed, Error: o.Error}
		})}
}
