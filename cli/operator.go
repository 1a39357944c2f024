package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
)

// defaultServer is the server's address when neither --server nor
// $TENURE_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8080"

// serverURL is the default of --server: $TENURE_SERVER, or defaultServer.
func serverURL() string {
	if s := os.Getenv("TENURE_SERVER"); s != "" {
		return s
	}
	return defaultServer
}

// requestTimeout bounds each operator command's request (tenure backup,
// which may stream for longer, is bounded by its context instead).
const requestTimeout = time.Minute

// operator is one operator command being run: the flags every one takes,
// where it prints and, once the flags are parsed, its client.
type operator struct {
	server, tokenFile, actor, output string
	stdout                           io.Writer
	stdin                            io.Reader
	cmd                              *cobra.Command
	client                           *admin.Client
}

// operatorCommand is an operator command. use is its name and synopsis
// ("show KEY"); it takes min..max arguments; run is called once the flags
// are parsed and the client is set up. The command's own flags are added
// by the caller, bound to variables run reads.
func operatorCommand(use, short string, min, max int, run func(ctx context.Context, op *operator, args []string) error) *cobra.Command {
	op := &operator{}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args(min, max),
		RunE: func(cmd *cobra.Command, args []string) error {
			op.cmd, op.stdout, op.stdin = cmd, cmd.OutOrStdout(), cmd.InOrStdin()
			if err := op.setup(); err != nil {
				return err
			}
			return run(cmd.Context(), op, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&op.server, "server", serverURL(), "the server's root URL ($TENURE_SERVER)")
	f.StringVar(&op.tokenFile, "token-file", "", "file holding the admin token (default: $TENURE_ADMIN_TOKEN)")
	f.StringVar(&op.actor, "actor", os.Getenv("TENURE_ACTOR"), "who is acting, recorded in the audit log ($TENURE_ACTOR; default admin)")
	f.StringVarP(&op.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// setup checks the output format and reads the token.
func (op *operator) setup() error {
	if op.output != "text" && op.output != "json" {
		return usageError{fmt.Errorf("-o must be text or json, got %q", op.output)}
	}
	token := os.Getenv("TENURE_ADMIN_TOKEN")
	if op.tokenFile != "" {
		b, err := os.ReadFile(op.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimRight(string(b), "\r\n")
	}
	if token == "" {
		return usageError{errors.New("no admin token: set TENURE_ADMIN_TOKEN or --token-file")}
	}
	op.client = &admin.Client{Server: op.server, Token: token, Actor: op.actor, HTTP: &http.Client{Timeout: requestTimeout}}
	return nil
}

// usage is the command's usage error, for flags that do not go together.
func (op *operator) usage() error { return usageOf(op.cmd) }

// print writes v as indented JSON with -o json, else as text.
func (op *operator) print(v any, text func(w io.Writer)) error {
	if op.output == "json" {
		enc := json.NewEncoder(op.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(op.stdout)
	return nil
}

// oneCall is an operator command without flags of its own that takes n
// arguments, makes one call and prints the answer.
func oneCall[T any](use, short string, n int, call func(ctx context.Context, cl *admin.Client, args []string) (T, error), text func(io.Writer, T)) *cobra.Command {
	return operatorCommand(use, short, n, n, func(ctx context.Context, op *operator, args []string) error {
		v, err := call(ctx, op.client, args)
		if err != nil {
			return err
		}
		return op.print(v, func(w io.Writer) { text(w, v) })
	})
}
