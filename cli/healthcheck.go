package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCommand probes a running server's /readyz and succeeds when
// it answers 200: the process is up and its store answers. It is the
// container image's HEALTHCHECK, since the distroless image has no shell
// or curl, and works wherever a probe must be a command.
func healthcheckCommand() *cobra.Command {
	var server string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [--server URL] [--timeout DURATION]",
		Short: "exit 0 if a running server is ready (its /readyz), 1 if not",
		Long:  "Exits 0 when the server's /readyz answers 200, 1 otherwise.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected argument %q", args[0])}
			}
			return nil
		},
		GroupID: groupServer,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return healthcheck(cmd.Context(), server, timeout, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&server, "server", serverURL(), "the server's root URL ($TENURE_SERVER)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

func healthcheck(ctx context.Context, server string, timeout time.Duration, stdout io.Writer) error {
	url := strings.TrimRight(server, "/") + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageError{fmt.Errorf("--server: %w", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: ready\n", url)
	return nil
}
