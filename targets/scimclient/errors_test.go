package scimclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

func newTestClient(t *testing.T, o Options, log *slog.Logger, reg prometheus.Registerer) *Client {
	t.Helper()
	if o.RateLimit == 0 {
		o.RateLimit, o.Burst = 1000, 100
	}
	c, err := New(o, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"99999999999999999999999", MaxRetryAfter},
		{"86400", MaxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{"Mon, 02 Nov 2026 09:00:10 GMT", 10 * time.Second},
		{"soon", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestClassification: the app's answers sorted into retryable (with
// Retry-After) and permanent (with the app's SCIM detail).
func TestClassification(t *testing.T) {
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		retryable bool
		down      bool          // the app was not reached: ErrUnavailable
		after     time.Duration // at least
		contains  []string
	}{
		{name: "400 with SCIM detail", status: 400,
			body:     `{"schemas":["` + schemaErr + `"],"status":"400","scimType":"invalidValue","detail":"userName must be an e-mail address"}`,
			contains: []string{"HTTP 400", "invalidValue", "userName must be an e-mail address", "POST /Users"}},
		{name: "403 numeric status", status: 403, body: `{"status":403,"detail":"the token lacks the users:write scope"}`,
			contains: []string{"HTTP 403", "users:write scope"}},
		{name: "401 plain text", status: 401, body: "Unauthorized\r\n", contains: []string{"HTTP 401", "Unauthorized"}},
		{name: "422 other API's message", status: 422, body: `{"message":"department is not allowed"}`, contains: []string{"department is not allowed"}},
		{name: "408", status: 408, retryable: true},
		{name: "429 seconds", status: 429, header: map[string]string{"Retry-After": "7"}, retryable: true, after: 7 * time.Second},
		{name: "503 date", status: 503, header: map[string]string{"Retry-After": date}, retryable: true, down: true, after: 15 * time.Second,
			body: `{"detail":"maintenance"}`, contains: []string{"HTTP 503", "maintenance"}},
		{name: "500", status: 500, retryable: true},
		{name: "502 html", status: 502, body: "<html>bad gateway</html>", retryable: true, down: true, contains: []string{"bad gateway"}},
		{name: "302 is not followed", status: 302, header: map[string]string{"Location": "https://evil.example/steal"}, contains: []string{"HTTP 302"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := scimtest.NewBaseline(t)
			a.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost {
					return false
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
				return true
			})
			c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}}, nil, nil)
			_, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
			if err == nil {
				t.Fatal("converge succeeded")
			}
			var te *targets.Error
			if !errors.As(err, &te) {
				t.Fatalf("%v is not a *targets.Error", err)
			}
			if targets.IsRetryable(err) != tc.retryable {
				t.Errorf("retryable = %v, want %v: %v", targets.IsRetryable(err), tc.retryable, err)
			}
			if !tc.retryable && !errors.Is(err, targets.ErrPermanent) {
				t.Errorf("%v is not permanent", err)
			}
			if errors.Is(err, targets.ErrUnavailable) != tc.down {
				t.Errorf("unavailable = %v, want %v: %v", !tc.down, tc.down, err)
			}
			if te.RetryAfter < tc.after || te.RetryAfter > tc.after+10*time.Second {
				t.Errorf("RetryAfter = %v, want about %v", te.RetryAfter, tc.after)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tc.status {
				t.Errorf("StatusError %+v, want status %d", se, tc.status)
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not contain %q", err, s)
				}
			}
			if !strings.HasPrefix(err.Error(), "scim create user: ") {
				t.Errorf("%q lacks the op prefix", err)
			}
		})
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	c := newTestClient(t, Options{BaseURL: base, Auth: Bearer{Token: "t0ken-value"}}, nil, nil)
	_, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
	if err == nil || !targets.IsRetryable(err) || !errors.Is(err, targets.ErrUnavailable) || !strings.HasPrefix(err.Error(), "scim find user: GET /Users") {
		t.Errorf("err = %v, want retryable and unavailable", err)
	}

	// A slow app: the per-request timeout is retryable, a DeadlineExceeded.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	c = newTestClient(t, Options{BaseURL: slow.URL, Auth: Bearer{Token: "t0ken-value"}, Timeout: 50 * time.Millisecond}, nil, nil)
	_, err = c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
	if err == nil || !targets.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, targets.ErrUnavailable) {
		t.Errorf("err = %v, want a retryable deadline (slow, not unavailable)", err)
	}
}

// TestRateLimitWaitHonoursContext: a wait the context cancels returns at
// once with the context's error, retryable.
func TestRateLimitWaitHonoursContext(t *testing.T) {
	a := scimtest.NewBaseline(t)
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, RateLimit: 0.01, Burst: 1}, nil, nil)
	if _, err := c.getUser(t.Context(), "x"); err != nil { // uses the one token
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.getUser(ctx, "x")
	if !targets.IsRetryable(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want retryable context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v", d)
	}
	// A deadline sooner than the next token fails without waiting.
	ctx, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	if _, err := c.getUser(ctx, "x"); !targets.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want retryable context.DeadlineExceeded", err)
	}
}

// TestNoSecretsInErrorsOrLogs: an app (and a token endpoint) that echo the
// credentials back in their error bodies do not get them into an error or
// a log line.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	const (
		token    = "bearer-secret-Zq9xK2"
		password = "basic-secret-P4ssw0rd"
		secret   = "client-secret-Hk77Lp"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s / %s / %s"}`,
				r.Header.Get("Authorization"), r.Form.Get("client_secret"), secret)
			return
		}
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"detail":"you sent %s"}`, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, auth := range []Auth{
		Bearer{Token: token},
		Basic{Username: "tenure", Password: password},
		ClientCredentials{TokenURL: echo.URL + "/token", ClientID: "tenure", ClientSecret: secret},
	} {
		t.Run(fmt.Sprintf("%T", auth), func(t *testing.T) {
			c := newTestClient(t, Options{BaseURL: echo.URL + "/scim", Auth: auth}, log, nil)
			_, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
			if err == nil {
				t.Fatal("converge succeeded")
			}
			mu.Lock()
			text := err.Error() + "\n" + logs.String()
			mu.Unlock()
			for _, s := range []string{token, password, secret, base64.StdEncoding.EncodeToString([]byte("tenure:" + password)),
				base64.StdEncoding.EncodeToString([]byte("tenure:" + secret))} {
				if strings.Contains(text, s) {
					t.Errorf("a secret leaked: %s", text)
				}
			}
			if !strings.Contains(text, "[redacted]") {
				t.Errorf("the echoed secret is not marked redacted: %s", text)
			}
			if _, ok := auth.(ClientCredentials); ok && (targets.IsRetryable(err) || !strings.Contains(err.Error(), "invalid_client")) {
				t.Errorf("a refused client secret: %v, want permanent invalid_client", err)
			}
		})
	}
}

// TestSecretAcrossTheCut: a secret echoed where the error detail is cut
// short (512 bytes) leaves no part of itself behind.
func TestSecretAcrossTheCut(t *testing.T) {
	const token = "bearer-secret-0123456789abcdef"
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"detail":"%s%s"}`, strings.Repeat("x", 500), strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer app.Close()
	c := newTestClient(t, Options{BaseURL: app.URL + "/scim", Auth: Bearer{Token: token}}, nil, nil)
	_, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
	if err == nil || strings.Contains(err.Error(), token[:8]) {
		t.Errorf("err = %v: want an error without any part of the token", err)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestNewChecksOptions(t *testing.T) {
	ok := Options{BaseURL: "https://app.example.com/scim/v2", Auth: Bearer{Token: "x"}}
	for _, tc := range []struct {
		name string
		edit func(o *Options)
	}{
		{"no base url", func(o *Options) { o.BaseURL = "" }},
		{"relative", func(o *Options) { o.BaseURL = "/scim" }},
		{"ftp", func(o *Options) { o.BaseURL = "ftp://x/scim" }},
		{"user info", func(o *Options) { o.BaseURL = "https://u:p@x/scim" }},
		{"query", func(o *Options) { o.BaseURL = "https://x/scim?a=b" }},
		{"no auth", func(o *Options) { o.Auth = nil }},
		{"empty token", func(o *Options) { o.Auth = Bearer{} }},
		{"basic colon", func(o *Options) { o.Auth = Basic{Username: "a:b", Password: "p"} }},
		{"cc no secret", func(o *Options) { o.Auth = ClientCredentials{TokenURL: "https://x/token", ClientID: "id"} }},
		{"cc bad url", func(o *Options) { o.Auth = ClientCredentials{TokenURL: "x", ClientID: "id", ClientSecret: "s"} }},
		{"update mode", func(o *Options) { o.UpdateMode = "merge" }},
		{"group mode", func(o *Options) { o.GroupMode = "sync" }},
		{"negative rate", func(o *Options) { o.RateLimit = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if c, err := New(o, nil, nil); err == nil {
				c.Close()
				t.Error("New accepted it")
			}
		})
	}
	c, err := New(ok, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.opts.RateLimit != DefaultRateLimit || c.opts.Burst != DefaultBurst || c.opts.Timeout != DefaultTimeout || c.opts.UpdateMode != UpdatePatch || c.opts.GroupMode != GroupsPatch {
		t.Errorf("defaults not applied: %+v", c.opts)
	}
}

func TestMetrics(t *testing.T) {
	a := scimtest.NewBaseline(t)
	var n atomic.Int64
	a.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	reg := prometheus.NewRegistry()
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, Name: "crm"}, nil, reg)
	if _, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)}); !targets.IsRetryable(err) {
		t.Fatalf("first converge: %v, want the 429", err)
	}
	if _, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP tenure_scimclient_throttled_total 429 Too Many Requests answers from a SCIM app.
# TYPE tenure_scimclient_throttled_total counter
tenure_scimclient_throttled_total{target="crm"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_scimclient_throttled_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(c.m.requests.WithLabelValues("POST", "2xx")); got != 1 {
		t.Errorf("POST 2xx = %v, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.requests.WithLabelValues("GET", "4xx")); got != 1 {
		t.Errorf("GET 4xx = %v, want 1", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "tenure_scimclient_request_duration_seconds", "tenure_scimclient_rate_limit_wait_seconds"); n < 2 {
		t.Errorf("%d duration series", n)
	}
	// Two targets share a registry; closing one frees its name.
	c2 := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, Name: "hr"}, nil, reg)
	c2.Close()
	if _, err := New(Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, Name: "crm"}, nil, reg); err == nil {
		t.Error("a second target with the same name registered")
	}
}
