package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenurehq/tenure/admin"
)

// The operator commands' text output: what a person reads. -o json is for
// machines.

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// ts formats a time as RFC 3339 in UTC, "-" when unset.
func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// accountSummary says what an account is in one line.
func accountSummary(a *admin.Account) string {
	if a == nil {
		return "unknown"
	}
	if !a.Exists {
		return "no account"
	}
	s := "exists, disabled"
	if a.Enabled {
		s = "exists, enabled"
	}
	if a.Container != "" {
		s += ", container " + a.Container
	} else {
		s += ", default container"
	}
	if len(a.Entitlements) == 0 {
		return s + "; no entitlements"
	}
	return s + "; entitlements: " + strings.Join(a.Entitlements, ", ")
}

func opsText(ops []admin.Op) string {
	if len(ops) == 0 {
		return "nothing to do"
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = op.String()
	}
	return strings.Join(parts, "; ")
}

func grantsText(gs []admin.Grant) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.Entitlement + " (" + g.Rule
		if !g.Until.IsZero() {
			parts[i] += ", until " + ts(g.Until)
		}
		parts[i] += ")"
	}
	return strings.Join(parts, "; ")
}

// transitionText is a transition with when it takes effect and what
// changed.
func transitionText(t string, effective time.Time, changed []string) string {
	var notes []string
	if !effective.IsZero() {
		notes = append(notes, "effective "+ts(effective))
	}
	if len(changed) > 0 {
		notes = append(notes, "changed: "+strings.Join(changed, ", "))
	}
	if len(notes) == 0 {
		return t
	}
	return t + " (" + strings.Join(notes, "; ") + ")"
}

func writePlan(w io.Writer, p *admin.Plan) {
	if r := p.Refused; r != nil {
		fmt.Fprintf(w, "refused: the SCIM server would answer %d %s: %s\nnothing would be stored or done\n", r.Status, r.ScimType, r.Detail)
		return
	}
	change := "stored identity, no write"
	if p.Change.Transition != "" {
		change = "transition: " + transitionText(p.Change.Transition, p.Change.Effective, p.Change.Changed)
	}
	fmt.Fprintf(w, "person %s  %s\n", p.Person, change)
	fmt.Fprintf(w, "state at %s: %s\n", ts(p.At), p.State)
	for _, tp := range p.Targets {
		fmt.Fprintf(w, "\ntarget %s\n", tp.Target)
		tw := newTable(w)
		if d := tp.Desired; d != nil {
			fmt.Fprintf(tw, "  desired:\t%s (%s)\n", accountSummary(&d.Account), d.Reason)
			if len(d.Grants) > 0 {
				fmt.Fprintf(tw, "  grants:\t%s\n", grantsText(d.Grants))
			}
		}
		if tp.Conflict != nil {
			fmt.Fprintf(tw, "  CONFLICT:\t%s\n", conflictText(tp.Conflict))
			fmt.Fprintf(tw, "  now:\tnothing: the converge would be parked (otherwise: %s)\n", opsText(tp.Ops))
		} else {
			fmt.Fprintf(tw, "  now:\t%s\n", opsText(tp.Ops))
		}
		if tp.Lookup != "" {
			fmt.Fprintf(tw, "  note:\tcould not read the target to tell create from link: %s\n", tp.Lookup)
		}
		for _, st := range tp.Later {
			fmt.Fprintf(tw, "  %s\t%s: %s\n", ts(st.At), st.Reason, opsText(st.Ops))
		}
		tw.Flush()
	}
	if len(p.Targets) == 0 {
		fmt.Fprintln(w, "\nno targets in the policy")
	}
}

func writeIdentity(w io.Writer, v *admin.Identity) {
	rec := v.Record
	tw := newTable(w)
	fmt.Fprintf(tw, "person\t%s\n", rec.ID)
	fmt.Fprintf(tw, "user\t%s (source %s)\n", orNone(rec.UserID), orNone(rec.Source))
	if name, ok := rec.Identity.User["userName"].(string); ok {
		fmt.Fprintf(tw, "userName\t%s\n", name)
	}
	fmt.Fprintf(tw, "state\t%s\n", v.State)
	for _, f := range []struct {
		name string
		t    time.Time
	}{
		{"hired", rec.Hired}, {"start", rec.Start}, {"end", rec.End},
		{"rehired", rec.Rehired}, {"moved", rec.Moved}, {"purged", rec.Purged},
	} {
		if !f.t.IsZero() {
			fmt.Fprintf(tw, "%s\t%s\n", f.name, ts(f.t))
		}
	}
	fmt.Fprintf(tw, "generation\t%d (changed %s)\n", rec.Generation, ts(rec.Changed))
	tw.Flush()
	if len(rec.History) > 0 {
		fmt.Fprintln(w, "\nhistory (oldest first)")
		tw = newTable(w)
		for _, ev := range rec.History {
			fmt.Fprintf(tw, "  %s\t%s\n", ts(ev.At), transitionText(ev.Transition, ev.Effective, ev.Changed))
		}
		tw.Flush()
	}
	for _, name := range slices.Sorted(maps.Keys(v.Targets)) {
		t := v.Targets[name]
		fmt.Fprintf(w, "\ntarget %s\n", name)
		tw = newTable(w)
		if l := t.Link; l != nil {
			fmt.Fprintf(tw, "  account\tid %s, ref %s\n", orNone(l.ID), orNone(l.Ref))
			if l.Name != "" {
				fmt.Fprintf(tw, "  name\t%s (for %s, taken by another account)\n", l.Name, l.Wanted)
			}
			for _, attr := range slices.Sorted(maps.Keys(l.Unresolved)) {
				fmt.Fprintf(tw, "  waiting\tfor %s %q: no person has that id yet (converged without it)\n", attr, l.Unresolved[attr])
			}
			if c := l.Conflict; c != nil {
				fmt.Fprintf(tw, "  CONFLICT\t%s since %s\n", conflictText(&c.Conflict), ts(c.Since))
			}
			fmt.Fprintf(tw, "  applied\t%s\n", accountSummary(l.Applied))
			fmt.Fprintf(tw, "  converged\tgeneration %d at %s: %s\n", l.Generation, ts(l.At), orNone(l.Result))
			fmt.Fprintf(tw, "  next\t%s\n", ts(l.Next))
		} else {
			fmt.Fprintf(tw, "  account\tnone (never converged)\n")
		}
		job := "none"
		if t.Job != nil {
			job = jobText(t.Job)
		}
		fmt.Fprintf(tw, "  job\t%s\n", job)
		tw.Flush()
	}
	if len(v.Contests) > 0 {
		fmt.Fprintln(w, "\ncontested: other people are parked on a conflict over this person's accounts")
		tw = newTable(w)
		for _, c := range v.Contests {
			fmt.Fprintf(tw, "  %s\tperson %s\n", c.Target, c.Person)
		}
		tw.Flush()
	}
	if len(v.Events) > 0 {
		fmt.Fprintln(w, "\nrecent events (newest first)")
		tw = newTable(w)
		for _, ev := range v.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", ts(ev.At), ev.Kind, eventText(ev))
		}
		tw.Flush()
	}
}

// conflictText says what a conflict is in one line.
func conflictText(c *admin.Conflict) string {
	s := c.Reason
	switch c.Reason {
	case admin.ConflictOwned:
		s = "the account is another person's (" + c.Owner + ")"
	case admin.ConflictCollision:
		s = "naming collision"
	case admin.ConflictAmbiguous:
		s = "several accounts match"
	}
	if c.Ref != "" || c.ID != "" {
		s += ": " + strings.TrimSpace(c.Ref+" "+c.ID)
	}
	if c.Detail != "" {
		s += " — " + c.Detail
	}
	return s
}

func writeConflicts(w io.Writer, cs []admin.ParkedConflict) {
	if len(cs) == 0 {
		fmt.Fprintln(w, "no conflicts")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TARGET\tPERSON\tSINCE\tCONFLICT")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Target, c.Person, ts(c.Conflict.Since), conflictText(&c.Conflict.Conflict))
	}
	tw.Flush()
	fmt.Fprintln(w, "resolve with `tenure identity link|unlink`, or by changing the data; see docs/operations.md")
}

func eventText(ev admin.Event) string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	add(ev.Target)
	if ev.Transition != "" {
		add(transitionText(ev.Transition, ev.Effective, ev.Changed))
	}
	if len(ev.Ops) > 0 {
		add(opsText(ev.Ops))
	}
	if ev.Error != "" {
		if ev.Retry {
			add("error (retrying): " + ev.Error)
		} else {
			add("error (dead letter): " + ev.Error)
		}
	}
	add(ev.Detail)
	if ev.Actor != "" {
		add("by " + ev.Actor)
	}
	return strings.Join(parts, "  ")
}

// jobText says where a key is in one line.
func jobText(j *admin.Job) string {
	var s string
	switch j.State {
	case admin.JobScheduled:
		s = "scheduled, due " + ts(j.Due)
	case admin.JobInFlight:
		s = "in flight, lease ends " + ts(j.Due)
		if !j.Pending.IsZero() {
			s += ", due again " + ts(j.Pending)
		}
	case admin.JobDead:
		s = "dead since " + ts(j.Due)
	default:
		s = j.State + " " + ts(j.Due)
	}
	if j.Attempts > 0 {
		s += fmt.Sprintf(", %d failed attempt(s)", j.Attempts)
	}
	if j.LastError != "" {
		s += ": " + j.LastError
	}
	return s
}

func writeJobs(w io.Writer, l *admin.JobList) {
	if len(l.Jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "KEY\tSTATE\tDUE\tATTEMPTS\tLAST ERROR")
	for _, j := range l.Jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", j.Key, j.State, ts(j.Due), j.Attempts, orNone(j.LastError))
	}
	tw.Flush()
	if len(l.Jobs) == l.Limit {
		fmt.Fprintf(w, "(there may be more: --offset %d)\n", l.Offset+l.Limit)
	}
}

func writeCounts(w io.Writer, c *admin.Counts) {
	tw := newTable(w)
	fmt.Fprintf(tw, "scheduled\t%d", c.Scheduled)
	if !c.OldestDue.IsZero() {
		fmt.Fprintf(tw, "\t(oldest due %s)", ts(c.OldestDue))
	}
	fmt.Fprintf(tw, "\ninflight\t%d\ndead\t%d\n", c.InFlight, c.Dead)
	tw.Flush()
}

func writeJob(w io.Writer, j *admin.Job) {
	tw := newTable(w)
	fmt.Fprintf(tw, "key\t%s\nstate\t%s\ndue\t%s\n", j.Key, j.State, ts(j.Due))
	if !j.Pending.IsZero() {
		fmt.Fprintf(tw, "pending\t%s\n", ts(j.Pending))
	}
	fmt.Fprintf(tw, "attempts\t%d\nfirst failure\t%s\nlast error\t%s\n", j.Attempts, ts(j.FirstFail), orNone(j.LastError))
	tw.Flush()
}

func writeJobAction(w io.Writer, a *admin.JobAction) {
	done := map[string]string{"replay": "replayed", "cancel": "cancelled", "run": "scheduled now"}[a.Action]
	now := "no longer queued"
	if a.Job != nil {
		now = jobText(a.Job)
	}
	fmt.Fprintf(w, "%s %s (%s)\n", orNone(done), a.Key, now)
}

func writeGuards(w io.Writer, all []admin.Guard) {
	if len(all) == 0 {
		fmt.Fprintln(w, "no targets in the policy")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TARGET\tTRIPPED\tSINCE\tHELD\tCOUNTED\tAPPROVED")
	for _, g := range all {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%d\t%d\n", g.Target, g.Tripped, ts(g.TrippedAt), len(g.Held), len(g.Counted), len(g.Approved))
	}
	tw.Flush()
}

func writeGuard(w io.Writer, g *admin.Guard) {
	tw := newTable(w)
	state := "not tripped"
	if g.Tripped {
		state = "TRIPPED at " + ts(g.TrippedAt) + ": destructive operations are held until `tenure guard approve|discard " + g.Target + "`"
	}
	fmt.Fprintf(tw, "target\t%s\nguard\t%s\n", g.Target, state)
	fmt.Fprintf(tw, "counted\t%d operation(s) taking access away in the window\n", len(g.Counted))
	if len(g.Approved) > 0 {
		fmt.Fprintf(tw, "approved\t%d person(s) whose approved change may still run destructive steps\n", len(g.Approved))
	}
	fmt.Fprintf(tw, "held\t%d\n", len(g.Held))
	tw.Flush()
	for _, p := range g.Held {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func writeReconcile(w io.Writer, res *admin.ReconcileResult) {
	fmt.Fprintf(w, "reconcile %s: %d converge(s) scheduled\n", res.Target, res.Scheduled)
	writeExclusive(w, res.Target, res.Exclusive, res.ExclusiveError)
	o := res.Orphans
	switch {
	case o == nil || o.Status == admin.OrphansSkipped:
		fmt.Fprintf(w, "orphans on %s: not checked\n", res.Target)
		return
	case o.Status == admin.OrphansNotSupported:
		fmt.Fprintf(w, "orphans on %s: not supported (the target cannot list its accounts)\n", res.Target)
		return
	case o.OrphanReport == nil:
		fmt.Fprintf(w, "orphans on %s: %s\n", res.Target, o.Status)
		return
	case len(o.Orphans) == 0:
		fmt.Fprintf(w, "orphans on %s: none among %d account(s)\n", res.Target, o.Listed)
		return
	}
	deleting := o.Status == admin.OrphansDeleted
	if deleting {
		fmt.Fprintf(w, "orphans on %s: %d of %d account(s) not known to Tenure: %d deleted, %d failed\n",
			res.Target, len(o.Orphans), o.Listed, o.Removed, o.Failed)
	} else {
		fmt.Fprintf(w, "orphans on %s: %d of %d account(s) not known to Tenure (not deleted; --delete-orphans deletes them)\n",
			res.Target, len(o.Orphans), o.Listed)
	}
	tw := newTable(w)
	for _, orphan := range o.Orphans {
		line := fmt.Sprintf("%s\tanchor %s", orNone(orphan.Ref), orNone(orphan.ID))
		switch {
		case !deleting:
		case orphan.Removed:
			line = "deleted\t" + line
		default:
			line = "FAILED\t" + line + ": " + orphan.Error
		}
		fmt.Fprintf(tw, "  %s\n", line)
	}
	tw.Flush()
}

// writeWaited says what the converges a reconcile scheduled repaired.
func writeWaited(w io.Writer, target string, wt *ReconcileWaited, wait time.Duration) {
	if wt.TimedOut {
		fmt.Fprintf(w, "converges on %s: %d of %d account(s) converged; %d not after %s (held by the guard, failing or still queued: tenure jobs list)\n",
			target, wt.Linked-wt.Pending, wt.Linked, wt.Pending, wait)
	} else {
		fmt.Fprintf(w, "converges on %s: all %d account(s) converged\n", target, wt.Linked)
	}
	fmt.Fprintf(w, "repaired on %s: %s\n", target, repairs(wt.Repaired))
}

// repairs lists counts per drift class, in class order: "attribute 2,
// status 1", or "nothing".
func repairs(m map[string]int64) string {
	var parts []string
	for _, class := range admin.DriftClasses() {
		if n := m[class]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", class, n))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// writeExclusive reports an exclusive-group cleanup, one line per group
// and one per member removed, held or not removed.
func writeExclusive(w io.Writer, target string, groups []admin.ExclusiveGroup, failure string) {
	if failure != "" {
		fmt.Fprintf(w, "exclusive groups on %s: not cleaned: %s\n", target, failure)
	}
	for _, g := range groups {
		if g.Error != "" {
			fmt.Fprintf(w, "exclusive group %s on %s: not listed: %s\n", g.Group, target, g.Error)
			continue
		}
		fmt.Fprintf(w, "exclusive group %s on %s: %d member(s); %d removed, %d held by the guard, %d failed\n",
			g.Group, target, g.Members, len(g.Removed), len(g.Held), len(g.Failed))
		tw := newTable(w)
		for _, l := range []struct {
			what    string
			members []admin.ExclusiveMember
		}{{"removed", g.Removed}, {"held", g.Held}, {"FAILED", g.Failed}} {
			for _, m := range l.members {
				line := fmt.Sprintf("  %s\t%s", l.what, m.Value)
				if m.Owner != "" {
					line += "\t(account of " + m.Owner + ")"
				}
				if m.Error != "" {
					line += ": " + m.Error
				}
				fmt.Fprintln(tw, line)
			}
		}
		tw.Flush()
	}
}

func writeDrift(w io.Writer, target string, v *admin.Drift) {
	tw := newTable(w)
	pass := "off (drift.interval not set)"
	if v.Interval != "" {
		pass = fmt.Sprintf("every %s, converges spread over %s", v.Interval, v.Spread)
	}
	fmt.Fprintf(tw, "target\t%s\n", target)
	fmt.Fprintf(tw, "drift pass\t%s\n", pass)
	fmt.Fprintf(tw, "exclusive groups\t%s\n", orNone(strings.Join(v.Exclusive, ", ")))
	fmt.Fprintf(tw, "last pass\t%s\n", ts(v.Last))
	fmt.Fprintf(tw, "next pass\t%s\n", ts(v.Next))
	if !v.Requested.IsZero() {
		fmt.Fprintf(tw, "cleanup requested\t%s\n", ts(v.Requested))
	}
	fmt.Fprintf(tw, "repaired since %s\t%s\n", ts(v.Tally.Since), repairs(v.Tally.Repairs))
	tw.Flush()
	r := v.Report
	if r == nil {
		return
	}
	fmt.Fprintf(w, "last report (%s): %d converge(s) scheduled until %s", ts(r.Started), r.Scheduled, ts(r.Until))
	if r.Inventory != "" {
		fmt.Fprintf(w, "; accounts not listed: %s", r.Inventory)
	} else {
		fmt.Fprintf(w, "; %d account(s) listed, %d orphan(s)", r.Listed, r.Orphans)
	}
	fmt.Fprintln(w)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	writeExclusive(w, target, r.Exclusive, "")
}
