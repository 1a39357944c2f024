// Command tenure is the Tenure SCIM gateway: one binary for the server and
// the operator commands.
//
//	tenure serve --config FILE [--listen ADDR]
//	tenure config validate --config FILE
//	tenure healthcheck [--server URL]
//	tenure version
//	tenure jobs|identity|guard|reconcile|drift|plan|policy …  (the admin API's commands)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // time zones for date-only HR dates, even in a scratch image
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tenure:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks errors caused by how the command was called.
type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Usage: tenure <command> [flags]

Commands:
  serve             run the SCIM gateway
  config validate   check a configuration file and report every problem
  healthcheck       exit 0 if a running server is ready (its /readyz), 1 if not
  version           print the version

Operator commands (call a running server's admin API):
  jobs list|counts|show|replay|cancel|run   the job queue (KEY is target/person)
  identity show ID                          everything Tenure knows about a person
  guard status|approve|discard [TARGET]     a target's guard on destructive operations
  reconcile --target NAME [--delete-orphans] [--wait DURATION]
                                            re-converge everyone on a target; clean its
                                            exclusive groups; report (or delete) accounts
                                            no person links; with --wait, what was repaired
  drift status TARGET                       a target's drift pass and its repairs
  plan (--user FILE | --id ID) [--at TIME]  dry run: what a write would do, now and later
  policy reload                             re-read the server's config file's policy
  backup --out FILE                         a verified hot copy of the embedded store

  They take --server URL (default $TENURE_SERVER or http://127.0.0.1:8080),
  the token from $TENURE_ADMIN_TOKEN or --token-file FILE, and -o json.

Run 'tenure <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "validate" {
			fmt.Fprint(stderr, usage)
			return usageError{errors.New("usage: tenure config validate --config FILE")}
		}
		return configValidate(args[2:], stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args[1:], stdout, stderr)
	case "jobs", "identity", "guard", "reconcile", "drift", "plan", "policy", "backup":
		return adminCommand(ctx, args, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "tenure", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "devel"
}
