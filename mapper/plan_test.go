package mapper

import (
	"reflect"
	"testing"
	"time"

	"github.com/tenurehq/tenure/targets"
)

// converge plays the engine for one target: at each step it computes the
// desired state with the link the previous step left, plans from what was
// last applied, and applies it.
type converge struct {
	t       *testing.T
	p       *Policy
	target  string
	applied *targets.Account // nil: never converged
}

func (c *converge) at(label string, rec *Record, now time.Time, want ...string) {
	c.t.Helper()
	linked := c.applied != nil && c.applied.Exists
	d := desired(c.t, c.p, rec, c.target, linked, now)
	got := planOps(c.applied, &d.Account)
	if !reflect.DeepEqual(got, want) {
		c.t.Errorf("%s %s: plan = %q, want %q (%s)", c.target, label, got, want, d.Reason)
	}
	c.applied = d.Account.Clone()
	// Converging again changes nothing: the plan is idempotent.
	if again := planOps(c.applied, &d.Account); len(again) != 0 {
		c.t.Errorf("%s %s: second plan = %q", c.target, label, again)
	}
}

func TestPlanLifecycle(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id := ada().with("tenure.startDate", "2024-03-20").with("tenure.employeeNumber", "E100")
	S := berlinMidnight(2024, 3, 20)
	open := S.Add(-72 * time.Hour)
	rec, _ := observe(t, p, nil, "u1", id, t0)

	ad := &converge{t: t, p: p, target: "ad", applied: &targets.Account{}}
	ad.at("before the window", rec, t0)
	ad.at("window opens", rec, open, "create "+engOU, "disable", "grant CN=Engineering", "grant CN=Onboarding", "grant CN=Staff")
	ad.at("start", rec, S, "enable")

	M := S.Add(2 * day)
	sales := id.with("enterprise.department", "Sales").with("title", "Account Executive")
	rec, _ = observe(t, p, rec, "u1", sales, M)
	ad.at("mover", rec, M, "update [department title]", "move "+salesOU, "grant CN=Sales")
	ad.at("grace ends", rec, M.Add(72*time.Hour), "revoke CN=Engineering")
	ad.at("onboarding ends", rec, S.Add(720*time.Hour), "revoke CN=Onboarding")

	mgr := sales.with("enterprise.manager", map[string]any{"value": "mgr-2"})
	rec, _ = observe(t, p, rec, "u1", mgr, S.Add(31*day))
	ad.at("new manager", rec, S.Add(31*day), "update [manager]")

	L := S.Add(40 * day)
	rec, _ = observe(t, p, rec, "u1", mgr.with("active", false), L)
	ad.at("leaver", rec, L, "move "+disabledOU, "disable", "revoke CN=Sales", "revoke CN=Staff")
	ad.at("during the retention", rec, L.Add(10*day))

	R := L.Add(20 * day)
	back, _ := observe(t, p, rec, "u1", mgr, R)
	ad.at("rehire inside the window", back, R, "move "+salesOU, "enable", "grant CN=Onboarding", "grant CN=Sales", "grant CN=Staff")
	ad.at("old delete time", back, L.Add(720*time.Hour))

	rec, _ = observe(t, p, back, "u1", mgr.with("active", false), R.Add(day))
	ad.at("leaves again", rec, R.Add(day), "move "+disabledOU, "disable", "revoke CN=Onboarding", "revoke CN=Sales", "revoke CN=Staff")
	ad.at("deleted", rec, R.Add(day+720*time.Hour), "delete")
	ad.at("stays deleted", rec, R.Add(day+721*time.Hour))

	app := &converge{t: t, p: p, target: "app", applied: &targets.Account{}}
	rec, _ = observe(t, p, nil, "u2", id, t0)
	app.at("window opens", rec, open, "create", "disable", "grant users")
	app.at("start", rec, S, "update [active]", "enable")
	rec, _ = observe(t, p, rec, "u2", id.with("userType", "Contractor"), S.Add(day))
	app.at("conversion out of scope", rec, S.Add(day), "delete")
	rec, _ = observe(t, p, rec, "u2", id.with("userType", "Employee"), S.Add(2*day))
	app.at("back in scope", rec, S.Add(2*day), "create", "grant users")
	rec, _ = observe(t, p, rec, "u2", nil, S.Add(3*day))
	app.at("DELETE from the source", rec, S.Add(3*day), "delete")
}

func TestPlanScopeAndPurge(t *testing.T) {
	p := compilePolicy(t, stdWith("source_delete: purge"))
	id := ada().withGroups("vpn-users")
	rec, _ := observe(t, p, nil, "u1", id, t0)
	vpn := &converge{t: t, p: p, target: "vpn", applied: &targets.Account{}}
	vpn.at("joiner", rec, t0, "create", "grant vpn")
	rec, _ = observe(t, p, rec, "u1", ada(), t0.Add(time.Hour))
	vpn.at("left the group", rec, t0.Add(time.Hour), "move ou=disabled-vpn", "disable", "revoke vpn")
	rec, _ = observe(t, p, rec, "u1", id, t0.Add(2*time.Hour))
	vpn.at("back in the group", rec, t0.Add(2*time.Hour), "move", "enable", "grant vpn")
	rec, _ = observe(t, p, rec, "u1", nil, t0.Add(3*time.Hour))
	vpn.at("purged", rec, t0.Add(3*time.Hour), "delete")
}

// TestPlanUnknownApplied pins what Plan does when the engine knows nothing
// of the account: an absent desired state plans nothing (no delete for the
// guard to count; a target that reads its directory still removes a stray
// account), a present one creates.
func TestPlanUnknownApplied(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	rec, _ := observe(t, p, nil, "u1", ada().with("active", false), t0)
	d := desired(t, p, rec, "ad", false, t0)
	if got := planOps(nil, &d.Account); len(got) != 0 {
		t.Errorf("plan = %q", got)
	}
	rec, _ = observe(t, p, nil, "u1", ada(), t0)
	d = desired(t, p, rec, "wiki", false, t0)
	if got := planOps(nil, &d.Account); !reflect.DeepEqual(got, []string{"create", "grant editors", "grant readers"}) {
		t.Errorf("plan = %q", got)
	}
}
