package console_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/internal/testenv"
)

// browser starts Debian's Chromium headless (chromedp), with a new
// profile, and returns a context whose actions drive one tab.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, whose life is its context's: no
	// timeout on it (each step has its own).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = 20 * time.Second

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, ctx, what, chromedp.Steps(steps...))
}

// value runs an action that answers a value; on failure the test ends
// with where the browser is and what the page says.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\nat %s, the page says:\n%s", what, err, loc, body)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn goes through the provider's login form, from the console's
// sign-in page.
func signIn(t *testing.T, ctx context.Context, e *env, user, password string) {
	t.Helper()
	run(t, ctx, "sign in as "+user,
		chromedp.Navigate(e.consURL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("header form.who")),
	)
}

func sessionCookie(t *testing.T, ctx context.Context) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "tenure_console" {
			return c.Value
		}
	}
	return ""
}

// TestBrowser drives the console in Chromium, signed in at a real OpenID
// Provider (testenv.OIDC, its own process): an admin finds a person and
// their timeline, replays a dead letter and approves a guard trip; an
// auditor sees the same pages and is refused an action; a planted
// session cookie is replaced at sign-in; the page reads at 320 px.
func TestBrowser(t *testing.T) {
	users := []testenv.OIDCUser{
		{ID: "u-alice", UserName: "alice", Password: "alice-password", Email: "alice@example.com", FirstName: "Alice", LastName: "Admin"},
		{ID: "u-ann", UserName: "ann", Password: "ann-password", Email: "ann@example.com", FirstName: "Ann", LastName: "Auditor"},
		{ID: "u-carol", UserName: "carol", Password: "carol-password", Email: "carol@example.com", FirstName: "Carol", LastName: "Approver"},
		{ID: "u-ivan", UserName: "ivan", Password: "ivan-password", Email: "ivan@example.com", FirstName: "Ivan", LastName: "Leaver"},
		{ID: "u-eve", UserName: "eve", Password: "eve-password", Email: "eve@elsewhere.example", FirstName: "Eve", LastName: "Stranger"},
	}
	e := newEnv(t, envOptions{oidc: true, users: users})
	ids := e.addPeople(
		person{"alice@example.com", "Alice", "Admin", "IT"},
		person{"ann@example.com", "Ann", "Auditor", "Audit"},
		person{"carol@example.com", "Carol", "Approver", "Sales"},
		person{"bob@example.com", "Bob", "Builder", "Sales"},
		person{"broken@example.com", "Brian", "Broken", "Sales"},
		person{"lee1@example.com", "Lee", "One", "Sales"},
		person{"lee2@example.com", "Lee", "Two", "Sales"},
		person{"lee3@example.com", "Lee", "Three", "Sales"},
		person{"ivan@example.com", "Ivan", "Leaver", "IT"},
	)
	deadKey := "mem/" + ids["broken@example.com"]
	e.eventually("the broken person's dead letter", func() bool {
		j, err := e.adm.Job(context.Background(), deadKey)
		return err == nil && j.State == "dead"
	})
	e.eventually("bob converged", func() bool {
		id, err := e.adm.Identity(context.Background(), ids["bob@example.com"])
		return err == nil && id.Targets["mem"].Link != nil && id.Targets["mem"].Link.Result == "ok"
	})
	for _, u := range []string{"lee1@example.com", "lee2@example.com", "lee3@example.com", "ivan@example.com"} {
		e.deactivate(ids[u])
	}
	e.eventually("the guard trips", func() bool {
		gs, err := e.adm.Guards(context.Background())
		return err == nil && len(gs) == 1 && gs[0].Tripped
	})
	shots := screenshotDir(t)
	ctx := browser(t, 1280, 900)

	// Session fixation: a cookie planted before sign-in is not adopted.
	const planted = "attacker-chosen-session-id"
	setCookie(t, ctx, e, planted)
	run(t, ctx, "sign-in page", chromedp.Navigate(e.consURL+"/"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	shot(t, ctx, shots, "signin")
	signIn(t, ctx, e, "alice", "alice-password")
	sid := sessionCookie(t, ctx)
	if sid == "" || sid == planted {
		t.Fatalf("session cookie after sign-in is %q; want a new one", sid)
	}
	if got := text(t, ctx, "header .who span"); !strings.Contains(got, "alice@example.com") || !strings.Contains(got, "admin") {
		t.Errorf("signed in as %q; want alice@example.com (admin)", got)
	}
	if st := getStatus(t, e, "/console/people", planted); st != http.StatusFound {
		t.Errorf("GET /console/people with the planted cookie: %d; want 302 to the sign-in", st)
	}

	// Find a person, open their timeline.
	shot(t, ctx, shots, "people")
	run(t, ctx, "search for bob",
		chromedp.SendKeys(chromedp.CSS("#q"), "bob"),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS(`#people a[href$="`+ids["bob@example.com"]+`"]`)),
	)
	if rows := text(t, ctx, "#people tbody"); strings.Contains(rows, "Brian") || !strings.Contains(rows, "bob@example.com") {
		t.Errorf("search for bob lists %q", rows)
	}
	run(t, ctx, "open bob",
		chromedp.Click(chromedp.CSS(`#people a[href$="`+ids["bob@example.com"]+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	)
	if tl := text(t, ctx, "#timeline"); !strings.Contains(tl, "joiner") || !strings.Contains(tl, "applied on mem create") {
		t.Errorf("bob's timeline: %q; want the joiner and the account created on mem", tl)
	}
	if acc := text(t, ctx, "#accounts"); !strings.Contains(acc, "enabled") {
		t.Errorf("bob's accounts: %q; want an enabled account on mem", acc)
	}
	shot(t, ctx, shots, "person")
	run(t, ctx, "what would change",
		chromedp.SetValue(chromedp.CSS("#at"), "2099-01-01"),
		chromedp.Submit(chromedp.CSS("#at")),
		chromedp.WaitVisible(chromedp.CSS("#plan")),
	)
	if plan := text(t, ctx, "main"); !strings.Contains(plan, "2099-01-01 00:00:00 UTC") || !strings.Contains(plan, "enabled (active") {
		t.Errorf("bob's plan for 2099: %q", plan)
	}
	shot(t, ctx, shots, "plan")

	// Replay a dead letter once the target is fixed.
	run(t, ctx, "jobs", chromedp.Navigate(e.consURL+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#dead")))
	if dead := text(t, ctx, "#dead"); !strings.Contains(dead, deadKey) || !strings.Contains(dead, "403 Forbidden") {
		t.Errorf("dead letters: %q; want %s with its reason", dead, deadKey)
	}
	// The dead letter's target has a row with it counted.
	target, _, _ := strings.Cut(deadKey, "/")
	if by := text(t, ctx, "#by-target"); !strings.Contains(by, target) {
		t.Errorf("jobs by target: %q; want a row for %s", by, target)
	}
	shot(t, ctx, shots, "jobs")
	e.target.fixed.Store(true)
	run(t, ctx, "replay",
		chromedp.Click(chromedp.CSS(`button[aria-label="Replay `+deadKey+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if f := text(t, ctx, ".flash"); f != "replay: "+deadKey {
		t.Errorf("after replay the page says %q", f)
	}
	e.eventually("the replayed person converged", func() bool {
		id, err := e.adm.Identity(context.Background(), ids["broken@example.com"])
		return err == nil && id.Targets["mem"].Link != nil && id.Targets["mem"].Link.Result == "ok"
	})
	if l := e.log.String(); !strings.Contains(l, `"action":"replay"`) || !strings.Contains(l, `"actor":"alice@example.com"`) {
		t.Errorf("the replay is not logged with alice as the actor")
	}

	// Approve the guard trip with a reason.
	before, err := e.adm.Guards(context.Background())
	if err != nil || len(before[0].Held) == 0 {
		t.Fatalf("guard before approval: %+v, %v; want people held", before, err)
	}
	lee := before[0].Held[0]
	run(t, ctx, "guard", chromedp.Navigate(e.consURL+"/guard"), chromedp.WaitVisible(chromedp.CSS("#approve-mem")))
	if held := text(t, ctx, ".held"); !strings.Contains(held, "lee") || strings.Contains(held, lee) {
		t.Errorf("held people shown as %q; want their userNames", held)
	}
	shot(t, ctx, shots, "guard")
	run(t, ctx, "approve",
		chromedp.SendKeys(chromedp.CSS("#reason-a-mem"), "HR confirmed the three leavers"),
		chromedp.Click(chromedp.CSS("#approve-mem")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	gs, err := e.adm.Guards(context.Background())
	if err != nil || gs[0].Tripped {
		t.Fatalf("guard after approval: %+v, %v; want released", gs, err)
	}
	id, err := e.adm.Identity(context.Background(), lee)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range id.Events {
		found = found || ev.Actor == "alice@example.com" && strings.Contains(ev.Detail, "guard approved")
	}
	if !found {
		t.Errorf("no audit event of alice's approval on the held person %s: %+v", lee, id.Events)
	}
	if l := e.log.String(); !strings.Contains(l, `"reason":"HR confirmed the three leavers"`) {
		t.Errorf("the approval's reason is not logged")
	}
	run(t, ctx, "health", chromedp.Navigate(e.consURL+"/health"), chromedp.WaitVisible(chromedp.CSS("#targets")))
	if h := text(t, ctx, "#targets"); !strings.Contains(h, "mem: up") {
		t.Errorf("health: %q; want mem up", h)
	}
	shot(t, ctx, shots, "health")

	// CSRF: alice's own cookie, without the form's token or from another
	// origin, does nothing.
	csrf := value(t, ctx, "read the CSRF token", chromedp.AttributeValue(chromedp.CSS(`input[name="csrf"]`), "value")).Value
	for _, c := range []struct {
		name, token, origin string
	}{
		{"no token", "", ""},
		{"another session's token", otherToken(csrf), ""},
		{"another origin", csrf, "http://evil.example"},
	} {
		if st := post(t, e, "/console/jobs/cancel", sid, c.token, c.origin, url.Values{"key": {"mem/" + ids["bob@example.com"]}}); st != http.StatusForbidden {
			t.Errorf("CSRF %s: %d; want 403", c.name, st)
		}
	}

	// 320 px wide: nothing wider than the screen but the tables, which
	// scroll in their own region.
	narrow := browser(t, 1280, 900)
	setCookie(t, narrow, e, sid)
	// A window is never narrower than about 500 px; the viewport is.
	run(t, narrow, "narrow people", chromedp.EmulateViewport(320, 700),
		chromedp.Navigate(e.consURL+"/people"), chromedp.WaitVisible(chromedp.CSS("#people")))
	if w := value(t, narrow, "measure", chromedp.Evaluate[int](`document.documentElement.clientWidth`)); w != 320 {
		t.Fatalf("the page is %d px wide; want 320", w)
	}
	overflow := value(t, narrow, "measure", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if overflow {
		t.Errorf("the People page is wider than 320 px")
	}
	shot(t, narrow, shots, "people-320")

	// Sign out; the session is gone, not only its cookie.
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS("header form.who button")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	if st := getStatus(t, e, "/console/people", sid); st != http.StatusFound {
		t.Errorf("GET with the signed-out session: %d; want 302 to the sign-in", st)
	}

	// Decide a request as an approver: carol, whom the catalog names,
	// finds bob's and Brian's requests in her inbox and approves bob's
	// with a comment, through the engine's DecideRequest on channel
	// console, the session as the proof.
	reqs := map[string]string{}
	for _, who := range []string{"bob@example.com", "broken@example.com"} {
		req, err := e.adm.CreateRequest(context.Background(), admin.RequestCreate{Item: "vpn", Subject: ids[who], As: ids[who],
			Reason: "working from home"}, admin.Via{Channel: admin.ChannelAdmin})
		if err != nil {
			t.Fatalf("%s requests vpn: %v", who, err)
		}
		reqs[who] = req.ID
	}
	bobReq := reqs["bob@example.com"]
	signIn(t, ctx, e, "carol", "carol-password")
	if got := text(t, ctx, "header .who span"); !strings.Contains(got, "approver") || strings.Contains(got, "admin") {
		t.Errorf("carol signed in as %q; want an approver only", got)
	}
	if st := getStatus(t, e, "/console/recommendations", sessionCookie(t, ctx)); st != http.StatusForbidden {
		t.Errorf("an approver's GET /recommendations: %d; want 403", st)
	}
	if nav := text(t, ctx, "header nav"); strings.Contains(nav, "People") {
		t.Errorf("an approver's navigation offers %q; want Requests only", nav)
	}
	run(t, ctx, "carol's inbox", chromedp.Navigate(e.consURL+"/requests"), chromedp.WaitVisible(chromedp.CSS("#approve-"+bobReq)))
	if inbox := text(t, ctx, "#inbox"); !strings.Contains(inbox, "vpn for bob@example.com") || !strings.Contains(inbox, "vpn for broken@example.com") ||
		!strings.Contains(inbox, "requested via admin-api") {
		t.Errorf("carol's inbox: %q; want bob's and Brian's requests with their trails", inbox)
	}
	if n := value(t, ctx, "count sections", chromedp.Evaluate[int](`document.querySelectorAll("#all").length`)); n != 0 {
		t.Errorf("an approver sees every request")
	}
	shot(t, ctx, shots, "requests")
	run(t, ctx, "approve bob's request",
		chromedp.SendKeys(chromedp.CSS("#comment-"+bobReq), "approved for the project"),
		chromedp.Click(chromedp.CSS("#approve-"+bobReq)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if st := text(t, ctx, "#req-"+bobReq+" .state"); st != "approved" {
		t.Errorf("bob's request after carol's approval shows %q; want approved", st)
	}
	if tr := text(t, ctx, "#req-"+bobReq+" .trail"); !strings.Contains(tr, `carol@example.com approved via console: “approved for the project”`) {
		t.Errorf("bob's request's trail: %q; want carol's approval with her comment", tr)
	}
	shot(t, ctx, shots, "request")
	got, err := e.adm.Request(context.Background(), bobReq)
	if err != nil || got.State != "approved" {
		t.Fatalf("bob's request: %+v, %v; want approved", got, err)
	}
	last := got.Trail[len(got.Trail)-1]
	if last.Channel != "console" || last.Actor != ids["carol@example.com"] || !strings.Contains(last.Proof, "console session of carol@example.com") {
		t.Errorf("the approval's trail line: %+v; want carol on channel console with the session as proof", last)
	}
	run(t, ctx, "sign out carol", chromedp.Click(chromedp.CSS("header form.who button")), chromedp.WaitVisible(chromedp.CSS("#signin")))

	// An auditor sees the pages, without actions, and is refused one.
	signIn(t, ctx, e, "ann", "ann-password")
	annSID := sessionCookie(t, ctx)
	run(t, ctx, "jobs as auditor", chromedp.Navigate(e.consURL+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#dead")))
	buttons := value(t, ctx, "count buttons", chromedp.Evaluate[int](`document.querySelectorAll("#dead button").length`))
	if buttons != 0 {
		t.Errorf("an auditor's Jobs page has %d action buttons", buttons)
	}
	csrf = value(t, ctx, "read ann's CSRF token", chromedp.AttributeValue(chromedp.CSS(`input[name="csrf"]`), "value")).Value
	if st := post(t, e, "/console/guard/discard", annSID, csrf, e.url, url.Values{"target": {"mem"}, "reason": {"I am an auditor"}}); st != http.StatusForbidden {
		t.Errorf("an auditor's discard: %d; want 403", st)
	}
	// She sees every pending request, read-only; deciding Brian's (she
	// is no approver of it) is refused by the engine, and in its trail.
	brianReq := reqs["broken@example.com"]
	run(t, ctx, "requests as auditor", chromedp.Navigate(e.consURL+"/requests"), chromedp.WaitVisible(chromedp.CSS("#all #req-"+brianReq)))
	if n := value(t, ctx, "count buttons", chromedp.Evaluate[int](`document.querySelectorAll("#all button").length`)); n != 0 {
		t.Errorf("an auditor's list of every request has %d buttons", n)
	}
	if st := post(t, e, "/console/requests/"+brianReq+"/decide", annSID, csrf, e.url, url.Values{"decision": {"approve"}, "comment": {"I am an auditor"}}); st != http.StatusForbidden {
		t.Errorf("an auditor's approval: %d; want 403", st)
	}
	if got, err := e.adm.Request(context.Background(), brianReq); err != nil || got.State != "pending" ||
		got.Trail[len(got.Trail)-1].Action != "refused approve" || got.Trail[len(got.Trail)-1].Actor != ids["ann@example.com"] {
		t.Errorf("Brian's request after ann's attempt: %+v, %v; want pending, her refusal in the trail", got, err)
	}
	// Recommendations, computed on demand (the admin API's operation),
	// for admins and auditors; not for an approver.
	run(t, ctx, "recommendations", chromedp.Navigate(e.consURL+"/recommendations?min-group=2&min-support=2&significance=0.5"),
		chromedp.WaitVisible(chromedp.CSS("#analysed")))
	if a := text(t, ctx, "#analysed"); !strings.Contains(a, "People") {
		t.Errorf("recommendations: %q", a)
	}
	shot(t, ctx, shots, "recommendations")

	// Someone the IdP knows but Tenure does not is not signed in, nor is
	// a leaver whom the admin expression (department IT) would match.
	run(t, ctx, "sign out ann", chromedp.Click(chromedp.CSS("header form.who button")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	for _, c := range []struct{ user, why string }{
		{"eve", "no one in Tenure is eve@elsewhere.example"},
		{"ivan", "you have no role in the console"},
	} {
		run(t, ctx, "sign in as "+c.user,
			chromedp.Navigate(e.consURL+"/signin"),
			chromedp.Click(chromedp.CSS("#signin")),
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SendKeys(chromedp.CSS("#username"), c.user),
			chromedp.SendKeys(chromedp.CSS("#password"), c.user+"-password"),
			chromedp.Submit(chromedp.CSS("#password")),
			chromedp.WaitVisible(chromedp.CSS("#error")),
		)
		if msg := text(t, ctx, "#error"); !strings.Contains(msg, c.why) {
			t.Errorf("%s's sign-in: %q; want %q", c.user, msg, c.why)
		}
		if sid := sessionCookie(t, ctx); sid != "" {
			t.Errorf("%s has a session cookie", c.user)
		}
	}
}

// otherToken is a token of the same length that differs from tok.
func otherToken(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// setCookie puts a console session cookie in the browser, as an attacker
// planting one (fixation) or a second window of the same user would.
func setCookie(t *testing.T, ctx context.Context, e *env, value string) {
	t.Helper()
	yes := true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "tenure_console", Value: value,
		URL: e.consURL + "/", Path: "/console/", HTTPOnly: &yes, Secure: &yes}); err != nil {
		t.Fatalf("set cookie: %v", err)
	}
}

// getStatus GETs path with a session cookie, without following
// redirects.
func getStatus(t *testing.T, e *env, path, sid string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.AddCookie(&http.Cookie{Name: "tenure_console", Value: sid})
	return do(t, req)
}

// post POSTs a form with a session cookie, a CSRF token and an Origin.
func post(t *testing.T, e *env, path, sid, token, origin string, form url.Values) int {
	t.Helper()
	if token != "" {
		form.Set("csrf", token)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.AddCookie(&http.Cookie{Name: "tenure_console", Value: sid})
	return do(t, req)
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
