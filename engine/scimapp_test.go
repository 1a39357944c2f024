package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// The lifecycle through the engine into SCIM apps (issue 6's acceptance):
// Tenure's own SCIM server as a downstream and every fake app of scimtest,
// each behind a real scimclient.Client as the target "app". State is read
// from what the app stores, never from the engine's view.

const scimAppPolicy = `
lifecycle:
  timezone: UTC
  prehire_lead: 0s
  mover_grace: 72h
birthright:
  - {name: staff, when: 'true', grants: {app: [Staff]}}
  - {name: engineering, when: 'enterprise.?department.orValue("") == "Engineering"', grants: {app: [Engineering]}}
  - {name: sales, when: 'enterprise.?department.orValue("") == "Sales"', grants: {app: ["Sales, EMEA"]}}
targets:
  - name: app
    kind: test-scim # built by the test, not from a scim block
    attributes:
      userName: 'user.userName'
      name.givenName: 'user.name.givenName'
      name.familyName: 'user.name.familyName'
      title: 'user.?title'
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': 'enterprise.?department'
    leaver: {mode: disable, delete_after: 720h}
`

// scimApp is one downstream app and the client modes it needs.
type scimApp struct {
	name  string
	start func(testing.TB) scimtest.Server
	opts  scimclient.Options
}

func scimApps() []scimApp {
	app := func(f func(testing.TB) *scimtest.App) func(testing.TB) scimtest.Server {
		return func(t testing.TB) scimtest.Server { return f(t) }
	}
	return []scimApp{
		{name: "tenure", start: func(t testing.TB) scimtest.Server { return scimtest.NewTenure(t) }},
		{name: "baseline", start: app(scimtest.NewBaseline)},
		{name: "put-only", start: app(scimtest.NewPutOnly), opts: scimclient.Options{UpdateMode: scimclient.UpdatePut, GroupMode: scimclient.GroupsPut}},
		// The client is not told: it learns from the 501.
		{name: "no-group-patch", start: app(scimtest.NewNoGroupPatch)},
		{name: "conflicting", start: app(scimtest.NewConflicting)},
		{name: "eventual", start: app(scimtest.NewEventual)},
		{name: "etag", start: app(scimtest.NewETag)},
		{name: "fold-case", start: app(scimtest.NewFoldCase)},
	}
}

// scimTarget is a client on srv with the modes of o, creating groups.
func scimTarget(t testing.TB, srv scimtest.Server, o scimclient.Options, rateLimit float64, burst int) *scimclient.Client {
	o.BaseURL, o.Auth, o.CreateGroups, o.Name = srv.URL(), scimclient.Bearer{Token: srv.Token()}, true, "app"
	o.RateLimit, o.Burst = rateLimit, burst
	c, err := scimclient.New(o, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appUser is a user as the app stores it.
type appUser struct {
	id, title, dept string
	active          bool
	groups          []string // the displayNames of the groups listing it, sorted
}

// findAppUser reads the user named name (ignoring case: some apps fold it)
// from the app's store; nil if there is none. Two users with the name fail
// the test: a duplicate.
func findAppUser(t *testing.T, srv scimtest.Server, name string) *appUser {
	t.Helper()
	var found []scimtest.Resource
	for _, u := range srv.Users() {
		if strings.EqualFold(u.Name, name) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
	default:
		t.Fatalf("%d users named %s on the app: a duplicate", len(found), name)
	}
	u := found[0]
	out := &appUser{id: u.ID}
	out.active, _ = u.Attrs["active"].(bool)
	out.title, _ = u.Attrs["title"].(string)
	if ext, ok := u.Attrs[enterpriseURN].(map[string]any); ok {
		out.dept, _ = ext["department"].(string)
	}
	for _, g := range srv.Groups() {
		if slices.Contains(g.Members, u.ID) {
			out.groups = append(out.groups, g.Name)
		}
	}
	slices.Sort(out.groups)
	return out
}

// wantAppUser checks the user named name on the app: active or not, its
// title and department, and exactly groups.
func wantAppUser(t *testing.T, srv scimtest.Server, name string, active bool, title, dept string, groups ...string) *appUser {
	t.Helper()
	u := findAppUser(t, srv, name)
	if u == nil {
		t.Fatalf("no user %s on the app", name)
	}
	slices.Sort(groups)
	if u.active != active || u.title != title || u.dept != dept || !slices.Equal(u.groups, groups) {
		t.Errorf("user %s: active %v, title %q, department %q, groups %q; want active %v, %q, %q, %q",
			name, u.active, u.title, u.dept, u.groups, active, title, dept, groups)
	}
	return u
}

// createUsers lists the app's answers to POST /Users, in order.
func createUsers(srv scimtest.Server) []int {
	var out []int
	for _, r := range srv.Log().Since(0) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Users") {
			out = append(out, r.Status)
		}
	}
	return out
}

// counts counts each status.
func counts(statuses []int) map[int]int {
	out := map[int]int{}
	for _, s := range statuses {
		out[s]++
	}
	return out
}

// TestSCIMAppLifecycle: joiner, mover (attributes at once, the old group
// exactly at the grace end), leaver (inactive, deleted exactly at
// delete_after) and a rehire inside the window (the same user back) on
// Tenure's SCIM server and every fake app, with never a second user; on
// both backends.
func TestSCIMAppLifecycle(t *testing.T) {
	for bi, name := range []string{"embedded", "redis"} { // backends' order
		t.Run(name, func(t *testing.T) { scimAppLifecycle(t, bi) })
	}
}

func scimAppLifecycle(t *testing.T, backendIndex int) {
	for _, a := range scimApps() {
		t.Run(a.name, func(t *testing.T) {
			srv := a.start(t)
			b := backends(t)[backendIndex] // a fresh store and queue per app
			e := newEnvWith(t, b, scimAppPolicy, map[string]targets.Target{"app": scimTarget(t, srv, a.opts, 1000, 100)})
			const name = "grace.hopper"
			// The other department's person: their memberships must not move.
			other := e.user("alan.turing", map[string]any{enterpriseURN: map[string]any{"department": "Sales"}})

			// Joiner.
			id := e.user(name, map[string]any{"title": "Engineer", enterpriseURN: map[string]any{"department": "Engineering"}})
			e.run()
			// A converge the app failed (the conflicting app's lost create)
			// is retried about a second later.
			e.at(T0.Add(10 * time.Second))
			joined := wantAppUser(t, srv, name, true, "Engineer", "Engineering", "Engineering", "Staff")
			wantAppUser(t, srv, "alan.turing", true, "", "Sales", "Sales, EMEA", "Staff")
			if n := len(srv.Users()); n != 2 {
				t.Errorf("%d users on the app, want 2", n)
			}
			joinPosts := createUsers(srv)
			if a.name == "conflicting" {
				// Each person's first create was lost (502); a retry whose
				// lookup missed the lagging user met a 409 and linked it.
				if c := counts(joinPosts); c[http.StatusBadGateway] != 2 || c[http.StatusConflict] == 0 || len(c) != 2 {
					t.Errorf("POST /Users answered %v, want each person's 502, then a 409", joinPosts)
				}
			} else if !slices.Equal(joinPosts, []int{http.StatusCreated, http.StatusCreated}) {
				t.Errorf("POST /Users answered %v, want one 201 per person", joinPosts)
			}

			// Mover: title and department change at once; the new group
			// comes at once, the old one goes exactly at the grace end.
			moved := T0.Add(time.Hour)
			e.clock.Set(moved)
			e.patch(id, replace("title", "Account Executive"), replace(enterpriseURN+":department", "Sales"))
			e.run()
			mover := wantAppUser(t, srv, name, true, "Account Executive", "Sales", "Engineering", "Sales, EMEA", "Staff")
			e.at(moved.Add(72*time.Hour - time.Second))
			wantAppUser(t, srv, name, true, "Account Executive", "Sales", "Engineering", "Sales, EMEA", "Staff")
			e.at(moved.Add(72 * time.Hour))
			wantAppUser(t, srv, name, true, "Account Executive", "Sales", "Sales, EMEA", "Staff")
			if mover.id != joined.id {
				t.Errorf("the mover is user %s, was %s", mover.id, joined.id)
			}

			// Leaver: inactive, out of its groups.
			left := moved.Add(96 * time.Hour)
			e.clock.Set(left)
			e.patch(id, replace("active", false))
			e.run()
			leaver := wantAppUser(t, srv, name, false, "Account Executive", "Sales")

			// Rehire inside the delete delay: the same user, active, its
			// groups back.
			e.clock.Set(left.Add(10 * 24 * time.Hour))
			e.patch(id, replace("active", true))
			e.run()
			rehired := wantAppUser(t, srv, name, true, "Account Executive", "Sales", "Sales, EMEA", "Staff")
			if leaver.id != joined.id || rehired.id != joined.id {
				t.Errorf("the leaver is user %s and the rehire %s, want the joiner's %s", leaver.id, rehired.id, joined.id)
			}

			// Leaves again: deleted exactly delete_after later.
			left2 := left.Add(20 * 24 * time.Hour)
			e.clock.Set(left2)
			e.patch(id, replace("active", false))
			e.run()
			wantAppUser(t, srv, name, false, "Account Executive", "Sales")
			e.at(left2.Add(720*time.Hour - time.Second))
			wantAppUser(t, srv, name, false, "Account Executive", "Sales")
			e.at(left2.Add(720 * time.Hour))
			if u := findAppUser(t, srv, name); u != nil {
				t.Errorf("user %s still on the app after the delete delay: %+v", name, u)
			}
			for _, g := range srv.Groups() {
				if slices.Contains(g.Members, joined.id) {
					t.Errorf("group %s still lists the deleted user", g.Name)
				}
			}
			// Nobody else was touched, and no user was ever created twice.
			wantAppUser(t, srv, "alan.turing", true, "", "Sales", "Sales, EMEA", "Staff")
			if posts := createUsers(srv); !slices.Equal(posts, joinPosts) {
				t.Errorf("POST /Users answered %v over the lifecycle, want only the joiners' %v", posts, joinPosts)
			}
			if n := len(srv.Users()); n != 1 {
				t.Errorf("%d users on the app, want 1 (alan.turing)", n)
			}
			for _, key := range []string{engine.Key("app", id), engine.Key("app", other)} {
				if ent, err := e.q.Get(context.Background(), key); err == nil && ent.State == queue.Dead {
					t.Errorf("%s is a dead letter: %s", key, ent.LastError)
				}
			}
		})
	}
}

// TestSCIMAppTooManyRequestsStorm: the engine's worker loop on the real
// clock against an app that answers a share of requests with 429 and
// Retry-After: 1 for a few seconds. Every joiner converges, nothing
// dead-letters, and the app never sees more than the target's rate limit
// plus its burst in any second.
func TestSCIMAppTooManyRequestsStorm(t *testing.T) {
	const (
		joiners = 30
		limit   = 20.0
		burst   = 5
	)
	app := scimtest.NewStorm(t, scimtest.Storm{After: 20, For: 3 * time.Second, Every: 3})
	e := newEnvWith(t, backends(t)[0], scimAppPolicy, map[string]targets.Target{"app": scimTarget(t, app, scimclient.Options{}, limit, burst)})
	e.clock = nil // the real clock from here on
	e.restartWithClock(time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.eng.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	dept := func(i int) string { return []string{"Engineering", "Sales"}[i%2] }
	group := map[string]string{"Engineering": "Engineering", "Sales": "Sales, EMEA"}
	for i := range joiners {
		e.user(fmt.Sprintf("storm%02d.joiner", i), map[string]any{enterpriseURN: map[string]any{"department": dept(i)}})
	}
	// Wait (a deadline, not an assertion on time) until the queue is empty.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := e.q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Scheduled == 0 && c.InFlight == 0 {
			if c.Dead != 0 {
				t.Errorf("%d dead letters", c.Dead)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after 2 minutes: %+v", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range joiners {
		wantAppUser(t, app, fmt.Sprintf("storm%02d.joiner", i), true, "", dept(i), group[dept(i)], "Staff")
	}
	if n := len(app.Users()); n != joiners {
		t.Errorf("%d users on the app, want %d", n, joiners)
	}
	if got := e.metric("tenure_engine_dead_letters_total", "target", "app"); got != 0 {
		t.Errorf("%v dead letters counted", got)
	}
	log := app.Log().Since(0)
	throttled := 0
	for _, r := range log {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	retries := e.metric("tenure_engine_converges_total", "target", "app", "result", "retry")
	if throttled == 0 || retries == 0 {
		t.Errorf("%d 429s, %v converges retried: the storm did not happen", throttled, retries)
	}
	most, from := scimtest.MaxInWindow(log, time.Second)
	if most > int(limit)+burst {
		t.Errorf("%d requests in the second from %v, want at most %d (rate limit + burst)", most, from.Format(time.StampMilli), int(limit)+burst)
	}
	t.Logf("%d requests, %d answered 429, %v converges retried, at most %d in a second", len(log), throttled, retries, most)
}

// TestSCIMAppPermanentError: an app refusing the create with a 400 and a
// SCIM error detail dead-letters the key at once, with the app's message.
func TestSCIMAppPermanentError(t *testing.T) {
	app := scimtest.NewBaseline(t)
	app.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Users") {
			return false
		}
		scimtest.Error(w, http.StatusBadRequest, "invalidValue", "mail is invalid")
		return true
	})
	e := newEnvWith(t, backends(t)[0], scimAppPolicy, map[string]targets.Target{"app": scimTarget(t, app, scimclient.Options{}, 1000, 100)})
	id := e.user("bad.mail", nil)
	e.run()
	ent, err := e.q.Get(context.Background(), engine.Key("app", id))
	if err != nil {
		t.Fatal(err)
	}
	if ent.State != queue.Dead || !strings.Contains(ent.LastError, "mail is invalid") {
		t.Errorf("queue entry %+v, want dead with the app's message", ent)
	}
	if statuses := createUsers(app); !slices.Equal(statuses, []int{http.StatusBadRequest}) {
		t.Errorf("POST /Users answered %v, want one 400 and no retry", statuses)
	}
	if n := len(app.Users()); n != 0 {
		t.Errorf("%d users on the app", n)
	}
	if got := e.metric("tenure_engine_dead_letters_total", "target", "app"); got != 1 {
		t.Errorf("%v dead letters counted, want 1", got)
	}
}
