package slack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/slack"
	"github.com/tenurehq/tenure/notify/slack/slacktest"
	"github.com/tenurehq/tenure/store/boltdb"
)

const (
	token  = "xoxb-test-token"
	secret = "8f742231b10e8888abcd99yyyzzz85a5"
)

var users = map[string]string{"UBOSS": "boss@example.com", "USEC": "sec@example.com", "UEVE": "eve@example.com"}

func newSlack(t *testing.T, channel string) (*slack.Slack, *slacktest.Server) {
	t.Helper()
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := slacktest.New(t, token, users, "CREQ")
	s, err := slack.New(slack.Options{Token: token, SigningSecret: secret, Channel: channel, APIURL: fake.APIURL()},
		st, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

func msg(id, event string, to ...notify.Person) notify.Message {
	return notify.Message{ID: id + "/slack", Event: event, Request: "req1", Item: "vpn", Target: "dir",
		Entitlements: []string{"vpn"}, Step: 1, Subject: notify.Person{ID: "p-ada", UserName: "ada"},
		Requester: &notify.Person{ID: "p-ada", UserName: "ada"}, Recipients: to, Text: event + ": vpn for ada",
		Due: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

var (
	boss = notify.Person{ID: "p-boss", UserName: "boss", Email: "boss@example.com"}
	sec  = notify.Person{ID: "p-sec", UserName: "sec", Email: "SEC@example.com"}
	nob  = notify.Person{ID: "p-nob", UserName: "nobody", Email: "nobody@example.com"}
	mute = notify.Person{ID: "p-mute", UserName: "mute"} // no email
)

// TestThreadInChannel: the first message opens a thread in the channel,
// mentioning the recipients, with both buttons naming request and step;
// the reminder and the escalation go into that thread; a retried delivery
// posts nothing again; a decision's notice has no buttons.
func TestThreadInChannel(t *testing.T) {
	s, fake := newSlack(t, "CREQ")
	ctx := context.Background()
	for _, m := range []notify.Message{
		msg("m1", notify.EventCreated, boss),
		msg("m1", notify.EventCreated, boss), // a retry of the same delivery
		msg("m2", notify.EventReminder, boss, mute),
		msg("m3", notify.EventEscalated, sec, nob),
		msg("m4", notify.EventApproved, boss),
	} {
		if err := s.Notify(ctx, m); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	posts := fake.Posts()
	if len(posts) != 4 {
		t.Fatalf("posts: %+v, want 4 (the retry posts nothing)", posts)
	}
	root := posts[0]
	if root.Channel != "CREQ" || root.ThreadTS != "" || !strings.Contains(root.Blocks[0]["text"].(map[string]any)["text"].(string), "<@UBOSS>") {
		t.Errorf("first post: %+v", root)
	}
	for i, p := range posts {
		wantIDs := []string{slack.ActionApprove, slack.ActionDeny}
		if i == 3 {
			wantIDs = nil
		}
		if !slices.Equal(p.ActionIDs(), wantIDs) {
			t.Errorf("post %d: actions %v, want %v", i, p.ActionIDs(), wantIDs)
		}
		if i > 0 && (p.ThreadTS != root.TS || p.Channel != "CREQ") {
			t.Errorf("post %d not in the request's thread: %+v", i, p)
		}
	}
	if v := root.ButtonValue(slack.ActionApprove); v != "req1:1" {
		t.Errorf("button value %q, want request:step", v)
	}
	if !strings.Contains(posts[2].Text, "<@USEC>") || strings.Contains(posts[2].Text, "nobody") {
		t.Errorf("escalation mentions: %q", posts[2].Text)
	}
}

// TestDirectMessages: without a channel each recipient known to Slack
// gets a DM, the reminder goes into that DM's thread, and a message for
// nobody Slack knows is refused for good.
func TestDirectMessages(t *testing.T) {
	s, fake := newSlack(t, "")
	ctx := context.Background()
	if err := s.Notify(ctx, msg("m1", notify.EventCreated, boss, nob)); err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(ctx, msg("m2", notify.EventReminder, boss)); err != nil {
		t.Fatal(err)
	}
	posts := fake.Posts()
	if len(posts) != 2 || posts[0].Channel != "DUBOSS" || posts[1].Channel != "DUBOSS" || posts[1].ThreadTS != posts[0].TS {
		t.Fatalf("DMs: %+v", posts)
	}
	err := s.Notify(ctx, msg("m3", notify.EventEscalated, nob, mute))
	if !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("nobody reachable: %v, want ErrPermanent", err)
	}
}

// TestErrorClasses: Slack's transient errors are retried, its refusals
// are not.
func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code      string
		permanent bool
	}{
		{"ratelimited", false},
		{"internal_error", false},
		{"service_unavailable", false},
		{"channel_not_found", true},
		{"invalid_auth", true},
		{"missing_scope", true},
		{"not_in_channel", true},
	} {
		t.Run(tc.code, func(t *testing.T) {
			s, fake := newSlack(t, "CREQ")
			fake.Fail = func(method string) string {
				if method == "chat.postMessage" {
					return tc.code
				}
				return ""
			}
			err := s.Notify(context.Background(), msg("m1", notify.EventCreated, boss))
			if err == nil || errors.Is(err, notify.ErrPermanent) != tc.permanent {
				t.Errorf("%s: %v, permanent want %v", tc.code, err, tc.permanent)
			}
		})
	}
}

// decider records decisions; people maps emails to person ids.
type decider struct {
	mu     sync.Mutex
	people map[string]string
	got    []notify.Decision
	refuse error
}

func (d *decider) Decide(_ context.Context, dec notify.Decision) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, dec)
	if d.refuse != nil {
		return "", d.refuse
	}
	return "approved", nil
}

func (d *decider) PersonByEmail(_ context.Context, email string) (string, error) {
	if p, ok := d.people[strings.ToLower(email)]; ok {
		return p, nil
	}
	return "", fmt.Errorf("%w: nobody has %s", notify.ErrRefused, email)
}

// TestInteractions: a click signed with the signing secret decides as
// the person the Slack user's email maps to, with the step and the proof;
// a forged signature, a stale (replayed) timestamp and a missing header
// decide nothing; a refusal and an unknown user are told to the user only.
func TestInteractions(t *testing.T) {
	s, fake := newSlack(t, "CREQ")
	if err := s.Notify(context.Background(), msg("m1", notify.EventCreated, boss)); err != nil {
		t.Fatal(err)
	}
	root := fake.Posts()[0]
	dec := &decider{people: map[string]string{"boss@example.com": "p-boss", "eve@example.com": "p-eve"}}
	srv := httptest.NewServer(s.Handler(dec))
	defer srv.Close()
	now := time.Now()

	for _, tc := range []struct {
		name    string
		user    string
		action  string
		secret  string
		at      time.Time
		refuse  error
		status  int
		decided bool
		reply   string // the method of the answer posted, if any
	}{
		{name: "forged", user: "UBOSS", action: slack.ActionApprove, secret: "not-the-secret", at: now, status: 401},
		{name: "stale timestamp (replay)", user: "UBOSS", action: slack.ActionApprove, secret: secret, at: now.Add(-6 * time.Minute), status: 401},
		{name: "future timestamp", user: "UBOSS", action: slack.ActionApprove, secret: secret, at: now.Add(6 * time.Minute), status: 401},
		{name: "unknown to Tenure", user: "USEC", action: slack.ActionApprove, secret: secret, at: now, status: 200, reply: "chat.postEphemeral"},
		{name: "not an approver", user: "UEVE", action: slack.ActionDeny, secret: secret, at: now, status: 200, decided: true,
			refuse: fmt.Errorf("%w: engine: not an approver", notify.ErrRefused), reply: "chat.postEphemeral"},
		{name: "store down", user: "UEVE", action: slack.ActionDeny, secret: secret, at: now, status: 503, decided: true,
			refuse: errors.New("store: unavailable")},
		{name: "approve", user: "UBOSS", action: slack.ActionApprove, secret: secret, at: now.Add(-4 * time.Minute), status: 200, decided: true, reply: "chat.postMessage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec.got, dec.refuse = nil, tc.refuse
			before := len(fake.Posts())
			status := slacktest.Deliver(t, srv.URL, tc.secret, slacktest.Click(root, tc.user, "T1", tc.action), tc.at)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if (len(dec.got) == 1) != tc.decided || len(dec.got) > 1 {
				t.Fatalf("decisions %+v, want decided %v", dec.got, tc.decided)
			}
			if tc.decided {
				d := dec.got[0]
				if d.Request != "req1" || d.Step == nil || *d.Step != 1 || d.Approve != (tc.action == slack.ActionApprove) ||
					d.Channel != "slack" || d.Person != dec.people[users[tc.user]] || !strings.Contains(d.Proof, tc.user) || !strings.Contains(d.Proof, users[tc.user]) {
					t.Errorf("decision %+v", d)
				}
			}
			posts := fake.Posts()[before:]
			switch {
			case tc.reply == "" && len(posts) != 0:
				t.Errorf("answered %+v, want nothing", posts)
			case tc.reply != "" && (len(posts) != 1 || posts[0].Method != tc.reply || posts[0].Channel != "CREQ"):
				t.Errorf("answered %+v, want one %s", posts, tc.reply)
			case tc.reply == "chat.postMessage" && posts[0].ThreadTS != root.TS:
				t.Errorf("the outcome is not in the thread: %+v", posts[0])
			}
		})
	}

	// Unsigned and non-POST requests.
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(slacktest.Click(root, "UBOSS", "T1", slack.ActionApprove).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(dec.got) != 1 {
		t.Errorf("unsigned: %d, decisions %d", resp.StatusCode, len(dec.got))
	}
	if resp, err = http.Get(srv.URL); err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 405 {
		t.Errorf("GET: %v %v", resp.StatusCode, err)
	}
}
