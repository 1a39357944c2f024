package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/backend"
	"github.com/tenurehq/tenure/backend/embedded"
	redisbackend "github.com/tenurehq/tenure/backend/redis"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/console"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

// Test credentials: a source, the admin API and the OIDC client.
const (
	scimToken    = "console-test-scim-token-0123456789abcdef"
	adminToken   = "console-test-admin-token-0123456789abcdef"
	clientID     = "tenure-console"
	clientSecret = "console-test-client-secret"
)

// env is Tenure as serve builds it (store, queue, engine, SCIM API,
// admin API, console) on one loopback listener, with a memory target
// whose converges fail for people whose userName starts with "broken"
// until fixed.
type env struct {
	t       testing.TB
	url     string // the server root, http://127.0.0.1:PORT
	be      *backend.Backend
	eng     *engine.Engine
	adm     *admin.Handler
	target  *failing
	log     *testenv.LogBuffer
	op      *testenv.OIDCProvider // nil without OIDC
	consURL string
	// raw is the configuration file's text the policy was loaded from.
	raw string
}

// failing is a target that refuses, permanently, to converge the people
// whose account name starts with "broken", until fixed.
type failing struct {
	targets.Target
	fixed atomic.Bool
}

func (f *failing) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	if name, _ := req.Desired.Attributes["name"].(string); strings.HasPrefix(name, "broken") && !f.fixed.Load() {
		return nil, targets.Permanent("create", errors.New("the app refuses the account: 403 Forbidden"))
	}
	return f.Target.Converge(ctx, req)
}

type envOptions struct {
	oidc       bool
	breakGlass bool
	users      []testenv.OIDCUser
	// redis runs the store on a redis-server of its own instead of
	// bbolt.
	redis bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: "http://" + ln.Addr().String(), log: &testenv.LogBuffer{}}
	e.consURL = e.url + "/console"
	if o.oidc {
		e.op = testenv.OIDC(t, o.users, []testenv.OIDCClient{{ID: clientID, Secret: clientSecret,
			RedirectURIs: []string{e.consURL + "/callback"}}})
	}
	t.Setenv("CONSOLE_TEST_SCIM_TOKEN", scimToken)
	t.Setenv("CONSOLE_TEST_ADMIN_TOKEN", adminToken)
	t.Setenv("CONSOLE_TEST_CLIENT_SECRET", clientSecret)
	oidcBlock := ""
	if o.oidc {
		oidcBlock = fmt.Sprintf(`
  oidc:
    issuer: %s
    client_id: %s
    client_secret: {env: CONSOLE_TEST_CLIENT_SECRET}`, e.op.Issuer(), clientID)
	}
	storeBlock := fmt.Sprintf("{kind: embedded, embedded: {path: %s}}", filepath.Join(dir, "tenure.db"))
	open := embedded.Open
	if o.redis {
		storeBlock = fmt.Sprintf("{kind: redis, redis: {url: %s}}", testenv.Redis(t).URL())
		open = redisbackend.Open
	}
	raw := fmt.Sprintf(`
server: {base_url: %s}
store: %s
sources: [{name: hr, token: {env: CONSOLE_TEST_SCIM_TOKEN}}]
admin: {token: {env: CONSOLE_TEST_ADMIN_TOKEN}}
lifecycle:
  guard: {threshold: 1, window: 1h}
birthright: [{name: all, when: "true", grants: {mem: [staff]}}]
targets:
  - name: mem
    kind: memory
    memory: {groups: [staff, vpn]}
    attributes: {name: user.userName}
requests:
  catalog:
    - {name: vpn, description: Remote access, target: mem, entitlements: [vpn], max_duration: 720h,
       approval: [{approvers: ["user:carol@example.com"]}]}
console:
  break_glass: %t%s
  roles:
    admin: 'person.department == "IT"'
    auditor: 'person.department == "Audit"'
    approver: 'person.state == "active" && claims.email_verified == true'
`, e.url, storeBlock, o.breakGlass, oidcBlock)
	e.raw = raw
	cfg, err := config.Parse([]byte(raw), targettest.MemoryKind{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	pol, err := mapper.Compile("test.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	e.be, err = open(cfg.Store, queue.Options{}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.be.Close() })
	mem, err := targettest.MemoryKind{}.New(cfg.Targets[0], log, reg)
	if err != nil {
		t.Fatal(err)
	}
	e.target = &failing{Target: mem}
	e.eng, err = engine.New(engine.Options{Store: e.be.Store, Queue: e.be.Queue, Policy: pol,
		Targets: map[string]targets.Target{"mem": e.target}, Workers: 2, Poll: 20 * time.Millisecond,
		Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.eng.Close)
	e.adm, err = admin.New(admin.Options{Engine: e.eng, Queue: e.be.Queue, Token: adminToken, Logger: log, Registerer: reg,
		PolicyText: func() []byte { return []byte(raw) },
		CheckDraft: func(draft []byte) admin.DraftCheck {
			// tenure config validate's steps (cmd/tenure checkConfig),
			// with this test's target kind.
			f := config.CheckBytes(draft, targettest.MemoryKind{})
			pol := mapper.CheckCompile(f, "test.yaml")
			console.CheckRoles(f, "test.yaml")
			return admin.DraftCheck{Policy: pol, Problems: f.Problems()}
		}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := scim.New(scim.Options{Store: e.be.Store, Sources: []scim.Source{{Name: "hr", Token: scimToken}},
		BaseURL: e.url, Logger: log, Registerer: reg, Hook: e.eng})
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Console
	roles, err := console.CompileRoles(console.RoleExprs{Admin: cs.Roles.Admin, Approver: cs.Roles.Approver, Auditor: cs.Roles.Auditor})
	if err != nil {
		t.Fatal(err)
	}
	co := console.Options{Admin: e.adm, Store: e.be.Store, Sources: []string{"hr"}, Path: cs.Path, URL: cs.URL,
		Roles: roles, Gatherer: reg, Logger: log, Registerer: reg}
	if o.oidc {
		co.OIDC = &console.OIDC{Issuer: cs.OIDC.Issuer, ClientID: cs.OIDC.ClientID,
			ClientSecret: cs.OIDC.ClientSecret.Value(), Scopes: cs.OIDC.Scopes, Claim: cs.OIDC.Claim}
	}
	if o.breakGlass {
		co.BreakGlassToken = adminToken
	}
	con, err := console.New(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(con.Close)
	root := http.NewServeMux()
	root.Handle(scim.Prefix+"/", api)
	root.Handle(admin.Prefix+"/", e.adm)
	root.Handle("/console", con)
	root.Handle("/console/", con)
	srv := httptest.NewUnstartedServer(root)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// person is a SCIM user the tests create.
type person struct {
	UserName, Given, Family, Department string
}

// addPeople POSTs the people to the SCIM API and waits until each is
// converged (or dead, for the broken ones); it returns their person ids
// by userName.
func (e *env) addPeople(people ...person) map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for _, p := range people {
		body := map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName":    p.UserName,
			"displayName": p.Given + " " + p.Family,
			"name":        map[string]any{"givenName": p.Given, "familyName": p.Family},
			"active":      true,
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": p.Department},
		}
		var out struct{ ID string }
		e.scim(http.MethodPost, "/Users", body, &out)
		ids[p.UserName] = out.ID
	}
	return ids
}

// deactivate sets active false: a leaver now, a destructive converge.
func (e *env) deactivate(userID string) {
	e.t.Helper()
	e.scim(http.MethodPatch, "/Users/"+userID, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}},
	}, nil)
}

func (e *env) scim(method, path string, body, out any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.url+scim.Prefix+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("SCIM %s %s: %s: %s", method, path, resp.Status, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds, for at most 15s.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// screenshotDir is where the browser tests write their screenshots:
// docs/console with TENURE_SCREENSHOTS=1 (the pictures in
// docs/console.md), a temporary directory otherwise, so an ordinary run
// leaves the work tree as it was.
func screenshotDir(t *testing.T) string {
	if os.Getenv("TENURE_SCREENSHOTS") == "1" {
		dir, err := filepath.Abs(filepath.Join("..", "docs", "console"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}
