package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// The README's quickstart command, run in-process: serve the quickstart
// config, answer health, readiness, metrics and a SCIM POST/GET, then shut
// down cleanly on cancellation.
func TestServeQuickstart(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", "../../configs/quickstart.yaml", "--listen", addr}, io.Discard, logs)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/scim/v2/Users", strings.NewReader(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"quick@example.com"}`))
	req.Header.Set("Authorization", "Bearer scim-test-token")
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, base+"/scim/v2/Users/") {
		t.Fatalf("POST: %d, Location %q", resp.StatusCode, loc)
	}
	if code, body := get(strings.TrimPrefix(loc, base), "Authorization", "Bearer scim-test-token"); code != http.StatusOK || !strings.Contains(body, "quick@example.com") {
		t.Errorf("GET %s: %d %s", loc, code, body)
	}
	if code, _ := get("/scim/v2/Users", "Authorization", "Bearer admin-test-token"); code != http.StatusUnauthorized {
		t.Errorf("admin token accepted as a SCIM token: %d", code)
	}
	code, metrics := get("/metrics")
	for _, m := range []string{"tenure_scim_requests_total", "tenure_build_info", "go_goroutines"} {
		if code != http.StatusOK || !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(logs.String(), `"msg":"tenure serving"`) {
		t.Errorf("no startup log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "scim-test-token") || strings.Contains(logs.String(), "admin-test-token") {
		t.Error("a token reached the logs")
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("TENURE_DATA_DIR"), "tenure.db")); err != nil {
		t.Errorf("data not under TENURE_DATA_DIR: %v", err)
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
		{"validate ok", []string{"config", "validate", "--config", "../../configs/quickstart.yaml"}, "", "ok (store embedded, 1 source(s))", 0},
		{"validate bad", []string{"config", "validate", "--config", bad}, "field bogus not found", "", 1},
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
