package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
)

// The mover-review commands (docs/requests.md): a reviewer keeps or
// revokes each requested grant a mover held from the old position, acting
// as a named person (--as), checked and audited by the server.

func reviewCommand() *cobra.Command {
	cmd := group("review", "mover reviews: list, show, and keep or revoke an item, acting as a named person",
		reviewList(),
		oneCall("show ID", "one review, its items and its audit trail", 1,
			func(ctx context.Context, cl *admin.Client, args []string) (*admin.Review, error) {
				return cl.Review(ctx, args[0])
			}, writeReview),
		reviewDecide(true), reviewDecide(false),
	)
	cmd.GroupID = groupOperator
	return cmd
}

func reviewList() *cobra.Command {
	open := false
	cmd := operatorCommand("list [--open]", "list reviews, oldest first", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			rvs, err := op.client.Reviews(ctx, open)
			if err != nil {
				return err
			}
			return op.print(rvs, func(w io.Writer) { writeReviews(w, rvs) })
		})
	cmd.Flags().BoolVar(&open, "open", false, "only reviews not closed")
	return cmd
}

func reviewDecide(keep bool) *cobra.Command {
	var in admin.ReviewDecide
	var until string
	short := "revoke an item of a review (its grant ends now)"
	use := "revoke ID --item REQUEST --as PERSON [--reason TEXT]"
	if keep {
		short = "keep an item of a review, optionally with a new end"
		use = "keep ID --item REQUEST --as PERSON [--until TIME] [--reason TEXT]"
	}
	cmd := operatorCommand(use, short, 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			if in.As == "" || in.Request == "" {
				return usageError{errors.New("--item and --as are required")}
			}
			in.Keep = keep
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return usageError{fmt.Errorf("--until: want an RFC 3339 time (2026-12-31T00:00:00Z): %w", err)}
				}
				in.NewEnd = t
			}
			rv, err := op.client.DecideReview(ctx, args[0], in)
			if err != nil {
				return err
			}
			return op.print(rv, func(w io.Writer) { writeReview(w, rv) })
		})
	cmd.Flags().StringVar(&in.Request, "item", "", "the item: the request that granted it")
	cmd.Flags().StringVar(&in.As, "as", "", "the person deciding")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why")
	if keep {
		cmd.Flags().StringVar(&until, "until", "", "a new end for the grant (RFC 3339)")
	}
	return cmd
}

func writeReviews(w io.Writer, rvs []admin.Review) {
	if len(rvs) == 0 {
		fmt.Fprintln(w, "no reviews")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tSUBJECT\tMOVED\tITEMS\tUNDECIDED\tEXPIRES\tCLOSED")
	for _, rv := range rvs {
		undecided := 0
		for _, it := range rv.Items {
			if it.Decision == "" {
				undecided++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", rv.ID, rv.Subject, ts(rv.Moved), len(rv.Items), undecided, ts(rv.Expires), orNone(ts(rv.Closed)))
	}
	tw.Flush()
}

func writeReview(w io.Writer, rv *admin.Review) {
	fmt.Fprintf(w, "review %s of %s, moved %s; reviewers: %s; undecided at %s: %s\n", rv.ID, rv.Subject, ts(rv.Moved), rv.Reviewers, ts(rv.Expires), rv.Default)
	if !rv.Closed.IsZero() {
		fmt.Fprintf(w, "closed:  %s\n", ts(rv.Closed))
	}
	if rv.SupersededBy != "" {
		fmt.Fprintf(w, "superseded by review %s\n", rv.SupersededBy)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ITEM\tREQUEST\tTARGET\tENTITLEMENTS\tUNTIL\tDECISION\tBY")
	for _, it := range rv.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Item, it.Request, it.Target, strings.Join(it.Entitlements, ", "),
			orNone(ts(it.Until)), orNone(it.Decision), orNone(it.By))
	}
	tw.Flush()
	tw = newTable(w)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tCHANNEL\tREASON\tDETAIL")
	for _, t := range rv.Trail {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ts(t.At), t.Actor, t.Action, orNone(t.Channel), orNone(t.Reason), t.Detail)
	}
	tw.Flush()
}
