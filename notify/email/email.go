// Package email is the email channel of access-request notifications
// (docs/requests.md): each recipient gets a message over SMTP (STARTTLS
// required, AUTH PLAIN; wneessen/go-mail) with a Message-ID fixed per
// delivery and recipient, so a retried job sends the same message, and a
// sent-mark in Tenure's store keeps it from going again to recipients it
// already reached.
//
// A message that waits for its recipient's decision carries two links,
// approve and deny. Each is a token signed with HMAC-SHA256 over the
// request, its step, the approver (Tenure's person id and the address it
// was sent to), the decision and the link's expiry; served under
// DecidePath by Handler, a GET only shows a confirmation page (mail
// scanners open links) and the POST from it decides, through the engine's
// decision operation, audited with channel "email" and the link as proof.
// A link is used once: its use is recorded in the store in the
// transaction that claims it, so a second use is refused, and so is an
// expired one.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/store"
)

// Options configure the channel.
type Options struct {
	// Host and Port are the SMTP submission server (Port default 587).
	Host string
	Port int
	// Username and Password authenticate (AUTH PLAIN, after STARTTLS).
	Username, Password string
	// From is the sender address.
	From string
	// LinkBaseURL is Tenure's public URL; links are
	// <LinkBaseURL>/decide/<token>.
	LinkBaseURL string
	// LinkSecret signs the links.
	LinkSecret string
	// LinkLifetime bounds a link (never past the request's expiry).
	// Default 72h.
	LinkLifetime time.Duration
	// Timeout bounds one SMTP delivery. Default 30s.
	Timeout time.Duration
	// TLS is the STARTTLS configuration (RootCAs for a private CA); nil:
	// the system's roots and the host's name.
	TLS *tls.Config
	// Now is the clock of link expiry; default time.Now.
	Now func() time.Time
}

// Email is the channel.
type Email struct {
	opts   Options
	domain string
	ledger *notify.Ledger
	log    *slog.Logger
	links  *prometheus.CounterVec
}

var _ notify.Notifier = (*Email)(nil)

// New builds the channel; st keeps what was sent and the links used.
func New(o Options, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Email, error) {
	switch {
	case o.Host == "" || o.From == "" || o.LinkBaseURL == "" || o.LinkSecret == "":
		return nil, errors.New("email: host, from, link base URL and link secret are required")
	case st == nil:
		return nil, errors.New("email: a store is required")
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	if o.Port == 0 {
		o.Port = 587
	}
	if o.LinkLifetime <= 0 {
		o.LinkLifetime = 72 * time.Hour
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.LinkBaseURL = strings.TrimRight(o.LinkBaseURL, "/")
	e := &Email{opts: o, domain: domain, ledger: notify.NewLedger(st, "email"), log: log,
		links: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "email", Name: "links_total",
			Help: "Decision links opened, by outcome (shown, decided, refused, used, expired, invalid, error).",
		}, []string{"outcome"})}
	if reg != nil {
		if err := reg.Register(e.links); err != nil {
			return nil, fmt.Errorf("email: metrics: %w", err)
		}
	}
	return e, nil
}

// Name is "email".
func (e *Email) Name() string { return "email" }

// Notify mails m to each recipient with an address not yet reached by an
// earlier try of this delivery. A recipient without an address is
// skipped and logged.
func (e *Email) Notify(ctx context.Context, m notify.Message) error {
	for _, p := range m.Recipients {
		if p.Email == "" {
			e.log.Warn("email: a recipient has no email; not told", "person", p.ID, "message", m.ID)
			continue
		}
		sentKey := "sent/" + m.ID + "/" + p.ID
		if _, done, err := e.ledger.Get(ctx, sentKey); err != nil || done {
			if err != nil {
				return fmt.Errorf("email: %w", err)
			}
			continue
		}
		msg, err := e.compose(m, p)
		if err != nil {
			return notify.Permanent(err)
		}
		if err := e.send(ctx, msg); err != nil {
			return err
		}
		if err := e.ledger.Put(ctx, sentKey, e.opts.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("email: %w", err)
		}
	}
	return nil
}

// MessageID is the Message-ID (without brackets) of message m's copy for
// person: the same on every retry, so receivers can drop a duplicate.
func (e *Email) MessageID(m notify.Message, person string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return '.'
		}, s)
	}
	return "tenure." + clean(m.ID) + "." + clean(person) + "@" + e.domain
}

// compose builds the message for one recipient.
func (e *Email) compose(m notify.Message, p notify.Person) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(e.opts.From); err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	if err := msg.To(p.Email); err != nil {
		return nil, fmt.Errorf("email: to %s: %w", p.ID, err)
	}
	msg.SetMessageIDWithValue(e.MessageID(m, p.ID))
	msg.SetDateWithValue(m.At)
	msg.SetBulk()
	msg.Subject(subject(m))
	body := text(m)
	if m.WaitsForDecision() {
		exp := e.opts.Now().Add(e.opts.LinkLifetime)
		if !m.Due.IsZero() && m.Due.Before(exp) {
			exp = m.Due
		}
		link := func(approve bool) string {
			return e.opts.LinkBaseURL + DecidePath + e.sign(claims{Request: m.Request, Step: m.Step, Person: p.ID,
				Email: p.Email, Item: m.Item, Approve: approve, Expires: exp.Unix()})
		}
		body += fmt.Sprintf("\nTo approve: %s\nTo deny:    %s\n\nEach link works once, until %s, and only for you.\n",
			link(true), link(false), exp.UTC().Format(time.RFC1123))
	}
	msg.SetBodyString(gomail.TypeTextPlain, body)
	return msg, nil
}

// send delivers one message in an SMTP session of its own: STARTTLS is
// mandatory (no credentials or links in clear), then AUTH PLAIN.
func (e *Email) send(ctx context.Context, msg *gomail.Msg) error {
	opts := []gomail.Option{gomail.WithPort(e.opts.Port), gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(e.opts.TLS), gomail.WithTimeout(e.opts.Timeout)}
	if e.opts.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(e.opts.Username), gomail.WithPassword(e.opts.Password))
	}
	c, err := gomail.NewClient(e.opts.Host, opts...)
	if err != nil {
		return notify.Permanent(fmt.Errorf("email: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err)
	}
	return nil
}

// classify: the server's 5xx answers (a bad login, a refused address)
// are for good; 4xx answers, network and TLS trouble are retried.
func classify(err error) error {
	var (
		se *gomail.SendError
		te *textproto.Error // AUTH's answer, before any SendError
	)
	if (errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500) || (errors.As(err, &te) && te.Code >= 500) {
		return notify.Permanent(fmt.Errorf("email: send: %w", err))
	}
	return fmt.Errorf("email: send: %w", err)
}

func subject(m notify.Message) string {
	what := m.Item
	if what == "" {
		what = "mover review"
	}
	verb := map[string]string{
		notify.EventCreated: "Decision needed", notify.EventReminder: "Reminder: decision needed",
		notify.EventEscalated: "Escalated: decision needed", notify.EventApproved: "Approved",
		notify.EventDenied: "Denied", notify.EventExpired: "Expired", notify.EventWithdrawn: "Withdrawn",
		notify.EventEnded: "Ended", notify.EventRevoked: "Revoked", notify.EventReview: "Review needed",
		notify.EventReviewReminder: "Reminder: review needed", notify.EventReviewClosed: "Review closed",
	}[m.Event]
	if verb == "" {
		verb = m.Event
	}
	return fmt.Sprintf("[Tenure] %s: %s for %s", verb, what, m.Subject.Name())
}

func text(m notify.Message) string {
	var b strings.Builder
	b.WriteString(m.Text + "\n\n")
	if m.Item != "" {
		fmt.Fprintf(&b, "Access:    %s on %s (%s)\n", m.Item, m.Target, strings.Join(m.Entitlements, ", "))
	}
	fmt.Fprintf(&b, "For:       %s\n", m.Subject.Name())
	if m.Requester != nil {
		fmt.Fprintf(&b, "Requested: by %s\n", m.Requester.Name())
	}
	if m.Reason != "" {
		fmt.Fprintf(&b, "Reason:    %s\n", m.Reason)
	}
	if m.Request != "" {
		fmt.Fprintf(&b, "Request:   %s\n", m.Request)
	}
	if m.Review != "" {
		fmt.Fprintf(&b, "Review:    %s (decide in the console, CLI or admin API)\n", m.Review)
	}
	return b.String()
}
