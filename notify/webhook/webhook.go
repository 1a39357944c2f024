// Package webhook is the notify channel for anything else (a ticketing
// system, Teams through a flow): each notification is POSTed as JSON,
// signed with HMAC-SHA256 over the timestamp and the body, so the receiver
// can check it came from Tenure and is fresh.
//
// Headers: Content-Type application/json; X-Tenure-Delivery the message
// id (the same on every retry: deduplicate on it); X-Tenure-Event the
// event; X-Tenure-Signature "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the shared secret>". Verify checks one.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/notify"
)

// Header names.
const (
	SignatureHeader = "X-Tenure-Signature"
	DeliveryHeader  = "X-Tenure-Delivery"
	EventHeader     = "X-Tenure-Event"
)

// Options configure a Webhook.
type Options struct {
	URL    string
	Secret string
	// Timeout bounds one delivery. Default 10s.
	Timeout time.Duration
	// Client sends the requests; default a client with Timeout.
	Client *http.Client
	// Now is the clock of the signature's timestamp; default time.Now.
	Now func() time.Time
}

// Webhook is the webhook channel.
type Webhook struct {
	opts Options
	log  *slog.Logger
}

var _ notify.Notifier = (*Webhook)(nil)

// New builds the channel. reg is accepted for symmetry with the other
// constructors; delivery outcomes are counted by the engine per channel.
func New(o Options, log *slog.Logger, _ prometheus.Registerer) (*Webhook, error) {
	if o.URL == "" || o.Secret == "" {
		return nil, errors.New("webhook: url and secret are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{opts: o, log: log}, nil
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Notify POSTs m. 2xx is delivered; 408, 429, 5xx and network errors are
// retried; any other answer is the receiver refusing it for good.
func (w *Webhook) Notify(ctx context.Context, m notify.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tenure-webhook")
	req.Header.Set(DeliveryHeader, m.ID)
	req.Header.Set(EventHeader, m.Event)
	req.Header.Set(SignatureHeader, Sign(w.opts.Secret, w.opts.Now(), body))
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(detail)))
	default:
		return notify.Permanent(fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(detail))))
	}
}

// Sign is the signature header's value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts + "."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Errors Verify returns.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Verify checks a signature header for body received at now: the HMAC
// (compared in constant time) and a timestamp within tolerance of now, so
// a captured delivery cannot be replayed later. Receivers in Go can use it.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
