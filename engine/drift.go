package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// Drift: every converge reads the account and repairs what differs from
// the desired state, but only people whose state changes are converged.
// The drift pass makes sure every account is read now and then: per
// target, every drift interval, it removes the members of the target's
// exclusive groups that no grant explains (through the guard), lists the
// target's accounts (the orphan count) and schedules every linked person,
// spread over the drift spread so that a pass over 50,000 people does not
// hold up real changes. What the converges repair beyond their plan is
// counted per class (countDrift).
//
// The bookkeeping is in the store, so every replica sees it and a pass
// runs once per interval whichever replica claims it:
//
//	drift/pass/<target>     DriftState: the last and next pass, a requested exclusive pass, the last report
//	drift/repairs/<target>  DriftTally: repairs per class since the tally began

const nsDrift store.Namespace = "drift"

// Drift classes: what a repair put back.
const (
	DriftAttribute  = "attribute"  // an attribute or reference (update)
	DriftStatus     = "status"     // enabled or disabled (enable, disable)
	DriftContainer  = "container"  // where the account lives (move)
	DriftMembership = "membership" // a group the account was granted (grant, revoke)
	DriftAccount    = "account"    // the account itself: created again, or a stray one deleted
	DriftExclusive  = "exclusive"  // a member no grant explains, removed from an exclusive group
)

// DriftClasses lists the classes in report order.
var DriftClasses = []string{DriftAttribute, DriftStatus, DriftContainer, DriftMembership, DriftAccount, DriftExclusive}

const (
	// driftTick is how often RunDrift looks for passes that fell due.
	driftTick = 30 * time.Second
	// driftRetry is how soon a pass whose scheduling failed, or an
	// exclusive cleanup that could not reach the target, runs again (at
	// most the interval).
	driftRetry = 5 * time.Minute
	// removeMemberOp is the op label of exclusive-group removals in
	// tenure_engine_operations_total.
	removeMemberOp = "remove_member"
)

// DriftState is a target's drift bookkeeping.
type DriftState struct {
	Target string `json:"target"`
	// Last is when the last periodic pass began; Next when the next is
	// due.
	Last time.Time `json:"last,omitzero"`
	Next time.Time `json:"next,omitzero"`
	// Requested asks for an exclusive cleanup at that time (a guard
	// approval released held removals; a cleanup that could not reach the
	// target tries again).
	Requested time.Time `json:"requested,omitzero"`
	// Report is the last pass's (or cleanup's).
	Report *DriftReport `json:"report,omitempty"`
}

// DriftTally counts what converges repaired beyond their plan, and the
// exclusive-group removals, per class, since Since.
type DriftTally struct {
	Since   time.Time        `json:"since,omitzero"`
	Repairs map[string]int64 `json:"repairs,omitempty"`
}

// DriftReport is what one drift pass did.
type DriftReport struct {
	Target   string    `json:"target"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Scheduled people converge from Started until Until.
	Scheduled int       `json:"scheduled"`
	Until     time.Time `json:"until,omitzero"`
	// Listed accounts, and Orphans among them (accounts no link names);
	// Inventory says why they were not counted, if they were not.
	Listed    int    `json:"listed"`
	Orphans   int    `json:"orphans"`
	Inventory string `json:"inventory,omitempty"`
	// Exclusive is the cleanup of each exclusive group.
	Exclusive []ExclusiveGroup `json:"exclusive,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// countDrift is told, after each successful converge, what the plan from
// the last applied state expected (planned) and what the target really did
// (done): operations done beyond the plan repaired drift. They are counted
// per class in tenure_engine_drift_repairs_total and in the target's
// tally in the store (which tenure reconcile reports).
func (e *Engine) countDrift(target string, planned, done []targets.Op) {
	rep := driftRepairs(planned, done)
	if len(rep) == 0 {
		return
	}
	for class, n := range rep {
		e.metrics.drift.WithLabelValues(target, class).Add(float64(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.tally(ctx, target, rep); err != nil {
		e.log.Warn("engine: drift tally not recorded", "target", target, "err", err)
	}
}

// driftRepairs classifies the operations done beyond planned. A converge
// whose plan creates the account (a first converge, an adoption) repairs
// nothing; one that had to create the account again repairs the account
// (one repair, whatever came with it). Otherwise each attribute updated,
// status changed, move, group granted or revoked, and delete that the plan
// did not have is one repair.
func driftRepairs(planned, done []targets.Op) map[string]int {
	creates := func(o targets.Op) bool { return o.Kind == targets.OpCreate }
	if len(done) == 0 || slices.ContainsFunc(planned, creates) {
		return nil
	}
	if slices.ContainsFunc(done, creates) {
		return map[string]int{DriftAccount: 1}
	}
	expected := map[string]bool{}
	for _, op := range planned {
		for _, k := range opItems(op) {
			expected[k] = true
		}
	}
	out := map[string]int{}
	for _, op := range done {
		class := driftClass(op.Kind)
		if class == "" {
			continue
		}
		for _, k := range opItems(op) {
			if !expected[k] {
				out[class]++
			}
		}
	}
	return out
}

// driftClass is the class of a repair by op kind; "" for none.
func driftClass(k targets.OpKind) string {
	switch k {
	case targets.OpUpdate:
		return DriftAttribute
	case targets.OpEnable, targets.OpDisable:
		return DriftStatus
	case targets.OpMove:
		return DriftContainer
	case targets.OpGrant, targets.OpRevoke:
		return DriftMembership
	case targets.OpDelete:
		return DriftAccount
	}
	return ""
}

// opItems names what an op changed, comparably between a plan and a
// result: one item per attribute of an update, the entitlement of a grant
// or revoke, the kind alone for the rest (a move's container is the
// target's spelling).
func opItems(op targets.Op) []string {
	switch op.Kind {
	case targets.OpUpdate:
		var out []string
		for _, a := range attrNames(op.Detail) {
			out = append(out, "update "+a)
		}
		return out
	case targets.OpGrant, targets.OpRevoke:
		return []string{op.String()}
	}
	return []string{string(op.Kind)}
}

// attrNames splits an update's detail, fmt.Sprint of the attribute names
// ("[mail title]"), into the names. A SCIM path may hold spaces inside its
// brackets or quotes ('emails[type eq "work"].value'): those do not split.
func attrNames(detail string) []string {
	s := strings.TrimSuffix(strings.TrimPrefix(detail, "["), "]")
	var (
		out    []string
		cur    strings.Builder
		depth  int
		quoted bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == '[' && !quoted:
			depth++
		case r == ']' && !quoted && depth > 0:
			depth--
		case r == ' ' && !quoted && depth == 0:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// tally adds repairs to the target's tally in the store.
func (e *Engine) tally(ctx context.Context, target string, rep map[string]int) error {
	now := e.now()
	return e.st.Update(ctx, func(tx store.Tx) error {
		t, err := getJSON[DriftTally](tx, nsDrift, "repairs/"+target)
		if err != nil {
			return err
		}
		if t == nil {
			t = &DriftTally{Since: now}
		}
		if t.Repairs == nil {
			t.Repairs = map[string]int64{}
		}
		for class, n := range rep {
			t.Repairs[class] += int64(n)
		}
		return putJSON(tx, nsDrift, "repairs/"+target, t)
	})
}

// RunDrift runs the drift passes and exclusive cleanups that fall due
// (DriftDue) every driftTick until ctx ends. `tenure serve` runs it beside
// Run on every replica; a pass runs on whichever replica claims it.
func (e *Engine) RunDrift(ctx context.Context) {
	t := time.NewTicker(driftTick)
	defer t.Stop()
	for {
		if _, err := e.DriftDue(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("engine: drift pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DriftDue runs every drift pass due now, and every exclusive cleanup
// requested for now or earlier, each claimed in the store first so that
// one replica runs it. It returns the reports of what ran. A target's
// first pass is due as soon as its drift interval is set; a shorter
// interval after a reload takes effect at once.
func (e *Engine) DriftDue(ctx context.Context) ([]*DriftReport, error) {
	pol := e.Policy()
	var (
		out  []*DriftReport
		errs []error
	)
	for _, name := range pol.TargetNames {
		tp, _ := pol.Target(name)
		if tp.DriftInterval <= 0 && len(tp.Exclusive) == 0 {
			continue
		}
		now := e.now()
		var pass, cleanup bool
		due := func(st *DriftState) {
			iv := tp.DriftInterval
			pass = iv > 0 && (st.Next.IsZero() || !now.Before(st.Next) || st.Next.After(st.Last.Add(iv)))
			cleanup = len(tp.Exclusive) > 0 && !st.Requested.IsZero() && !now.Before(st.Requested)
		}
		// Read first: most ticks find nothing due and write nothing.
		err := e.st.View(ctx, func(r store.Reader) error {
			st, err := loadDrift(r, name)
			if err == nil {
				due(st)
			}
			return err
		})
		if err == nil && (pass || cleanup) {
			err = e.st.Update(ctx, func(tx store.Tx) error {
				st, err := loadDrift(tx, name)
				if err != nil {
					return err
				}
				if due(st); !pass && !cleanup {
					return nil // another replica claimed it
				}
				if pass {
					st.Last, st.Next = now, now.Add(tp.DriftInterval)
				}
				st.Requested = time.Time{} // a pass cleans up too
				return putJSON(tx, nsDrift, "pass/"+name, st)
			})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drift %s: %w", name, err))
			continue
		}
		var rep *DriftReport
		switch {
		case pass:
			rep, err = e.DriftPass(ctx, name)
		case cleanup:
			rep, err = e.cleanupPass(ctx, name)
		default:
			continue
		}
		if rep != nil {
			out = append(out, rep)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drift %s: %w", name, err))
		}
	}
	return out, errors.Join(errs...)
}

func loadDrift(r store.Reader, target string) (*DriftState, error) {
	st, err := getJSON[DriftState](r, nsDrift, "pass/"+target)
	if err != nil || st != nil {
		return st, err
	}
	return &DriftState{Target: target}, nil
}

// DriftPass runs one drift pass on target now: the exclusive groups'
// cleanup, the inventory (the orphan count) and every linked person's
// converge scheduled, spread over the target's drift spread. Parked people
// (an ownership conflict) are left to their own hourly retry. The report is
// kept in the target's drift state and logged.
func (e *Engine) DriftPass(ctx context.Context, target string) (*DriftReport, error) {
	tp, ok := e.Policy().Target(target)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	rep := &DriftReport{Target: target, Started: e.now()}
	retry := false
	if len(tp.Exclusive) > 0 {
		groups, err := e.Exclusive(ctx, target)
		rep.Exclusive = groups
		retry = retryCleanup(groups, err)
		if err != nil {
			rep.Error = err.Error()
		}
	}
	orphans, err := e.Orphans(ctx, target, false)
	switch {
	case errors.Is(err, ErrNoInventory):
		rep.Inventory = "not supported"
	case err != nil:
		rep.Inventory = err.Error()
	default:
		rep.Listed, rep.Orphans = orphans.Listed, len(orphans.Orphans)
		e.metrics.driftOrphans.WithLabelValues(target).Set(float64(rep.Orphans))
	}
	n, until, err := e.scheduleSpread(ctx, target, tp.DriftSpread)
	rep.Scheduled, rep.Until = n, until
	if err != nil {
		rep.Error = strings.TrimPrefix(rep.Error+"; ", "; ") + err.Error()
	}
	rep.Finished = e.now()
	result := "ok"
	if err != nil {
		result = "error"
	}
	e.metrics.driftPasses.WithLabelValues(target, result).Inc()
	e.metrics.driftLast.WithLabelValues(target).Set(float64(rep.Started.Unix()))
	e.log.Info("engine: drift pass", "target", target, "scheduled", rep.Scheduled, "until", rep.Until,
		"listed", rep.Listed, "orphans", rep.Orphans, "removed", countMembers(rep.Exclusive, "removed"),
		"held", countMembers(rep.Exclusive, "held"), "failed", countMembers(rep.Exclusive, "failed"), "error", rep.Error)
	if serr := e.saveDrift(ctx, target, rep, err != nil, retry, tp.DriftInterval); serr != nil {
		err = errors.Join(err, serr)
	}
	return rep, err
}

// cleanupPass runs a requested exclusive cleanup on its own.
func (e *Engine) cleanupPass(ctx context.Context, target string) (*DriftReport, error) {
	rep := &DriftReport{Target: target, Started: e.now()}
	groups, err := e.Exclusive(ctx, target)
	rep.Exclusive, rep.Finished = groups, e.now()
	if err != nil {
		rep.Error = err.Error()
	}
	retry := retryCleanup(groups, err)
	tp, _ := e.Policy().Target(target)
	interval := time.Duration(0)
	if tp != nil {
		interval = tp.DriftInterval
	}
	return rep, errors.Join(err, e.saveDrift(ctx, target, rep, false, retry, interval))
}

// retryCleanup reports whether an exclusive cleanup that returned groups
// and err should run again soon: a failure that may pass (the target was
// unreachable), not one that needs an operator (no such group, a
// placeholder missing).
func retryCleanup(groups []ExclusiveGroup, err error) bool {
	if err != nil && !errors.Is(err, ErrNoGroups) && !errors.Is(err, ErrNoTarget) {
		return true
	}
	return slices.ContainsFunc(groups, func(g ExclusiveGroup) bool { return g.retry })
}

// saveDrift keeps rep as the target's last report; failed (the scheduling
// failed) brings the next pass forward to driftRetry from now, retry (the
// cleanup could not finish) requests a cleanup then.
func (e *Engine) saveDrift(ctx context.Context, target string, rep *DriftReport, failed, retry bool, interval time.Duration) error {
	again := rep.Finished.Add(driftRetry)
	if interval > 0 {
		again = rep.Finished.Add(min(driftRetry, interval))
	}
	return e.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		st, err := loadDrift(tx, target)
		if err != nil {
			return err
		}
		st.Report = rep
		if failed && (st.Next.IsZero() || st.Next.After(again)) {
			st.Next = again
		}
		if retry && (st.Requested.IsZero() || st.Requested.After(again)) {
			st.Requested = again
		}
		return putJSON(tx, nsDrift, "pass/"+target, st)
	})
}

// scheduleSpread schedules every linked, unparked person on target, the
// i-th of n at now + spread×i/n, in chunks of one transaction each (as
// Reconcile does). A key due sooner keeps its due time.
func (e *Engine) scheduleSpread(ctx context.Context, target string, spread time.Duration) (int, time.Time, error) {
	var people []string
	err := e.st.View(ctx, func(r store.Reader) error {
		people = people[:0]
		return r.ScanDocs(nsLink, target+"/", false, func(key string, val []byte) (bool, error) {
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsLink, key, err)
			}
			if ls.Linked() && ls.Conflict == nil {
				people = append(people, key[len(target)+1:])
			}
			return true, nil
		})
	})
	now := e.now()
	if err != nil || len(people) == 0 {
		return 0, now, err
	}
	due := func(i int) time.Time {
		return now.Add(time.Duration(float64(spread) * float64(i) / float64(len(people))))
	}
	n := 0
	for chunk := range slices.Chunk(people, reconcileChunk) {
		err := e.st.Update(ctx, func(tx store.Tx) error {
			for i, p := range chunk {
				if err := e.sched.ScheduleTx(tx, Key(target, p), due(n+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, due(n), err
		}
		n += len(chunk)
		e.Wake()
	}
	return n, due(n - 1), nil
}

// DriftView is a target's drift state, its repair tally and, from a
// given time, how many linked people have not converged since.
type DriftView struct {
	DriftState
	// At is when the view was read, on the engine's clock.
	At time.Time `json:"at"`
	// Interval and Spread of the pass (0: no periodic pass); Exclusive
	// are the exclusive groups.
	Interval  string     `json:"interval,omitempty"`
	Spread    string     `json:"spread,omitempty"`
	Exclusive []string   `json:"exclusiveGroups,omitempty"`
	Tally     DriftTally `json:"tally"`
	Since     time.Time  `json:"since,omitzero"`
	Pending   int        `json:"pending"`
	Linked    int        `json:"linked"`
}

// Drift reports target's drift state and repair tally. With since set,
// Pending counts the linked, unparked people whose last converge finished
// before since (tenure reconcile waits for it to reach 0).
func (e *Engine) Drift(ctx context.Context, target string, since time.Time) (*DriftView, error) {
	tp, ok := e.Policy().Target(target)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	out := &DriftView{Exclusive: tp.Exclusive, Since: since, At: e.now()}
	if tp.DriftInterval > 0 {
		out.Interval, out.Spread = tp.DriftInterval.String(), tp.DriftSpread.String()
	}
	err := e.st.View(ctx, func(r store.Reader) error {
		st, err := loadDrift(r, target)
		if err != nil {
			return err
		}
		out.DriftState = *st
		t, err := getJSON[DriftTally](r, nsDrift, "repairs/"+target)
		if err != nil {
			return err
		}
		if t != nil {
			out.Tally = *t
		}
		out.Pending, out.Linked = 0, 0
		return r.ScanDocs(nsLink, target+"/", false, func(key string, val []byte) (bool, error) {
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsLink, key, err)
			}
			if ls.Linked() && ls.Conflict == nil {
				out.Linked++
				if !since.IsZero() && ls.At.Before(since) {
					out.Pending++
				}
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	if out.Tally.Repairs == nil {
		out.Tally.Repairs = map[string]int64{}
	}
	return out, nil
}
