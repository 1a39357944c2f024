package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/store/boltdb"
)

// The operator commands call the admin API of a running server.
//
//	tenure jobs list [--state STATE] [--offset N] [--limit N]
//	tenure jobs counts | show KEY | replay KEY | cancel KEY | run KEY
//	tenure identity show ID | link ID --target T --account ANCHOR [--ref DN] | unlink ID --target T
//	tenure jobs conflicts
//	tenure guard status [TARGET] | approve TARGET | discard TARGET
//	tenure reconcile --target NAME [--delete-orphans] [--wait DURATION]
//	tenure drift status TARGET
//	tenure plan (--user FILE | --id ID) [--at TIME] [--source NAME]
//	tenure policy reload
//	tenure backup --out FILE
//
// Every one takes --server, --token-file, --actor and -o text|json.

// defaultServer is the admin API's address when neither --server nor
// $TENURE_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8080"

// serverURL is the default of --server: $TENURE_SERVER, or defaultServer.
func serverURL() string {
	if s := os.Getenv("TENURE_SERVER"); s != "" {
		return s
	}
	return defaultServer
}

// cmdFunc runs one operator command with its arguments after the name.
type cmdFunc func(ctx context.Context, c *adminCLI, args []string) error

// adminCommands maps "command subcommand" to its synopsis and function.
var adminCommands = map[string]struct {
	synopsis string
	run      cmdFunc
}{
	"jobs list":       {"[--state scheduled|inflight|dead] [--offset N] [--limit N]", jobsList},
	"jobs counts":     {"", jobsCounts},
	"jobs show":       {"KEY", jobsShow},
	"jobs replay":     {"KEY", jobAction("replay")},
	"jobs cancel":     {"KEY", jobAction("cancel")},
	"jobs run":        {"KEY", jobAction("run")},
	"identity show":   {"ID", identityShow},
	"identity link":   {"ID --target NAME --account ACCOUNT-ID [--ref DN]", identityLink},
	"identity unlink": {"ID --target NAME", identityUnlink},
	"jobs conflicts":  {"", jobsConflicts},
	"guard status":    {"[TARGET]", guardStatus},
	"guard approve":   {"TARGET [--now-only]", guardApprove},
	"guard discard":   {"TARGET", guardDiscard},
	"reconcile":       {"--target NAME [--delete-orphans] [--wait DURATION]", reconcileCmd},
	"drift status":    {"TARGET", driftStatus},
	"plan":            {"(--user FILE.json | --id ID) [--at TIME] [--source NAME]", planCmd},
	"policy reload":   {"", policyReload},
	"backup":          {"--out FILE", backupCmd},
}

// adminGroups are the commands that take a subcommand.
var adminGroups = map[string]bool{"jobs": true, "identity": true, "guard": true, "policy": true, "drift": true}

// adminCommand runs one operator command; args[0] is the command.
func adminCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, rest := args[0], args[1:]
	if adminGroups[name] {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usageError{fmt.Errorf("usage: tenure %s <%s>", name, strings.Join(subcommands(name), "|"))}
		}
		name, rest = name+" "+rest[0], rest[1:]
	}
	cmd, ok := adminCommands[name]
	if !ok {
		return usageError{fmt.Errorf("unknown command %q", "tenure "+name)}
	}
	c := newAdminCLI(name, cmd.synopsis, stdout, stderr)
	return cmd.run(ctx, c, rest)
}

func subcommands(group string) []string {
	var out []string
	for name := range adminCommands {
		if g, sub, ok := strings.Cut(name, " "); ok && g == group {
			out = append(out, sub)
		}
	}
	slices.Sort(out)
	return out
}

// adminCLI is one operator command being run: its flags (the shared ones
// and its own), its output and, once parsed, its client.
type adminCLI struct {
	name, synopsis string
	fs             *flag.FlagSet
	server         *string
	tokenFile      *string
	actor          *string
	output         *string
	stdout         io.Writer
	client         *admin.Client
}

func newAdminCLI(name, synopsis string, stdout, stderr io.Writer) *adminCLI {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &adminCLI{
		name: name, synopsis: synopsis, fs: fs, stdout: stdout,
		server:    fs.String("server", serverURL(), "the server's root URL ($TENURE_SERVER)"),
		tokenFile: fs.String("token-file", "", "file holding the admin token (default: $TENURE_ADMIN_TOKEN)"),
		actor:     fs.String("actor", os.Getenv("TENURE_ACTOR"), "who is acting, recorded in the audit log ($TENURE_ACTOR; default admin)"),
		output:    fs.String("o", "text", "output format: text or json"),
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tenure %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return c
}

// parse parses flags anywhere among the arguments, checks the number of
// positional arguments (min..max) and sets up the client.
func (c *adminCLI) parse(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, err
		} else if err != nil {
			return nil, usageError{err}
		}
		rest := c.fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) < min || len(pos) > max {
		return nil, c.usage()
	}
	if *c.output != "text" && *c.output != "json" {
		return nil, usageError{fmt.Errorf("-o must be text or json, got %q", *c.output)}
	}
	token := os.Getenv("TENURE_ADMIN_TOKEN")
	if *c.tokenFile != "" {
		b, err := os.ReadFile(*c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimRight(string(b), "\r\n")
	}
	if token == "" {
		return nil, usageError{errors.New("no admin token: set TENURE_ADMIN_TOKEN or --token-file")}
	}
	c.client = &admin.Client{Server: *c.server, Token: token, Actor: *c.actor, HTTP: &http.Client{Timeout: time.Minute}}
	return pos, nil
}

func (c *adminCLI) usage() error {
	return usageError{fmt.Errorf("usage: tenure %s %s", c.name, c.synopsis)}
}

// print writes v as indented JSON with -o json, else as text.
func (c *adminCLI) print(v any, text func(w io.Writer)) error {
	if *c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(c.stdout)
	return nil
}

func jobsList(ctx context.Context, c *adminCLI, args []string) error {
	state := c.fs.String("state", "", "list only keys in this state: scheduled, inflight or dead")
	offset := c.fs.Int("offset", 0, "skip this many keys")
	limit := c.fs.Int("limit", admin.DefaultLimit, fmt.Sprintf("at most this many keys (max %d)", admin.MaxLimit))
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *limit < 1 || *offset < 0 {
		return usageError{errors.New("--limit must be positive and --offset not negative")}
	}
	l, err := c.client.Jobs(ctx, *state, *offset, *limit)
	if err != nil {
		return err
	}
	return c.print(l, func(w io.Writer) { writeJobs(w, l) })
}

// oneCall is a command without flags of its own that takes n arguments,
// makes one call and prints the answer.
func oneCall[T any](n int, call func(ctx context.Context, cl *admin.Client, args []string) (T, error), text func(io.Writer, T)) cmdFunc {
	return func(ctx context.Context, c *adminCLI, args []string) error {
		pos, err := c.parse(args, n, n)
		if err != nil {
			return err
		}
		v, err := call(ctx, c.client, pos)
		if err != nil {
			return err
		}
		return c.print(v, func(w io.Writer) { text(w, v) })
	}
}

var (
	jobsCounts = oneCall(0, func(ctx context.Context, cl *admin.Client, _ []string) (*admin.Counts, error) {
		return cl.Counts(ctx)
	}, writeCounts)
	jobsShow = oneCall(1, func(ctx context.Context, cl *admin.Client, args []string) (*admin.Job, error) {
		return cl.Job(ctx, args[0])
	}, writeJob)
	identityShow = oneCall(1, func(ctx context.Context, cl *admin.Client, args []string) (*admin.Identity, error) {
		return cl.Identity(ctx, args[0])
	}, writeIdentity)
	policyReload = oneCall(0, func(ctx context.Context, cl *admin.Client, _ []string) (*admin.ReloadResult, error) {
		return cl.Reload(ctx)
	}, func(w io.Writer, res *admin.ReloadResult) {
		fmt.Fprintf(w, "policy reloaded (targets: %s)\n", orNone(strings.Join(res.Targets, ", ")))
	})
)

func jobAction(action string) cmdFunc {
	return oneCall(1, func(ctx context.Context, cl *admin.Client, args []string) (*admin.JobAction, error) {
		if _, err := admin.JobPath(args[0]); err != nil {
			return nil, usageError{err}
		}
		return cl.JobAction(ctx, args[0], action)
	}, writeJobAction)
}

// guardDiscard drops the held destructive operations of a tripped guard.
var guardDiscard = oneCall(1, func(ctx context.Context, cl *admin.Client, args []string) (*engine.GuardState, error) {
	return cl.ResolveGuard(ctx, args[0], "discard")
}, func(w io.Writer, gs *engine.GuardState) {
	fmt.Fprintf(w, "guard %s discarded: the held destructive operations were dropped\n", gs.Target)
})

// guardApprove releases a tripped guard: the held people's whole change
// (a leaver's later delete too), or with --now-only only what is held.
func guardApprove(ctx context.Context, c *adminCLI, args []string) error {
	nowOnly := c.fs.Bool("now-only", false, "approve only the held operations: later destructive steps of the same changes (a leaver's delete) count again")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var gs *engine.GuardState
	if *nowOnly {
		gs, err = c.client.ApproveGuardNow(ctx, pos[0])
	} else {
		gs, err = c.client.ResolveGuard(ctx, pos[0], "approve")
	}
	if err != nil {
		return err
	}
	return c.print(gs, func(w io.Writer) {
		scope := "with the rest of this change (a later delete too)"
		if *nowOnly {
			scope = "for the held operations only"
		}
		fmt.Fprintf(w, "guard %s approved: %d held person(s) released, %s\n", gs.Target, gs.Released, scope)
	})
}

// identityLink links a person to an account an operator names (the id a
// conflict shows), resolving the conflict.
func identityLink(ctx context.Context, c *adminCLI, args []string) error {
	target := c.fs.String("target", "", "the target (required)")
	account := c.fs.String("account", "", "the account's id on the target: entryUUID, objectGUID or the app's id (required)")
	ref := c.fs.String("ref", "", "the account's DN or reference, if known")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *target == "" || *account == "" {
		return c.usage()
	}
	ls, err := c.client.Link(ctx, pos[0], *target, *account, *ref)
	if err != nil {
		return err
	}
	return c.print(ls, func(w io.Writer) {
		fmt.Fprintf(w, "%s on %s linked to account %s %s; converging now\n", pos[0], *target, ls.ID, ls.Ref)
	})
}

// identityUnlink drops a person's link on a target.
func identityUnlink(ctx context.Context, c *adminCLI, args []string) error {
	target := c.fs.String("target", "", "the target (required)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *target == "" {
		return c.usage()
	}
	ls, err := c.client.Unlink(ctx, pos[0], *target)
	if err != nil {
		return err
	}
	return c.print(ls, func(w io.Writer) {
		fmt.Fprintf(w, "%s on %s unlinked; nothing was written to the account. `tenure jobs run %s/%s` converges them again\n", pos[0], *target, *target, pos[0])
	})
}

// jobsConflicts lists the people parked on an ownership conflict.
func jobsConflicts(ctx context.Context, c *adminCLI, args []string) error {
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	cs, err := c.client.Conflicts(ctx)
	if err != nil {
		return err
	}
	return c.print(cs, func(w io.Writer) { writeConflicts(w, cs) })
}

func guardStatus(ctx context.Context, c *adminCLI, args []string) error {
	pos, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		gs, err := c.client.Guard(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.print(gs, func(w io.Writer) { writeGuard(w, gs) })
	}
	all, err := c.client.Guards(ctx)
	if err != nil {
		return err
	}
	return c.print(all, func(w io.Writer) { writeGuards(w, all) })
}

func reconcileCmd(ctx context.Context, c *adminCLI, args []string) error {
	target := c.fs.String("target", "", "the target to reconcile (required)")
	del := c.fs.Bool("delete-orphans", false, "delete the accounts under the managed OUs that Tenure does not know (default: only report them)")
	wait := c.fs.Duration("wait", 0, "wait up to this long for the scheduled converges to finish, then report what they repaired per class")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *target == "" || *wait < 0 {
		return c.usage()
	}
	mode := admin.OrphansReport
	if *del {
		mode = admin.OrphansDelete
	}
	res, err := c.client.Reconcile(ctx, *target, mode)
	if err != nil {
		return err
	}
	out := reconcileOutput{ReconcileResult: res}
	if *wait > 0 {
		if out.Waited, err = waitReconcile(ctx, c, res, *wait); err != nil {
			return err
		}
	}
	err = c.print(out, func(w io.Writer) {
		writeReconcile(w, res)
		if out.Waited != nil {
			writeWaited(w, res.Target, out.Waited, *wait)
		}
	})
	if err != nil {
		return err
	}
	if o := res.Orphans; o != nil && o.OrphanReport != nil && o.Failed > 0 {
		return fmt.Errorf("reconcile %s: %d orphan(s) could not be deleted", res.Target, o.Failed)
	}
	return nil
}

// backupResult is what tenure backup reports.
type backupResult struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// backupCmd copies the server's store to FILE: written beside it, synced,
// verified page by page, then renamed into place, so FILE is never a
// partial copy.
func backupCmd(ctx context.Context, c *adminCLI, args []string) error {
	out := c.fs.String("out", "", "the file to write (required); replaced only by a verified copy")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return c.usage()
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), filepath.Base(*out)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	// A large store takes longer than the commands' one-minute timeout;
	// ctx (Ctrl-C) bounds the copy instead.
	client := *c.client
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
		err = os.Rename(tmp.Name(), *out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	res := backupResult{File: *out, Bytes: n}
	return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "backup: %s (%d bytes, verified)\n", res.File, res.Bytes) })
}

func planCmd(ctx context.Context, c *adminCLI, args []string) error {
	userFile := c.fs.String("user", "", "a SCIM user JSON file (- for stdin): what would writing it do?")
	id := c.fs.String("id", "", "a stored person (person id or SCIM user id): what is due for them?")
	at := c.fs.String("at", "", "plan for this time: RFC 3339 or a date (UTC midnight); default now")
	source := c.fs.String("source", "", "the source a new user would belong to")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if (*userFile == "") == (*id == "") {
		return c.usage()
	}
	req := engine.PlanRequest{ID: *id, Source: *source}
	if *at != "" {
		t, err := parseWhen(*at)
		if err != nil {
			return usageError{err}
		}
		req.At = t
	}
	if *userFile != "" {
		user, err := readUser(*userFile)
		if err != nil {
			return err
		}
		req.User = user
	}
	p, err := c.client.Plan(ctx, req)
	if err != nil {
		return err
	}
	return c.print(p, func(w io.Writer) { writePlan(w, p) })
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
func readUser(path string) (map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
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
