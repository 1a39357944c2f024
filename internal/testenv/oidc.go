package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// OIDCUser is a user of the test OpenID Provider: UserName and Password
// are what its login form takes; Email, FirstName and LastName its
// claims (email, given_name, family_name, preferred_username = UserName).
type OIDCUser struct {
	ID, UserName, Password, Email, FirstName, LastName string
}

// OIDCClient is a relying party registered at the test provider: a web
// client (client_secret_basic, authorization code, PKCE allowed).
type OIDCClient struct {
	ID, Secret   string
	RedirectURIs []string
}

// OIDCProvider is a running OpenID Provider (cmd internal/testenv/oidcop,
// on zitadel/oidc v3): a process of its own, as the other servers here.
type OIDCProvider struct {
	server
	port int
}

// Issuer is the provider's issuer URL, http://127.0.0.1:PORT.
func (p *OIDCProvider) Issuer() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

// OIDC compiles the test OpenID Provider (with the go command running
// the test), starts it on a free loopback port with users and clients,
// and returns once its discovery document is served; it stops when t
// ends. Without the go command it skips t, or fails it when CI is
// "true".
func OIDC(t testing.TB, users []OIDCUser, clients []OIDCClient) *OIDCProvider {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "oidcop")
	goCmd, ok := lookPath("go")
	if !ok {
		goCmd = need(t, filepath.Join(runtime.GOROOT(), "bin", "go"))
	}
	build := exec.CommandContext(t.Context(), goCmd, "build", "-o", bin, "github.com/tenurehq/tenure/internal/testenv/oidcop")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("testenv: build the OpenID provider: %v\n%s", err, out)
	}
	cfg, err := json.Marshal(map[string]any{"users": users, "clients": clients})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "op.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &OIDCProvider{}
	p.d = &daemon{name: "oidcop", bin: bin, dir: dir, pidFile: filepath.Join(dir, "oidcop.pid")}
	p.d.probe = func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer()+"/.well-known/openid-configuration", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("discovery: %s", resp.Status)
		}
		return nil
	}
	for range startTries {
		if p.port, err = freePort(); err != nil {
			t.Fatalf("testenv: oidcop: %v", err)
		}
		p.d.args = []string{"-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)), "-config", cfgFile, "-pidfile", p.d.pidFile}
		if err = p.d.start(t.Context()); err == nil {
			t.Cleanup(p.Stop)
			return p
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("testenv: %v", err)
	return nil
}

// Chromium is the path of Debian's chromium, for browser tests (chromedp
// drives it headless). Without it, it skips t, or fails it when CI is
// "true".
func Chromium(t testing.TB) string {
	t.Helper()
	return need(t, "chromium")
}
