package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
)

// The access-request commands (docs/requests.md): every one acts as a
// named person (--as: a person id, a SCIM user id or source/userName),
// checked and audited by the server like any other channel's.

func requestCommand() *cobra.Command {
	cmd := group("request", "access requests: create, list, show, approve, deny or withdraw, acting as a named person",
		requestCreate(), requestList(),
		oneCall("show ID", "one request and its audit trail", 1,
			func(ctx context.Context, cl *admin.Client, args []string) (*admin.AccessRequest, error) {
				return cl.Request(ctx, args[0])
			}, writeRequest),
		requestAction("approve", "approve a request as one of its approvers"),
		requestAction("deny", "deny a request as one of its approvers"),
		requestAction("withdraw", "withdraw a request (its requester or subject); a grant it made is revoked"),
	)
	cmd.GroupID = groupOperator
	return cmd
}

func requestCreate() *cobra.Command {
	var in admin.RequestCreate
	cmd := operatorCommand("create ITEM --for PERSON --as PERSON [--reason TEXT] [--duration D]",
		"request a catalog item for a person", 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			in.Item = args[0]
			if in.Subject == "" || in.As == "" {
				return usageError{errors.New("--for and --as are required")}
			}
			r, err := op.client.CreateRequest(ctx, in)
			if err != nil {
				return err
			}
			return op.print(r, func(w io.Writer) { writeRequest(w, r) })
		})
	cmd.Flags().StringVar(&in.Subject, "for", "", "the person the access is for")
	cmd.Flags().StringVar(&in.As, "as", "", "the person asking")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why")
	cmd.Flags().StringVar(&in.Duration, "duration", "", "how long (at most the item's max_duration; default that)")
	return cmd
}

func requestList() *cobra.Command {
	var subject, state, item string
	cmd := operatorCommand("list [--for PERSON] [--state STATE] [--item ITEM]", "list requests, oldest first", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			rs, err := op.client.Requests(ctx, subject, state, item)
			if err != nil {
				return err
			}
			return op.print(rs, func(w io.Writer) { writeRequests(w, rs) })
		})
	cmd.Flags().StringVar(&subject, "for", "", "only this person's requests")
	cmd.Flags().StringVar(&state, "state", "", "only requests in this state (pending, approved, denied, expired, withdrawn, ended, revoked, fulfilled)")
	cmd.Flags().StringVar(&item, "item", "", "only requests for this catalog item")
	return cmd
}

func requestAction(action, short string) *cobra.Command {
	var in admin.RequestAction
	cmd := operatorCommand(action+" ID --as PERSON [--reason TEXT]", short, 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			if in.As == "" {
				return usageError{errors.New("--as is required")}
			}
			r, err := op.client.RequestAction(ctx, args[0], action, in)
			if err != nil {
				return err
			}
			return op.print(r, func(w io.Writer) { writeRequest(w, r) })
		})
	cmd.Flags().StringVar(&in.As, "as", "", "the person deciding")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why")
	return cmd
}

func writeRequests(w io.Writer, rs []admin.AccessRequest) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no requests")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tITEM\tSUBJECT\tSTATE\tCREATED\tNEXT")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Item, r.Subject, r.State, ts(r.Created), ts(r.Next))
	}
	tw.Flush()
}

func writeRequest(w io.Writer, r *admin.AccessRequest) {
	fmt.Fprintf(w, "request %s: %s on %s (%s) for %s, by %s\n", r.ID, r.Item, r.Target, strings.Join(r.Entitlements, ", "), r.Subject, r.Requester)
	fmt.Fprintf(w, "state:   %s (step %d)\n", r.State, r.Step+1)
	if !r.Start.IsZero() {
		fmt.Fprintf(w, "granted: %s until %s\n", ts(r.Start), orNone(ts(r.End)))
	}
	if !r.Next.IsZero() {
		fmt.Fprintf(w, "next:    %s\n", ts(r.Next))
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tCHANNEL\tREASON\tDETAIL")
	for _, t := range r.Trail {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ts(t.At), t.Actor, t.Action, orNone(t.Channel), orNone(t.Reason), t.Detail)
	}
	tw.Flush()
}
