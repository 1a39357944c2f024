package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// Exclusive groups: the policy owns a group's whole membership, so the
// drift pass (and tenure reconcile) removes the members no grant
// explains, each through the guard like any operation that takes access
// away. The target lists and prunes members (GroupLister); the engine
// decides who is explained, from the links and the policy.

// OpRemoveMember is the guard's name for removing a member no grant
// explains from an exclusive group (see memberKey).
const OpRemoveMember targets.OpKind = "remove-member"

// ErrNoGroups: a target with exclusive groups cannot list and remove group
// members (it is not a GroupLister).
var ErrNoGroups = errors.New("engine: the target cannot list group members")

// GroupLister is a target whose groups can be listed and pruned, which
// exclusive groups need. ldapsync.Directory is one.
type GroupLister interface {
	// GroupRef is the comparable form of the group an entitlement names:
	// equal for two entitlements exactly when they name one group.
	GroupRef(ent string) (string, error)
	// GroupMembers lists the members of the group ent names, leaving out
	// the ones the target always keeps (placeholders). Ref is the value
	// the group holds, ID the anchor of the account it names ("" for
	// none); a value naming several accounts is listed once per account.
	GroupMembers(ctx context.Context, ent string) ([]targets.Found, error)
	// RemoveMember takes value (a Ref GroupMembers listed) out of the
	// group; a value already gone is success.
	RemoveMember(ctx context.Context, ent, value string) error
}

// ExclusiveGroup is the cleanup of one exclusive group.
type ExclusiveGroup struct {
	// Group as the policy names it; Ref as the target compares it.
	Group string `json:"group"`
	Ref   string `json:"ref,omitempty"`
	// Members listed (kept placeholders left out).
	Members int `json:"members"`
	// Removed, Held (by the guard) and Failed members no grant explains.
	Removed []ExclusiveMember `json:"removed,omitempty"`
	Held    []ExclusiveMember `json:"held,omitempty"`
	Failed  []ExclusiveMember `json:"failed,omitempty"`
	// Error: the group could not be listed.
	Error string `json:"error,omitempty"`
	// retry: a listing or removal failed in a way that may pass.
	retry bool
}

// ExclusiveMember is a member of an exclusive group no grant explains.
type ExclusiveMember struct {
	// Value as the group holds it (a DN, a uid).
	Value string `json:"value"`
	// ID is the anchor of the account it names; Owner the person whose
	// account that is, if anyone's.
	ID    string `json:"id,omitempty"`
	Owner string `json:"owner,omitempty"`
	Error string `json:"error,omitempty"`
}

// Exclusive removes from each of target's exclusive groups the members no
// grant explains, now. A member is explained when the account it names is
// linked to a person whose last applied entitlements or whose desired
// entitlements now include the group (the links are read before and after
// the listing, so an account a converge links meanwhile is explained too).
// Every other member is removed — an entry added by hand, an account
// Tenure does not manage, a nested group — unless the target keeps it (a
// placeholder): each removal passes through the guard like any operation
// that takes access away, is audited (under the member's key, see
// memberKey, and under the account's owner, if any), logged and counted.
// Removals the guard holds wait for an approval, which runs a cleanup
// again. A group that cannot be listed is reported and the others are
// still cleaned.
func (e *Engine) Exclusive(ctx context.Context, target string) ([]ExclusiveGroup, error) {
	pol := e.Policy()
	tp, ok := pol.Target(target)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	if len(tp.Exclusive) == 0 {
		return nil, nil
	}
	gl, ok := e.targets[target].(GroupLister)
	if !ok {
		return nil, fmt.Errorf("%w: %s has exclusive groups", ErrNoGroups, target)
	}
	out := make([]ExclusiveGroup, len(tp.Exclusive))
	refs := map[string]bool{}
	for i, ent := range tp.Exclusive {
		out[i].Group = ent
		ref, err := gl.GroupRef(ent)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Ref, refs[ref] = ref, true
	}
	refOf := groupRefs(gl)
	before, err := e.granted(ctx, target, refOf, refs)
	if err != nil {
		return out, err
	}
	members := make([][]targets.Found, len(out))
	for i := range out {
		if out[i].Error != "" {
			continue
		}
		if members[i], err = gl.GroupMembers(ctx, out[i].Group); err != nil {
			out[i].Error, out[i].retry = err.Error(), targets.IsRetryable(err)
			e.log.Warn("engine: exclusive group not listed", "target", target, "group", out[i].Group, "err", err)
		}
		out[i].Members = len(members[i])
	}
	after, err := e.granted(ctx, target, refOf, refs)
	if err != nil {
		return out, err
	}
	// Approvals of removals that are done, or no longer needed (the
	// member left a listed group), are spent.
	spent := map[string]bool{}
	listed := map[string]bool{}
	err = func() error {
		for i := range out {
			g := &out[i]
			if g.Error != "" {
				continue
			}
			listed[g.Ref] = true
			for _, m := range strangers(members[i], before[g.Ref], after[g.Ref]) {
				key := memberKey(g.Ref, m.Value)
				removed := len(g.Removed)
				if err := e.removeStranger(ctx, gl, target, g, m, key, refOf); err != nil {
					return err
				}
				// An approval is spent by the removal, not while the
				// member is still there.
				spent[key] = len(g.Removed) > removed
			}
		}
		return nil
	}()
	if n := countMembers(out, "removed"); n > 0 {
		if terr := e.tally(context.WithoutCancel(ctx), target, map[string]int{DriftExclusive: n}); terr != nil {
			e.log.Warn("engine: drift tally not recorded", "target", target, "err", terr)
		}
	}
	if err != nil {
		return out, err
	}
	return out, e.spendApprovals(ctx, target, func(key string) bool {
		if done, ok := spent[key]; ok {
			return done
		}
		for ref := range listed {
			if strings.HasSuffix(key, memberKeyOf+ref) {
				return true
			}
		}
		return false
	})
}

// removeStranger removes m, a member of g no link explains, unless its
// person's desired state wants it there, through the guard; it records
// the outcome in g. An error is the store's: the cleanup stops.
func (e *Engine) removeStranger(ctx context.Context, gl GroupLister, target string, g *ExclusiveGroup, m ExclusiveMember, key string, refOf func(string) string) error {
	explained, err := e.wanted(ctx, target, &m, g.Ref, refOf)
	if err != nil || explained {
		return err
	}
	held, err := e.admit(ctx, target, key, 0, []targets.OpKind{OpRemoveMember}, e.now())
	if err != nil || held {
		if held {
			g.Held = append(g.Held, m)
		}
		return err
	}
	if err := gl.RemoveMember(ctx, g.Group, m.Value); err != nil {
		m.Error = err.Error()
		g.retry = g.retry || targets.IsRetryable(err)
		g.Failed = append(g.Failed, m)
		e.metrics.operations.WithLabelValues(target, removeMemberOp, "error").Inc()
		e.log.Warn("engine: exclusive group member not removed", "target", target, "group", g.Group, "member", m.Value, "err", err)
		return nil
	}
	g.Removed = append(g.Removed, m)
	e.metrics.operations.WithLabelValues(target, removeMemberOp, "ok").Inc()
	e.metrics.drift.WithLabelValues(target, DriftExclusive).Inc()
	e.log.Info("engine: member no grant explains removed from an exclusive group", "target", target,
		"group", g.Group, "member", m.Value, "owner", m.Owner)
	if err := e.auditRemoval(ctx, target, g.Group, key, m); err != nil {
		e.log.Warn("engine: audit failed", "err", err)
	}
	return nil
}

// groupRefs caches a GroupLister's GroupRef; an entitlement it cannot
// name names no group ("").
func groupRefs(gl GroupLister) func(string) string {
	cache := map[string]string{}
	return func(ent string) string {
		r, ok := cache[ent]
		if !ok {
			r, _ = gl.GroupRef(ent)
			cache[ent] = r
		}
		return r
	}
}

// granted reads target's links: for each group ref in refs, the accounts
// (anchors) whose last applied entitlements include it, with their people.
func (e *Engine) granted(ctx context.Context, target string, refOf func(string) string, refs map[string]bool) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := e.st.View(ctx, func(r store.Reader) error {
		clear(out)
		return r.ScanDocs(nsLink, target+"/", false, func(key string, val []byte) (bool, error) {
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsLink, key, err)
			}
			if ls.ID == "" || ls.Applied == nil || !ls.Applied.Exists {
				return true, nil
			}
			for _, ent := range ls.Applied.Entitlements {
				if ref := refOf(ent); refs[ref] {
					if out[ref] == nil {
						out[ref] = map[string]string{}
					}
					out[ref][ls.ID] = key[len(target)+1:]
				}
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: exclusive groups on %s: read links: %w", target, err)
	}
	return out, nil
}

// strangers are the member values none of whose accounts either read of
// the links explains, each once, with the accounts' anchors.
func strangers(members []targets.Found, before, after map[string]string) []ExclusiveMember {
	byValue := map[string][]targets.Found{}
	var order []string
	for _, m := range members {
		if _, ok := byValue[m.Ref]; !ok {
			order = append(order, m.Ref)
		}
		byValue[m.Ref] = append(byValue[m.Ref], m)
	}
	var out []ExclusiveMember
	for _, v := range order {
		explained := slices.ContainsFunc(byValue[v], func(f targets.Found) bool {
			return f.ID != "" && (before[f.ID] != "" || after[f.ID] != "")
		})
		if explained {
			continue
		}
		m := ExclusiveMember{Value: v}
		for _, f := range byValue[v] {
			if f.ID != "" {
				m.ID = cmp.Or(m.ID, f.ID)
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b ExclusiveMember) int { return strings.Compare(a.Value, b.Value) })
	return out
}

// wanted reports whether the account m names belongs to a person whose
// desired state now grants the group (a change not converged yet), and
// records the owner in m.
func (e *Engine) wanted(ctx context.Context, target string, m *ExclusiveMember, ref string, refOf func(string) string) (bool, error) {
	if m.ID == "" {
		return false, nil
	}
	var want bool
	pol := e.Policy()
	err := e.st.View(ctx, func(r store.Reader) error {
		want = false
		owner, err := ownerOf(r, target, m.ID)
		if err != nil || owner == "" {
			return err
		}
		m.Owner = owner
		rec, err := loadRecord(r, owner)
		if err != nil || rec == nil {
			return err
		}
		// A policy that fails for this person fails their converge too
		// (which reports it): their membership is not this cleanup's to
		// judge, so it stays.
		d, perr := pol.Desired(rec, target, true, e.now())
		want = perr != nil || (d.Exists && slices.ContainsFunc(d.Entitlements, func(ent string) bool { return refOf(ent) == ref }))
		return nil
	})
	return want, err
}

// memberKey is the guard's and the audit log's name for a member of an
// exclusive group: not a person, so an approval releases the removal
// itself (see resolveGuard) rather than scheduling a converge.
func memberKey(group, value string) string { return memberKeyPrefix + value + memberKeyOf + group }

const memberKeyPrefix, memberKeyOf = "member ", " of "

// isMemberKey reports whether a guard entry is an exclusive-group member.
func isMemberKey(k string) bool { return strings.HasPrefix(k, memberKeyPrefix) }

// auditRemoval records a removal under the member's key and, for an
// account linked to a person, in that person's log.
func (e *Engine) auditRemoval(ctx context.Context, target, group, key string, m ExclusiveMember) error {
	now := e.now()
	ev := Event{Kind: EventApplied, Target: target, Ops: []targets.Op{{Kind: OpRemoveMember, Detail: group}},
		Detail: "exclusive group: " + m.Value + " removed from " + group + ", which no grant explains"}
	return e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		a := newAuditor(tx, now)
		if err := a.add(key, ev); err != nil {
			return err
		}
		if m.Owner != "" {
			return a.add(m.Owner, ev)
		}
		return nil
	})
}

// spendApprovals drops the guard's approvals of exclusive-group removals
// that spent says are used up.
func (e *Engine) spendApprovals(ctx context.Context, target string, spent func(key string) bool) error {
	var drop []string
	err := e.st.View(ctx, func(r store.Reader) error {
		gs, err := loadGuard(r, target)
		if err != nil {
			return err
		}
		drop = drop[:0]
		for k := range gs.Approved {
			if isMemberKey(k) && spent(k) {
				drop = append(drop, k)
			}
		}
		return nil
	})
	if err != nil || len(drop) == 0 {
		return err
	}
	return e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		gs, err := loadGuard(tx, target)
		if err != nil {
			return err
		}
		for _, k := range drop {
			delete(gs.Approved, k)
		}
		return putJSON(tx, nsGuard, target, gs)
	})
}

// requestCleanup asks for an exclusive cleanup of target at now, in tx.
func requestCleanup(tx store.Tx, target string, now time.Time) error {
	st, err := loadDrift(tx, target)
	if err != nil {
		return err
	}
	if !st.Requested.IsZero() && !st.Requested.After(now) {
		return nil
	}
	st.Requested = now
	return putJSON(tx, nsDrift, "pass/"+target, st)
}

// countMembers counts the removed, held or failed members of groups.
func countMembers(groups []ExclusiveGroup, which string) int {
	n := 0
	for _, g := range groups {
		switch which {
		case "removed":
			n += len(g.Removed)
		case "held":
			n += len(g.Held)
		case "failed":
			n += len(g.Failed)
		}
	}
	return n
}
