// Package cli is tenure's command line: the operator commands, which call
// a running server's admin API through admin.Client and print its answers
// (admin's JSON types, as text or as JSON), tenure healthcheck and tenure
// version, with help and shell completion from spf13/cobra. The binary's
// own commands (serve, config validate), which build a server from a
// configuration, stay in cmd/tenure and are handed in as Commands.
//
// Exit codes: 0 success (and help), 1 a failure (the server's error, an
// unreachable server), 2 a usage error found before any request is sent.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Command is one of the binary's own commands. It parses its own flags:
// Run gets every argument after its name.
type Command struct {
	// Name is the command's words, "serve" or "config validate".
	Name string
	// Usage is its synopsis after the name, Short what it does.
	Usage, Short string
	Run          func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Options are what the binary hands the command line.
type Options struct {
	// Version is what tenure version prints.
	Version string
	// Commands are the binary's own commands.
	Commands []Command
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
}

// usageError marks errors in how a command was called (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// ExitCode is the process's exit code for what Run returned.
func ExitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// Command groups in tenure help.
const (
	groupServer   = "server"
	groupOperator = "operator"
)

const rootLong = `Tenure is a SCIM 2.0 gateway: it takes identities from an HR system or an
identity provider over SCIM and provisions, moves and removes their accounts
on LDAP directories, Active Directory and SCIM apps.

The operator commands call a running server's admin API. They take
--server URL (default $TENURE_SERVER or ` + defaultServer + `), the admin token
from $TENURE_ADMIN_TOKEN or --token-file FILE, --actor NAME for the audit
log, and -o json for the API's JSON instead of text. Flags may come before
or after the arguments. A job KEY is target/person.`

// Run runs the command line args (without the program's name).
func Run(ctx context.Context, args []string, o Options) error {
	root := newRoot(o)
	if cmd, _, err := root.Find(args); err == nil && !cmd.DisableFlagParsing {
		args = goFlags(cmd, args)
	}
	root.SetArgs(args)
	_, err := root.ExecuteContextC(ctx)
	return err
}

func newRoot(o Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "tenure",
		Short: "Tenure, the SCIM gateway for joiners, movers and leavers",
		Long:  rootLong,
		// The root runs only when no command matched: it is an error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				cmd.SetOut(cmd.ErrOrStderr())
				_ = cmd.Usage()
				return usageError{errors.New("no command")}
			}
			return unknown(cmd, args[0])
		},
		Version:       o.Version,
		SilenceErrors: true, // main prints "tenure: " and the error
		SilenceUsage:  true,
	}
	root.SetIn(o.Stdin)
	root.SetOut(o.Stdout)
	root.SetErr(o.Stderr)
	root.SetVersionTemplate("tenure {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddGroup(
		&cobra.Group{ID: groupServer, Title: "Commands:"},
		&cobra.Group{ID: groupOperator, Title: "Operator commands (call a running server's admin API):"},
	)
	for _, c := range o.Commands {
		addOwn(root, c)
	}
	root.AddCommand(
		&cobra.Command{
			Use: "version", Short: "print the version", GroupID: groupServer, Args: args(0, 0),
			Run: func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "tenure", o.Version) },
		},
		healthcheckCommand(),
		jobsCommand(),
		identityCommand(),
		guardCommand(),
		reconcileCommand(),
		driftCommand(),
		planCommand(),
		policyCommand(),
		backupCommand(),
		requestCommand(),
		reviewCommand(),
		recommendCommand(),
	)
	return root
}

// addOwn adds one of the binary's own commands under root, with the
// groups its name needs ("config" for "config validate").
func addOwn(root *cobra.Command, c Command) {
	words := strings.Fields(c.Name)
	parent := root
	for _, w := range words[:len(words)-1] {
		i := slices.IndexFunc(parent.Commands(), func(sub *cobra.Command) bool { return sub.Name() == w })
		if i < 0 {
			next := group(w, c.Short)
			if parent == root {
				next.GroupID = groupServer
			}
			parent.AddCommand(next)
			parent = next
			continue
		}
		parent = parent.Commands()[i]
	}
	cmd := &cobra.Command{
		Use: words[len(words)-1] + " " + c.Usage, Short: c.Short,
		// The command parses its flags (-h too) itself.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.Run(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	if parent == root {
		cmd.GroupID = groupServer
	}
	parent.AddCommand(cmd)
}

// group is a command that only holds subcommands: called alone or with an
// unknown subcommand, it is a usage error.
func group(name, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use: name, Short: short,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknown(cmd, args[0])
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			slices.Sort(names)
			return usageError{fmt.Errorf("usage: %s <%s>", cmd.CommandPath(), strings.Join(names, "|"))}
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// unknown is the error for a command name cmd does not have.
func unknown(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", cmd.CommandPath()+" "+name)
	if cmd == cmd.Root() {
		msg = fmt.Sprintf("unknown command %q", name)
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which only its own lookup applies
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// args accepts min..max positional arguments; any other number is a usage
// error that shows the command's synopsis.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usageOf(cmd)
		}
		return nil
	}
}

// usageOf is the usage error of cmd: "usage: tenure jobs show KEY".
func usageOf(cmd *cobra.Command) error {
	line := cmd.CommandPath()
	if _, synopsis, ok := strings.Cut(cmd.Use, " "); ok {
		line += " " + synopsis
	}
	return usageError{errors.New("usage: " + line)}
}

// goFlags rewrites the flags Go's flag package accepted and pflag does not
// — a long name after one dash (-server), a one-letter name after two
// (--o) — so that command lines written before the commands used cobra
// keep working (their help printed every flag with one dash).
func goFlags(cmd *cobra.Command, args []string) []string {
	cmd.InitDefaultHelpFlag()
	flags := cmd.Flags()
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		bare := strings.TrimLeft(a, "-")
		name, _, _ := strings.Cut(bare, "=")
		switch dashes := len(a) - len(bare); {
		case dashes == 1 && len(name) > 1 && flags.Lookup(name) != nil:
			out[i] = "-" + a
		case dashes == 2 && len(name) == 1 && flags.ShorthandLookup(name) != nil:
			out[i] = a[1:]
		}
	}
	return out
}
