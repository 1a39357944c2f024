package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/targets"
)

// Source is what Gather reads: the policy, a snapshot of the people and
// their links, and the targets. *engine.Engine is one.
type Source interface {
	Policy() *mapper.Policy
	Snapshot(ctx context.Context, fn func(engine.PersonState) error) error
	Target(name string) (targets.Target, bool)
}

// Errors callers branch on.
var (
	// ErrNoTarget: Options.Targets names a target the policy does not have.
	ErrNoTarget = errors.New("recommend: no such target")
	// ErrInvalid: the options are wrong (an attribute that does not
	// compile, none at all).
	ErrInvalid = errors.New("recommend: invalid options")
)

// Gatherer reads the inputs of an analysis. It writes nothing.
type Gatherer struct {
	Source Source
	Log    *slog.Logger
}

// NewGatherer returns a Gatherer over src.
func NewGatherer(src Source, log *slog.Logger) *Gatherer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gatherer{Source: src, Log: log}
}

// Run gathers the input at now and analyses it. Attributes default to the
// policy's position attributes but the manager (a rule per manager is
// rarely what anyone wants; name it to have it).
func (g *Gatherer) Run(ctx context.Context, o Options, now time.Time) (*Report, error) {
	if len(o.Attributes) == 0 {
		for _, p := range g.Source.Policy().Position {
			if p != "enterprise.manager" {
				o.Attributes = append(o.Attributes, Attribute{Name: p})
			}
		}
	}
	in, err := g.Gather(ctx, o.Targets, now)
	if err != nil {
		return nil, err
	}
	return Analyze(ctx, in, o, now)
}

// tgt is one target's part of a gathering.
type tgt struct {
	name    string
	members targets.Memberships // nil: the target cannot list them
	refs    map[string]string   // entitlement → GroupRef, cached
	anchors map[string]int      // account anchor → person index
}

// ref is ent's comparable form on the target.
func (t *tgt) ref(ent string) (string, error) {
	if t.members == nil {
		return ent, nil
	}
	if r, ok := t.refs[ent]; ok {
		return r, nil
	}
	r, err := t.members.GroupRef(ent)
	if err != nil {
		return "", fmt.Errorf("recommend: %s: group %q: %w", t.name, ent, err)
	}
	t.refs[ent] = r
	return r, nil
}

// Gather reads, at now, the active people of the engine's snapshot with
// what the policy grants them (birthright, and a mover's old grants in
// their grace) and what approved requests in force give them (held, not
// granted: a rule would make it birthright), then each target's
// memberships where the target can list them (every group, whoever
// granted it; accounts no link names are only counted), else what Tenure
// last applied.
// only limits the targets (default all the policy's).
func (g *Gatherer) Gather(ctx context.Context, only []string, now time.Time) (*Input, error) {
	pol := g.Source.Policy()
	for _, n := range only {
		if _, ok := pol.Target(n); !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoTarget, n)
		}
	}
	in := &Input{Names: map[Entitlement]string{}, Unlinked: map[string]int{}}
	var ts []*tgt
	for _, n := range pol.TargetNames {
		if len(only) > 0 && !slices.Contains(only, n) {
			continue
		}
		t := &tgt{name: n, refs: map[string]string{}, anchors: map[string]int{}}
		if tg, ok := g.Source.Target(n); ok {
			t.members, _ = tg.(targets.Memberships)
		}
		ts = append(ts, t)
		in.Targets = append(in.Targets, n)
	}
	byID := map[string]int{}
	err := g.Source.Snapshot(ctx, func(ps engine.PersonState) error {
		rec := ps.Record
		if rec.StateAt(now) != mapper.StateActive {
			return nil
		}
		p := Person{ID: rec.ID, Identity: &rec.Identity, Record: rec}
		p.Name, _ = rec.Identity.User["userName"].(string)
		idx := len(in.People)
		for _, t := range ts {
			ls := ps.Links[t.name]
			d, err := pol.Desired(rec, t.name, ls.Linked(), now)
			if err != nil {
				return fmt.Errorf("recommend: person %s on %s: %w", rec.ID, t.name, err)
			}
			requested := map[string]bool{} // rules of approved requests in force
			for _, rg := range rec.Requested {
				if rg.Target != t.name || !rg.Active(now) {
					continue
				}
				requested[mapper.RequestRule(rg.Item, rg.Request)] = true
				for _, ent := range rg.Entitlements {
					e, err := in.entitlement(t, ent)
					if err != nil {
						return err
					}
					p.Held = append(p.Held, e)
				}
			}
			for _, gr := range d.Grants {
				if requested[gr.Rule] {
					continue // held on request, not by birthright
				}
				e, err := in.entitlement(t, gr.Entitlement)
				if err != nil {
					return err
				}
				p.Granted = append(p.Granted, e)
			}
			for _, og := range rec.OldGrants {
				if og.Target == t.name {
					e, err := in.entitlement(t, og.Entitlement)
					if err != nil {
						return err
					}
					p.Kept = append(p.Kept, e)
				}
			}
			switch {
			case t.members != nil && ls != nil && ls.ID != "":
				t.anchors[ls.ID] = idx
			case t.members == nil && ls != nil && ls.Applied != nil:
				for _, ent := range ls.Applied.Entitlements {
					p.Held = append(p.Held, Entitlement{Target: t.name, Ref: ent})
				}
			}
		}
		byID[rec.ID] = idx
		in.People = append(in.People, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recommend: gather: %w", err)
	}
	sortPeople(in, ts, byID)
	for _, t := range ts {
		if t.members == nil {
			continue
		}
		if err := g.memberships(ctx, in, t); err != nil {
			return nil, err
		}
	}
	g.Log.Info("recommend: gathered", "people", len(in.People), "targets", in.Targets, "unlinked", in.Unlinked)
	return in, nil
}

// entitlement is ent, as a rule names it on t, in comparable form; the
// rule's spelling is remembered for reports.
func (in *Input) entitlement(t *tgt, ent string) (Entitlement, error) {
	r, err := t.ref(ent)
	if err != nil {
		return Entitlement{}, err
	}
	e := Entitlement{Target: t.name, Ref: r}
	if _, ok := in.Names[e]; !ok {
		in.Names[e] = ent
	}
	return e, nil
}

// memberships reads t's memberships into the people whose linked account
// they are.
func (g *Gatherer) memberships(ctx context.Context, in *Input, t *tgt) error {
	err := t.members.Memberships(ctx, func(m targets.Membership) error {
		i, ok := t.anchors[m.Account.ID]
		if !ok || m.Account.ID == "" {
			in.Unlinked[t.name]++
			return nil
		}
		for _, ref := range m.Groups {
			e := Entitlement{Target: t.name, Ref: ref}
			if _, named := in.Names[e]; !named {
				in.Names[e] = t.shortName(ref)
			}
			in.People[i].Held = append(in.People[i].Held, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recommend: memberships on %s: %w", t.name, err)
	}
	return nil
}

// shortName is how a rule can name the group ref is: its first RDN's
// value when the target resolves that name to the same group (a group
// directly under the groups OU: "vpn"), else ref itself (a DN).
func (t *tgt) shortName(ref string) string {
	_, rest, ok := strings.Cut(ref, "=")
	if !ok {
		return ref
	}
	v, _, ok := strings.Cut(rest, ",")
	if !ok || v == "" || strings.ContainsAny(v, `\+"`) {
		return ref
	}
	if r, err := t.members.GroupRef(v); err == nil && r == ref {
		return v
	}
	return ref
}

// sortPeople orders the people by name (then id), so that reports list
// them in the same order whatever the store's key order, and moves the
// indexes that point at them.
func sortPeople(in *Input, ts []*tgt, byID map[string]int) {
	order := make([]int, len(in.People))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := &in.People[a], &in.People[b]
		return cmp.Or(strings.Compare(pa.Name, pb.Name), strings.Compare(pa.ID, pb.ID))
	})
	moved := make([]int, len(order)) // old index → new
	people := make([]Person, len(order))
	for n, o := range order {
		moved[o] = n
		people[n] = in.People[o]
	}
	in.People = people
	for id, i := range byID {
		byID[id] = moved[i]
	}
	for _, t := range ts {
		for a, i := range t.anchors {
			t.anchors[a] = moved[i]
		}
	}
}
