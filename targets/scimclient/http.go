package scimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/tenurehq/tenure/internal/promx"
	"github.com/tenurehq/tenure/targets"
)

// maxBody bounds a response body read: a group's member list can be long.
const maxBody = 32 << 20

// inlinePause is the longest Retry-After pause a request waits out in
// place; a longer one fails the request as retryable at once, so workers
// are not held while the app recovers.
const inlinePause = time.Second

const (
	mediaType  = "application/scim+json"
	schemaUser = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGrp  = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnt  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaList = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaErr  = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaOp   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	wait      prometheus.Histogram
	throttled prometheus.Counter
	set       *promx.Set
}

// newMetrics registers the client's metrics on reg (nil: none), labelled
// target=name: tenure_scimclient_requests_total{method,status} (status
// class 2xx…5xx, or "error" for no answer),
// tenure_scimclient_request_duration_seconds{method},
// tenure_scimclient_rate_limit_wait_seconds and
// tenure_scimclient_throttled_total (429 answers).
func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenure_scimclient_requests_total",
			Help: "Requests to a SCIM app by method and status class (error: no answer).",
		}, []string{"method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenure_scimclient_request_duration_seconds",
			Help:    "Time of requests to a SCIM app, from sending to the end of the answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"method"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tenure_scimclient_rate_limit_wait_seconds",
			Help:    "Time requests waited for the target's rate limiter or a Retry-After pause.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenure_scimclient_throttled_total",
			Help: "429 Too Many Requests answers from a SCIM app.",
		}),
	}
	if reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"target": name}, reg)
	}
	var err error
	m.set, err = promx.Register(reg, m.requests, m.duration, m.wait, m.throttled)
	return m, err
}

// response is an app's answer.
type response struct {
	status int
	header http.Header
	body   []byte
	method string
	path   string // without the query, for messages
}

// json decodes the body with numbers kept as json.Number.
func (r *response) json(v any) error {
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s %s: HTTP %d with a body that is not SCIM JSON: %w", r.method, r.path, r.status, err)
	}
	return nil
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

// StatusError is an app's error answer: the HTTP status and the SCIM
// error's scimType and detail (RFC 7644 §3.12), when it sent one.
type StatusError struct {
	Method, Path string
	Status       int
	SCIMType     string
	Detail       string
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.SCIMType != "" {
		fmt.Fprintf(&b, " (%s)", e.SCIMType)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

// scimError is the SCIM error body; status is a string in the RFC, a
// number in some apps.
type scimError struct {
	Status   json.RawMessage `json:"status"`
	SCIMType string          `json:"scimType"`
	Detail   string          `json:"detail"`
	// Some apps answer in the shapes of other APIs.
	Message          string `json:"message"`
	ErrorDescription string `json:"error_description"`
}

// parseSCIMError extracts scimType and a detail from an error body: the
// SCIM detail, another common message field, or the start of a plain-text
// body. Outside text: bounded, printable, one line.
func parseSCIMError(body []byte) (scimType, detail string) {
	return parseSCIMErrorWith(body, func(s string) string { return s })
}

// parseSCIMErrorWith is parseSCIMError with redact applied to the detail
// before it is cut short: a secret the app echoed across the cut would
// otherwise leave its first half behind.
func parseSCIMErrorWith(body []byte, redact func(string) string) (scimType, detail string) {
	var e scimError
	if err := json.Unmarshal(body, &e); err == nil {
		detail = e.Detail
		if detail == "" {
			detail = e.Message
		}
		if detail == "" {
			detail = e.ErrorDescription
		}
		return clean(e.SCIMType, 64), clean(redact(detail), 512)
	}
	return "", clean(redact(string(body)), 200)
}

// clean makes outside text safe for a message: valid UTF-8, no control
// characters, at most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// redact replaces the client's secrets in s.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), capped at MaxRetryAfter; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	} else if errors.Is(err, strconv.ErrRange) {
		return MaxRetryAfter
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d.Round(time.Second)
}

// fail classifies an error answer: 408, 429 and 5xx are retryable (with
// Retry-After on 429 and 503), anything else permanent.
func (c *Client) fail(op string, r *response) error {
	typ, detail := parseSCIMErrorWith(r.body, c.redact)
	err := &StatusError{Method: r.method, Path: r.path, Status: r.status, SCIMType: typ, Detail: detail}
	if retryableStatus(r.status) {
		var after time.Duration
		if r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable {
			after = parseRetryAfter(r.header.Get("Retry-After"), time.Now())
		}
		switch r.status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return targets.Unavailable(op, err, after)
		}
		return targets.Retryable(op, err, after)
	}
	return targets.Permanent(op, err)
}

// retryableStatus: 408, 429 and 5xx, and 412 — a write that lost a race
// with another change to the resource; the next converge reads it again.
func retryableStatus(s int) bool {
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s == http.StatusPreconditionFailed || s >= 500
}

// transportError is a failure to get an answer, its text scrubbed of
// secrets; Unwrap keeps context errors visible to errors.Is.
type transportError struct {
	msg   string
	cause error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.cause }

// transportFail classifies a failure to get an answer. The token
// endpoint's refusal (a 4xx other than 408 and 429) is permanent: the
// client credentials are wrong; everything else (network, timeouts, the
// token endpoint's 5xx) is retryable.
func (c *Client) transportFail(op, method, path string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		msg := fmt.Sprintf("%s %s: token endpoint answered HTTP %d", method, path, re.Response.StatusCode)
		if re.ErrorCode != "" {
			msg += ": " + clean(re.ErrorCode, 64)
		}
		if re.ErrorDescription != "" {
			msg += ": " + clean(re.ErrorDescription, 256)
		}
		te := &transportError{msg: c.redact(msg)}
		if s := re.Response.StatusCode; s >= 400 && s < 500 && !retryableStatus(s) {
			return targets.Permanent(op, te)
		}
		return targets.Retryable(op, te, 0)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL; the path is enough
	}
	cause := error(nil)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	te := &transportError{msg: c.redact(fmt.Sprintf("%s %s: %v", method, path, err)), cause: cause}
	if cause == nil {
		return targets.Unavailable(op, te, 0) // no answer: the app was not reached
	}
	return targets.Retryable(op, te, 0)
}

// waitTurn waits for a Retry-After pause and the rate limiter, honouring
// ctx. A pause longer than inlinePause fails at once, as retryable with the
// time left.
func (c *Client) waitTurn(ctx context.Context, op string) error {
	start := time.Now()
	defer func() { c.m.wait.Observe(time.Since(start).Seconds()) }()
	for {
		c.mu.Lock()
		pause := time.Until(c.pausedUntil)
		c.mu.Unlock()
		if pause > inlinePause {
			return targets.Retryable(op, fmt.Errorf("the app asked for a pause (Retry-After); %s left", pause.Round(time.Millisecond)), pause)
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return targets.Retryable(op, fmt.Errorf("waiting for the app's Retry-After: %w", ctx.Err()), 0)
			case <-t.C:
			}
		}
		err := c.slow.Wait(ctx)
		if err == nil {
			err = c.lim.Wait(ctx)
		}
		if err != nil {
			// Wait fails early when ctx's deadline comes before the
			// turn; the caller still sees a context error.
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return targets.Retryable(op, fmt.Errorf("rate limit wait: %w", cause), 0)
		}
		// A pause that began while this request queued for the limiter
		// holds it too: the app asked for no requests until then.
		c.mu.Lock()
		paused := time.Now().Before(c.pausedUntil)
		c.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

// throttled slows the client after a 429 (see the package doc) and pauses
// it for Retry-After.
func (c *Client) throttled(status int, after time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if status == http.StatusTooManyRequests {
		floor := min(1, c.opts.RateLimit)
		c.slow.SetLimit(rate.Limit(max(float64(c.slow.Limit())/2, floor)))
	}
	if after > 0 {
		if until := time.Now().Add(after); until.After(c.pausedUntil) {
			c.pausedUntil = until
		}
	}
}

// recovered gives back part of the configured rate after a success.
func (c *Client) recovered() {
	full := rate.Limit(c.opts.RateLimit)
	if c.slow.Limit() >= full {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow.SetLimit(min(full, c.slow.Limit()+full/20))
}

// call is one request.
type call struct {
	op      string // the error prefix, e.g. "scim create user"
	method  string
	path    string // under the base URL, e.g. /Users/123 (escaped)
	query   url.Values
	body    any
	ifMatch string
}

// do sends a request and reads the answer, whatever its status; only a
// failure to get one is an error.
func (c *Client) do(ctx context.Context, k call) (*response, error) {
	var body io.Reader
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, targets.Permanent(k.op, fmt.Errorf("encode the request: %w", err))
		}
		body = bytes.NewReader(b)
	}
	if err := c.waitTurn(ctx, k.op); err != nil {
		return nil, err
	}
	target := c.base.String() + k.path
	if q := k.query.Encode(); q != "" {
		target += "?" + q
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, k.method, target, body)
	if err != nil {
		return nil, targets.Permanent(k.op, fmt.Errorf("%s %s: %w", k.method, k.path, err))
	}
	req.Header.Set("Accept", mediaType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	if k.ifMatch != "" {
		req.Header.Set("If-Match", k.ifMatch)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err == nil {
		var raw []byte
		raw, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err == nil {
			c.m.duration.WithLabelValues(k.method).Observe(time.Since(start).Seconds())
			c.m.requests.WithLabelValues(k.method, strconv.Itoa(resp.StatusCode/100)+"xx").Inc()
			r := &response{status: resp.StatusCode, header: resp.Header, body: raw, method: k.method, path: k.path}
			c.observe(r)
			return r, nil
		}
	}
	c.m.requests.WithLabelValues(k.method, "error").Inc()
	return nil, c.transportFail(k.op, k.method, k.path, err)
}

// observe adapts the client's pace to an answer.
func (c *Client) observe(r *response) {
	switch {
	case r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable:
		after := parseRetryAfter(r.header.Get("Retry-After"), time.Now())
		if r.status == http.StatusTooManyRequests {
			c.m.throttled.Inc()
		}
		c.throttled(r.status, after)
		c.log.Warn("scimclient: the app is throttling", "method", r.method, "path", r.path, "status", r.status,
			"retry_after", after, "rate", float64(c.slow.Limit()))
	case r.ok():
		c.recovered()
	}
}

// doOK is do for requests whose only good answers are 2xx.
func (c *Client) doOK(ctx context.Context, k call) (*response, error) {
	r, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	if !r.ok() {
		return nil, c.fail(k.op, r)
	}
	return r, nil
}

// version is a resource's entity tag as answered: the ETag header, else
// meta.version.
func version(r *response, doc map[string]any) string {
	if v := r.header.Get("ETag"); v != "" {
		return v
	}
	meta, _ := getCI(doc, "meta").(map[string]any)
	v, _ := getCI(meta, "version").(string)
	return v
}

// etagSupported reads (once) whether the app's ServiceProviderConfig
// advertises etag. An app without one, or one the client cannot read, has
// none; a retryable failure is returned and asked again next time.
func (c *Client) etagSupported(ctx context.Context) (bool, error) {
	c.mu.Lock()
	known := c.etag
	c.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	r, err := c.do(ctx, call{op: "scim read service provider config", method: http.MethodGet, path: "/ServiceProviderConfig"})
	if err != nil {
		return false, err
	}
	supported := false
	switch {
	case r.ok():
		var spc struct {
			ETag struct {
				Supported any `json:"supported"`
			} `json:"etag"`
		}
		if err := json.Unmarshal(r.body, &spc); err != nil {
			c.log.Warn("scimclient: unreadable ServiceProviderConfig; assuming no etag support", "err", clean(err.Error(), 200))
		}
		supported = truthy(spc.ETag.Supported)
	case retryableStatus(r.status):
		return false, c.fail("scim read service provider config", r)
	}
	c.mu.Lock()
	c.etag = &supported
	c.mu.Unlock()
	return supported, nil
}

// truthy reads a JSON boolean, or Entra's string form of one.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// ifMatch is the If-Match value for a write on a resource read at version
// v: v when the app supports etags, else none.
func (c *Client) ifMatch(ctx context.Context, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	ok, err := c.etagSupported(ctx)
	if err != nil || !ok {
		return "", err
	}
	return v, nil
}
