package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/engine"
)

// The drift side of the operator commands: what tenure reconcile repaired
// (--wait), and tenure drift status.

// reconcileWaitPoll is how often tenure reconcile --wait asks whether the
// converges have finished.
var reconcileWaitPoll = time.Second

// reconcileWaited is what tenure reconcile --wait found: how many of the
// target's linked people converged since the reconcile began, and what
// their converges (and the exclusive cleanup) repaired, per class.
type reconcileWaited struct {
	Linked   int              `json:"linked"`
	Pending  int              `json:"pending"`
	Repaired map[string]int64 `json:"repaired"`
	TimedOut bool             `json:"timedOut,omitempty"`
}

// reconcileOutput is tenure reconcile's answer: the API's, with what the
// wait found.
type reconcileOutput struct {
	*admin.ReconcileResult
	Waited *reconcileWaited `json:"waited,omitempty"`
}

// waitReconcile polls the target's drift view until every linked person
// has converged since res.Started, or wait has passed, and returns the
// repairs counted meanwhile.
func waitReconcile(ctx context.Context, c *adminCLI, res *admin.ReconcileResult, wait time.Duration) (*reconcileWaited, error) {
	deadline := time.Now().Add(wait)
	for {
		v, err := c.client.Drift(ctx, res.Target, res.Started)
		if err != nil {
			return nil, err
		}
		out := &reconcileWaited{Linked: v.Linked, Pending: v.Pending, Repaired: map[string]int64{}}
		for class, n := range v.Tally.Repairs {
			if d := n - res.Tally.Repairs[class]; d > 0 {
				out.Repaired[class] = d
			}
		}
		if v.Pending == 0 {
			return out, nil
		}
		if !time.Now().Before(deadline) {
			out.TimedOut = true
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(reconcileWaitPoll, time.Until(deadline))):
		}
	}
}

// writeWaited says what the converges a reconcile scheduled repaired.
func writeWaited(w io.Writer, target string, wt *reconcileWaited, wait time.Duration) {
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
	for _, class := range engine.DriftClasses {
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
func writeExclusive(w io.Writer, target string, groups []engine.ExclusiveGroup, failure string) {
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
			members []engine.ExclusiveMember
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

// driftStatus is tenure drift status TARGET.
func driftStatus(ctx context.Context, c *adminCLI, args []string) error {
	rest, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	v, err := c.client.Drift(ctx, rest[0], time.Time{})
	if err != nil {
		return err
	}
	return c.print(v, func(w io.Writer) { writeDrift(w, rest[0], v) })
}

func writeDrift(w io.Writer, target string, v *engine.DriftView) {
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
