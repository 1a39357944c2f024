package engine_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/email"
	"github.com/tenurehq/tenure/notify/slack"
	"github.com/tenurehq/tenure/notify/slack/slacktest"
	"github.com/tenurehq/tenure/targets"
)

// withEmail gives a person of the cast an address (SCIM emails).
func (e *env) withEmail(id, addr string) {
	e.t.Helper()
	e.patch(id, replace("emails", []map[string]any{{"value": addr, "primary": true}}))
}

// decider serves a channel's handler deciding through the engine running
// now (a restart replaces it).
func (e *env) decider() notify.Decider { return e.eng.Decider() }

// TestRequestApprovedInSlack is acceptance (a) with the decision taken in
// Slack, on both backends into a real slapd: the request is posted to the
// channel with buttons, the reminder and the escalation go into its
// thread, a forged and a replayed click decide nothing, the fallback's
// click (signed, mapped by the Slack user's email) approves through the
// engine with channel slack and the proof in the trail, one converge puts
// the group in LDAP and it is revoked at max_duration.
func TestRequestApprovedInSlack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := slapdDirectory(t).fixture(t)
		f.add(ldapsync.JoinDN(ldapsync.RDN("cn", "vpn"), f.groups), f.group("vpn"))
		e := newEnvWith(t, b, f.policy+requestsYAML, map[string]targets.Target{"dir": f.target()})
		const secret = "slack-signing-secret-0123456789"
		fake := slacktest.New(t, "xoxb-tenure", map[string]string{"UBOSS": "boss@example.com", "USEC": "sec@example.com"}, "CREQ")
		sl, err := slack.New(slack.Options{Token: "xoxb-tenure", SigningSecret: secret, Channel: "CREQ", APIURL: fake.APIURL()},
			e.st, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		e.eng.SetNotifiers([]notify.Notifier{sl})
		c := e.cast()
		e.withEmail(c.boss, "boss@example.com")
		e.withEmail(c.sec, "sec@example.com")
		e.run()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sl.Handler(e.decider()).ServeHTTP(w, r)
		}))
		defer srv.Close()

		t0 := T0.Add(time.Hour)
		e.clock.Set(t0)
		r := e.request("vpn", c.ada, c.ada)
		e.run()
		e.at(t0.Add(24 * time.Hour)) // the reminder
		e.at(t0.Add(48 * time.Hour)) // the escalation to the fallback
		posts := fake.Posts()
		if len(posts) != 3 {
			t.Fatalf("posts: %+v, want created, reminder, escalated", posts)
		}
		for i, p := range posts {
			if !slices.Equal(p.ActionIDs(), []string{slack.ActionApprove, slack.ActionDeny}) || (i > 0 && p.ThreadTS != posts[0].TS) {
				t.Errorf("post %d: actions %v, thread %q (root %s)", i, p.ActionIDs(), p.ThreadTS, posts[0].TS)
			}
		}
		if !strings.Contains(posts[0].Text, "<@UBOSS>") || !strings.Contains(posts[2].Text, "<@USEC>") {
			t.Errorf("mentions: %q / %q", posts[0].Text, posts[2].Text)
		}
		click := slacktest.Click(posts[2], "USEC", "T1", slack.ActionApprove)
		if s := slacktest.Deliver(t, srv.URL, "forged-secret", click, time.Now()); s != http.StatusUnauthorized {
			t.Errorf("forged: %d", s)
		}
		if s := slacktest.Deliver(t, srv.URL, secret, click, time.Now().Add(-10*time.Minute)); s != http.StatusUnauthorized {
			t.Errorf("replayed: %d", s)
		}
		if got := e.req(r.ID); got.State != engine.RequestPending {
			t.Fatalf("after refused clicks: %s", got.State)
		}
		decided := t0.Add(50 * time.Hour)
		e.clock.Set(decided)
		if s := slacktest.Deliver(t, srv.URL, secret, click, time.Now()); s != http.StatusOK {
			t.Fatalf("signed click: %d", s)
		}
		got := e.req(r.ID)
		last := got.Trail[len(got.Trail)-1]
		if got.State != engine.RequestApproved || !got.End.Equal(decided.Add(240*time.Hour)) || last.Actor != c.sec ||
			last.Channel != "slack" || !strings.Contains(last.Proof, "USEC") || !strings.Contains(last.Proof, "sec@example.com") {
			t.Fatalf("after the fallback's click: %s, end %v, trail %+v", got.State, got.End, last)
		}
		if p := fake.Posts(); len(p) < 4 || p[3].ThreadTS != posts[0].TS || !strings.Contains(p[3].Text, "approved") {
			t.Errorf("the outcome in the thread: %+v", p[3:])
		}
		f.want("E1", "Engineering", true, "engineering", "staff")
		e.run()
		f.want("E1", "Engineering", true, "engineering", "staff", "vpn")
		e.at(got.End)
		f.want("E1", "Engineering", true, "engineering", "staff")
		if end := e.req(r.ID); end.State != engine.RequestEnded {
			t.Errorf("at the end: %s", end.State)
		}
	})
}

var decideLink = regexp.MustCompile(`https://tenure\.example\.com(/decide/[A-Za-z0-9_.-]+)`)

// TestRequestApprovedByEmailLink is acceptance (d) on both backends with
// a real SMTP server: the manager's mail carries the links; the approve
// link's GET decides nothing, its POST approves (channel email, the link
// as proof); the link used again is refused, and so is an expired link of
// another request.
func TestRequestApprovedByEmailLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, recordingRequests)
		smtp := testenv.SMTP(t)
		pem, err := os.ReadFile(smtp.CAFile())
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		em, err := email.New(email.Options{Host: smtp.Host(), Port: smtp.Port(), Username: smtp.User, Password: smtp.Password,
			From: "tenure@example.com", LinkBaseURL: "https://tenure.example.com", LinkSecret: "link-secret-0123456789",
			LinkLifetime: 24 * time.Hour, TLS: &tls.Config{RootCAs: roots, ServerName: smtp.Host()}, Now: e.clock.Now},
			e.st, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		e.eng.SetNotifiers([]notify.Notifier{em})
		c := e.cast()
		e.withEmail(c.boss, "boss@example.com")
		e.run()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			em.Handler(e.decider()).ServeHTTP(w, r)
		}))
		defer srv.Close()
		do := func(method, path string) int {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}

		t0 := T0.Add(time.Hour)
		e.clock.Set(t0)
		vpn := e.request("vpn", c.ada, c.ada)
		staff2 := e.request("db", c.ada, c.ada) // all-of: manager and a DBA
		e.run()
		var vpnLinks, dbLinks []string
		for _, raw := range smtp.Messages(t) {
			body := strings.ReplaceAll(strings.ReplaceAll(raw, "=\r\n", ""), "=3D", "=") // quoted-printable soft breaks
			links := decideLink.FindAllStringSubmatch(body, -1)
			if !strings.Contains(raw, "X-Envelope-To: <boss@example.com>") && !strings.Contains(raw, "X-Envelope-To: boss@example.com") || len(links) != 2 {
				t.Fatalf("mail: %d links\n%s", len(links), raw)
			}
			switch {
			case strings.Contains(body, vpn.ID):
				vpnLinks = []string{links[0][1], links[1][1]}
			case strings.Contains(body, staff2.ID):
				dbLinks = []string{links[0][1], links[1][1]}
			}
		}
		if vpnLinks == nil || dbLinks == nil {
			t.Fatalf("links: vpn %v, db %v", vpnLinks, dbLinks)
		}
		if s := do("GET", vpnLinks[0]); s != http.StatusOK || e.req(vpn.ID).State != engine.RequestPending {
			t.Fatalf("GET: %d, %s (a link scanner must not decide)", s, e.req(vpn.ID).State)
		}
		e.clock.Set(t0.Add(time.Hour))
		if s := do("POST", vpnLinks[0]); s != http.StatusOK {
			t.Fatalf("POST approve: %d", s)
		}
		got := e.req(vpn.ID)
		last := got.Trail[len(got.Trail)-1]
		if got.State != engine.RequestApproved || last.Actor != c.boss || last.Channel != "email" || !strings.Contains(last.Proof, "boss@example.com") {
			t.Fatalf("after the link: %s, trail %+v", got.State, last)
		}
		if s := do("POST", vpnLinks[0]); s != http.StatusConflict {
			t.Errorf("reused link: %d, want 409", s)
		}
		e.run()
		if a := e.acct("dir", c.ada); a == nil || !slices.Contains(a.Entitlements, "vpn") {
			t.Errorf("ada's account after the approval: %+v", a)
		}
		e.clock.Set(t0.Add(25 * time.Hour))
		if s := do("POST", dbLinks[0]); s != http.StatusGone {
			t.Errorf("expired link: %d, want 410", s)
		}
		if got := e.req(staff2.ID); got.State != engine.RequestPending || len(got.Approvals) != 0 {
			t.Errorf("the expired link decided: %s %+v", got.State, got.Approvals)
		}
	})
}
