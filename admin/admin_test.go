package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

const token = "admin-token-0123456789"

// api is the admin API over a real engine on an embedded store, with one
// recording target "dir". The engine does not run: tests drive the queue.
type api struct {
	srv *httptest.Server
	q   queue.Queue
	eng *engine.Engine
	reg *prometheus.Registry
	dir *targettest.Recording
}

func newAPI(t *testing.T, reload func(context.Context) error) *api {
	t.Helper()
	dir := targettest.New()
	a := newAPIWith(t, reload, dir)
	a.dir = dir
	return a
}

// newAPIWith is newAPI with dir as the target "dir".
func newAPIWith(t *testing.T, reload func(context.Context) error, dir targets.Target) *api {
	t.Helper()
	return newAPIPolicy(t, reload, dir, "")
}

// newAPIPolicy is newAPIWith with more of the policy (YAML sections).
func newAPIPolicy(t *testing.T, reload func(context.Context) error, dir targets.Target, more string) *api {
	t.Helper()
	t.Setenv("TEST_SCIM_TOKEN", "scim-token-0123456789")
	t.Setenv("TEST_ADMIN_TOKEN", token)
	cfg, err := config.Parse([]byte(`
sources: [{name: hr, token: {env: TEST_SCIM_TOKEN}}]
admin: {token: {env: TEST_ADMIN_TOKEN}}
birthright: [{name: staff, when: 'true', grants: {dir: [staff]}}]
targets: [{name: dir, kind: recording, container: '"ou=people"'}]
` + more))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := mapper.Compile("test.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := boltq.New(st, queue.Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); st.Close() })
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Options{Store: st, Queue: q, Policy: pol,
		Targets: map[string]targets.Target{"dir": dir}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Options{Engine: eng, Queue: q, Token: token, Reload: reload,
		MaxBodyBytes: 4096, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close(); eng.Close() })
	return &api{srv: srv, q: q, eng: eng, reg: reg}
}

// call sends a request with the admin token (auth overrides it when set)
// and returns the status and body.
func (a *api) call(t *testing.T, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// wantError checks that body is the API's error shape with status.
func wantError(t *testing.T, body string, status int, contains string) {
	t.Helper()
	var e admin.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Status != status || !strings.Contains(e.Message, contains) {
		t.Errorf("error = %+v, want status %d containing %q", e, status, contains)
	}
}

func TestAuthentication(t *testing.T) {
	a := newAPI(t, nil)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"basic", "Basic " + token, http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:10], http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"admin token", "Bearer " + token, http.StatusOK},
		{"scheme case", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := a.call(t, "GET", "/admin/v1/jobs/counts", "", "Authorization", tt.auth)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if code == http.StatusUnauthorized {
				if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
				}
				wantError(t, body, http.StatusUnauthorized, "token")
			}
		})
	}
	// Unknown paths are not revealed without the token either.
	if code, _, _ := a.call(t, "GET", "/admin/v1/nope", "", "Authorization", ""); code != http.StatusUnauthorized {
		t.Errorf("unknown path without token: %d, want 401", code)
	}
}

func TestErrors(t *testing.T) {
	a := newAPI(t, nil)
	big := `{"user":{"userName":"` + strings.Repeat("x", 5000) + `"}}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
		contains                 string
	}{
		{"unknown endpoint", "GET", "/admin/v1/nope", "", nil, 404, "no such admin endpoint"},
		{"wrong method", "DELETE", "/admin/v1/jobs/counts", "", nil, 405, "method not allowed"},
		{"bad state", "GET", "/admin/v1/jobs?state=bogus", "", nil, 400, "state must be"},
		{"negative limit", "GET", "/admin/v1/jobs?limit=-1", "", nil, 400, "limit must be"},
		{"zero limit", "GET", "/admin/v1/jobs?limit=0", "", nil, 400, "limit must be at least 1"},
		{"bad offset", "GET", "/admin/v1/jobs?offset=x", "", nil, 400, "offset must be"},
		{"unknown job", "GET", "/admin/v1/jobs/dir/nobody", "", nil, 404, "no job dir/nobody"},
		{"escaped slash stays in its segment", "GET", "/admin/v1/jobs/dir/a%2Fb", "", nil, 404, "no job dir/a/b"},
		{"replay unknown", "POST", "/admin/v1/jobs/dir/nobody/replay", "", nil, 404, "no job dir/nobody"},
		{"cancel unknown", "POST", "/admin/v1/jobs/dir/nobody/cancel", "", nil, 404, "no job dir/nobody"},
		{"run unknown person", "POST", "/admin/v1/jobs/dir/nobody/run", "", nil, 404, "no such identity"},
		{"run unknown target", "POST", "/admin/v1/jobs/ldap/nobody/run", "", nil, 404, `no target "ldap"`},
		{"identity unknown", "GET", "/admin/v1/identities/nobody", "", nil, 404, "no such identity"},
		{"guard unknown target", "GET", "/admin/v1/guards/ldap", "", nil, 404, `no target "ldap"`},
		{"approve untripped", "POST", "/admin/v1/guards/dir/approve", "", nil, 409, "not tripped"},
		{"discard untripped", "POST", "/admin/v1/guards/dir/discard", "", nil, 409, "not tripped"},
		{"reconcile unknown", "POST", "/admin/v1/reconcile/ldap", "", nil, 404, `no target "ldap"`},
		{"reconcile bad orphans", "POST", "/admin/v1/reconcile/dir?orphans=purge", "", nil, 400, "orphans must be report, delete or none"},
		{"drift unknown target", "GET", "/admin/v1/drift/ldap", "", nil, 404, `no target "ldap"`},
		{"drift bad since", "GET", "/admin/v1/drift/dir?since=yesterday", "", nil, 400, "since must be an RFC 3339 time"},
		{"drift wrong method", "POST", "/admin/v1/drift/dir", "", nil, 405, "method not allowed"},
		{"plan no body", "POST", "/admin/v1/plan", "", nil, 400, "JSON body is required"},
		{"plan empty", "POST", "/admin/v1/plan", "{}", nil, 400, "needs an id or a user"},
		{"plan bad json", "POST", "/admin/v1/plan", "{", nil, 400, "invalid JSON"},
		{"plan unknown field", "POST", "/admin/v1/plan", `{"idd":"x"}`, nil, 400, "unknown field"},
		{"plan trailing data", "POST", "/admin/v1/plan", `{"id":"x"} {}`, nil, 400, "trailing data"},
		{"plan media type", "POST", "/admin/v1/plan", `{"id":"x"}`, []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"plan too large", "POST", "/admin/v1/plan", big, nil, 413, "larger than"},
		{"plan unknown id", "POST", "/admin/v1/plan", `{"id":"nobody"}`, nil, 404, "no such identity"},
		{"plan bad start date", "POST", "/admin/v1/plan",
			`{"user":{"userName":"x","urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"startDate":"soon"}}}`, nil, 422, "plan:"},
		{"reload unavailable", "POST", "/admin/v1/policy/reload", "", nil, 501, "not available"},
		{"policy text unavailable", "GET", "/admin/v1/policy", "", nil, 501, "not available"},
		{"policy impact unavailable", "POST", "/admin/v1/policy/impact", "store: {}", nil, 501, "not available"},
		{"backup unavailable", "GET", "/admin/v1/backup", "", nil, 501, "no online backup"},
		{"backup wrong method", "POST", "/admin/v1/backup", "", nil, 405, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := a.call(t, tt.method, tt.path, tt.body, tt.hdr...)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			wantError(t, body, tt.want, tt.contains)
		})
	}
}

// deadLetter puts key in the dead letters.
func deadLetter(t *testing.T, q queue.Queue, key string) {
	t.Helper()
	ctx := context.Background()
	if err := q.Schedule(ctx, key, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 1, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].Key != key {
		t.Fatalf("claim %s: %v %v", key, jobs, err)
	}
	if err := q.Kill(ctx, jobs[0], errors.New("boom")); err != nil {
		t.Fatal(err)
	}
}

func TestJobs(t *testing.T) {
	a := newAPI(t, nil)
	ctx := context.Background()
	now := time.Now()
	deadLetter(t, a.q, "dir/p0")
	for i, p := range []string{"p1", "p2", "p3"} {
		if err := a.q.Schedule(ctx, "dir/"+p, now.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.q.Schedule(ctx, "dir/p4", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if jobs, err := a.q.Claim(ctx, 1, time.Hour); err != nil || len(jobs) != 1 || jobs[0].Key != "dir/p4" {
		t.Fatalf("claim p4: %v %v", jobs, err)
	}

	keys := func(path string) []string {
		t.Helper()
		code, _, body := a.call(t, "GET", path, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var l admin.JobList
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range l.Jobs {
			out = append(out, j.Key+":"+string(j.State))
		}
		return out
	}
	lists := []struct {
		query string
		want  string
	}{
		{"", "dir/p4:inflight dir/p1:scheduled dir/p2:scheduled dir/p3:scheduled dir/p0:dead"},
		{"?limit=2", "dir/p4:inflight dir/p1:scheduled"},
		{"?offset=2&limit=2", "dir/p2:scheduled dir/p3:scheduled"},
		{"?offset=4", "dir/p0:dead"},
		{"?offset=9", ""},
		{"?state=scheduled&offset=1", "dir/p2:scheduled dir/p3:scheduled"},
		{"?state=dead", "dir/p0:dead"},
		{"?state=inflight&limit=5000", "dir/p4:inflight"},
	}
	for _, l := range lists {
		if got := strings.Join(keys("/admin/v1/jobs"+l.query), " "); got != l.want {
			t.Errorf("jobs%s = %q, want %q", l.query, got, l.want)
		}
	}

	code, _, body := a.call(t, "GET", "/admin/v1/jobs/counts", "")
	var c admin.Counts
	if err := json.Unmarshal([]byte(body), &c); err != nil || code != 200 {
		t.Fatalf("counts: %d %s", code, body)
	}
	if c.Scheduled != 3 || c.InFlight != 1 || c.Dead != 1 || c.OldestDue.IsZero() {
		t.Errorf("counts = %+v", c)
	}

	// By target: the same jobs, and one of the engine's own work.
	if err := a.q.Schedule(ctx, "requests/r1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	code, _, body = a.call(t, "GET", "/admin/v1/jobs/targets", "")
	var tc admin.TargetCounts
	if err := json.Unmarshal([]byte(body), &tc); err != nil || code != 200 {
		t.Fatalf("targets: %d %s", code, body)
	}
	want := []admin.TargetCount{{Prefix: "dir", Scheduled: 3, InFlight: 1, Dead: 1}, {Prefix: "requests", Scheduled: 1}}
	if !slices.Equal(tc.Targets, want) || tc.Truncated {
		t.Errorf("targets = %+v, want %+v", tc, want)
	}

	code, _, body = a.call(t, "GET", "/admin/v1/jobs/dir/p0", "")
	var j admin.Job
	if err := json.Unmarshal([]byte(body), &j); err != nil || code != 200 || j.State != admin.JobDead || j.LastError != "boom" {
		t.Fatalf("job p0: %d %s", code, body)
	}
	if !strings.Contains(body, `"lastError":"boom"`) {
		t.Errorf("job JSON lacks lowerCamel names: %s", body)
	}

	code, _, body = a.call(t, "POST", "/admin/v1/jobs/dir/p1/replay", "")
	if code != http.StatusConflict {
		t.Errorf("replay of a scheduled key: %d %s", code, body)
	}
	wantError(t, body, http.StatusConflict, "dir/p1 is scheduled, not a dead letter")

	code, _, body = a.call(t, "POST", "/admin/v1/jobs/dir/p0/replay", "", admin.ActorHeader, "alice")
	var act admin.JobAction
	if err := json.Unmarshal([]byte(body), &act); err != nil || code != 200 {
		t.Fatalf("replay: %d %s", code, body)
	}
	if act.Action != "replay" || act.Job == nil || act.Job.State != admin.JobScheduled || act.Job.Attempts != 0 {
		t.Errorf("replay answer = %s", body)
	}

	code, _, body = a.call(t, "POST", "/admin/v1/jobs/dir/p2/cancel", "")
	act = admin.JobAction{}
	if err := json.Unmarshal([]byte(body), &act); err != nil || code != 200 || act.Job != nil {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if _, err := a.q.Get(ctx, "dir/p2"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("cancelled key still queued: %v", err)
	}

	// Requests are counted by route template, never by key.
	for _, m := range []struct {
		route, status string
		want          float64
	}{
		{"/admin/v1/jobs/{target}/{person}/replay", "409", 1},
		{"/admin/v1/jobs/{target}/{person}/replay", "200", 1},
		{"/admin/v1/jobs", "200", float64(len(lists))},
	} {
		got := requests(t, a.reg, m.route, m.status)
		if got != m.want {
			t.Errorf("tenure_admin_requests_total{route=%q,status=%q} = %v, want %v", m.route, m.status, got, m.want)
		}
	}
}

// requests is the value of tenure_admin_requests_total{route,status}.
func requests(t *testing.T, reg *prometheus.Registry, route, status string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tenure_admin_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestPlanNewUser(t *testing.T) {
	a := newAPI(t, nil)
	code, _, body := a.call(t, "POST", "/admin/v1/plan",
		`{"user":{"userName":"ada","active":true},"at":"2026-11-23T10:00:00Z"}`, "Content-Type", "application/json; charset=utf-8")
	if code != 200 {
		t.Fatalf("plan: %d %s", code, body)
	}
	var p admin.Plan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Change.Transition != string(mapper.Joiner) || p.State != admin.StateActive || len(p.Targets) != 1 {
		t.Fatalf("plan = %s", body)
	}
	tp := p.Targets[0]
	if tp.Target != "dir" || !tp.Desired.Exists || len(tp.Ops) == 0 || tp.Ops[0].Kind != string(targets.OpCreate) {
		t.Errorf("target plan = %+v", tp)
	}
	if !strings.Contains(body, `"transition":"joiner"`) {
		t.Errorf("change lacks lowerCamel names: %s", body)
	}
}

func TestReload(t *testing.T) {
	fail := true
	a := newAPI(t, func(context.Context) error {
		if fail {
			return errors.New("test.yaml: targets[0].scope: undeclared reference")
		}
		return nil
	})
	code, _, body := a.call(t, "POST", "/admin/v1/policy/reload", "")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("failing reload: %d %s", code, body)
	}
	wantError(t, body, 422, "the old policy stays): test.yaml: targets[0].scope: undeclared reference")
	fail = false
	code, _, body = a.call(t, "POST", "/admin/v1/policy/reload", "")
	if code != 200 || !strings.Contains(body, `"reloaded":true`) || !strings.Contains(body, `"targets":["dir"]`) {
		t.Errorf("reload: %d %s", code, body)
	}
}

func TestActor(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", "admin"},
		{"alice", "alice"},
		{"alice@example.com", "alice@example.com"},
		{"bob smith\n\"x\"", "bobsmithx"},
		{"<script>", "script"},
		{"\x00\x01", "admin"},
		{strings.Repeat("a", 100), strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set(admin.ActorHeader, tt.header)
		if got := admin.Actor(r); got != tt.want {
			t.Errorf("Actor(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	a := newAPI(t, nil)
	c := &admin.Client{Server: a.srv.URL, Token: token}
	ctx := context.Background()
	_, err := c.Job(ctx, "dir/nobody")
	var e *admin.Error
	if !errors.As(err, &e) || e.Status != 404 || e.Message != "no job dir/nobody" {
		t.Errorf("Job: %v", err)
	}
	if _, err := c.Job(ctx, "no-slash"); err == nil || !strings.Contains(err.Error(), "not target/person") {
		t.Errorf("Job without a slash: %v", err)
	}
	bad := &admin.Client{Server: a.srv.URL, Token: "wrong"}
	if _, err := bad.Counts(ctx); !errors.As(err, &e) || e.Status != 401 {
		t.Errorf("wrong token: %v", err)
	}
	// A proxy's non-JSON error page still gives an *Error with the status.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer proxy.Close()
	pc := &admin.Client{Server: proxy.URL, Token: token}
	if _, err := pc.Counts(ctx); !errors.As(err, &e) || e.Status != 502 || !strings.Contains(e.Message, "upstream down") {
		t.Errorf("proxy error: %v", err)
	}
	n, err := c.Counts(ctx)
	if err != nil || n.Dead != 0 {
		t.Errorf("Counts = %+v, %v", n, err)
	}
}

// reconcile decodes POST /reconcile/dir with query q.
func (a *api) reconcile(t *testing.T, q string) *admin.ReconcileResult {
	t.Helper()
	code, _, body := a.call(t, "POST", "/admin/v1/reconcile/dir"+q, "")
	if code != 200 {
		t.Fatalf("reconcile%s: %d %s", q, code, body)
	}
	var r admin.ReconcileResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Target != "dir" || r.Orphans == nil {
		t.Fatalf("reconcile%s = %s", q, body)
	}
	return &r
}

func TestReconcileOrphans(t *testing.T) {
	a := newAPI(t, nil)
	stray := a.dir.Plant("stray", nil)
	stuck := a.dir.Plant("stuck", nil)

	r := a.reconcile(t, "")
	o := r.Orphans
	if o.Mode != admin.OrphansReport || o.Status != admin.OrphansReported || o.OrphanReport == nil || o.Listed != 2 || len(o.Orphans) != 2 {
		t.Fatalf("default reconcile orphans = %+v", o)
	}
	if f := o.Orphans[0]; f.ID != stray || f.Ref != "ref-stray" || f.Name != "stray" || f.Removed {
		t.Errorf("orphan = %+v", f)
	}
	if len(a.dir.Identities()) != 2 {
		t.Fatal("a report deleted accounts")
	}

	r = a.reconcile(t, "?orphans=none")
	if r.Orphans.Status != admin.OrphansSkipped || r.Orphans.OrphanReport != nil {
		t.Errorf("orphans=none = %+v", r.Orphans)
	}

	a.dir.RemoveFail = func(id string) error {
		if id == stuck {
			return targets.Permanent("recording remove", errors.New("insufficient access"))
		}
		return nil
	}
	c := &admin.Client{Server: a.srv.URL, Token: token, Actor: "alice"}
	res, err := c.Reconcile(context.Background(), "dir", admin.OrphansDelete)
	if err != nil {
		t.Fatal(err)
	}
	o = res.Orphans
	if o.Status != admin.OrphansDeleted || o.Removed != 1 || o.Failed != 1 {
		t.Fatalf("delete = %+v", o)
	}
	if o.Orphans[0].ID != stray || !o.Orphans[0].Removed || o.Orphans[1].ID != stuck || !strings.Contains(o.Orphans[1].Error, "insufficient access") {
		t.Errorf("deleted orphans = %+v", o.Orphans)
	}
	if got := a.dir.Identities(); len(got) != 1 || got[0] != "stuck" {
		t.Errorf("accounts after delete = %v", got)
	}
	_, _, body := a.call(t, "POST", "/admin/v1/reconcile/dir?orphans=delete", "")
	if !strings.Contains(body, `"orphans":{"mode":"delete","status":"deleted","target":"dir","listed":1,"orphans":[{"id":"acct-stuck","ref":"ref-stuck","name":"stuck","error":`) {
		t.Errorf("JSON shape: %s", body)
	}
}

// brokenInventory lists nothing: its directory is unreachable.
type brokenInventory struct{ targets.Target }

func (brokenInventory) Accounts(context.Context, func(targets.Found) error) error {
	return targets.Retryable("ldap search", errors.New("connection refused"), 0)
}

func TestReconcileOrphansUnsupported(t *testing.T) {
	a := newAPIWith(t, nil, struct{ targets.Target }{targettest.New()})
	r := a.reconcile(t, "")
	if r.Orphans.Status != admin.OrphansNotSupported || r.Orphans.OrphanReport != nil {
		t.Errorf("orphans on a target without inventory = %+v", r.Orphans)
	}
	code, _, body := a.call(t, "POST", "/admin/v1/reconcile/dir?orphans=delete", "")
	if code != http.StatusConflict {
		t.Fatalf("delete without inventory: %d %s", code, body)
	}
	wantError(t, body, http.StatusConflict, "orphans on dir cannot be deleted")

	b := newAPIWith(t, nil, brokenInventory{targettest.New()})
	code, _, body = b.call(t, "POST", "/admin/v1/reconcile/dir", "")
	if code != http.StatusBadGateway {
		t.Fatalf("unreachable target: %d %s", code, body)
	}
	wantError(t, body, http.StatusBadGateway, "connection refused")
	code, _, body = b.call(t, "POST", "/admin/v1/reconcile/dir?orphans=delete", "")
	wantError(t, body, http.StatusConflict, "cannot remove accounts")
	if code != http.StatusConflict {
		t.Errorf("delete on a target without remover: %d", code)
	}
}

// TestAdminDecisionsOff: with requests.admin_decisions false the admin
// token may not approve, deny or decide a review item on anyone's behalf
// (403, before the request is even looked up); withdrawing stays. With the
// default it may (a request that does not exist is then a 404).
func TestAdminDecisionsOff(t *testing.T) {
	for _, tt := range []struct {
		more   string
		status int
	}{
		{"", http.StatusNotFound},
		{"requests: {admin_decisions: true}\n", http.StatusNotFound},
		{"requests: {admin_decisions: false}\n", http.StatusForbidden},
	} {
		a := newAPIPolicy(t, nil, targettest.New(), tt.more)
		for path, in := range map[string]string{
			"/admin/v1/requests/nope/approve": `{"as": "hr/boss"}`,
			"/admin/v1/requests/nope/deny":    `{"as": "hr/boss"}`,
			"/admin/v1/reviews/nope/decide":   `{"as": "hr/boss", "request": "r1", "keep": true}`,
		} {
			status, _, body := a.call(t, "POST", path, in)
			if status != tt.status {
				t.Errorf("%q: POST %s = %d %s, want %d", tt.more, path, status, body, tt.status)
			}
			if tt.status == http.StatusForbidden {
				wantError(t, body, http.StatusForbidden, "admin_decisions")
			}
		}
		if status, _, body := a.call(t, "POST", "/admin/v1/requests/nope/withdraw", `{"as": "hr/ada"}`); status != http.StatusNotFound {
			t.Errorf("%q: withdraw = %d %s, want 404 (not refused)", tt.more, status, body)
		}
	}
}
