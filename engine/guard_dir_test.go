package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// The guard against real directories (issue 14): only operations that take
// access away count, each (person, operation) once however often it is
// retried, and an approval releases the held people's whole leaver
// sequence, the delete weeks later included.

// guardPolicy is the fixture's policy with a pre-hire lead and a guard.
func guardPolicy(t *testing.T, f *dirFixture, threshold int) string {
	t.Helper()
	p := strings.Replace(f.policy, "  prehire_lead: 0s\n", fmt.Sprintf("  prehire_lead: 168h\n  guard: {threshold: %d, window: 1h}\n", threshold), 1)
	if p == f.policy {
		t.Fatal("policy not patched")
	}
	return p
}

func guardEmp(i int, start string) map[string]any {
	ent := map[string]any{"employeeNumber": fmt.Sprintf("G%03d", i), "department": "Engineering"}
	out := map[string]any{enterpriseURN: ent}
	if start != "" {
		out[tenureURN] = map[string]any{"startDate": start}
	}
	return out
}

func TestGuardDirectories(t *testing.T) {
	for name, start := range map[string]func(*testing.T) *directory{"openldap": slapdDirectory, "ad": sambaDirectory} {
		t.Run(name, func(t *testing.T) {
			t.Run("PreHiresNeverCount", func(t *testing.T) { guardPreHires(t, start(t)) })
			t.Run("LeaversTripOnceAndApprovalCoversDeletes", func(t *testing.T) { guardLeavers(t, start(t)) })
		})
	}
}

// guardPreHires: 30 pre-hires (accounts created disabled a week ahead)
// with a threshold of 10 trip nothing, and are enabled on their start.
func guardPreHires(t *testing.T, d *directory) {
	f := d.fixture(t)
	e := newEnvWith(t, backends(t)[0], guardPolicy(t, f, 10), map[string]targets.Target{"dir": f.target()})
	startDay := T0.Add(10 * 24 * time.Hour)
	for i := range 30 { // distinct given names: AD names entries by cn
		e.user(fmt.Sprintf("pre%02d.x", i), guardEmp(i, startDay.Format("2006-01-02")))
	}
	e.run()
	e.at(startDay.Add(-7 * 24 * time.Hour))
	for i := range 30 {
		f.want(fmt.Sprintf("G%03d", i), "Engineering", false, "engineering", "staff")
	}
	if gs, err := e.eng.Guard(t.Context(), "dir"); err != nil || gs.Tripped || len(gs.Counted) != 0 {
		t.Fatalf("guard after 30 pre-hires = %+v, %v; want untouched", gs, err)
	}
	e.at(startDay)
	for i := range 30 {
		f.want(fmt.Sprintf("G%03d", i), "Engineering", true, "engineering", "staff")
	}
	if v := e.metric("tenure_engine_guard_tripped", "target", "dir"); v != 0 {
		t.Errorf("guard gauge %v", v)
	}
}

// guardLeavers: 30 leavers with a threshold of 10 trip the guard once;
// one approval releases the 20 held, and their deletes 30 days later run
// without a second approval.
func guardLeavers(t *testing.T, d *directory) {
	f := d.fixture(t)
	e := newEnvWith(t, backends(t)[0], guardPolicy(t, f, 10), map[string]targets.Target{"dir": f.target()})
	var ids []string
	for i := range 30 {
		ids = append(ids, e.user(fmt.Sprintf("lv%02d.x", i), guardEmp(i, "")))
	}
	e.run()
	left := T0.Add(time.Hour)
	e.clock.Set(left)
	for _, id := range ids {
		e.patch(id, replace("active", false))
	}
	e.run()
	gs, err := e.eng.Guard(t.Context(), "dir")
	if err != nil || !gs.Tripped || len(gs.Held) != 20 || len(gs.Counted) != 10 {
		t.Fatalf("guard = %+v, %v; want tripped, 10 counted, 20 held", gs, err)
	}
	e.clock.Add(time.Minute)
	if gs, err = e.eng.ApproveGuard(t.Context(), "dir", "alice"); err != nil || gs.Released != 20 {
		t.Fatalf("approve: %+v %v", gs, err)
	}
	e.run()
	for i := range 30 {
		f.want(fmt.Sprintf("G%03d", i), "Disabled", false)
	}
	e.at(left.Add(720*time.Hour + time.Minute))
	for i := range 30 {
		if got := f.find(fmt.Sprintf("G%03d", i)); got != nil {
			t.Errorf("%s not deleted after the delay", got.dn)
		}
	}
	if gs, err = e.eng.Guard(t.Context(), "dir"); err != nil || gs.Tripped || len(gs.Held) != 0 {
		t.Errorf("guard after the deletes = %+v, %v; want no second trip", gs, err)
	}
}

// TestGuardOutage: 20 leavers during a directory outage long enough for
// several retries each, with a threshold of 50, trip nothing: each
// person's disable counts once; the failed attempts count as
// unavailability, not as operation errors.
func TestGuardOutage(t *testing.T) {
	for name, start := range map[string]func(*testing.T) guardOutageDir{
		"openldap": func(t *testing.T) guardOutageDir {
			srv := testenv.Slapd(t)
			d := slapdDirectory(t)
			d.srv = srv
			return guardOutageDir{d, srv}
		},
		"ad": func(t *testing.T) guardOutageDir {
			d := sambaDirectory(t)
			return guardOutageDir{d, d.srv.(*testenv.SambaServer)}
		},
	} {
		t.Run(name, func(t *testing.T) { guardOutage(t, start(t)) })
	}
}

// guardOutageDir is a directory whose server a test can stop.
type guardOutageDir struct {
	d   *directory
	srv interface {
		Stop()
		Restart(testing.TB)
	}
}

func guardOutage(t *testing.T, od guardOutageDir) {
	f := od.d.fixture(t)
	e := newEnvWith(t, backends(t)[0], guardPolicy(t, f, 50), map[string]targets.Target{"dir": f.target()})
	var ids []string
	for i := range 20 {
		ids = append(ids, e.user(fmt.Sprintf("out%02d.x", i), guardEmp(i, "")))
	}
	e.run()
	od.srv.Stop()
	e.clock.Add(time.Hour)
	for _, id := range ids {
		e.patch(id, replace("active", false))
	}
	for range 7 { // 60 s of retries
		e.run()
		e.clock.Add(10 * time.Second)
	}
	if v := e.metric("tenure_engine_converges_total", "target", "dir", "result", "retry"); v < 40 {
		t.Fatalf("%v retries during the outage; the test wants each leaver to fail more than once", v)
	}
	// Nothing reached the directory: unavailability, once per attempt,
	// and no operation errors.
	if v := e.metric("tenure_engine_operations_total", "target", "dir", "result", "error"); v != 0 {
		t.Errorf("%v operation errors during the outage, want 0", v)
	}
	if v := e.metric("tenure_engine_target_unavailable_total", "target", "dir"); v < 40 {
		t.Errorf("unavailable = %v, want one per failed attempt (>= 40)", v)
	}
	if v := e.metric("tenure_engine_target_up", "target", "dir"); v != 0 {
		t.Errorf("target_up during the outage = %v", v)
	}
	od.srv.Restart(t)
	e.clock.Add(10 * time.Minute)
	e.run()
	for i := range 20 {
		f.want(fmt.Sprintf("G%03d", i), "Disabled", false)
	}
	if v := e.metric("tenure_engine_target_up", "target", "dir"); v != 1 {
		t.Errorf("target_up after the outage = %v", v)
	}
	gs, err := e.eng.Guard(t.Context(), "dir")
	if err != nil || gs.Tripped || len(gs.Counted) != 20 {
		t.Errorf("guard = %+v, %v; want 20 counted and not tripped", gs, err)
	}
}

// TestGuardApproveNowOnly: an approval limited to the held operations
// does not carry over to the same people's deletes after the delay.
func TestGuardApproveNowOnly(t *testing.T) {
	for _, nowOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("now-only=%v", nowOnly), func(t *testing.T) { guardApprove(t, nowOnly) })
	}
}

func guardApprove(t *testing.T, nowOnly bool) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy) // guard: threshold 3
		var ids []string
		for _, n := range []string{"a.one", "b.two", "c.three", "d.four", "e.five"} {
			ids = append(ids, e.user(n, nil))
		}
		e.run()
		left := e.clock.Now().Add(time.Hour)
		e.clock.Set(left)
		for _, id := range ids {
			e.patch(id, replace("active", false))
		}
		e.run()
		approve := e.eng.ApproveGuard
		if nowOnly {
			approve = e.eng.ApproveGuardNow
		}
		if gs, err := approve(t.Context(), "dir", "alice"); err != nil || gs.Released != 2 {
			t.Fatalf("approve: %+v %v", gs, err)
		}
		e.run()
		for _, id := range ids {
			wantAccount(t, e.acct("dir", id), false, "ou=disabled")
		}
		e.at(left.Add(720*time.Hour + time.Minute))
		gs, err := e.eng.Guard(t.Context(), "dir")
		if err != nil {
			t.Fatal(err)
		}
		if gs.Tripped != nowOnly {
			t.Errorf("now-only %v: guard tripped at the deletes = %v, want %v (%+v)", nowOnly, gs.Tripped, nowOnly, gs)
		}
	})
}
