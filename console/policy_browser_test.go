package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/internal/testenv"
)

// TestBrowserPolicy drives the Policy page and the plan of an edited
// record in Chromium: an admin pastes a draft with an error and sees it at
// its key and line, then a valid draft that adds a birthright group and
// sees who would gain it; edits a person's department and sees the plan;
// an auditor opens the Policy page too, which has nothing to apply.
func TestBrowserPolicy(t *testing.T) {
	users := []testenv.OIDCUser{
		{ID: "u-alice", UserName: "alice", Password: "alice-password", Email: "alice@example.com", FirstName: "Alice", LastName: "Admin"},
		{ID: "u-ann", UserName: "ann", Password: "ann-password", Email: "ann@example.com", FirstName: "Ann", LastName: "Auditor"},
	}
	e := newEnv(t, envOptions{oidc: true, users: users})
	ids := e.addPeople(
		person{"alice@example.com", "Alice", "Admin", "IT"},
		person{"ann@example.com", "Ann", "Auditor", "Audit"},
		person{"bob@example.com", "Bob", "Builder", "Sales"},
		person{"sam@example.com", "Sam", "Seller", "Sales"},
	)
	shots := screenshotDir(t)
	ctx := browser(t, 1280, 900)
	signIn(t, ctx, e, "alice", "alice-password")

	const rule = `birthright: [{name: all, when: "true", grants: {mem: [staff]}}]`
	if !strings.Contains(e.raw, rule) {
		t.Fatalf("the harness's policy changed; the test edits %q", rule)
	}
	bad := strings.Replace(e.raw, rule, `birthright: [{name: all, when: "true &&", grants: {mem: [staff]}}]`, 1)
	run(t, ctx, "paste a draft with an error",
		chromedp.Navigate(e.consURL+"/policy"),
		chromedp.WaitVisible(chromedp.CSS("#running")),
		chromedp.SetValue(chromedp.CSS("#draft"), bad),
		chromedp.Submit(chromedp.CSS("#draft")),
		chromedp.WaitVisible(chromedp.CSS("#problems")),
	)
	if got := text(t, ctx, "#problems"); !strings.Contains(got, "birthright[0].when") || !strings.Contains(got, "line") {
		t.Errorf("the problems %q lack the expression's path and line", got)
	}
	if got := text(t, ctx, "#draft-form"); strings.Contains(strings.ToLower(got), "apply") {
		t.Errorf("the Policy page offers to apply: %q", got)
	}

	good := strings.Replace(e.raw, rule, `birthright: [{name: all, when: "true", grants: {mem: [staff]}},
  {name: sales-vpn, when: 'enterprise.?department.orValue("") == "Sales"', grants: {mem: [vpn]}}]`, 1)
	run(t, ctx, "paste a valid draft adding a birthright group",
		chromedp.SetValue(chromedp.CSS("#draft"), good),
		chromedp.Submit(chromedp.CSS("#draft")),
		chromedp.WaitVisible(chromedp.CSS("#impact-entitlements")),
	)
	got := text(t, ctx, "#impact-entitlements")
	if !strings.Contains(got, "vpn") || !strings.Contains(got, "+2") || !strings.Contains(got, "bob@example.com") {
		t.Errorf("the impact %q does not say that the two Sales people would gain vpn", got)
	}
	if got := text(t, ctx, "#impact-counts"); !strings.Contains(got, "4") {
		t.Errorf("impact counts %q: want the 4 people evaluated", got)
	}
	shot(t, ctx, shots, "policy")
	if e.eng.Policy().Rules[0].Name != "all" || len(e.eng.Policy().Rules) != 1 {
		t.Error("checking a draft changed the running policy")
	}

	run(t, ctx, "edit Bob's department",
		chromedp.Navigate(e.consURL+"/people/"+ids["bob@example.com"]),
		chromedp.WaitVisible(chromedp.CSS("#edit")),
		chromedp.SetValue(chromedp.CSS("#e-department"), "Engineering"),
		chromedp.SetValue(chromedp.CSS("#e-title"), "Engineer"),
		chromedp.Submit(chromedp.CSS("#e-department")),
		chromedp.WaitVisible(chromedp.CSS("#plan")),
	)
	if got := text(t, ctx, "#edited"); !strings.Contains(got, `department “Engineering” (was “Sales”)`) {
		t.Errorf("the edited plan says %q", got)
	}
	if got := text(t, ctx, "#plan"); !strings.Contains(got, "mem") || !strings.Contains(got, "staff") {
		t.Errorf("the plan %q lacks the target and its entitlement", got)
	}
	shot(t, ctx, shots, "plan-edit")

	// Alice withdraws her own pending request from the Requests page.
	req, err := e.adm.CreateRequest(t.Context(), admin.RequestCreate{Item: "vpn", Subject: ids["alice@example.com"],
		As: ids["alice@example.com"]}, admin.Via{Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "withdraw a request",
		chromedp.Navigate(e.consURL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS("#withdraw-"+req.ID)),
		chromedp.Click(chromedp.CSS("#withdraw-"+req.ID)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got, err := e.adm.Request(t.Context(), req.ID); err != nil || got.State != "withdrawn" {
		t.Errorf("after Withdraw the request is %+v (%v), want withdrawn", got, err)
	}

	// An auditor reads the policy and checks a draft; nothing applies it.
	actx := browser(t, 1280, 900)
	signIn(t, actx, e, "ann", "ann-password")
	run(t, actx, "the auditor opens the Policy page",
		chromedp.Navigate(e.consURL+"/policy"),
		chromedp.WaitVisible(chromedp.CSS("#running")),
		chromedp.SetValue(chromedp.CSS("#draft"), good),
		chromedp.Submit(chromedp.CSS("#draft")),
		chromedp.WaitVisible(chromedp.CSS("#impact-entitlements")),
	)
	if got := text(t, actx, "main"); strings.Contains(strings.ToLower(got), "apply") && !strings.Contains(got, "nothing is applied") {
		t.Errorf("the auditor's Policy page offers to apply: %q", got)
	}
	if code := getStatus(t, e, "/console/policy", ""); code != http.StatusFound && code != http.StatusUnauthorized {
		t.Errorf("the Policy page without a session: %d", code)
	}
}
