package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const requestsBase = `sources: [{name: hr, token: {env: T_REQ_SCIM}}]
admin: {token: {env: T_REQ_ADMIN}}
targets:
  - {name: dir, kind: plain}
`

func requestsEnv(t *testing.T) {
	t.Setenv("T_REQ_SCIM", "scim-token-0123456789-0123456789-01")
	t.Setenv("T_REQ_ADMIN", "admin-token-0123456789-0123456789-0")
	t.Setenv("T_REQ_HOOK", "hook-secret")
}

// TestRequestDefaults: a catalog item with only its name, target and
// entitlements gets every default from the one place defaults live.
func TestRequestDefaults(t *testing.T) {
	requestsEnv(t)
	cfg, err := Parse([]byte(requestsBase+`requests:
  catalog:
    - {name: vpn, target: dir, entitlements: [vpn]}
    - {name: db, target: dir, entitlements: [db], fallback: "user:sec@example.com", reminder_after: 0s}
  channels:
    webhook: {url: "https://hooks.example.com/tenure", secret: {env: T_REQ_HOOK}}
`), plainKind{})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Requests
	vpn, db := r.Catalog[0], r.Catalog[1]
	if vpn.Allow != DefaultRequestAllow || len(vpn.Approval) != 1 || vpn.Approval[0].Mode != ApproveAny ||
		!slices.Equal(vpn.Approval[0].Approvers, []string{ApproverManager}) {
		t.Errorf("vpn allow/approval defaults: %+v", vpn)
	}
	if *vpn.ReminderAfter != 24*time.Hour || *vpn.EscalateAfter != 0 || vpn.ExpireAfter != 168*time.Hour || vpn.MaxDuration != 0 {
		t.Errorf("vpn durations: reminder %v escalate %v expire %v max %v", *vpn.ReminderAfter, *vpn.EscalateAfter, vpn.ExpireAfter, vpn.MaxDuration)
	}
	if *db.ReminderAfter != 0 || *db.EscalateAfter != 72*time.Hour {
		t.Errorf("db: reminder %v (0s must stay 0s), escalate %v (a fallback escalates after 72h)", *db.ReminderAfter, *db.EscalateAfter)
	}
	if r.Review.Reviewers != ReviewNewManager || r.Review.Default != ReviewRevoke || r.Review.ExpireAfter != 168*time.Hour {
		t.Errorf("review defaults: %+v", r.Review)
	}
	if w := r.Channels.Webhook; w.Timeout != 10*time.Second || w.Secret.Value() != "hook-secret" {
		t.Errorf("webhook: timeout %v, secret resolved %v", w.Timeout, w.Secret.Value() != "")
	}
}

// TestRequestProblems: every mistake in the requests section is reported
// in one run, each with its key and line.
func TestRequestProblems(t *testing.T) {
	requestsEnv(t)
	file := requestsBase + `  - {name: requests, kind: plain}
requests:
  catalog:
    - name: vpn
      target: nowhere
      entitlements: ["", vpn]
      approval:
        - {mode: most, approvers: [manager, "boss", "group:"]}
        - {approvers: []}
      fallback: "person:x"
      escalate_after: 200h
      reminder_after: -1h
    - name: vpn
      target: dir
      entitlements: [vpn]
      escalate_after: 1h
      max_duration: -1h
      unknown_key: 1
  review: {reviewers: everyone, default: maybe}
  channels:
    webhook: {url: "ftp://x", secret: {env: T_REQ_UNSET}}
`
	f := CheckBytes([]byte(file), plainKind{})
	want := []string{
		`targets[1].name (line 5): "requests" is reserved for the engine's own work (requests, reviews, notify)`,
		`requests.catalog[0].target (line 9): no such target "nowhere"`,
		`requests.catalog[0].entitlements[0] (line 10): empty`,
		`requests.catalog[0].approval[0].mode (line 12): must be any or all, got "most"`,
		`requests.catalog[0].approval[0].approvers[1] (line 12): want manager, user:<userName> or group:<displayName>, got "boss"`,
		`requests.catalog[0].approval[0].approvers[2] (line 12): want manager, user:<userName> or group:<displayName>, got "group:"`,
		`requests.catalog[0].approval[1].approvers (line 13): required`,
		`requests.catalog[0].fallback (line 14): want manager, user:<userName> or group:<displayName>, got "person:x"`,
		`requests.catalog[0].escalate_after (line 15): 200h0m0s is not before expire_after 168h0m0s: the request would expire first`,
		`requests.catalog[0].reminder_after (line 16): must not be negative (0s: no reminders)`,
		`requests.catalog[1].name (line 17): duplicate of requests.catalog[0]`,
		`requests.catalog[1].escalate_after (line 20): set, but there is no fallback to escalate to`,
		`requests.catalog[1].max_duration (line 21): must not be negative (0: no end)`,
		`requests.catalog[1].unknown_key (line 22): unknown key "unknown_key"; the keys here are allow, approval, description, entitlements, escalate_after, expire_after, fallback, max_duration, name, reminder_after, target`,
		`requests.review.reviewers (line 23): must be new_manager, old_manager or both, got "everyone"`,
		`requests.review.default (line 23): must be revoke or keep, got "maybe"`,
		`requests.channels.webhook.url (line 25): must be an absolute http(s) URL, got "ftp://x"`,
		`requests.channels.webhook.secret (line 25): environment variable T_REQ_UNSET is not set`,
	}
	var got []string
	for _, p := range f.Problems() {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestParseApprover(t *testing.T) {
	for _, c := range []struct {
		ref, kind, name string
		ok              bool
	}{
		{"manager", "manager", "", true},
		{"user:ada@example.com", "user", "ada@example.com", true},
		{"group:Security Approvers", "group", "Security Approvers", true},
		{"group: ", "", "", false},
		{"managers", "", "", false},
		{"person:x", "", "", false},
	} {
		kind, name, ok := ParseApprover(c.ref)
		if kind != c.kind || name != c.name || ok != c.ok {
			t.Errorf("ParseApprover(%q) = %q, %q, %v; want %q, %q, %v", c.ref, kind, name, ok, c.kind, c.name, c.ok)
		}
	}
}

// TestChannelSlackEmail: the Slack and email channels' defaults, and every
// mistake in them reported with its key and line.
func TestChannelSlackEmail(t *testing.T) {
	requestsEnv(t)
	t.Setenv("T_REQ_SLACK", "xoxb-1")
	cfg, err := Parse([]byte(requestsBase+`requests:
  channels:
    slack: {token: {env: T_REQ_SLACK}, signing_secret: {env: T_REQ_SLACK}}
    email: {host: smtp.example.com, username: tenure, password: {env: T_REQ_HOOK}, from: "Tenure <tenure@example.com>",
            link_base_url: "https://tenure.example.com", link_secret: {env: T_REQ_HOOK}}
`), plainKind{})
	if err != nil {
		t.Fatal(err)
	}
	sl, em := cfg.Requests.Channels.Slack, cfg.Requests.Channels.Email
	if sl.APIURL != "https://slack.com/api/" || sl.Timeout != 10*time.Second || sl.Token.Value() != "xoxb-1" || sl.Channel != "" {
		t.Errorf("slack defaults: %+v", sl)
	}
	if em.Port != 587 || em.LinkLifetime != 72*time.Hour || em.Timeout != 30*time.Second || em.Password.Value() != "hook-secret" {
		t.Errorf("email defaults: %+v", em)
	}

	f := CheckBytes([]byte(requestsBase+`requests:
  channels:
    slack: {token: {env: T_REQ_UNSET}, api_url: "slack.com", timeout: -1s, bot: x}
    email: {port: 70000, username: tenure, from: "not an address", link_base_url: "/decide", link_lifetime: -1h}
`), plainKind{})
	want := []string{
		`requests.channels.slack.bot (line 7): unknown key "bot"; the keys here are api_url, channel, signing_secret, timeout, token`,
		`requests.channels.slack.token (line 7): environment variable T_REQ_UNSET is not set`,
		`requests.channels.slack.signing_secret (line 7): required (env or file)`,
		`requests.channels.slack.api_url (line 7): must be an absolute http(s) URL, got "slack.com"`,
		`requests.channels.slack.timeout (line 7): must be positive`,
		`requests.channels.email.host (line 8): required`,
		`requests.channels.email.port (line 8): must be a port number, got 70000`,
		`requests.channels.email.password (line 8): required (env or file)`,
		`requests.channels.email.from (line 8): must be an email address, got "not an address"`,
		`requests.channels.email.link_base_url (line 8): must be Tenure's absolute http(s) URL, got "/decide"`,
		`requests.channels.email.link_secret (line 8): required (env or file)`,
		`requests.channels.email.link_lifetime (line 8): must be positive`,
	}
	var got []string
	for _, p := range f.Problems() {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
