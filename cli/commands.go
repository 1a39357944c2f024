package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/store/boltdb"
)

// The operator commands but reconcile and drift (drift.go).

func jobsCommand() *cobra.Command {
	cmd := group("jobs", "the job queue: list, counts, show, replay, cancel or run a KEY (target/person)",
		jobsList(),
		oneCall("counts", "how many keys are scheduled, in flight and dead", 0,
			func(ctx context.Context, cl *admin.Client, _ []string) (*admin.Counts, error) { return cl.Counts(ctx) }, writeCounts),
		oneCall("show KEY", "one key's queue entry", 1,
			func(ctx context.Context, cl *admin.Client, args []string) (*admin.Job, error) {
				return cl.Job(ctx, args[0])
			}, writeJob),
		jobAction("replay", "schedule a dead letter again, now"),
		jobAction("cancel", "remove a scheduled or dead key"),
		jobAction("run", "converge a key now"),
		operatorCommand("conflicts", "the people parked on an ownership conflict", 0, 0, jobsConflicts),
	)
	cmd.GroupID = groupOperator
	return cmd
}

func jobsList() *cobra.Command {
	var state string
	var offset, limit int
	cmd := operatorCommand("list [--state scheduled|inflight|dead] [--offset N] [--limit N]", "list the queue's keys", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			if limit < 1 || offset < 0 {
				return usageError{errors.New("--limit must be positive and --offset not negative")}
			}
			l, err := op.client.Jobs(ctx, state, offset, limit)
			if err != nil {
				return err
			}
			return op.print(l, func(w io.Writer) { writeJobs(w, l) })
		})
	cmd.Flags().StringVar(&state, "state", "", "list only keys in this state: scheduled, inflight or dead")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many keys")
	cmd.Flags().IntVar(&limit, "limit", admin.DefaultLimit, fmt.Sprintf("at most this many keys (max %d)", admin.MaxLimit))
	return cmd
}

func jobAction(action, short string) *cobra.Command {
	return oneCall(action+" KEY", short, 1, func(ctx context.Context, cl *admin.Client, args []string) (*admin.JobAction, error) {
		if _, err := admin.JobPath(args[0]); err != nil {
			return nil, usageError{err}
		}
		return cl.JobAction(ctx, args[0], action)
	}, writeJobAction)
}

// jobsConflicts lists the people parked on an ownership conflict.
func jobsConflicts(ctx context.Context, op *operator, _ []string) error {
	cs, err := op.client.Conflicts(ctx)
	if err != nil {
		return err
	}
	return op.print(cs, func(w io.Writer) { writeConflicts(w, cs) })
}

func identityCommand() *cobra.Command {
	cmd := group("identity", "a person: show everything Tenure knows, link or unlink an account",
		oneCall("show ID", "everything Tenure knows about a person (person id or SCIM user id)", 1,
			func(ctx context.Context, cl *admin.Client, args []string) (*admin.Identity, error) {
				return cl.Identity(ctx, args[0])
			}, writeIdentity),
		identityLink(),
		identityUnlink(),
	)
	cmd.GroupID = groupOperator
	return cmd
}

// identityLink links a person to an account an operator names (the id a
// conflict shows), resolving the conflict.
func identityLink() *cobra.Command {
	var target, account, ref string
	cmd := operatorCommand("link ID --target NAME --account ACCOUNT-ID [--ref DN]", "link a person to an account (resolving a conflict)", 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			if target == "" || account == "" {
				return op.usage()
			}
			ls, err := op.client.Link(ctx, args[0], target, account, ref)
			if err != nil {
				return err
			}
			return op.print(ls, func(w io.Writer) {
				fmt.Fprintf(w, "%s on %s linked to account %s %s; converging now\n", args[0], target, ls.ID, ls.Ref)
			})
		})
	cmd.Flags().StringVar(&target, "target", "", "the target (required)")
	cmd.Flags().StringVar(&account, "account", "", "the account's id on the target: entryUUID, objectGUID or the app's id (required)")
	cmd.Flags().StringVar(&ref, "ref", "", "the account's DN or reference, if known")
	return cmd
}

// identityUnlink drops a person's link on a target.
func identityUnlink() *cobra.Command {
	var target string
	cmd := operatorCommand("unlink ID --target NAME", "drop a person's link on a target (nothing is written to the account)", 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			if target == "" {
				return op.usage()
			}
			ls, err := op.client.Unlink(ctx, args[0], target)
			if err != nil {
				return err
			}
			return op.print(ls, func(w io.Writer) {
				fmt.Fprintf(w, "%s on %s unlinked; nothing was written to the account. `tenure jobs run %s/%s` converges them again\n", args[0], target, target, args[0])
			})
		})
	cmd.Flags().StringVar(&target, "target", "", "the target (required)")
	return cmd
}

func guardCommand() *cobra.Command {
	cmd := group("guard", "a target's guard on destructive operations: status, approve or discard",
		operatorCommand("status [TARGET]", "every target's guard, or one's in full", 0, 1, guardStatus),
		guardApprove(),
		oneCall("discard TARGET", "drop the held destructive operations of a tripped guard", 1,
			func(ctx context.Context, cl *admin.Client, args []string) (*admin.Guard, error) {
				return cl.ResolveGuard(ctx, args[0], "discard")
			}, func(w io.Writer, gs *admin.Guard) {
				fmt.Fprintf(w, "guard %s discarded: the held destructive operations were dropped\n", gs.Target)
			}),
	)
	cmd.GroupID = groupOperator
	return cmd
}

func guardStatus(ctx context.Context, op *operator, args []string) error {
	if len(args) == 1 {
		gs, err := op.client.Guard(ctx, args[0])
		if err != nil {
			return err
		}
		return op.print(gs, func(w io.Writer) { writeGuard(w, gs) })
	}
	all, err := op.client.Guards(ctx)
	if err != nil {
		return err
	}
	return op.print(all, func(w io.Writer) { writeGuards(w, all) })
}

// guardApprove releases a tripped guard: the held people's whole change
// (a leaver's later delete too), or with --now-only only what is held.
func guardApprove() *cobra.Command {
	var nowOnly bool
	cmd := operatorCommand("approve TARGET [--now-only]", "release a tripped guard's held destructive operations", 1, 1,
		func(ctx context.Context, op *operator, args []string) error {
			var gs *admin.Guard
			var err error
			if nowOnly {
				gs, err = op.client.ApproveGuardNow(ctx, args[0])
			} else {
				gs, err = op.client.ResolveGuard(ctx, args[0], "approve")
			}
			if err != nil {
				return err
			}
			return op.print(gs, func(w io.Writer) {
				scope := "with the rest of this change (a later delete too)"
				if nowOnly {
					scope = "for the held operations only"
				}
				fmt.Fprintf(w, "guard %s approved: %d held person(s) released, %s\n", gs.Target, gs.Released, scope)
			})
		})
	cmd.Flags().BoolVar(&nowOnly, "now-only", false, "approve only the held operations: later destructive steps of the same changes (a leaver's delete) count again")
	return cmd
}

func planCommand() *cobra.Command {
	var userFile, id, at, source string
	cmd := operatorCommand("plan (--user FILE.json | --id ID) [--at TIME] [--source NAME]", "dry run: what a write would do, now and later", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			if (userFile == "") == (id == "") {
				return op.usage()
			}
			req := admin.PlanRequest{ID: id, Source: source}
			if at != "" {
				t, err := parseWhen(at)
				if err != nil {
					return usageError{err}
				}
				req.At = t
			}
			if userFile != "" {
				user, err := readUser(userFile, op.stdin)
				if err != nil {
					return err
				}
				req.User = user
			}
			p, err := op.client.Plan(ctx, req)
			if err != nil {
				return err
			}
			return op.print(p, func(w io.Writer) { writePlan(w, p) })
		})
	cmd.GroupID = groupOperator
	cmd.Flags().StringVar(&userFile, "user", "", "a SCIM user JSON file (- for stdin): what would writing it do?")
	cmd.Flags().StringVar(&id, "id", "", "a stored person (person id or SCIM user id): what is due for them?")
	cmd.Flags().StringVar(&at, "at", "", "plan for this time: RFC 3339 or a date (UTC midnight); default now")
	cmd.Flags().StringVar(&source, "source", "", "the source a new user would belong to")
	return cmd
}

// parseWhen reads --at: RFC 3339, or a date meaning its midnight UTC.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)", s)
}

// readUser reads a SCIM user document from path, or stdin for "-".
func readUser(path string, stdin io.Reader) (map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--user: %w", err)
	}
	var user map[string]any
	if err := json.Unmarshal(b, &user); err != nil {
		return nil, fmt.Errorf("--user %s: not a JSON object: %w", path, err)
	}
	return user, nil
}

func policyCommand() *cobra.Command {
	cmd := group("policy", "the server's policy: reload it",
		oneCall("reload", "re-read the server's config file's policy (the old one stays on any error)", 0,
			func(ctx context.Context, cl *admin.Client, _ []string) (*admin.ReloadResult, error) {
				return cl.Reload(ctx)
			},
			func(w io.Writer, res *admin.ReloadResult) {
				fmt.Fprintf(w, "policy reloaded (targets: %s)\n", orNone(strings.Join(res.Targets, ", ")))
			}),
	)
	cmd.GroupID = groupOperator
	return cmd
}

// BackupResult is what tenure backup reports (-o json).
type BackupResult struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// backupCommand copies the server's store to FILE: written beside it,
// synced, verified page by page, then renamed into place, so FILE is never
// a partial copy.
func backupCommand() *cobra.Command {
	var out string
	cmd := operatorCommand("backup --out FILE", "a verified hot copy of the embedded store", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			if out == "" {
				return op.usage()
			}
			n, err := backup(ctx, *op.client, out)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			res := BackupResult{File: out, Bytes: n}
			return op.print(res, func(w io.Writer) { fmt.Fprintf(w, "backup: %s (%d bytes, verified)\n", res.File, res.Bytes) })
		})
	cmd.GroupID = groupOperator
	cmd.Flags().StringVar(&out, "out", "", "the file to write (required); replaced only by a verified copy")
	return cmd
}

// backup streams the store into a file beside out and renames it to out
// once it is synced and verified.
func backup(ctx context.Context, client admin.Client, out string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".partial-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	// A large store takes longer than the commands' request timeout; ctx
	// (Ctrl-C) bounds the copy instead.
	client.HTTP = &http.Client{}
	n, err := client.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = boltdb.Verify(tmp.Name())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	return n, err
}
