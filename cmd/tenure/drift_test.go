package main

import (
	"testing"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/cli"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/targets"
)

// tenure reconcile --wait reports what the converges it scheduled
// repaired, per class; tenure drift status shows the tally.
func TestDriftReconcileWait(t *testing.T) {
	e := startAdminEnv(t)
	id := e.createUser(t, "drifter@example.com", "")
	e.waitEnabled(t, id, true)
	e.dir.Tamper(id, func(a *targets.Account) { a.Enabled = false; a.Entitlements = nil })

	out := e.mustTenure(t, "reconcile", "--target", "dir", "--wait", "20s")
	wantContains(t, "reconcile --wait", out,
		"reconcile dir: 1 converge(s) scheduled",
		"converges on dir: all 1 account(s) converged",
		"repaired on dir: status 1, membership 2")
	if a := e.dir.Account(id); a == nil || !a.Enabled || len(a.Entitlements) != 2 {
		t.Errorf("account after reconcile = %+v", a)
	}
	// Nothing left to repair the second time; JSON carries the same.
	r := tenureJSON[cli.ReconcileOutput](t, e, "reconcile", "--target", "dir", "--wait", "20s")
	if r.ReconcileResult == nil || r.Target != "dir" || r.Waited == nil || r.Waited.Pending != 0 || len(r.Waited.Repaired) != 0 {
		t.Errorf("second reconcile JSON = %+v (waited %+v)", r.ReconcileResult, r.Waited)
	}

	wantContains(t, "drift status", e.mustTenure(t, "drift", "status", "dir"),
		"drift pass off (drift.interval not set)",
		"repaired since", "status 1, membership 2")
	if v := tenureJSON[admin.Drift](t, e, "drift", "status", "dir"); v.Tally.Repairs[engine.DriftMembership] != 2 || v.Linked != 1 {
		t.Errorf("drift status JSON = %+v", v)
	}
	_, err := e.tenure(t, "drift", "status", "ldap")
	wantAPIError(t, err, 404, `no target "ldap"`)
}
