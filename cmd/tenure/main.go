// Command tenure is the Tenure SCIM gateway: one binary for the server and
// the operator commands.
//
//	tenure serve --config FILE [--listen ADDR]
//	tenure config validate --config FILE
//	tenure healthcheck [--server URL]
//	tenure version
//	tenure jobs|identity|guard|reconcile|drift|plan|policy|backup …  (the admin API's commands)
//	tenure help [COMMAND] | completion bash|zsh|fish|powershell
//
// This package is the composition root (serve builds the store, queue,
// targets, engine and both APIs from the configuration) and a thin
// dispatch into package cli, which holds the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // time zones for date-only HR dates, even in a scratch image

	"github.com/tenurehq/tenure/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tenure:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks errors caused by how serve or config validate was
// called; the CLI marks its own.
type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return cli.ExitCode(err)
}

// run is the command line: the operator commands are package cli's, serve
// and config validate this package's, as they build a server from a
// configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, cli.Options{
		Version: versionString(),
		Commands: []cli.Command{
			{Name: "serve", Usage: "--config FILE [--listen ADDR]", Short: "run the SCIM gateway",
				Run: func(ctx context.Context, args []string, _, stderr io.Writer) error { return serve(ctx, args, stderr) }},
			{Name: "config validate", Usage: "--config FILE", Short: "check a configuration file and report every problem",
				Run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
					return configValidate(args, stdout, stderr)
				}},
		},
		Stdin: os.Stdin, Stdout: stdout, Stderr: stderr,
	})
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
