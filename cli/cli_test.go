package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tenurehq/tenure/admin"
)

// tenure runs a command line with the binary's own commands stubbed.
func tenure(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = Run(context.Background(), args, Options{
		Version: "v1.2.3",
		Commands: []Command{{Name: "config validate", Usage: "--config FILE", Short: "check a configuration file",
			Run: func(_ context.Context, args []string, stdout, _ io.Writer) error {
				fmt.Fprintf(stdout, "validate %q\n", args)
				return nil
			}}},
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs,
	})
	return out.String(), errs.String(), err
}

// Usage errors are found before any request is sent, and exit 2.
func TestUsage(t *testing.T) {
	t.Setenv("TENURE_ADMIN_TOKEN", "x")
	t.Setenv("TENURE_SERVER", "http://127.0.0.1:1") // nothing listens: a request would fail with exit 1
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"jobz"}, `unknown command "jobz"; did you mean jobs?`},
		{[]string{"jobs"}, "usage: tenure jobs <cancel|conflicts|counts|list|replay|run|show>"},
		{[]string{"jobs", "frob"}, `unknown command "tenure jobs frob"`},
		{[]string{"jobs", "show"}, "usage: tenure jobs show KEY"},
		{[]string{"jobs", "replay", "no-slash"}, `job key "no-slash" is not target/person`},
		{[]string{"jobs", "list", "--limit", "0"}, "--limit must be positive"},
		{[]string{"jobs", "list", "-o", "yaml"}, "-o must be text or json"},
		{[]string{"jobs", "counts", "extra"}, "usage: tenure jobs counts"},
		{[]string{"identity", "show"}, "usage: tenure identity show ID"},
		{[]string{"identity", "link", "p1", "--target", "dir"}, "usage: tenure identity link ID --target NAME --account ACCOUNT-ID"},
		{[]string{"guard", "approve"}, "usage: tenure guard approve TARGET"},
		{[]string{"reconcile"}, "usage: tenure reconcile --target NAME [--delete-orphans]"},
		{[]string{"reconcile", "--delete-orphans"}, "usage: tenure reconcile --target NAME"},
		{[]string{"reconcile", "--target", "dir", "--wait", "-1s"}, "usage: tenure reconcile"},
		{[]string{"plan"}, "usage: tenure plan (--user FILE.json | --id ID)"},
		{[]string{"plan", "--id", "a", "--user", "b.json"}, "usage: tenure plan"},
		{[]string{"plan", "--id", "a", "--at", "tomorrow"}, `--at "tomorrow": want RFC 3339`},
		{[]string{"policy"}, "usage: tenure policy <reload>"},
		{[]string{"drift", "status"}, "usage: tenure drift status TARGET"},
		{[]string{"backup"}, "usage: tenure backup --out FILE"},
		{[]string{"config"}, "usage: tenure config <validate>"},
		{[]string{"jobs", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"jobs", "list", "--limit", "many"}, `invalid argument "many" for "--limit"`},
		{[]string{"version", "extra"}, "usage: tenure version"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := tenure(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if ExitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", ExitCode(err))
			}
		})
	}
	// No token is a usage error; a token file that cannot be read is not.
	t.Setenv("TENURE_ADMIN_TOKEN", "")
	if _, _, err := tenure(t, "jobs", "counts"); ExitCode(err) != 2 || !strings.Contains(err.Error(), "no admin token") {
		t.Errorf("no token: %v", err)
	}
	if _, _, err := tenure(t, "jobs", "counts", "--token-file", t.TempDir()+"/none"); ExitCode(err) != 1 || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("missing token file: %v", err)
	}
	// A server that is not there is an error (exit 1), not a usage error.
	t.Setenv("TENURE_ADMIN_TOKEN", "x")
	if _, _, err := tenure(t, "jobs", "counts"); err == nil || ExitCode(err) != 1 {
		t.Errorf("unreachable server: %v", err)
	}
}

// Help is cobra's, on stdout, for every command, and is not an error.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, err := tenure(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		wantContains(t, strings.Join(args, " "), out,
			"Commands:\n  config", "healthcheck", "version",
			"Operator commands (call a running server's admin API):", "jobs", "reconcile", "backup",
			"--server URL (default $TENURE_SERVER or http://127.0.0.1:8080)", "completion")
	}
	for _, args := range [][]string{{"jobs", "list", "-h"}, {"jobs", "list", "--help"}, {"help", "jobs", "list"}, {"jobs", "list", "dir", "-h"}} {
		out, _, err := tenure(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		wantContains(t, strings.Join(args, " "), out,
			"tenure jobs list [--state scheduled|inflight|dead] [--offset N] [--limit N]",
			"--token-file string", "-o, --output string", "--state string")
	}
	// The stub config validate parses its own flags: -h is its.
	out, _, err := tenure(t, "config", "validate", "-h")
	if err != nil || out != `validate ["-h"]`+"\n" {
		t.Errorf("config validate -h: %v %q", err, out)
	}
	_, errs, err := tenure(t)
	if ExitCode(err) != 2 || !strings.Contains(errs, "Operator commands") {
		t.Errorf("no command: %v, stderr %q", err, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		if out, _, err := tenure(t, args...); err != nil || out != "tenure v1.2.3\n" {
			t.Errorf("%v: %v %q", args, err, out)
		}
	}
}

// Shell completion comes with cobra: the scripts, and the commands and
// flags completed.
func TestCompletion(t *testing.T) {
	out, _, err := tenure(t, "completion", "bash")
	if err != nil || !strings.Contains(out, "__start_tenure") {
		t.Errorf("completion bash: %v\n%.200s", err, out)
	}
	out, _, err = tenure(t, "__complete", "jobs", "")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "completing jobs", out, "cancel", "conflicts", "counts", "list", "replay", "run", "show")
	out, _, err = tenure(t, "__complete", "reconcile", "--")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "completing reconcile's flags", out, "--target", "--delete-orphans", "--wait", "--token-file")
}

// fakeAPI is an admin API that records the requests it is sent and answers
// each path from answers.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newFakeAPI(t *testing.T, answers map[string]any) *fakeAPI {
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI()+" actor="+r.Header.Get(admin.ActorHeader)+" token="+r.Header.Get("Authorization"))
		f.mu.Unlock()
		v, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(admin.Error{Message: "no such thing", Status: 404})
			return
		}
		json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(f.Close)
	t.Setenv("TENURE_SERVER", f.URL)
	t.Setenv("TENURE_ADMIN_TOKEN", "tok")
	t.Setenv("TENURE_ACTOR", "")
	return f
}

func (f *fakeAPI) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return ""
	}
	return f.requests[len(f.requests)-1]
}

// Flags may come before or after the arguments, and as Go's flag package
// spelled them (-state, --o); -- ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	f := newFakeAPI(t, map[string]any{
		"/admin/v1/jobs":          admin.JobList{State: admin.JobDead, Limit: 5, Jobs: []admin.Job{}},
		"/admin/v1/jobs/dir/p1":   admin.Job{Key: "dir/p1", State: admin.JobDead, LastError: "boom"},
		"/admin/v1/jobs/dir/-p2":  admin.Job{Key: "dir/-p2", State: admin.JobScheduled},
		"/admin/v1/guards/dir":    admin.Guard{Target: "dir"},
		"/admin/v1/jobs/dir/p1/x": nil,
	})
	tests := []struct {
		args        []string
		wantRequest string
		wantOut     string
	}{
		{[]string{"jobs", "list", "--state", "dead", "--limit", "5"}, "GET /admin/v1/jobs?limit=5&state=dead actor= token=Bearer tok", "no jobs"},
		{[]string{"jobs", "list", "-state", "dead", "-limit=5", "-actor", "bob"}, "GET /admin/v1/jobs?limit=5&state=dead actor=bob token=Bearer tok", "no jobs"},
		{[]string{"jobs", "show", "dir/p1", "--actor", "alice"}, "GET /admin/v1/jobs/dir/p1 actor=alice token=Bearer tok", "last error     boom"},
		{[]string{"--actor", "carol", "jobs", "show", "dir/p1"}, "GET /admin/v1/jobs/dir/p1 actor=carol token=Bearer tok", "state          dead"},
		{[]string{"jobs", "show", "-o", "json", "dir/p1"}, "GET /admin/v1/jobs/dir/p1 actor= token=Bearer tok", `"lastError": "boom"`},
		{[]string{"jobs", "show", "dir/p1", "--o", "json"}, "GET /admin/v1/jobs/dir/p1 actor= token=Bearer tok", `"state": "dead"`},
		{[]string{"jobs", "show", "dir/p1", "-o=json"}, "GET /admin/v1/jobs/dir/p1 actor= token=Bearer tok", `"key": "dir/p1"`},
		{[]string{"jobs", "show", "--", "dir/-p2"}, "GET /admin/v1/jobs/dir/-p2 actor= token=Bearer tok", "state          scheduled"},
		{[]string{"guard", "status", "dir", "--output", "json"}, "GET /admin/v1/guards/dir actor= token=Bearer tok", `"target": "dir"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := tenure(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.last(); got != tt.wantRequest {
				t.Errorf("request %q, want %q", got, tt.wantRequest)
			}
			wantContains(t, "output", out, tt.wantOut)
		})
	}
	// The API's error is the command's, exit 1.
	_, _, err := tenure(t, "guard", "status", "ldap")
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != 404 || ExitCode(err) != 1 {
		t.Errorf("API error: %v (exit %d)", err, ExitCode(err))
	}
}

// wantContains checks that out has every string of want, comparing runs
// of spaces as one (tables align columns).
func wantContains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	squeeze := func(s string) string {
		return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	}
	for _, w := range want {
		if !strings.Contains(squeeze(out), squeeze(w)) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// The context reaches the commands: serve drains when it ends.
func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, []string{"serve"}, Options{
		Commands: []Command{{Name: "serve", Run: func(ctx context.Context, _ []string, _, _ io.Writer) error { return ctx.Err() }}},
		Stdout:   io.Discard, Stderr: io.Discard,
	})
	if !errors.Is(err, context.Canceled) || ExitCode(err) != 1 {
		t.Errorf("err = %v", err)
	}
}
