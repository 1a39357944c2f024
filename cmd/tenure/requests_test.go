package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/admin"
)

// requestsPolicy is adminPolicy with a catalog: vpn on dir, approved by
// the subject's manager.
const requestsPolicy = adminPolicy + `
requests:
  catalog:
    - {name: vpn, target: dir, entitlements: [vpn], max_duration: 720h}
`

// TestAdminRequests drives access requests and mover reviews through
// `tenure request`, `tenure review` and the admin API against a real
// `tenure serve`: create, list, a refusal for someone who is not an
// approver, the manager's approval converged to the target, show with its
// trail, a move's review kept by the manager, withdraw revoking the grant,
// and a denial.
func TestAdminRequests(t *testing.T) {
	e := startAdminEnvWith(t, requestsPolicy)
	boss := e.createUser(t, "boss@example.com", "")
	e.createUser(t, "mallory@example.com", "")
	ada := e.createUser(t, "ada@example.com", `,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"`+boss+`"}}`)
	e.waitEnabled(t, ada, true)

	r := tenureJSON[admin.AccessRequest](t, e, "request", "create", "vpn", "--for", "hr/ada@example.com", "--as", "hr/ada@example.com", "--reason", "remote work")
	if r.State != "pending" || r.Item != "vpn" || r.ID == "" {
		t.Fatalf("created %+v, want a pending vpn request", r)
	}
	list := tenureJSON[[]admin.AccessRequest](t, e, "request", "list", "--for", "hr/ada@example.com", "--state", "pending")
	if len(list) != 1 || list[0].ID != r.ID {
		t.Fatalf("list = %+v, want the one request", list)
	}
	wantContains(t, "request list", e.mustTenure(t, "request", "list"), r.ID, "vpn", "pending")

	// Not an approver: refused, and the refusal is in the trail.
	_, err := e.tenure(t, "request", "approve", r.ID, "--as", "hr/mallory@example.com")
	wantAPIError(t, err, http.StatusForbidden, "")
	// The manager approves: the grant converges to the target.
	r = tenureJSON[admin.AccessRequest](t, e, "request", "approve", r.ID, "--as", "hr/boss@example.com", "--reason", "ok")
	if r.State != "approved" || r.Start.IsZero() || r.End.IsZero() {
		t.Fatalf("approved %+v, want approved with a start and an end", r)
	}
	hasVPN := func() bool { a := e.dir.Account(ada); return a != nil && slices.Contains(a.Entitlements, "vpn") }
	eventually(t, "ada's account has vpn", hasVPN)
	show := e.mustTenure(t, "request", "show", r.ID)
	wantContains(t, "request show", show, "state: approved", "approved", "admin-api", "refused approve")
	if n := countTrail(r, "approved"); n != 1 {
		t.Errorf("%d approvals in the trail, want 1: %+v", n, r.Trail)
	}
	if p := r.Trail[len(r.Trail)-1].Proof; !strings.HasPrefix(p, "admin token; X-Tenure-Actor=") {
		t.Errorf("the approval's proof is %q, want the admin token and the declared actor", p)
	}

	// A move opens a review of the requested grant for the (new) manager,
	// who keeps it; mallory may not decide it.
	e.scim(t, "PATCH", "/scim/v2/Users/"+ada,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Analyst"}]}`, http.StatusOK)
	rvs := tenureJSON[[]admin.Review](t, e, "review", "list", "--open")
	if len(rvs) != 1 || len(rvs[0].Items) != 1 || rvs[0].Items[0].Request != r.ID {
		t.Fatalf("open reviews %+v, want one with the vpn grant", rvs)
	}
	rv := rvs[0]
	_, err = e.tenure(t, "review", "keep", rv.ID, "--item", r.ID, "--as", "hr/mallory@example.com")
	wantAPIError(t, err, http.StatusForbidden, "")
	kept := tenureJSON[admin.Review](t, e, "review", "keep", rv.ID, "--item", r.ID, "--as", "hr/boss@example.com", "--reason", "still needed")
	if it := kept.Items[0]; it.Decision != "keep" || it.By == "" {
		t.Errorf("kept item %+v", it)
	}
	wantContains(t, "review show", e.mustTenure(t, "review", "show", rv.ID), rv.ID, "vpn", "keep")
	if _, err := e.tenure(t, "review", "revoke", rv.ID, "--as", "hr/boss@example.com"); err == nil || exitCode(err) != 2 {
		t.Errorf("revoke without --item: %v, want a usage error", err)
	}
	if !hasVPN() {
		t.Error("the kept grant is gone")
	}

	// Withdrawn: the grant is revoked.
	r = tenureJSON[admin.AccessRequest](t, e, "request", "withdraw", r.ID, "--as", "hr/ada@example.com", "--reason", "done")
	if r.State != "withdrawn" {
		t.Fatalf("withdrawn %+v", r)
	}
	eventually(t, "ada's account loses vpn", func() bool { return !hasVPN() })

	// Denied: nothing granted.
	d := tenureJSON[admin.AccessRequest](t, e, "request", "create", "vpn", "--for", "hr/ada@example.com", "--as", "hr/ada@example.com")
	d = tenureJSON[admin.AccessRequest](t, e, "request", "deny", d.ID, "--as", "hr/boss@example.com", "--reason", "not now")
	if d.State != "denied" || !d.Start.IsZero() {
		t.Errorf("denied %+v", d)
	}
	// Usage errors before any request.
	if _, err := e.tenure(t, "request", "approve", d.ID); err == nil || exitCode(err) != 2 {
		t.Errorf("approve without --as: %v (exit %d), want a usage error", err, exitCode(err))
	}
	_, err = e.tenure(t, "request", "show", "no-such-request")
	wantAPIError(t, err, http.StatusNotFound, "")
}

func countTrail(r admin.AccessRequest, action string) int {
	n := 0
	for _, t := range r.Trail {
		if t.Action == action {
			n++
		}
	}
	return n
}
