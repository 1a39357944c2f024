package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/cli"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

const (
	testSCIMToken  = "scim-test-token"
	testAdminToken = "admin-test-token"
)

// adminPolicy is the policy of the admin tests: one recording target "dir",
// a guard that trips on the third destructive converge within an hour.
const adminPolicy = `
lifecycle:
  guard: {threshold: 2, window: 1h}
birthright:
  - {name: staff, when: 'true', grants: {dir: [staff]}}
  - {name: employees, when: 'user.?userType.orValue("Employee") == "Employee"', grants: {dir: [employees]}}
targets:
  - name: dir
    kind: recording
    container: '"ou=people"'
    attributes: {uid: 'user.userName'}
    leaver: {mode: disable, move_to: 'ou=disabled', delete_after: 720h}
`

// adminEnv is `tenure serve` run in-process with a recording target built
// in, and the operator commands pointed at it.
type adminEnv struct {
	*runningServer
	cfg string
	dir *targettest.Recording
	// failing makes converges of users whose userName starts with
	// "doomed" fail permanently (dead letters).
	failing atomic.Bool
}

func writeConfig(t *testing.T, path, policy string) {
	t.Helper()
	cfg := `
store: {kind: embedded, embedded: {path: ` + filepath.Join(filepath.Dir(path), "tenure.db") + `}}
sources: [{name: hr, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
engine: {poll: 20ms}
` + policy
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	return startAdminEnvWith(t, adminPolicy)
}

// startAdminEnvWith is startAdminEnv with another policy.
func startAdminEnvWith(t *testing.T, policy string) *adminEnv {
	t.Helper()
	t.Setenv("TENURE_SCIM_TOKEN", testSCIMToken)
	t.Setenv("TENURE_ADMIN_TOKEN", testAdminToken)
	t.Setenv("TENURE_SERVER", "")
	t.Setenv("TENURE_ACTOR", "")
	e := &adminEnv{cfg: filepath.Join(t.TempDir(), "tenure.yaml"), dir: targettest.New()}
	e.dir.Fail = func(req *targets.Request) error {
		if uid, _ := req.Desired.Attributes["uid"].(string); e.failing.Load() && strings.HasPrefix(uid, "doomed") {
			return targets.Permanent("recording add", errors.New("constraint violation"))
		}
		return nil
	}
	writeConfig(t, e.cfg, policy)
	saved := extraTargetKinds
	recording := func(config.Target, *slog.Logger, prometheus.Registerer) (targets.Target, error) {
		return e.dir, nil
	}
	// "other" is only for a reload that changes a target's kind.
	extraTargetKinds = map[string]targetKind{"recording": recording, "other": recording}
	t.Cleanup(func() { extraTargetKinds = saved }) // after the server stopped
	e.runningServer = startServe(t, e.cfg)
	return e
}

// tenure runs an operator command against the server.
func (e *adminEnv) tenure(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(context.Background(), append(args, "--server", e.base), &out, &errs)
	return out.String(), err
}

// mustTenure runs an operator command that must succeed.
func (e *adminEnv) mustTenure(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.tenure(t, args...)
	if err != nil {
		t.Fatalf("tenure %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// tenureJSON runs an operator command with -o json and decodes its output.
func tenureJSON[T any](t *testing.T, e *adminEnv, args ...string) T {
	t.Helper()
	var v T
	out := e.mustTenure(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("tenure %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// scim sends a SCIM request that must answer want, and returns the body.
func (e *adminEnv) scim(t *testing.T, method, path, body string, want int) string {
	t.Helper()
	code, _, out := e.request(t, method, path, testSCIMToken, body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, out)
	}
	return out
}

// createUser POSTs a user (extra is more JSON members) and returns its id.
func (e *adminEnv) createUser(t *testing.T, userName, extra string) string {
	t.Helper()
	body := e.scim(t, "POST", "/scim/v2/Users",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+userName+`","active":true`+extra+`}`, http.StatusCreated)
	var u struct{ ID string }
	if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID == "" {
		t.Fatalf("POST %s: %s", userName, body)
	}
	return u.ID
}

func (e *adminEnv) deactivate(t *testing.T, id string) {
	t.Helper()
	e.scim(t, "PATCH", "/scim/v2/Users/"+id,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`, http.StatusOK)
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// waitEnabled waits until id's account on dir is enabled (or disabled) and
// the engine recorded it in the link.
func (e *adminEnv) waitEnabled(t *testing.T, id string, enabled bool) {
	t.Helper()
	c := &admin.Client{Server: e.base, Token: testAdminToken}
	eventually(t, fmt.Sprintf("%s has an account with enabled=%v", id, enabled), func() bool {
		if a := e.dir.Account(id); a == nil || a.Enabled != enabled {
			return false
		}
		v, err := c.Identity(context.Background(), id)
		if err != nil {
			return false
		}
		l := v.Targets["dir"].Link
		return l != nil && l.Applied != nil && l.Applied.Exists && l.Applied.Enabled == enabled
	})
}

// wantContains checks that out has every string of want, comparing runs
// of spaces as one (tables align columns).
func wantContains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	squeeze := func(s string) string { return spaces.ReplaceAllString(s, " ") }
	for _, w := range want {
		if !strings.Contains(squeeze(out), squeeze(w)) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

var spaces = regexp.MustCompile(` {2,}`)

// wantAPIError checks that err is the admin API's error with status.
func wantAPIError(t *testing.T, err error, status int, contains string) {
	t.Helper()
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Message, contains) {
		t.Errorf("err = %v, want HTTP %d containing %q", err, status, contains)
		return
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code %d for an API error, want 1", exitCode(err))
	}
}

// The admin API takes only the admin token; SCIM takes only SCIM tokens.
func TestAdminAuth(t *testing.T) {
	e := startAdminEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badFile, []byte(testSCIMToken), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		name, path, token string
		want              int
	}{
		{"admin token on admin", "/admin/v1/jobs/counts", testAdminToken, 200},
		{"scim token on admin", "/admin/v1/jobs/counts", testSCIMToken, 401},
		{"no token on admin", "/admin/v1/jobs/counts", "", 401},
		{"wrong token on admin", "/admin/v1/guards", "nope", 401},
		{"admin token on scim", "/scim/v2/Users", testAdminToken, 401},
		{"scim token on scim", "/scim/v2/Users", testSCIMToken, 200},
	}
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := e.request(t, "GET", tt.path, tt.token, "")
			if code != tt.want {
				t.Fatalf("%d, want %d: %s", code, tt.want, body)
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if code == 401 && strings.HasPrefix(tt.path, admin.Prefix) {
				var ae admin.Error
				if err := json.Unmarshal([]byte(body), &ae); err != nil || ae.Status != 401 {
					t.Errorf("admin 401 body %q", body)
				}
			}
		})
	}
	cli := []struct {
		name     string
		env      string
		args     []string
		wantErr  string
		exitCode int
	}{
		{"env token", testAdminToken, []string{"jobs", "counts"}, "", 0},
		{"token file", "", []string{"jobs", "counts", "--token-file", tokenFile}, "", 0},
		{"token file wins", "nope", []string{"jobs", "counts", "--token-file", tokenFile}, "", 0},
		{"scim token", testSCIMToken, []string{"jobs", "counts"}, "invalid admin bearer token (HTTP 401)", 1},
		{"scim token file", "", []string{"guard", "status", "--token-file", badFile}, "HTTP 401", 1},
		{"no token", "", []string{"jobs", "counts"}, "no admin token", 2},
		{"missing token file", "", []string{"jobs", "counts", "--token-file", filepath.Join(t.TempDir(), "none")}, "--token-file", 1},
	}
	for _, tt := range cli {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TENURE_ADMIN_TOKEN", tt.env)
			out, err := e.tenure(t, tt.args...)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out, "scheduled") {
					t.Fatalf("err %v, out %q", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != tt.exitCode {
				t.Fatalf("err %v (exit %d), want %q (exit %d)", err, exitCode(err), tt.wantErr, tt.exitCode)
			}
		})
	}
	if logs := e.logs.String(); strings.Contains(logs, testAdminToken) || strings.Contains(logs, testSCIMToken) {
		t.Error("a token reached the logs")
	}
}

// A user POSTed over SCIM is found by `tenure identity show` with its
// lifecycle record and link, and `tenure plan` explains a change to it.
func TestAdminIdentityAndPlan(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "ada@example.com", `,"title":"Engineer"`)
	e.waitEnabled(t, id, true)
	eventually(t, "the link is recorded and the job done", func() bool {
		v, err := (&admin.Client{Server: e.base, Token: testAdminToken}).Identity(context.Background(), id)
		return err == nil && v.Targets["dir"].Link != nil && v.Targets["dir"].Job == nil
	})

	out := e.mustTenure(t, "identity", "show", id)
	wantContains(t, "identity show", out,
		"person      "+id, "userName    ada@example.com", "state       active", "source hr",
		"history (oldest first)", "joiner",
		"target dir", "id acct-"+id+", ref ref-"+id,
		"exists, enabled, container ou=people; entitlements: employees, staff",
		"generation 1 at", ": ok", "job         none",
		"recent events (newest first)", "applied", "create ou=people; grant employees; grant staff")
	v := tenureJSON[admin.Identity](t, e, "identity", "show", id)
	if v.Record == nil || v.Record.ID != id || v.State != admin.StateActive {
		t.Fatalf("identity JSON = %+v", v)
	}
	if l := v.Targets["dir"].Link; l == nil || l.ID != "acct-"+id || l.Applied == nil || !l.Applied.Enabled {
		t.Errorf("link = %+v", l)
	}
	if len(v.Events) < 2 || v.Events[len(v.Events)-1].Kind != string(engine.EventTransition) {
		t.Errorf("events = %+v", v.Events)
	}
	_, err := e.tenure(t, "identity", "show", "nobody")
	wantAPIError(t, err, 404, "no such identity")

	// The same user, deactivated: a leaver, disabled now, deleted later.
	leaver := filepath.Join(t.TempDir(), "leaver.json")
	if err := os.WriteFile(leaver, []byte(`{"id":"`+id+`","userName":"ada@example.com","title":"Engineer","active":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = e.mustTenure(t, "plan", "--user", leaver, "--at", "2026-11-23T10:00:00Z")
	wantContains(t, "plan --user", out,
		"person "+id+"  transition: leaver",
		"state at 2026-11-23T10:00:00Z: terminated",
		"target dir",
		"desired: exists, disabled, container ou=disabled; no entitlements (terminated, disabled, delete at 2026-12-23T10:00:00Z)",
		"now:      move ou=disabled; disable; revoke employees; revoke staff",
		"2026-12-23T10:00:00Z  terminated, deleted after 720h0m0s: delete")
	p := tenureJSON[admin.Plan](t, e, "plan", "--user", leaver, "--at", "2026-11-23")
	if p.Change.Transition != string(mapper.Leaver) || p.Person != id || len(p.Targets) != 1 {
		t.Fatalf("plan JSON: change %+v, person %s, %d targets", p.Change, p.Person, len(p.Targets))
	}
	if want := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC); !p.At.Equal(want) {
		t.Errorf("--at date = %v, want %v", p.At, want)
	}
	if d := p.Targets[0].Desired; d == nil || d.Enabled || d.Container != "ou=disabled" {
		t.Errorf("desired = %+v", d)
	}
	// Nothing was written: the account is still enabled.
	if a := e.dir.Account(id); a == nil || !a.Enabled {
		t.Error("plan changed the account")
	}

	wantContains(t, "plan --id", e.mustTenure(t, "plan", "--id", id),
		"person "+id+"  stored identity, no write", ": active", "now:      nothing to do")
	convert := filepath.Join(t.TempDir(), "convert.json")
	if err := os.WriteFile(convert, []byte(`{"id":"`+id+`","userName":"ada@example.com","title":"Lead","userType":"Contractor"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "plan of a conversion", e.mustTenure(t, "plan", "--user", convert),
		"transition: conversion (changed: title, userType)", "grants: staff (staff)", "now: revoke employees")
	newUser := filepath.Join(t.TempDir(), "new.json")
	if err := os.WriteFile(newUser, []byte(`{"userName":"grace@example.com","userType":"Contractor",
		"urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"startDate":"2027-03-01"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = e.mustTenure(t, "plan", "--user", newUser, "--at", "2027-01-10")
	wantContains(t, "plan of a new pre-hire", out,
		"person (new)  transition: prehire (effective 2027-03-01T00:00:00Z)", "state at 2027-01-10T00:00:00Z: pending",
		"desired:              no account (pre-hire, accounts from 2027-02-26T00:00:00Z)",
		"2027-02-26T00:00:00Z  pre-hire, enabled at 2027-03-01T00:00:00Z: create ou=people; disable; grant staff",
		"2027-03-01T00:00:00Z  active: enable")
}

// Dead letters are listed, counted and replayed; run and cancel drive
// single keys.
func TestAdminJobs(t *testing.T) {
	e := startAdminEnv(t)
	e.failing.Store(true)
	id := e.createUser(t, "doomed.one", "")
	key := "dir/" + id
	eventually(t, "the key is a dead letter", func() bool {
		c, err := (&admin.Client{Server: e.base, Token: testAdminToken}).Counts(context.Background())
		return err == nil && c.Dead == 1
	})

	out := e.mustTenure(t, "jobs", "list", "--state", "dead")
	wantContains(t, "jobs list --state dead", out, "KEY", "LAST ERROR", key, "dead", "recording add: constraint violation")
	l := tenureJSON[admin.JobList](t, e, "jobs", "list")
	if len(l.Jobs) != 1 || l.Jobs[0].Key != key || l.Jobs[0].State != admin.JobDead || l.Limit != admin.DefaultLimit {
		t.Errorf("jobs list JSON = %+v", l)
	}
	wantContains(t, "jobs counts", e.mustTenure(t, "jobs", "counts"), "scheduled  0", "inflight   0", "dead       1")
	if c := tenureJSON[admin.Counts](t, e, "jobs", "counts"); c.Dead != 1 || c.Scheduled != 0 {
		t.Errorf("counts JSON = %+v", c)
	}
	wantContains(t, "jobs show", e.mustTenure(t, "jobs", "show", key), "key            "+key, "state          dead", "constraint violation")
	wantContains(t, "identity of a dead letter", e.mustTenure(t, "identity", "show", id),
		"dead since", "error (dead letter): recording add: constraint violation")
	_, err := e.tenure(t, "jobs", "run", key)
	wantAPIError(t, err, 409, "dead letter: replay it")

	e.failing.Store(false)
	out = e.mustTenure(t, "jobs", "replay", key, "--actor", "alice")
	wantContains(t, "jobs replay", out, "replayed "+key)
	e.waitEnabled(t, id, true)
	eventually(t, "the queue is empty", func() bool {
		c, err := (&admin.Client{Server: e.base, Token: testAdminToken}).Counts(context.Background())
		return err == nil && c.Dead == 0 && c.Scheduled == 0 && c.InFlight == 0
	})
	_, err = e.tenure(t, "jobs", "replay", key)
	wantAPIError(t, err, 404, "no job "+key)
	wantContains(t, "logs", e.logs.String(), `"action":"replay","key":"`+key+`","actor":"alice","status":200`)

	// run converges now: the target sees one more converge.
	calls := len(e.dir.Calls())
	act := tenureJSON[admin.JobAction](t, e, "jobs", "run", key)
	if act.Action != "run" || act.Key != key {
		t.Errorf("run = %+v", act)
	}
	eventually(t, "run converged the key", func() bool { return len(e.dir.Calls()) > calls })

	// A pre-hire's key waits for the window to open; cancel removes it.
	future := e.createUser(t, "future.hire", `,"urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"startDate":"`+
		time.Now().AddDate(1, 0, 0).Format(time.DateOnly)+`"}`)
	fkey := "dir/" + future
	eventually(t, "the pre-hire is scheduled for its window", func() bool {
		j, err := (&admin.Client{Server: e.base, Token: testAdminToken}).Job(context.Background(), fkey)
		return err == nil && j.State == admin.JobScheduled && j.Due.After(time.Now().AddDate(0, 6, 0))
	})
	wantContains(t, "jobs list", e.mustTenure(t, "jobs", "list", "--state", "scheduled", "--limit", "1"),
		fkey, "scheduled", "(there may be more: --offset 1)")
	wantContains(t, "jobs cancel", e.mustTenure(t, "jobs", "cancel", fkey), "cancelled "+fkey+" (no longer queued)")
	_, err = e.tenure(t, "jobs", "show", fkey)
	wantAPIError(t, err, 404, "no job")
	_, err = e.tenure(t, "jobs", "cancel", fkey)
	wantAPIError(t, err, 404, "no job")
}

// waitTripped waits until the guard of dir holds one person, and returns them.
func (e *adminEnv) waitTripped(t *testing.T) string {
	t.Helper()
	c := &admin.Client{Server: e.base, Token: testAdminToken}
	var held string
	eventually(t, "the guard trips", func() bool {
		gs, err := c.Guard(context.Background(), "dir")
		if err == nil && gs.Tripped && len(gs.Held) == 1 {
			held = gs.Held[0]
			return true
		}
		return false
	})
	return held
}

// The guard trips when more users leave than its threshold allows; an
// admin approves (the held work runs) or discards (it is dropped).
func TestAdminGuard(t *testing.T) {
	e := startAdminEnv(t)
	var ids []string
	for _, n := range []string{"a.one", "b.two", "c.three"} {
		ids = append(ids, e.createUser(t, n, ""))
	}
	for _, id := range ids {
		e.waitEnabled(t, id, true)
	}
	wantContains(t, "guard status", e.mustTenure(t, "guard", "status"), "TARGET", "TRIPPED", "dir", "false")
	_, err := e.tenure(t, "guard", "approve", "dir")
	wantAPIError(t, err, 409, "not tripped")

	for _, id := range ids {
		e.deactivate(t, id)
	}
	held := e.waitTripped(t)
	wantContains(t, "guard status dir", e.mustTenure(t, "guard", "status", "dir"),
		"guard   TRIPPED at", "tenure guard approve|discard dir", "held    1", "  "+held)
	if gs := tenureJSON[admin.Guard](t, e, "guard", "status", "dir"); !gs.Tripped || len(gs.Counted) != 2 {
		t.Errorf("guard JSON = %+v", gs)
	}
	if all := tenureJSON[[]admin.Guard](t, e, "guard", "status"); len(all) != 1 || !all[0].Tripped {
		t.Errorf("guards JSON = %+v", all)
	}
	if a := e.dir.Account(held); a == nil || !a.Enabled {
		t.Fatal("the held person was disabled")
	}

	out := e.mustTenure(t, "guard", "approve", "dir", "--actor", "alice")
	wantContains(t, "guard approve", out, "guard dir approved: 1 held person(s) released")
	for _, id := range ids {
		e.waitEnabled(t, id, false)
	}
	wantContains(t, "identity of the held person", e.mustTenure(t, "identity", "show", held),
		"guard approved: this change's destructive operations released (the later delete too)  by alice")
	_, err = e.tenure(t, "guard", "approve", "dir")
	wantAPIError(t, err, 409, "not tripped")
	_, err = e.tenure(t, "guard", "status", "ldap")
	wantAPIError(t, err, 404, `no target "ldap"`)

	// Trip it again (an approval starts a new window) and discard.
	var more []string
	for _, n := range []string{"d.four", "e.five", "f.six"} {
		more = append(more, e.createUser(t, n, ""))
	}
	for _, id := range more {
		e.waitEnabled(t, id, true)
		e.deactivate(t, id)
	}
	held = e.waitTripped(t)
	wantContains(t, "guard discard", e.mustTenure(t, "guard", "discard", "dir"), "guard dir discarded")
	if gs := tenureJSON[admin.Guard](t, e, "guard", "status", "dir"); gs.Tripped || len(gs.Held) != 0 {
		t.Errorf("guard after discard = %+v", gs)
	}
	time.Sleep(200 * time.Millisecond) // time for any (wrong) converge
	if a := e.dir.Account(held); a == nil || !a.Enabled {
		t.Error("discarded destructive work ran")
	}
	wantContains(t, "logs", e.logs.String(),
		`"action":"approve guard","key":"dir","actor":"alice","status":200`,
		`"action":"discard guard","key":"dir","actor":"admin","status":200`)
}

// reconcile repairs drift on a target.
func TestAdminReconcile(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "drift@example.com", "")
	e.waitEnabled(t, id, true)
	e.dir.Tamper(id, func(a *targets.Account) { a.Enabled = false; a.Entitlements = nil })

	out := e.mustTenure(t, "reconcile", "--target", "dir")
	wantContains(t, "reconcile", out, "reconcile dir: 1 converge(s) scheduled")
	e.waitEnabled(t, id, true)
	if a := e.dir.Account(id); len(a.Entitlements) != 2 {
		t.Errorf("entitlements after reconcile = %v", a.Entitlements)
	}
	if r := tenureJSON[admin.ReconcileResult](t, e, "reconcile", "--target", "dir"); r.Target != "dir" || r.Scheduled != 1 {
		t.Errorf("reconcile JSON = %+v", r)
	}
	_, err := e.tenure(t, "reconcile", "--target", "ldap")
	wantAPIError(t, err, 404, `no target "ldap"`)
	code, _, metrics := e.request(t, "GET", "/metrics", "", "")
	wantContains(t, "/metrics", metrics,
		`tenure_admin_requests_total{route="/admin/v1/reconcile/{target}",status="200"} 2`,
		`tenure_admin_requests_total{route="/admin/v1/reconcile/{target}",status="404"} 1`)
	if code != 200 {
		t.Errorf("/metrics: %d", code)
	}
}

// reconcile reports the accounts Tenure does not know and, with
// --delete-orphans, deletes them and only them.
func TestAdminReconcileOrphans(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "known@example.com", "")
	e.waitEnabled(t, id, true)
	stray := e.dir.Plant("stray", nil)

	out := e.mustTenure(t, "reconcile", "--target", "dir")
	wantContains(t, "reconcile", out, "reconcile dir: 1 converge(s) scheduled",
		"orphans on dir: 1 of 2 account(s) not known to Tenure (not deleted; --delete-orphans deletes them)",
		"\n  ref-stray  anchor "+stray+"\n")
	if e.dir.Account("stray") == nil {
		t.Fatal("a report deleted the orphan")
	}
	r := tenureJSON[admin.ReconcileResult](t, e, "reconcile", "--target", "dir")
	if o := r.Orphans; o == nil || o.Status != admin.OrphansReported || o.OrphanReport == nil || len(o.Orphans) != 1 || o.Orphans[0].ID != stray {
		t.Errorf("reconcile JSON orphans = %+v", o)
	}

	out = e.mustTenure(t, "reconcile", "--target", "dir", "--delete-orphans", "--actor", "alice")
	wantContains(t, "reconcile --delete-orphans", out,
		"orphans on dir: 1 of 2 account(s) not known to Tenure: 1 deleted, 0 failed",
		"\n  deleted  ref-stray  anchor "+stray+"\n")
	if e.dir.Account("stray") != nil || e.dir.Account(id) == nil {
		t.Errorf("after --delete-orphans: accounts %v, want only %s", e.dir.Identities(), id)
	}
	wantContains(t, "reconcile after the deletion", e.mustTenure(t, "reconcile", "--target", "dir"), "orphans on dir: none among 1 account(s)")
	wantContains(t, "logs", e.logs.String(),
		`"msg":"engine: orphan removed","component":"engine","target":"dir","id":"`+stray+`"`,
		`"msg":"admin orphans deleted","component":"admin","target":"dir","orphans":1,"deleted":1,"failed":0,"actor":"alice"`)

	// A failed deletion is listed with its error and fails the command.
	stuck := e.dir.Plant("stuck", nil)
	e.dir.RemoveFail = func(string) error { return targets.Permanent("recording remove", errors.New("insufficient access")) }
	out, err := e.tenure(t, "reconcile", "--target", "dir", "--delete-orphans")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "1 orphan(s) could not be deleted") {
		t.Errorf("failed deletion: %v", err)
	}
	wantContains(t, "failed deletion", out, "0 deleted, 1 failed", "\n  FAILED  ref-stuck  anchor "+stuck+": recording remove: insufficient access\n")

	// A person not linked yet may adopt an orphan: nothing is deleted.
	e.failing.Store(true)
	doomed := e.createUser(t, "doomed@example.com", "")
	_, err = e.tenure(t, "reconcile", "--target", "dir", "--delete-orphans")
	wantAPIError(t, err, 409, "nothing deleted or scheduled")
	if err != nil && !strings.Contains(err.Error(), doomed) {
		t.Errorf("the error does not name %s: %v", doomed, err)
	}
	if e.dir.Account("stuck") == nil {
		t.Error("an orphan was deleted while a person waits for a link")
	}
}

// `tenure policy reload` installs a valid policy and keeps the old one on
// any error; SIGHUP reloads too.
func TestAdminPolicyReload(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "reload@example.com", "")
	e.waitEnabled(t, id, true)
	rule := func(name string) string {
		return "\n  - {name: " + name + ", when: 'true', grants: {dir: [" + name + "]}}"
	}
	withRules := func(rules ...string) string {
		return strings.Replace(adminPolicy, "birthright:", "birthright:"+strings.Join(rules, ""), 1)
	}

	writeConfig(t, e.cfg, withRules(rule("vpn")))
	wantContains(t, "policy reload", e.mustTenure(t, "policy", "reload"), "policy reloaded (targets: dir)")
	wantContains(t, "plan after reload", e.mustTenure(t, "plan", "--id", id), "now:      grant vpn")
	e.waitEnabled(t, id, true)

	bad := []struct {
		name, policy, want string
	}{
		{"bad expression", withRules(rule("vpn"), "\n  - {name: broken, when: 'user.', grants: {dir: [x]}}"), "birthright[1].when"},
		{"invalid config", withRules(rule("vpn")) + "bogus: 1\n", `unknown key "bogus"`},
		{"kind changed", strings.Replace(withRules(rule("vpn")), "kind: recording", "kind: other", 1), `kind changed from "recording" to "other"`},
		{"unknown kind", strings.Replace(withRules(rule("vpn")), "kind: recording", "kind: probe", 1), `"probe" is not a kind this binary knows`},
		{"new target", withRules(rule("vpn")) + "  - {name: crm, kind: recording}\n", "targets[1] (crm): a new target needs a restart"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			writeConfig(t, e.cfg, tt.policy)
			_, err := e.tenure(t, "policy", "reload")
			wantAPIError(t, err, 422, tt.want)
			if err != nil && !strings.Contains(err.Error(), "the old policy stays") {
				t.Errorf("err %v does not say the old policy stays", err)
			}
			// The old policy (with vpn) is still in force.
			wantContains(t, "plan after a failed reload", e.mustTenure(t, "plan", "--id", id),
				"entitlements: employees, staff, vpn (active)", "now:      grant vpn")
		})
	}

	writeConfig(t, e.cfg, withRules(rule("vpn"), rule("wifi")))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP reloads the policy", func() bool {
		out, err := e.tenure(t, "plan", "--id", id)
		return err == nil && strings.Contains(out, "grant wifi")
	})
	wantContains(t, "logs", e.logs.String(), `"msg":"policy reloaded"`, `"action":"reload policy"`, `"status":422`)
}

// tenure backup writes a verified copy of the running embedded store that
// opens as a store holding what was written before it.
func TestAdminBackup(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "backed.up@example.com", "")
	out := filepath.Join(t.TempDir(), "backup.db")
	wantContains(t, "backup", e.mustTenure(t, "backup", "--out", out), "backup: "+out, "verified")
	res := tenureJSON[cli.BackupResult](t, e, "backup", "--out", out)
	if fi, err := os.Stat(out); err != nil || res.Bytes != fi.Size() || res.Bytes == 0 {
		t.Errorf("backup JSON %+v, file %v %v", res, fi, err)
	}
	st, err := boltdb.Open(out, boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if r, err := store.Get(t.Context(), st, store.KindUser, id); err != nil || r.Name != "backed.up@example.com" {
		t.Errorf("the backup's user: %+v, %v", r, err)
	}
	if matches, _ := filepath.Glob(out + ".partial-*"); len(matches) != 0 {
		t.Errorf("partial files left behind: %v", matches)
	}
	if _, err := e.tenure(t, "backup"); err == nil {
		t.Error("backup without --out succeeded")
	}
}
