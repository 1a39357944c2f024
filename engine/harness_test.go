package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/store/redisstore"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

// T0 is the harness's starting time: a Monday in November.
var T0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// backend opens a store and a queue on one backend; reopen simulates a
// restarted process on the same data.
type backend struct {
	name string
	open func(t testing.TB, now func() time.Time) (store.Store, queue.Queue, func())
}

var redisPrefixes atomic.Int64

func backends(t testing.TB) []backend {
	dir := t.TempDir()
	var srv *testenv.RedisServer
	prefix := fmt.Sprintf("eng%d", redisPrefixes.Add(1))
	return []backend{
		{"embedded", func(t testing.TB, now func() time.Time) (store.Store, queue.Queue, func()) {
			st, err := boltdb.Open(filepath.Join(dir, "tenure.db"), boltdb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			q, err := boltq.New(st, queue.Options{Now: now}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st, q, func() { q.Close(); st.Close() }
		}},
		{"redis", func(t testing.TB, now func() time.Time) (store.Store, queue.Queue, func()) {
			if srv == nil {
				srv = testenv.Redis(t)
			}
			// serve's default pool: a connection per worker (64 by
			// default) and 32 spare (config's redisPoolSpare). go-redis's
			// own default, 10 per CPU, is 20 here, and 64 workers
			// holding WATCHed connections queued for them.
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64 + 32, MaintNotificationsConfig: testenv.RedisNoMaint()})
			st, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			q, err := redisq.New(st, queue.Options{Now: now}, redisq.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st, q, func() { q.Close(); st.Close(); c.Close() }
		}},
	}
}

// forEachBackend runs fn once per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// testLogger logs to stderr with TENURE_TEST_LOG=1, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("TENURE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

const scimToken = "hr-token-0123456789"

// env is Tenure in a test: the real SCIM server with the engine's intake as
// its hook, the engine on an injected clock, recording targets.
type env struct {
	t       testing.TB
	b       backend
	clock   *clock
	pol     *mapper.Policy
	st      store.Store
	q       queue.Queue
	eng     *engine.Engine
	targets map[string]*targettest.Recording
	real    map[string]targets.Target // targets that are not recordings
	http    *httptest.Server
	reg     *prometheus.Registry
	close   func()
	drain   time.Duration // engine.Options.Drain; 0 is the default
	lease   time.Duration // engine.Options.Lease; 0 is the default
	workers int           // engine.Options.Workers; 0 is the default
}

// newEnv starts Tenure with the policy YAML (lifecycle/birthright/targets
// sections; sources and admin are added) on backend b.
func newEnv(t testing.TB, b backend, policyYAML string) *env {
	t.Helper()
	return newEnvWith(t, b, policyYAML, nil)
}

// newEnvWith is newEnv with real targets (a directory) for some of the
// policy's target names; the others record.
func newEnvWith(t testing.TB, b backend, policyYAML string, real map[string]targets.Target) *env {
	t.Helper()
	t.Setenv("TEST_SCIM_TOKEN", scimToken)
	t.Setenv("TEST_ADMIN_TOKEN", "admin-token-0123456789")
	pol := compilePolicy(t, "test.yaml", policyYAML)
	e := &env{t: t, b: b, clock: &clock{t: T0}, pol: pol, targets: map[string]*targettest.Recording{}, real: real}
	for _, name := range pol.TargetNames {
		if real[name] == nil {
			e.targets[name] = targettest.New()
		}
	}
	e.start()
	t.Cleanup(func() { e.stop() })
	return e
}

// compilePolicy compiles the policy YAML, with a source and the admin
// token added, as file.
func compilePolicy(t testing.TB, file, policyYAML string) *mapper.Policy {
	t.Helper()
	cfg, err := config.Parse([]byte(`
sources: [{name: hr, token: {env: TEST_SCIM_TOKEN}}]
admin: {token: {env: TEST_ADMIN_TOKEN}}
` + policyYAML))
	if err != nil {
		t.Fatalf("%s: config: %v", file, err)
	}
	pol, err := mapper.Compile(file, cfg)
	if err != nil {
		t.Fatalf("%s: policy: %v", file, err)
	}
	return pol
}

func (e *env) start() { e.startWith(e.clock.Now) }

// restartWithClock restarts on another clock (benchmarks use the real one).
func (e *env) restartWithClock(now func() time.Time) {
	e.stop()
	e.startWith(now)
}

func (e *env) startWith(now func() time.Time) {
	t := e.t
	e.st, e.q, e.close = e.b.open(t, now)
	e.reg = prometheus.NewRegistry()
	tg := map[string]targets.Target{}
	for n, r := range e.targets {
		tg[n] = r
	}
	for n, r := range e.real {
		tg[n] = r
	}
	eng, err := engine.New(engine.Options{
		Store: e.st, Queue: e.q, Policy: e.pol, Targets: tg, Now: now, Registerer: e.reg, Drain: e.drain, Lease: e.lease, Workers: e.workers,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	srv, err := scim.New(scim.Options{
		Store: e.st, Sources: []scim.Source{{Name: "hr", Token: scimToken}},
		Now: now, Hook: eng, Registerer: e.reg, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", srv)
	e.http = httptest.NewServer(mux)
}

func (e *env) stop() {
	if e.http == nil {
		return
	}
	e.http.Close()
	e.eng.Close()
	e.close()
	e.http = nil
}

// restart is a process restart: nothing in memory survives.
func (e *env) restart() {
	e.stop()
	e.start()
}

// do sends a SCIM request and decodes the JSON answer.
func (e *env) do(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.http.URL+"/scim/v2"+path, rd)
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// user POSTs a user and returns its id. ext sets tenure extension values.
func (e *env) user(userName string, attrs map[string]any) string {
	e.t.Helper()
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
		"name":     map[string]any{"givenName": strings.Split(userName, ".")[0], "familyName": "Test"},
	}
	for k, v := range attrs {
		body[k] = v
	}
	out := e.do("POST", "/Users", body, http.StatusCreated)
	return out["id"].(string)
}

// patch applies PATCH operations to a user.
func (e *env) patch(id string, ops ...map[string]any) {
	e.t.Helper()
	e.do("PATCH", "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	}, http.StatusOK)
}

func replace(path string, value any) map[string]any {
	return map[string]any{"op": "replace", "path": path, "value": value}
}

// at moves the clock to t and converges everything due.
func (e *env) at(t time.Time) {
	e.t.Helper()
	e.clock.Set(t)
	e.run()
}

// run converges everything due now.
func (e *env) run() int {
	e.t.Helper()
	n, err := e.eng.RunDue(context.Background())
	if err != nil {
		e.t.Fatalf("RunDue: %v", err)
	}
	return n
}

// acct returns the account of person on target (nil if absent).
func (e *env) acct(target, person string) *targets.Account {
	return e.targets[target].Account(person)
}

const tenureURN = "urn:ietf:params:scim:schemas:extension:tenure:2.0:User"
const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// metric reads one sample from the env's registry; labels are name, value pairs.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}
