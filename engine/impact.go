package engine

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenurehq/tenure/mapper"
)

// ImpactOptions bound a policy impact.
type ImpactOptions struct {
	// At is the time both policies are evaluated at; zero means now.
	At time.Time
	// MaxPeople stops the scan after this many people (0: everyone).
	MaxPeople int
	// Budget stops the scan once it has run this long (0: no limit).
	Budget time.Duration
	// Names is how many people each line names (the first met; 5 by
	// default).
	Names int
}

// Impact is what installing a draft policy would change, person by
// person, in the desired state of everyone the engine keeps a record of:
// the running policy's Desired against the draft's, at one time, for every
// target either names. It is the desired state, not the operations a
// converge would perform (a plan compares it with what is applied).
type Impact struct {
	At time.Time `json:"at"`
	// People is how many people were evaluated; Changed how many of them
	// would have some account or entitlement differ.
	People  int `json:"people"`
	Changed int `json:"changed"`
	// Truncated says why the scan stopped before everyone ("" if it did
	// not).
	Truncated string `json:"truncated,omitempty"`
	// Entitlements: who would gain or lose which entitlement where, by
	// target then entitlement.
	Entitlements []EntitlementImpact `json:"entitlements"`
	// Accounts: which accounts would be created, deleted, disabled or
	// enabled, by target then change.
	Accounts []AccountImpact `json:"accounts"`
	// Failed counts the people either policy could not be evaluated on
	// (an expression failing), with the first ones.
	Failed int             `json:"failed"`
	Errors []ImpactFailure `json:"errors,omitempty"`
}

// EntitlementImpact is one entitlement on one target.
type EntitlementImpact struct {
	Target      string   `json:"target"`
	Entitlement string   `json:"entitlement"`
	Gain        int      `json:"gain"`
	Lose        int      `json:"lose"`
	Gainers     []string `json:"gainers,omitempty"`
	Losers      []string `json:"losers,omitempty"`
}

// Account changes of an AccountImpact.
const (
	ImpactCreate  = "create"
	ImpactDelete  = "delete"
	ImpactDisable = "disable"
	ImpactEnable  = "enable"
)

// AccountImpact is one kind of account change on one target.
type AccountImpact struct {
	Target string   `json:"target"`
	Change string   `json:"change"`
	Count  int      `json:"count"`
	People []string `json:"people,omitempty"`
}

// ImpactFailure is a person a policy could not be evaluated on.
type ImpactFailure struct {
	Person string `json:"person"`
	Policy string `json:"policy"` // running or draft
	Error  string `json:"error"`
}

// errImpactStop ends an impact's scan early.
var errImpactStop = errors.New("engine: impact: stop")

// Impact evaluates the running policy and draft for everyone, in one
// store read (Snapshot), through the same mapper.Desired the workers use.
// It writes nothing.
func (e *Engine) Impact(ctx context.Context, draft *mapper.Policy, o ImpactOptions) (*Impact, error) {
	run := e.Policy()
	at := o.At
	if at.IsZero() {
		at = e.now()
	}
	if o.Names <= 0 {
		o.Names = 5
	}
	targetNames := slices.Clone(run.TargetNames)
	for _, t := range draft.TargetNames {
		if !slices.Contains(targetNames, t) {
			targetNames = append(targetNames, t)
		}
	}
	out := &Impact{At: at}
	type entKey struct{ target, ent string }
	type accKey struct{ target, change string }
	ents := map[entKey]*EntitlementImpact{}
	accs := map[accKey]*AccountImpact{}
	add := func(list []string, name string) []string {
		if len(list) < o.Names {
			list = append(list, name)
		}
		return list
	}
	ent := func(target, entitlement string) *EntitlementImpact {
		x := ents[entKey{target, entitlement}]
		if x == nil {
			x = &EntitlementImpact{Target: target, Entitlement: entitlement}
			ents[entKey{target, entitlement}] = x
		}
		return x
	}
	start := time.Now()
	err := e.Snapshot(ctx, func(ps PersonState) error {
		if o.MaxPeople > 0 && out.People >= o.MaxPeople {
			out.Truncated = "stopped after the first " + strconv.Itoa(o.MaxPeople) + " people"
			return errImpactStop
		}
		if o.Budget > 0 && time.Since(start) > o.Budget {
			out.Truncated = "stopped after " + o.Budget.String() + ", with " + strconv.Itoa(out.People) + " people evaluated"
			return errImpactStop
		}
		out.People++
		rec := ps.Record
		name := impactName(rec)
		changed := false
		for _, t := range targetNames {
			linked := ps.Links[t].Linked()
			before, err := impactDesired(run, rec, t, linked, at)
			if err != nil {
				out.fail(name, "running", err)
				break
			}
			after, err := impactDesired(draft, rec, t, linked, at)
			if err != nil {
				out.fail(name, "draft", err)
				break
			}
			if c := accountChange(before, after); c != "" {
				a := accs[accKey{t, c}]
				if a == nil {
					a = &AccountImpact{Target: t, Change: c}
					accs[accKey{t, c}] = a
				}
				a.Count++
				a.People = add(a.People, name)
				changed = true
			}
			gain, lose := diffSorted(entitlementsOf(before), entitlementsOf(after))
			for _, g := range gain {
				x := ent(t, g)
				x.Gain++
				x.Gainers = add(x.Gainers, name)
			}
			for _, l := range lose {
				x := ent(t, l)
				x.Lose++
				x.Losers = add(x.Losers, name)
			}
			changed = changed || len(gain)+len(lose) > 0
		}
		if changed {
			out.Changed++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errImpactStop) {
		return nil, err
	}
	order := func(t string) int {
		return slices.Index(targetNames, t)
	}
	out.Entitlements = make([]EntitlementImpact, 0, len(ents))
	for _, x := range ents {
		out.Entitlements = append(out.Entitlements, *x)
	}
	slices.SortFunc(out.Entitlements, func(a, b EntitlementImpact) int {
		if d := order(a.Target) - order(b.Target); d != 0 {
			return d
		}
		return strings.Compare(a.Entitlement, b.Entitlement)
	})
	changes := []string{ImpactCreate, ImpactEnable, ImpactDisable, ImpactDelete}
	out.Accounts = make([]AccountImpact, 0, len(accs))
	for _, x := range accs {
		out.Accounts = append(out.Accounts, *x)
	}
	slices.SortFunc(out.Accounts, func(a, b AccountImpact) int {
		if d := order(a.Target) - order(b.Target); d != 0 {
			return d
		}
		return slices.Index(changes, a.Change) - slices.Index(changes, b.Change)
	})
	return out, nil
}

func (i *Impact) fail(person, policy string, err error) {
	i.Failed++
	if len(i.Errors) < 10 {
		i.Errors = append(i.Errors, ImpactFailure{Person: person, Policy: policy, Error: err.Error()})
	}
}

// impactDesired is pol's desired account of rec on target, nil when pol
// has no such target.
func impactDesired(pol *mapper.Policy, rec *mapper.Record, target string, linked bool, at time.Time) (*mapper.Desired, error) {
	if _, ok := pol.Target(target); !ok {
		return nil, nil
	}
	return pol.Desired(rec, target, linked, at)
}

// accountChange is how the account differs from before to after: created,
// deleted, disabled or enabled; "" for neither.
func accountChange(before, after *mapper.Desired) string {
	was, is := before != nil && before.Exists, after != nil && after.Exists
	switch {
	case !was && is:
		return ImpactCreate
	case was && !is:
		return ImpactDelete
	case was && before.Enabled && !after.Enabled:
		return ImpactDisable
	case was && !before.Enabled && after.Enabled:
		return ImpactEnable
	}
	return ""
}

// entitlementsOf are the entitlements an existing account would hold.
func entitlementsOf(d *mapper.Desired) []string {
	if d == nil || !d.Exists {
		return nil
	}
	return d.Entitlements
}

// diffSorted returns what is in b and not a, and what is in a and not b,
// of two sorted lists.
func diffSorted(a, b []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			removed = append(removed, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}

// impactName names a person in an impact: their userName, else their id.
func impactName(rec *mapper.Record) string {
	if n, _ := rec.Identity.User["userName"].(string); n != "" {
		return n
	}
	return rec.ID
}
