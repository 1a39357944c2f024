package scimclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// convergeLikeEngine retries a converge the way the engine does: after
// RetryAfter (or a short backoff) on retryable errors; a permanent error
// would be a dead letter and is returned.
func convergeLikeEngine(t *testing.T, c *Client, req *targets.Request, retryAfters *atomic.Int64) (*targets.Result, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Converge(t.Context(), req)
		if err == nil || !targets.IsRetryable(err) || time.Now().After(deadline) {
			return res, err
		}
		wait := 50 * time.Millisecond
		var te *targets.Error
		if errors.As(err, &te) && te.RetryAfter > 0 {
			wait = te.RetryAfter
			retryAfters.Add(1)
		}
		select {
		case <-t.Context().Done():
			return nil, t.Context().Err()
		case <-time.After(wait):
		}
	}
}

// TestTooManyRequestsStorm: an app that answers 429 with Retry-After: 1 to
// every request for a while slows the target down: every user is created,
// nothing dead-letters, the rate limit is never exceeded, and no request
// reaches the app while it asked for a pause.
func TestTooManyRequestsStorm(t *testing.T) {
	const (
		users = 50
		limit = 40.0
		burst = 5
	)
	// The storm: from the 30th request, for 1.5 s, every request.
	a := scimtest.NewStorm(t, scimtest.Storm{After: 29, For: 1500 * time.Millisecond})
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, RateLimit: limit, Burst: burst, CreateGroups: true}, nil, nil)
	var wg sync.WaitGroup
	var retryAfters atomic.Int64
	errs := make(chan error, users)
	for i := range users {
		wg.Go(func() {
			_, err := convergeLikeEngine(t, c, &targets.Request{Identity: fmt.Sprint(i), Desired: person(fmt.Sprintf("storm.%d", i), nil, "staff")}, &retryAfters)
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("dead letter: %v", err)
	}
	created := len(a.Users())
	staff := 0
	for _, g := range a.Groups() {
		staff += len(g.Members)
	}
	if created != users || staff != users {
		t.Errorf("%d users, %d memberships, want %d each", created, staff, users)
	}
	log := a.Log().Since(0)
	throttled := 0
	for i, r := range log {
		// Never more than the burst plus a second's worth in any second
		// (one of slack for arrival jitter).
		in := 0
		for _, s := range log[i:] {
			if s.At.Sub(r.At) < time.Second {
				in++
			}
		}
		if in > burst+int(limit)+1 {
			t.Errorf("%d requests in the second from %v", in, r.At)
			break
		}
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		throttled++
		// Nothing sent after the 429 reached the client may arrive
		// before its Retry-After ends.
		for _, s := range log {
			if d := s.At.Sub(r.At); d > 50*time.Millisecond && d < 950*time.Millisecond {
				t.Errorf("a request %v after a 429 that asked for 1 s", d)
				break
			}
		}
	}
	if throttled == 0 || retryAfters.Load() == 0 {
		t.Errorf("%d 429s, %d retries with Retry-After: the storm did not happen", throttled, retryAfters.Load())
	}
	t.Logf("%d requests, %d throttled, %d retries after Retry-After", len(log), throttled, retryAfters.Load())
}

// TestRateLimitRecovery: a 429 halves the rate, successes give it back.
func TestRateLimitRecovery(t *testing.T) {
	a := scimtest.NewBaseline(t)
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, RateLimit: 100, Burst: 100}, nil, nil)
	c.throttled(http.StatusTooManyRequests, 0)
	c.throttled(http.StatusTooManyRequests, 0)
	if got := float64(c.slow.Limit()); got != 25 {
		t.Errorf("after two 429s: %v/s, want 25", got)
	}
	for range 10 {
		c.throttled(http.StatusTooManyRequests, 0)
	}
	if got := float64(c.slow.Limit()); got != 1 {
		t.Errorf("floor: %v/s, want 1", got)
	}
	for range 25 {
		if _, err := c.list(t.Context(), "list", "Users", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := float64(c.slow.Limit()); got != 100 {
		t.Errorf("after 25 successes: %v/s, want 100", got)
	}
	// A long pause fails at once, retryable, with the time left.
	c.throttled(http.StatusServiceUnavailable, 30*time.Second)
	m := a.Log().Mark()
	_, err := c.getUser(t.Context(), "x")
	var te *targets.Error
	if !errors.As(err, &te) || !targets.IsRetryable(err) || te.RetryAfter < 29*time.Second || len(a.Log().Since(m)) != 0 {
		t.Errorf("during a pause: %v (retry after %v), %d requests sent", err, te.RetryAfter, len(a.Log().Since(m)))
	}
}

// TestETagRetryOn412: a write that meets a changed version re-reads the
// user and succeeds on the second try.
func TestETagRetryOn412(t *testing.T) {
	a := scimtest.NewETag(t)
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}}, nil, nil)
	res, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
	if err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	a.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch && once.CompareAndSwap(false, true) {
			scimtest.Error(w, http.StatusPreconditionFailed, "", "changed meanwhile")
			return true
		}
		return false
	})
	desired := person("jdoe", map[string]any{"title": "CTO"})
	res, err = c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: desired, Link: &res.Link})
	if err != nil || len(res.Ops) != 1 || res.Ops[0].Kind != targets.OpUpdate {
		t.Fatalf("converge: %v %v", res, err)
	}
	patches := 0
	for _, r := range a.Log().Since(0) {
		if r.Method == http.MethodPatch {
			patches++
		}
	}
	if patches != 2 {
		t.Errorf("%d PATCHes, want 2 (412, then success)", patches)
	}
}

// TestAuth: each Auth reaches the app with its credentials; the
// client-credentials token is fetched once, reused, and refreshed when it
// expires.
func TestAuth(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		a := scimtest.NewBaseline(t)
		c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}}, nil, nil)
		if _, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)}); err != nil {
			t.Fatal(err)
		}
		bad := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: "wrong"}}, nil, nil)
		_, err := bad.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)})
		if err == nil || targets.IsRetryable(err) || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("wrong token: %v, want permanent 401", err)
		}
	})
	t.Run("basic", func(t *testing.T) {
		a := scimtest.NewBaseline(t)
		a.SetAuth(func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "tenure" && p == "pä:ss"
		})
		c := newTestClient(t, Options{BaseURL: a.URL(), Auth: &Basic{Username: "tenure", Password: "pä:ss"}}, nil, nil)
		if _, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", nil)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("client credentials", func(t *testing.T) {
		var fetched atomic.Int64
		var mu sync.Mutex
		issued := map[string]bool{}
		expiresIn := 3600
		tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, secret, ok := r.BasicAuth()
			_ = r.ParseForm()
			if !ok {
				id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
			}
			if id != "tenure" || secret != "s3cret" || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "users groups" {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"invalid_client"}`)
				return
			}
			tok := fmt.Sprintf("access-%d", fetched.Add(1))
			mu.Lock()
			issued[tok] = true
			exp := expiresIn
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": exp})
		}))
		defer tokens.Close()
		a := scimtest.NewBaseline(t)
		a.SetAuth(func(r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			return ok && issued[tok]
		})
		c := newTestClient(t, Options{BaseURL: a.URL(), Auth: ClientCredentials{
			TokenURL: tokens.URL, ClientID: "tenure", ClientSecret: "s3cret", Scopes: []string{"users", "groups"},
		}}, nil, nil)
		var link *targets.Link
		for i := range 3 {
			res, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person("jdoe", map[string]any{"title": fmt.Sprint(i)}), Link: link})
			if err != nil {
				t.Fatal(err)
			}
			link = &res.Link
		}
		if got := fetched.Load(); got != 1 {
			t.Errorf("%d token requests for 3 converges, want 1", got)
		}
		// The next token expires at once (oauth2 refreshes 10 s early).
		mu.Lock()
		expiresIn = 10
		mu.Unlock()
		c2 := newTestClient(t, Options{BaseURL: a.URL(), Auth: ClientCredentials{
			TokenURL: tokens.URL, ClientID: "tenure", ClientSecret: "s3cret", Scopes: []string{"users", "groups"},
		}}, nil, nil)
		for range 2 {
			if _, err := c2.getUser(t.Context(), link.ID); err != nil {
				t.Fatal(err)
			}
		}
		if got := fetched.Load(); got != 3 {
			t.Errorf("%d token requests, want 3 (one per request once expired)", got)
		}
		var auths []string
		for _, r := range a.Log().Since(0) {
			auths = append(auths, r.Auth)
		}
		if auths[0] != "Bearer access-1" || auths[len(auths)-1] != "Bearer access-3" {
			t.Errorf("authorizations %v", auths)
		}
	})
}
