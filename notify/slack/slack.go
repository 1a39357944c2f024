// Package slack is the Slack channel of access-request notifications
// (docs/requests.md): each message goes through the Web API's
// chat.postMessage (slack-go/slack) to a configured channel, mentioning
// the recipients, or to each recipient directly; a request's messages stay
// in one thread per destination (its ts kept in Tenure's store), and a
// message that waits for a decision carries Approve and Deny buttons.
//
// A click comes back to Handler as Slack's interaction payload. Handler
// verifies Slack's request signature (X-Slack-Signature, v0 HMAC-SHA256
// over "v0:<timestamp>:<body>" under the app's signing secret, the
// timestamp within five minutes so a captured request cannot be replayed
// later), reads the clicking user's email (users.info), maps it to a
// person in Tenure's store and decides through the engine's decision
// operation, audited with channel "slack" and that proof. Whether that
// person may decide is the engine's business, as for any channel.
//
// The bot token needs chat:write, users:read and users:read.email.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/store"
)

// Action ids of the buttons, and the block holding them.
const (
	ActionApprove = "tenure_approve"
	ActionDeny    = "tenure_deny"
	BlockDecision = "tenure_decision"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Options configure the channel.
type Options struct {
	// Token is the bot token (xoxb-…); SigningSecret the app's signing
	// secret, which interactions are verified with.
	Token, SigningSecret string
	// Channel is a channel id to post in, mentioning the recipients;
	// empty: each recipient gets a direct message.
	Channel string
	// APIURL is the Web API's base URL (tests point it at a fake).
	APIURL string
	// Timeout bounds one Web API call. Default 10s.
	Timeout time.Duration
	// Client makes the calls; default an http.Client with Timeout.
	Client *http.Client
}

// Slack is the channel.
type Slack struct {
	opts   Options
	api    *slack.Client
	ledger *notify.Ledger
	log    *slog.Logger
	clicks *prometheus.CounterVec
}

var _ notify.Notifier = (*Slack)(nil)

// New builds the channel; st keeps the threads and what was sent.
func New(o Options, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Slack, error) {
	if o.Token == "" || o.SigningSecret == "" {
		return nil, errors.New("slack: a bot token and a signing secret are required")
	}
	if st == nil {
		return nil, errors.New("slack: a store is required")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Slack{opts: o, ledger: notify.NewLedger(st, "slack"), log: log,
		api: slack.New(o.Token, slack.OptionAPIURL(o.APIURL), slack.OptionHTTPClient(o.Client)),
		clicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "slack", Name: "interactions_total",
			Help: "Slack interactions received, by outcome (decided, refused, forged, error, ignored).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		if err := reg.Register(s.clicks); err != nil {
			return nil, fmt.Errorf("slack: metrics: %w", err)
		}
	}
	return s, nil
}

// Name is "slack".
func (s *Slack) Name() string { return "slack" }

// destination is where one copy of a message goes.
type destination struct {
	channel  string // a channel id, or a user id for a direct message
	mentions []string
}

// Notify posts m to each destination not yet reached by an earlier try
// of this delivery, in the request's thread there if it has one.
func (s *Slack) Notify(ctx context.Context, m notify.Message) error {
	dests, err := s.destinations(ctx, m)
	if err != nil {
		return err
	}
	thread := m.Request
	if thread == "" {
		thread = "review-" + m.Review
	}
	for _, d := range dests {
		sentKey := "sent/" + m.ID + "/" + d.channel
		if _, done, err := s.ledger.Get(ctx, sentKey); err != nil || done {
			if err != nil {
				return fmt.Errorf("slack: %w", err)
			}
			continue
		}
		threadKey := "thread/" + thread + "/" + d.channel
		root, hasRoot, err := s.ledger.Get(ctx, threadKey)
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		opts := []slack.MsgOption{slack.MsgOptionText(fallbackText(m, d.mentions), false),
			slack.MsgOptionBlocks(blocks(m, d.mentions)...), slack.MsgOptionDisableLinkUnfurl()}
		channel := d.channel
		if hasRoot {
			// A DM's thread lives in the DM channel Slack answered with.
			ch, ts, _ := strings.Cut(root, " ")
			channel = ch
			opts = append(opts, slack.MsgOptionTS(ts))
		}
		cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		gotChannel, ts, err := s.api.PostMessageContext(cctx, channel, opts...)
		cancel()
		if err != nil {
			return classify("chat.postMessage", err)
		}
		if !hasRoot {
			if err := s.ledger.Put(ctx, threadKey, gotChannel+" "+ts); err != nil {
				return fmt.Errorf("slack: %w", err)
			}
		}
		if err := s.ledger.Put(ctx, sentKey, ts); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	return nil
}

// destinations are the configured channel (mentioning the recipients
// Slack knows), or each recipient's direct messages. A recipient without
// an email or unknown to Slack is skipped and logged; a direct message
// for nobody at all is refused for good.
func (s *Slack) destinations(ctx context.Context, m notify.Message) ([]destination, error) {
	var users []string
	for _, p := range m.Recipients {
		if p.Email == "" {
			s.log.Warn("slack: a recipient has no email; not told", "person", p.ID, "message", m.ID)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		u, err := s.api.GetUserByEmailContext(cctx, p.Email)
		cancel()
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "users_not_found" {
			s.log.Warn("slack: a recipient has no Slack account by their email; not told", "person", p.ID, "message", m.ID)
			continue
		}
		if err != nil {
			return nil, classify("users.lookupByEmail", err)
		}
		users = append(users, u.ID)
	}
	if s.opts.Channel != "" {
		return []destination{{channel: s.opts.Channel, mentions: users}}, nil
	}
	if len(users) == 0 && len(m.Recipients) > 0 {
		return nil, notify.Permanent(fmt.Errorf("slack: none of the %d recipients of %s has a Slack account", len(m.Recipients), m.ID))
	}
	out := make([]destination, len(users))
	for i, u := range users {
		out[i] = destination{channel: u}
	}
	return out, nil
}

var titles = map[string]string{
	notify.EventCreated:        "Access request waiting for your decision",
	notify.EventReminder:       "Reminder: access request still waiting",
	notify.EventEscalated:      "Escalated: access request waiting for the fallback approver",
	notify.EventApproved:       "Access request approved",
	notify.EventDenied:         "Access request denied",
	notify.EventExpired:        "Access request expired undecided",
	notify.EventWithdrawn:      "Access request withdrawn",
	notify.EventEnded:          "Access granted by request ended",
	notify.EventRevoked:        "Access granted by request revoked",
	notify.EventReview:         "Mover review waiting (decide in the console, CLI or admin API)",
	notify.EventReviewReminder: "Reminder: mover review waiting",
	notify.EventReviewClosed:   "Mover review closed",
}

func fallbackText(m notify.Message, mentions []string) string {
	t := titles[m.Event]
	if t == "" {
		t = m.Event
	}
	return strings.TrimSpace(mention(mentions) + " " + t + ": " + m.Text)
}

func mention(users []string) string {
	var b strings.Builder
	for _, u := range users {
		b.WriteString("<@" + u + "> ")
	}
	return strings.TrimSpace(b.String())
}

// blocks lay m out: a headline, the details, and for a request waiting
// for a decision the buttons, whose value names the request and its step.
func blocks(m notify.Message, mentions []string) []slack.Block {
	var b strings.Builder
	if len(mentions) > 0 {
		b.WriteString(mention(mentions) + "\n")
	}
	t := titles[m.Event]
	if t == "" {
		t = m.Event
	}
	fmt.Fprintf(&b, "*%s*\n", escape(t))
	if m.Item != "" {
		fmt.Fprintf(&b, "*%s* for *%s* on %s: %s\n", escape(m.Item), escape(m.Subject.Name()), escape(m.Target), escape(strings.Join(m.Entitlements, ", ")))
	}
	if m.Requester != nil {
		fmt.Fprintf(&b, "Requested by %s\n", escape(m.Requester.Name()))
	}
	if m.Reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n", escape(m.Reason))
	}
	if !m.Due.IsZero() && m.WaitsForDecision() {
		fmt.Fprintf(&b, "Undecided requests expire at %s\n", m.Due.UTC().Format(time.RFC1123))
	}
	if m.Request != "" {
		fmt.Fprintf(&b, "Request `%s`", escape(m.Request))
	}
	out := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, b.String(), false, false), nil, nil)}
	if m.WaitsForDecision() {
		value := m.Request + ":" + strconv.Itoa(m.Step)
		approve := slack.NewButtonBlockElement(ActionApprove, value, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
		approve.Style = slack.StylePrimary
		deny := slack.NewButtonBlockElement(ActionDeny, value, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false))
		deny.Style = slack.StyleDanger
		out = append(out, slack.NewActionBlock(BlockDecision, approve, deny))
	}
	return out
}

// escape keeps names from being read as Slack markup (mentions, links).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Slack Web API errors worth another try; any other error code is Slack
// refusing the call (bad token, missing scope, no such channel).
var retryable = map[string]bool{"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true}

// classify wraps err of a Web API call as retryable or permanent.
func classify(op string, err error) error {
	var (
		rl  *slack.RateLimitedError
		sc  slack.StatusCodeError
		se  slack.SlackErrorResponse
		net net.Error
	)
	switch {
	case errors.As(err, &rl), errors.As(err, &net), errors.Is(err, context.DeadlineExceeded):
	case errors.As(err, &sc):
		if sc.Code != http.StatusTooManyRequests && sc.Code < 500 {
			return notify.Permanent(fmt.Errorf("slack: %s: %w", op, err))
		}
	case errors.As(err, &se):
		if !retryable[se.Err] {
			return notify.Permanent(fmt.Errorf("slack: %s: %w", op, err))
		}
	}
	return fmt.Errorf("slack: %s: %w", op, err)
}
