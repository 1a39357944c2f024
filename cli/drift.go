package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
)

// tenure reconcile, what it repaired (--wait), and tenure drift status.

// reconcileWaitPoll is how often tenure reconcile --wait asks whether the
// converges have finished.
const reconcileWaitPoll = time.Second

// ReconcileWaited is what tenure reconcile --wait found: how many of the
// target's linked people converged since the reconcile began, and what
// their converges (and the exclusive cleanup) repaired, per class.
type ReconcileWaited struct {
	Linked   int              `json:"linked"`
	Pending  int              `json:"pending"`
	Repaired map[string]int64 `json:"repaired"`
	TimedOut bool             `json:"timedOut,omitempty"`
}

// ReconcileOutput is what tenure reconcile prints with -o json: the API's
// answer, with what the wait found.
type ReconcileOutput struct {
	*admin.ReconcileResult
	Waited *ReconcileWaited `json:"waited,omitempty"`
}

func reconcileCommand() *cobra.Command {
	var target string
	var del bool
	var wait time.Duration
	cmd := operatorCommand("reconcile --target NAME [--delete-orphans] [--wait DURATION]",
		"re-converge everyone on a target; clean its exclusive groups; report (or delete) accounts no person links; with --wait, what was repaired", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			if target == "" || wait < 0 {
				return op.usage()
			}
			mode := admin.OrphansReport
			if del {
				mode = admin.OrphansDelete
			}
			res, err := op.client.Reconcile(ctx, target, mode)
			if err != nil {
				return err
			}
			out := ReconcileOutput{ReconcileResult: res}
			if wait > 0 {
				if out.Waited, err = waitReconcile(ctx, op.client, res, wait); err != nil {
					return err
				}
			}
			err = op.print(out, func(w io.Writer) {
				writeReconcile(w, res)
				if out.Waited != nil {
					writeWaited(w, res.Target, out.Waited, wait)
				}
			})
			if err != nil {
				return err
			}
			if o := res.Orphans; o != nil && o.OrphanReport != nil && o.Failed > 0 {
				return fmt.Errorf("reconcile %s: %d orphan(s) could not be deleted", res.Target, o.Failed)
			}
			return nil
		})
	cmd.GroupID = groupOperator
	cmd.Flags().StringVar(&target, "target", "", "the target to reconcile (required)")
	cmd.Flags().BoolVar(&del, "delete-orphans", false, "delete the accounts under the managed OUs that Tenure does not know (default: only report them)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the scheduled converges to finish, then report what they repaired per class")
	return cmd
}

// waitReconcile polls the target's drift view until every linked person
// has converged since res.Started, or wait has passed, and returns the
// repairs counted meanwhile.
func waitReconcile(ctx context.Context, cl *admin.Client, res *admin.ReconcileResult, wait time.Duration) (*ReconcileWaited, error) {
	deadline := time.Now().Add(wait)
	for {
		v, err := cl.Drift(ctx, res.Target, res.Started)
		if err != nil {
			return nil, err
		}
		out := &ReconcileWaited{Linked: v.Linked, Pending: v.Pending, Repaired: map[string]int64{}}
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

func driftCommand() *cobra.Command {
	cmd := group("drift", "a target's drift pass and its repairs",
		operatorCommand("status TARGET", "a target's drift pass, its last report and its repairs", 1, 1,
			func(ctx context.Context, op *operator, args []string) error {
				v, err := op.client.Drift(ctx, args[0], time.Time{})
				if err != nil {
					return err
				}
				return op.print(v, func(w io.Writer) { writeDrift(w, args[0], v) })
			}),
	)
	cmd.GroupID = groupOperator
	return cmd
}
