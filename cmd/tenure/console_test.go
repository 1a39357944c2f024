package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// consoleConfig is a config with a console (break-glass only) whose own
// block is extra.
func consoleConfig(t *testing.T, extra string) string {
	t.Helper()
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token-0123456789abcdef0123")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token-0123456789abcdef012")
	dir := t.TempDir()
	path := filepath.Join(dir, "tenure.yaml")
	cfg := fmt.Sprintf(`
store: {kind: embedded, embedded: {path: %s}}
sources: [{name: hr, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
console:
  url: http://127.0.0.1:1/console
  break_glass: true
  roles: {admin: 'person.department == "IT"'}
%s`, filepath.Join(dir, "tenure.db"), extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeConsole: serve mounts the console on its listener, or on one
// of its own that serves nothing else (so that it can be exposed without
// /admin), and a break-glass session reads its pages.
func TestServeConsole(t *testing.T) {
	for _, c := range []struct {
		name string
		own  bool
	}{{"shared listener", false}, {"own listener", true}} {
		t.Run(c.name, func(t *testing.T) {
			extra, consoleAddr := "", ""
			if c.own {
				consoleAddr = freePort(t)
				extra = "  listen: " + consoleAddr
			}
			s := startServe(t, consoleConfig(t, extra))
			consoleBase := s.base
			if c.own {
				consoleBase = "http://" + consoleAddr
			}
			get := func(base, path, cookie string) int {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				if cookie != "" {
					req.AddCookie(&http.Cookie{Name: "tenure_console", Value: cookie})
				}
				req.Header.Set("Authorization", "Bearer admin-test-token-0123456789abcdef012")
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if st := get(consoleBase, "/console/signin", ""); st != http.StatusOK {
				t.Errorf("console sign-in page: %d", st)
			}
			if c.own {
				for _, p := range []string{"/admin/v1/jobs/counts", "/scim/v2/Users", "/metrics"} {
					if st := get(consoleBase, p, ""); st != http.StatusNotFound {
						t.Errorf("%s on the console's listener: %d; want 404", p, st)
					}
				}
				if st := get(s.base, "/console/signin", ""); st != http.StatusNotFound {
					t.Errorf("the console on the main listener: %d; want 404", st)
				}
			}
			resp, err := http.DefaultTransport.RoundTrip(mustForm(t, consoleBase+"/console/breakglass",
				url.Values{"token": {"admin-test-token-0123456789abcdef012"}}))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var sid string
			for _, ck := range resp.Cookies() {
				if ck.Name == "tenure_console" {
					sid = ck.Value
				}
			}
			if resp.StatusCode != http.StatusSeeOther || sid == "" {
				t.Fatalf("break-glass sign-in: %d, cookie %q", resp.StatusCode, sid)
			}
			for _, p := range []string{"/console/people", "/console/jobs", "/console/guard", "/console/health"} {
				if st := get(consoleBase, p, sid); st != http.StatusOK {
					t.Errorf("%s: %d", p, st)
				}
			}
			_, _, metrics := s.request(t, "GET", "/metrics", "", "")
			if !strings.Contains(metrics, `tenure_console_signins_total{method="break-glass",result="ok"} 1`) {
				t.Errorf("/metrics lacks the sign-in")
			}
		})
	}
}

func mustForm(t *testing.T, u string, v url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// TestConfigValidateConsoleRoles: a role expression that does not
// compile is a problem at its key and line, beside the file's others.
func TestConfigValidateConsoleRoles(t *testing.T) {
	path := consoleConfig(t, "")
	raw, _ := os.ReadFile(path)
	bad := strings.Replace(string(raw), `roles: {admin: 'person.department == "IT"'}`,
		`roles: {admin: 'person.department ==', auditor: '"yes"'}`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"config", "validate", "--config", path}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("config validate accepted bad role expressions")
	}
	for _, want := range []string{"console.roles.admin (line 8)", "console.roles.auditor (line 8)", "is not bool"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
