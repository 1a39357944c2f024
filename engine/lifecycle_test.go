package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// policy is the lifecycle policy the engine tests run under.
const policy = `
lifecycle:
  timezone: Europe/Paris
  prehire_lead: 72h
  mover_grace: 168h
  correlation: 'enterprise.?employeeNumber.orValue("")'
  guard: {threshold: 3, window: 1h}
birthright:
  - {name: staff, when: 'true', grants: {dir: [staff]}}
  - {name: engineering, when: 'enterprise.?department.orValue("") == "Engineering"', grants: {dir: [engineering]}}
  - {name: sales, when: 'enterprise.?department.orValue("") == "Sales"', grants: {dir: [sales]}}
  - {name: employees, when: 'user.?userType.orValue("Employee") == "Employee"', grants: {dir: [employees]}}
  - {name: contractors, when: 'user.?userType.orValue("") == "Contractor"', grants: {dir: [contractors]}}
  - {name: interns, when: 'user.?userType.orValue("") == "Intern"', for: 2160h, grants: {dir: [intern-lab]}}
targets:
  - name: dir
    kind: recording
    container: '"ou=people"'
    attributes:
      uid: 'user.userName'
      cn: 'user.name.givenName + " " + user.name.familyName'
      title: 'user.?title'
    references:
      manager: 'manager'
    leaver: {mode: disable, move_to: 'ou=disabled', delete_after: 720h}
`

func ent(a *targets.Account) []string {
	if a == nil {
		return nil
	}
	return a.Entitlements
}

func wantAccount(t *testing.T, a *targets.Account, enabled bool, container string, ents ...string) {
	t.Helper()
	if a == nil {
		t.Fatalf("account absent, want enabled=%v in %s", enabled, container)
	}
	if a.Enabled != enabled || a.Container != container || !slices.Equal(a.Entitlements, ents) {
		t.Fatalf("account = enabled %v, %q, %v; want enabled %v, %q, %v",
			a.Enabled, a.Container, a.Entitlements, enabled, container, ents)
	}
}

func wantAbsent(t *testing.T, a *targets.Account) {
	t.Helper()
	if a != nil {
		t.Fatalf("account exists (enabled %v, %q), want absent", a.Enabled, a.Container)
	}
}

func TestPrehire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		// Starts 16 Nov, local midnight in New York = 05:00 UTC.
		id := e.user("ada.lovelace", map[string]any{
			"timezone": "America/New_York",
			tenureURN:  map[string]any{"startDate": "2026-11-16"},
		})
		e.run()
		wantAbsent(t, e.acct("dir", id))
		start := time.Date(2026, 11, 16, 5, 0, 0, 0, time.UTC)
		e.at(start.Add(-72*time.Hour - time.Second))
		wantAbsent(t, e.acct("dir", id))
		e.at(start.Add(-72 * time.Hour))
		wantAccount(t, e.acct("dir", id), false, "ou=people", "employees", "staff")
		e.at(start.Add(-time.Second))
		wantAccount(t, e.acct("dir", id), false, "ou=people", "employees", "staff")
		e.at(start)
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		if got := e.acct("dir", id).Attributes["uid"]; got != "ada.lovelace" {
			t.Errorf("uid = %v", got)
		}
	})
}

func TestMoverGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("grace.hopper", map[string]any{enterpriseURN: map[string]any{"department": "Engineering"}})
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "engineering", "staff")
		moved := T0.Add(time.Hour)
		e.clock.Set(moved)
		e.patch(id, replace(enterpriseURN+":department", "Sales"))
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "engineering", "sales", "staff")
		e.at(moved.Add(168*time.Hour - time.Second))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "engineering", "sales", "staff")
		e.at(moved.Add(168 * time.Hour))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "sales", "staff")
		if got := e.metric("tenure_engine_transitions_total", "transition", "mover", "source", "hr"); got != 1 {
			t.Errorf("mover transitions = %v, want 1", got)
		}
	})
}

func TestLeaverDisableMoveDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("alan.turing", nil)
		e.run()
		left := T0.Add(24 * time.Hour)
		e.clock.Set(left)
		e.patch(id, replace("active", false))
		e.run()
		wantAccount(t, e.acct("dir", id), false, "ou=disabled")
		e.at(left.Add(720*time.Hour - time.Second))
		wantAccount(t, e.acct("dir", id), false, "ou=disabled")
		e.at(left.Add(720 * time.Hour))
		wantAbsent(t, e.acct("dir", id))

		var kinds []string
		err := e.st.View(context.Background(), func(r store.Reader) error {
			evs, err := engine.Events(r, id, 0)
			for _, ev := range evs {
				kinds = append(kinds, string(ev.Kind)+":"+string(ev.Transition))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"applied:", "applied:", "transition:leaver", "applied:", "transition:joiner"}
		if !slices.Equal(kinds, want) {
			t.Errorf("audit (newest first) = %v, want %v", kinds, want)
		}
	})
}

func TestRehireInsideDeleteWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("katherine.johnson", nil)
		e.run()
		left := T0.Add(24 * time.Hour)
		e.clock.Set(left)
		e.patch(id, replace("active", false))
		e.run()
		wantAccount(t, e.acct("dir", id), false, "ou=disabled")
		e.clock.Set(left.Add(10 * 24 * time.Hour))
		e.patch(id, replace("active", true))
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		// The delete due at left+720h finds an active person.
		e.at(left.Add(721 * time.Hour))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		if n := e.targets["dir"].Created(); n != 1 {
			t.Errorf("accounts created = %d, want 1", n)
		}
		for _, c := range e.targets["dir"].Calls() {
			for _, op := range c.Ops {
				if op.Kind == targets.OpDelete {
					t.Errorf("a rehire inside the window deleted the account: %+v", c)
				}
			}
		}
	})
}

func TestRehireByCorrelationAfterDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		first := e.user("dorothy.vaughan", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "E-1001"}})
		e.run()
		left := T0.Add(24 * time.Hour)
		e.clock.Set(left)
		e.do("DELETE", "/Users/"+first, nil, 204)
		e.run()
		wantAccount(t, e.acct("dir", first), false, "ou=disabled")
		e.at(left.Add(720 * time.Hour))
		wantAbsent(t, e.acct("dir", first))

		e.clock.Set(left.Add(800 * time.Hour))
		second := e.user("dorothy.vaughan2", map[string]any{enterpriseURN: map[string]any{"employeeNumber": "E-1001"}})
		e.run()
		// The same person: the account is theirs again, under the old id.
		wantAccount(t, e.acct("dir", first), true, "ou=people", "employees", "staff")
		if got := e.targets["dir"].Identities(); !slices.Equal(got, []string{first}) {
			t.Errorf("accounts = %v, want only %s (new SCIM id %s must not duplicate)", got, first, second)
		}
		id, err := e.eng.Identity(context.Background(), second)
		if err != nil {
			t.Fatal(err)
		}
		if id.Record.ID != first || id.Record.History[len(id.Record.History)-1].Transition != "rehire" {
			t.Errorf("identity for %s = person %s, last transition %v", second, id.Record.ID, id.Record.History)
		}
	})
}

func TestConversion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("mary.jackson", map[string]any{"userType": "Employee"})
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		e.clock.Add(time.Hour)
		e.patch(id, replace("userType", "Contractor"))
		e.run()
		// revoke_all: employee access goes at once, no grace.
		wantAccount(t, e.acct("dir", id), true, "ou=people", "contractors", "staff")
	})
}

func TestTimeBoundGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("intern.one", map[string]any{"userType": "Intern"})
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "intern-lab", "staff")
		e.at(T0.Add(2160*time.Hour - time.Second))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "intern-lab", "staff")
		e.at(T0.Add(2160 * time.Hour))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "staff")
	})
}

func TestFutureTerminationEndOfLocalDay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("annie.easley", map[string]any{"timezone": "America/New_York"})
		e.run()
		e.clock.Add(time.Hour)
		e.patch(id, replace(tenureURN+":endDate", "2026-12-04"))
		e.run()
		// The whole of 4 December in New York (EST, UTC-5): until 05:00 UTC on the 5th.
		end := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
		e.at(end.Add(-time.Second))
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		e.at(end)
		wantAccount(t, e.acct("dir", id), false, "ou=disabled")
	})
}

func TestGuardTripsAndResumesOnApproval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		var ids []string
		for _, n := range []string{"a.one", "b.two", "c.three", "d.four", "e.five"} {
			ids = append(ids, e.user(n, nil))
		}
		e.run()
		e.clock.Add(time.Hour)
		for _, id := range ids {
			e.patch(id, replace("active", false))
		}
		e.run()
		disabled := 0
		for _, id := range ids {
			if !e.acct("dir", id).Enabled {
				disabled++
			}
		}
		if disabled != 3 {
			t.Fatalf("disabled before the guard tripped = %d, want 3 (threshold)", disabled)
		}
		gs, err := e.eng.Guard(context.Background(), "dir")
		if err != nil {
			t.Fatal(err)
		}
		if !gs.Tripped || len(gs.Held) != 2 {
			t.Fatalf("guard = %+v, want tripped holding 2", gs)
		}
		if v := e.metric("tenure_engine_guard_tripped", "target", "dir"); v != 1 {
			t.Errorf("guard gauge = %v, want 1", v)
		}
		// Held work stays held however often it runs.
		e.clock.Add(time.Minute)
		e.run()
		if _, err := e.eng.ApproveGuard(context.Background(), "dir", "admin"); err != nil {
			t.Fatal(err)
		}
		e.run()
		for _, id := range ids {
			wantAccount(t, e.acct("dir", id), false, "ou=disabled")
		}
		if v := e.metric("tenure_engine_guard_tripped", "target", "dir"); v != 0 {
			t.Errorf("guard gauge after approval = %v, want 0", v)
		}
		if _, err := e.eng.ApproveGuard(context.Background(), "dir", "admin"); !errors.Is(err, engine.ErrGuardNotTripped) {
			t.Errorf("second approve: %v, want ErrGuardNotTripped", err)
		}
	})
}

func TestGuardDiscard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		var ids []string
		for _, n := range []string{"a.one", "b.two", "c.three", "d.four"} {
			ids = append(ids, e.user(n, nil))
		}
		e.run()
		e.clock.Add(time.Hour)
		for _, id := range ids {
			e.patch(id, replace("active", false))
		}
		e.run()
		gs, err := e.eng.Guard(context.Background(), "dir")
		if err != nil || len(gs.Held) != 1 {
			t.Fatalf("guard = %+v, %v; want one held", gs, err)
		}
		held := gs.Held[0]
		if _, err := e.eng.DiscardGuard(context.Background(), "dir", "admin"); err != nil {
			t.Fatal(err)
		}
		e.run()
		if n, err := e.eng.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("sweep after discard = %d, %v; want nothing to redo", n, err)
		}
		e.run()
		if !e.acct("dir", held).Enabled {
			t.Errorf("discarded destructive work ran")
		}
		// The person's next change converges again.
		e.clock.Add(time.Hour)
		e.patch(held, replace("title", "Analyst"))
		e.run()
		if e.acct("dir", held).Enabled {
			t.Errorf("after a new change the leaver is still enabled")
		}
	})
}

func TestCrashBetweenAcceptAndConverge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("margaret.hamilton", nil)
		// The process dies after the 201, before any worker ran.
		e.restart()
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
	})
}

func TestManagerHiredAfterReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		// The manager starts in 30 days: no account until 3 days before.
		mgrStart := T0.Add(30 * 24 * time.Hour).Truncate(24 * time.Hour)
		mgr := e.user("boss.one", map[string]any{tenureURN: map[string]any{"startDate": mgrStart.Format(time.RFC3339)}})
		rep := e.user("report.one", map[string]any{enterpriseURN: map[string]any{"manager": map[string]any{"value": mgr}}})
		e.run()
		wantAbsent(t, e.acct("dir", rep)) // waiting for the manager
		for range 3 {
			e.clock.Add(5 * time.Second)
			e.run()
		}
		// Not held back forever: created without the manager.
		a := e.acct("dir", rep)
		if a == nil || a.References["manager"] != "" {
			t.Fatalf("report after waiting = %+v, want an account without manager", a)
		}
		// The manager's account appears; the report is woken and gets it.
		e.at(mgrStart.Add(-72 * time.Hour))
		if got := e.acct("dir", rep).References["manager"]; got != "ref-"+mgr {
			t.Fatalf("report's manager = %q, want ref-%s", got, mgr)
		}
	})
}

func TestRetryAfterAndDeadLetter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		rec := e.targets["dir"]
		rec.Fail = func(*targets.Request) error {
			return targets.Retryable("recording add", errors.New("busy"), 30*time.Second)
		}
		id := e.user("busy.one", nil)
		e.run()
		ent, err := e.q.Get(context.Background(), "dir/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if ent.State != queue.Scheduled || !ent.Due.Equal(e.clock.Now().Add(30*time.Second)) || ent.Attempts != 1 {
			t.Fatalf("after a Retry-After 30s failure: %+v, want scheduled at +30s", ent)
		}
		rec.Fail = func(*targets.Request) error {
			return targets.Permanent("recording add", errors.New("objectClass violation: sn required"))
		}
		e.at(e.clock.Now().Add(30 * time.Second))
		ent, err = e.q.Get(context.Background(), "dir/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if ent.State != queue.Dead || !strings.Contains(ent.LastError, "sn required") {
			t.Fatalf("after a permanent failure: %+v, want dead with the server's message", ent)
		}
		rec.Fail = nil
		if err := e.q.Replay(context.Background(), "dir/"+id); err != nil {
			t.Fatal(err)
		}
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
	})
}

func TestDriftRepairedBySweepOfChangedPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("drift.one", nil)
		e.run()
		e.targets["dir"].Tamper(id, func(a *targets.Account) { a.Entitlements = append(a.Entitlements, "domain-admins") })
		if _, err := e.eng.Reconcile(context.Background(), "dir"); err != nil {
			t.Fatal(err)
		}
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
	})
}

func TestPlanTouchesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("plan.one", map[string]any{enterpriseURN: map[string]any{"department": "Engineering"}})
		e.run()
		calls := len(e.targets["dir"].Calls())
		p, err := e.eng.Plan(context.Background(), engine.PlanRequest{User: map[string]any{
			"id": id, "userName": "plan.one", "active": false,
			"name":        map[string]any{"givenName": "plan", "familyName": "Test"},
			enterpriseURN: map[string]any{"department": "Engineering"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Change.Transition != "leaver" || p.Person != id || len(p.Targets) != 1 {
			t.Fatalf("plan = %+v", p)
		}
		tp := p.Targets[0]
		var ops []string
		for _, op := range tp.Ops {
			ops = append(ops, op.String())
		}
		want := []string{"move ou=disabled", "disable", "revoke employees", "revoke engineering", "revoke staff"}
		if !slices.Equal(ops, want) {
			t.Errorf("ops now = %v, want %v", ops, want)
		}
		if len(tp.Later) != 1 || !tp.Later[0].At.Equal(T0.Add(720*time.Hour)) || tp.Later[0].Ops[0].Kind != targets.OpDelete {
			t.Errorf("later = %+v, want a delete at T0+720h", tp.Later)
		}
		// Nothing happened.
		e.run()
		if len(e.targets["dir"].Calls()) != calls || !e.acct("dir", id).Enabled {
			t.Errorf("plan changed something")
		}
		if v, _ := e.eng.Identity(context.Background(), id); v.State != "active" {
			t.Errorf("state after plan = %s", v.State)
		}
	})
}

func TestSweepReenqueuesUnreconciledChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		id := e.user("lost.job", nil)
		// Someone cancels the job by hand before it ran.
		if err := e.q.Cancel(context.Background(), "dir/"+id); err != nil {
			t.Fatal(err)
		}
		e.run()
		wantAbsent(t, e.acct("dir", id))
		n, err := e.eng.Sweep(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v; want 1 key re-enqueued", n, err)
		}
		e.run()
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
		if n, err := e.eng.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v; want nothing to do", n, err)
		}
	})
}

// TestShutdownReleasesRunningWork stops the worker loop while a converge
// is stuck: Run returns after the drain period and the key goes back to the
// queue, to be converged by the next process.
func TestShutdownReleasesRunningWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		e.drain = 200 * time.Millisecond
		e.restart()
		e.targets["dir"].Delay = time.Hour // until cancelled
		id := e.user("stuck.one", nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.eng.Run(ctx) }()
		for deadline := time.Now().Add(10 * time.Second); len(e.targets["dir"].Running()) == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("converge never started")
			}
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after the drain period")
		}
		ent, err := e.q.Get(context.Background(), "dir/"+id)
		if err != nil || ent.State != queue.Scheduled {
			t.Fatalf("after shutdown the key is %+v, %v; want scheduled again", ent, err)
		}
		e.targets["dir"].Delay = 0
		e.at(ent.Due)
		wantAccount(t, e.acct("dir", id), true, "ou=people", "employees", "staff")
	})
}

// TestLostLeaseCancelsConverge: when a worker's lease runs out under it
// (it stalled, or the queue was unreachable, for longer than the lease),
// another worker takes the key, so the first must stop converging: after
// the key is claimed again, only one converge of it remains.
func TestLostLeaseCancelsConverge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		e.lease, e.drain = time.Second, 100*time.Millisecond
		e.restart()
		rec := e.targets["dir"]
		rec.Delay = time.Hour // until cancelled
		id := e.user("slow.one", nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.eng.Run(ctx) }()
		defer func() { cancel(); <-done }()
		waitFor(t, "the converge to start", func() bool { return rec.RunningCount(id) == 1 })
		e.clock.Add(2 * time.Second) // the lease ends on the queue's clock
		waitFor(t, "the key to be claimed again", func() bool { return rec.Starts() >= 2 })
		waitFor(t, "the first converge to be cancelled", func() bool { return rec.RunningCount(id) == 1 })
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
