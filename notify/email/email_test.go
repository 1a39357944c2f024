package email_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/email"
	"github.com/tenurehq/tenure/store/boltdb"
)

// Mail is one message the SMTP server accepted, its body decoded.
type Mail struct {
	To        []string
	MessageID string
	Subject   string
	Body      string
}

// ReadMail parses what testenv.SMTPServer wrote.
func ReadMail(t testing.TB, raw string) Mail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("mail: %v", err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return Mail{To: msg.Header["X-Envelope-To"], MessageID: msg.Header.Get("Message-Id"),
		Subject: msg.Header.Get("Subject"), Body: string(body)}
}

var linkRE = regexp.MustCompile(`https?://\S+/decide/\S+`)

// Links are the approve and deny links of a mail, in that order.
func (m Mail) Links() []string { return linkRE.FindAllString(m.Body, -1) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newEmail(t *testing.T, srv *testenv.SMTPServer, password string, now *clock) *email.Email {
	t.Helper()
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pem, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	e, err := email.New(email.Options{Host: srv.Host(), Port: srv.Port(), Username: srv.User, Password: password,
		From: "Tenure <tenure@example.com>", LinkBaseURL: "https://tenure.example.com/", LinkSecret: "link-secret-0123456789",
		LinkLifetime: 48 * time.Hour, Timeout: 10 * time.Second,
		TLS: &tls.Config{RootCAs: roots, ServerName: srv.Host(), MinVersion: tls.VersionTLS12}, Now: now.Now},
		st, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	boss = notify.Person{ID: "p-boss", UserName: "boss", Email: "boss@example.com"}
	mute = notify.Person{ID: "p-mute", UserName: "mute"}
)

func msg(id, event string, due time.Time, to ...notify.Person) notify.Message {
	return notify.Message{ID: id + "/email", Event: event, At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Request: "req1",
		Item: "vpn", Target: "dir", Entitlements: []string{"vpn"}, Step: 1, Subject: notify.Person{ID: "p-ada", UserName: "ada"},
		Recipients: to, Text: event + ": vpn for ada", Due: due}
}

// TestDelivery against a real SMTP server (STARTTLS, AUTH): one message
// per recipient with an address, a Message-ID fixed per delivery, the
// links only where a decision waits; a retried delivery sends nothing
// again; a wrong password is refused for good, a server that is down is
// retried.
func TestDelivery(t *testing.T) {
	srv := testenv.SMTP(t)
	now := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEmail(t, srv, srv.Password, now)
	ctx := context.Background()
	created := msg("m1", notify.EventCreated, now.Now().Add(24*time.Hour), boss, mute)
	for range 2 { // the second is a retry of the same delivery
		if err := e.Notify(ctx, created); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Notify(ctx, msg("m2", notify.EventApproved, time.Time{}, boss)); err != nil {
		t.Fatal(err)
	}
	raw := srv.Messages(t)
	if len(raw) != 2 {
		t.Fatalf("%d messages, want 2 (no copy for the retry nor for a recipient without an address)", len(raw))
	}
	m1, m2 := ReadMail(t, raw[0]), ReadMail(t, raw[1])
	if len(m1.To) != 1 || m1.To[0] != "boss@example.com" || m1.MessageID != "<"+e.MessageID(created, boss.ID)+">" {
		t.Errorf("first: to %v, Message-ID %q", m1.To, m1.MessageID)
	}
	if m1.MessageID == m2.MessageID {
		t.Errorf("two deliveries share a Message-ID %q", m1.MessageID)
	}
	if len(m1.Links()) != 2 || !strings.Contains(m1.Subject, "Decision needed") {
		t.Errorf("first: subject %q, links %v\n%s", m1.Subject, m1.Links(), m1.Body)
	}
	if len(m2.Links()) != 0 {
		t.Errorf("a decided request's mail has links: %v", m2.Links())
	}

	bad := newEmail(t, srv, "wrong-password", now)
	if err := bad.Notify(ctx, msg("m3", notify.EventCreated, time.Time{}, boss)); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("wrong password: %v, want ErrPermanent", err)
	}
	srv.Stop()
	err := e.Notify(ctx, msg("m4", notify.EventCreated, time.Time{}, boss))
	if err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Errorf("server down: %v, want a retryable error", err)
	}
}

type decider struct {
	mu     sync.Mutex
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
	return map[bool]string{true: "approved", false: "denied"}[dec.Approve], nil
}

func (d *decider) PersonByEmail(context.Context, string) (string, error) {
	return "", errors.New("not used by links")
}

// TestLinks: GET only shows the confirmation; the POST decides as the
// person the link was sent to, for its step, with the link as proof; the
// link then works no more; an expired or tampered link is refused; a
// refusal uses the link up, a failure to record does not.
func TestLinks(t *testing.T) {
	srv := testenv.SMTP(t)
	now := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEmail(t, srv, srv.Password, now)
	ctx := context.Background()
	for i := range 4 {
		if err := e.Notify(ctx, msg(fmt.Sprint("m", i), notify.EventCreated, now.Now().Add(100*time.Hour), boss)); err != nil {
			t.Fatal(err)
		}
		now.Add(time.Minute) // each message's links expire a minute apart: other tokens
	}
	var links [][]string
	for _, raw := range srv.Messages(t) {
		links = append(links, ReadMail(t, raw).Links())
	}
	dec := &decider{}
	h := httptest.NewServer(e.Handler(dec))
	defer h.Close()
	local := func(link string) string {
		return h.URL + email.DecidePath + strings.SplitN(link, email.DecidePath, 2)[1]
	}
	do := func(method, link string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, local(link), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	approve, deny := links[0][0], links[0][1]
	tampered := approve[:len(approve)-3] + "AAA"
	for _, tc := range []struct {
		name, method, link string
		refuse             error
		advance            time.Duration
		status             int
		decided            bool
		approve            bool
		body               string
	}{
		{name: "GET shows, decides nothing", method: "GET", link: approve, status: 200, body: "<form method=\"post\">"},
		{name: "tampered", method: "POST", link: tampered, status: 403},
		{name: "approve", method: "POST", link: approve, status: 200, decided: true, approve: true, body: "approved"},
		{name: "reused", method: "POST", link: approve, status: 409},
		{name: "reused GET", method: "GET", link: approve, status: 409},
		{name: "refused by the engine", method: "POST", link: deny, refuse: fmt.Errorf("%w: closed", notify.ErrRefused), status: 403, decided: true},
		{name: "a refused link is used", method: "POST", link: deny, status: 409},
		{name: "store down", method: "POST", link: links[1][0], refuse: errors.New("store: unavailable"), status: 503, decided: true, approve: true},
		{name: "released after a failure", method: "POST", link: links[1][0], status: 200, decided: true, approve: true},
		{name: "expired", method: "POST", link: links[2][1], advance: 48 * time.Hour, status: 410},
		{name: "expired GET", method: "GET", link: links[3][0], status: 410},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now.Add(tc.advance)
			dec.got, dec.refuse = nil, tc.refuse
			status, body := do(tc.method, tc.link)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("%s: %d, want %d\n%s", tc.method, status, tc.status, body)
			}
			if (len(dec.got) == 1) != tc.decided || len(dec.got) > 1 {
				t.Fatalf("decisions %+v, want decided %v", dec.got, tc.decided)
			}
			if tc.decided {
				d := dec.got[0]
				if d.Request != "req1" || d.Step == nil || *d.Step != 1 || d.Person != boss.ID || d.Approve != tc.approve ||
					d.Channel != "email" || !strings.Contains(d.Proof, boss.Email) {
					t.Errorf("decision %+v", d)
				}
			}
		})
	}
}
