package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runningServer is `tenure serve` run in-process.
type runningServer struct {
	base   string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServe runs `tenure serve --config cfg --listen <free port>` and waits
// until /readyz answers.
func startServe(t *testing.T, cfg string) *runningServer {
	t.Helper()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{base: "http://" + addr, logs: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr}, io.Discard, s.logs)
	}()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the server and waits for a clean shutdown (once).
func (s *runningServer) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("serve did not shut down")
	}
}

func (s *runningServer) request(t *testing.T, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The README's quickstart command, run in-process: serve the quickstart
// config, answer health, readiness, metrics and a SCIM POST/GET, then shut
// down cleanly on cancellation.
func TestServeQuickstart(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
	s := startServe(t, "../../configs/quickstart.yaml")
	if code, _, _ := s.request(t, "GET", "/healthz", "", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	code, hdr, _ := s.request(t, "POST", "/scim/v2/Users", "scim-test-token",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"quick@example.com"}`)
	loc := hdr.Get("Location")
	if code != http.StatusCreated || !strings.HasPrefix(loc, s.base+"/scim/v2/Users/") {
		t.Fatalf("POST: %d, Location %q", code, loc)
	}
	if code, _, body := s.request(t, "GET", strings.TrimPrefix(loc, s.base), "scim-test-token", ""); code != http.StatusOK || !strings.Contains(body, "quick@example.com") {
		t.Errorf("GET %s: %d %s", loc, code, body)
	}
	if code, _, _ := s.request(t, "GET", "/scim/v2/Users", "admin-test-token", ""); code != http.StatusUnauthorized {
		t.Errorf("admin token accepted as a SCIM token: %d", code)
	}
	code, _, metrics := s.request(t, "GET", "/metrics", "", "")
	for _, m := range []string{"tenure_scim_requests_total", "tenure_build_info", "go_goroutines", "tenure_queue_jobs"} {
		if code != http.StatusOK || !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	// The image's HEALTHCHECK: ready while serving, not once stopped.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck", "--server", s.base}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "/readyz: ready") {
		t.Errorf("healthcheck: %v %q", err, out.String())
	}
	s.stop(t)
	if err := run(context.Background(), []string{"healthcheck", "--server", s.base, "--timeout", "2s"}, io.Discard, io.Discard); err == nil || exitCode(err) != 1 {
		t.Errorf("healthcheck of a stopped server: %v", err)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"tenure serving"`) {
		t.Errorf("no startup log:\n%s", logs)
	}
	// Durations read as durations; a short token is warned of, by key.
	if !strings.Contains(logs, `"msg":"shutting down","grace":"20s"`) {
		t.Errorf("no shutdown log with its grace as a duration:\n%s", logs)
	}
	for _, key := range []string{"sources[0].token", "admin.token"} {
		if !strings.Contains(logs, `"level":"WARN","msg":"the token is `) || !strings.Contains(logs, `"key":"`+key+`"`) {
			t.Errorf("no warning of the short token %s:\n%s", key, logs)
		}
	}
	if strings.Contains(logs, "scim-test-token") || strings.Contains(logs, "admin-test-token") {
		t.Error("a token reached the logs")
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("TENURE_DATA_DIR"), "tenure.db")); err != nil {
		t.Errorf("data not under TENURE_DATA_DIR: %v", err)
	}
}

// Two replicas on one Redis share users: a user POSTed to one is read from
// the other, and its userName is taken on both.
func TestTwoReplicasShareRedis(t *testing.T) {
	rs := testenv.Redis(t)
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_REDIS_URL", rs.URL())
	a := startServe(t, "../../configs/redis.yaml")
	b := startServe(t, "../../configs/redis.yaml")
	const user = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"shared@example.com"}`
	code, hdr, body := a.request(t, "POST", "/scim/v2/Users", "scim-test-token", user)
	if code != http.StatusCreated {
		t.Fatalf("POST to a: %d %s", code, body)
	}
	path := hdr.Get("Location")[len(a.base):]
	if code, _, body := b.request(t, "GET", path, "scim-test-token", ""); code != http.StatusOK || !strings.Contains(body, "shared@example.com") {
		t.Errorf("GET from b: %d %s", code, body)
	}
	if code, _, body := b.request(t, "GET", "/scim/v2/Users?filter=userName%20eq%20%22SHARED@example.com%22", "scim-test-token", ""); code != http.StatusOK || !strings.Contains(body, `"totalResults":1`) {
		t.Errorf("filter on b: %d %s", code, body)
	}
	if code, _, _ := b.request(t, "POST", "/scim/v2/Users", "scim-test-token", user); code != http.StatusConflict {
		t.Errorf("duplicate POST to b: %d, want 409", code)
	}
}

func TestCommands(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "a")
	t.Setenv("TENURE_ADMIN_TOKEN", "b")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("server: {listen: nope}\nsources: []\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantOut  string
		exitCode int
	}{
		{"version", []string{"version"}, "", "tenure ", 0},
		{"validate ok", []string{"config", "validate", "--config", "../../configs/quickstart.yaml"}, "", "ok (store embedded, 1 source(s), 0 target(s)", 0},
		{"validate bad", []string{"config", "validate", "--config", bad}, `bogus (line 3): unknown key "bogus"`, "", 1},
		{"validate no flag", []string{"config", "validate"}, "--config is required", "", 2},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, "", 2},
		{"no command", nil, "no command", "", 2},
		{"serve no config", []string{"serve"}, "--config is required", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out, io.Discard)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err != nil && exitCode(err) != tt.exitCode {
				t.Errorf("exit code %d, want %d", exitCode(err), tt.exitCode)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}

var lineNote = regexp.MustCompile(` \(line \d+\)`)

// noLines is err's text without the line after each key, for tests that
// check what configuration problems say.
func noLines(err error) string { return lineNote.ReplaceAllString(err.Error(), "") }
