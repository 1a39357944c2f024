// Command tenure-load drives a SCIM server (Tenure or any other) with the
// requests provisioning clients make, and reports throughput and latency.
//
// It first seeds -users users over SCIM (POST, at -seed-concurrency), then runs
// each operation in -ops for -duration at -concurrency and prints req/s and
// latency percentiles per operation:
//
//	get     GET /Users/{id} of a random seeded user
//	filter  GET /Users?filter=userName eq "…" of a random seeded user (as Okta does)
//	post    POST /Users of a new user
//	patch   PATCH /Users/{id} replacing title on a random seeded user
//	maxpatch
//	        the costliest user PATCH the server's limits allow, one at a
//	        time: 1,000 operations each selecting by a value filter
//	        (emails[value co "…"].display) on a user holding 1,000
//	        e-mail addresses, so each operation scans every address
//	post-during-maxpatch
//	        post, while one more client sends maxpatch back to back: the
//	        latency of unrelated writes while the heaviest PATCH runs
//	        (compare with post); the maxpatch latencies are reported as
//	        "maxpatch(bg)"
//
// With -converge-url, it measures a provisioning chain instead: after the
// seed, it polls that second SCIM server (a downstream app that the first
// provisions) until every seeded userName is there, and reports the seeded
// users per second from the first POST to the last arrival ("converge").
//
// Example:
//
//	TENURE_SCIM_TOKEN=… tenure-load -url http://127.0.0.1:8080/scim/v2 -users 100000 -concurrency 16 -duration 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	url      string
	token    string
	users    int
	seedConc int
	conc     int
	duration time.Duration
	ops      []string
	prefix   string
	jsonOut  bool
	timeout  time.Duration
	// convergeURL and convergeToken reach the downstream app whose arrivals
	// the converge phase waits for.
	convergeURL, convergeToken string
	convergeWait               time.Duration
}

func main() {
	var c config
	var ops string
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080/scim/v2", "SCIM base URL")
	flag.StringVar(&c.token, "token", "", "bearer token (default $TENURE_SCIM_TOKEN)")
	flag.IntVar(&c.users, "users", 1000, "users to seed before the timed phases")
	flag.IntVar(&c.seedConc, "seed-concurrency", 32, "concurrent requests while seeding")
	flag.IntVar(&c.conc, "concurrency", 16, "concurrent requests in each timed phase")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each timed phase")
	flag.StringVar(&ops, "ops", "get,filter,post,patch", "comma-separated phases: get, filter, post, patch, maxpatch, post-during-maxpatch")
	flag.StringVar(&c.prefix, "prefix", "", "userName prefix (default: a random run id, so runs never collide)")
	flag.BoolVar(&c.jsonOut, "json", false, "print results as JSON lines")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.StringVar(&c.convergeURL, "converge-url", "", "downstream SCIM base URL to wait on for the seeded users (see the doc)")
	flag.StringVar(&c.convergeToken, "converge-token", "", "the downstream's bearer token (default $TENURE_CONVERGE_TOKEN)")
	flag.DurationVar(&c.convergeWait, "converge-timeout", 10*time.Minute, "give up waiting for the downstream after this long")
	flag.Parse()
	if c.convergeToken == "" {
		c.convergeToken = os.Getenv("TENURE_CONVERGE_TOKEN")
	}
	if c.token == "" {
		c.token = os.Getenv("TENURE_SCIM_TOKEN")
	}
	if c.token == "" {
		fmt.Fprintln(os.Stderr, "tenure-load: -token or $TENURE_SCIM_TOKEN is required")
		os.Exit(2)
	}
	if c.prefix == "" {
		c.prefix = fmt.Sprintf("load-%08x", rand.Uint32())
	}
	for _, op := range strings.Split(ops, ",") {
		if op = strings.TrimSpace(op); op != "" {
			c.ops = append(c.ops, op)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tenure-load:", err)
		os.Exit(1)
	}
}

type client struct {
	http  *http.Client
	base  string
	token string
}

type user struct{ id, userName string }

func run(ctx context.Context, c config, out io.Writer) error {
	cl := &client{
		base:  strings.TrimRight(c.url, "/"),
		token: c.token,
		http: &http.Client{Timeout: c.timeout, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * max(c.conc, c.seedConc),
			MaxIdleConnsPerHost: 4 * max(c.conc, c.seedConc),
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	var counter atomic.Int64
	newUser := func(ctx context.Context) (user, error) {
		name := fmt.Sprintf("%s-%d@example.com", c.prefix, counter.Add(1))
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,`+
			`"name":{"givenName":"Load","familyName":"Test"},"emails":[{"type":"work","primary":true,"value":%q}],`+
			`"title":"Engineer","active":true,"externalId":%q}`, name, name, name)
		var created struct {
			ID string `json:"id"`
		}
		if err := cl.do(ctx, http.MethodPost, "/Users", body, http.StatusCreated, &created); err != nil {
			return user{}, err
		}
		return user{id: created.ID, userName: name}, nil
	}

	// Seed.
	users := make([]user, 0, c.users)
	seedStart := time.Now()
	if c.users > 0 {
		var mu sync.Mutex
		res, err := phase(ctx, "seed", c.seedConc, 0, c.users, func(ctx context.Context, _ *rand.Rand) error {
			u, err := newUser(ctx)
			if err == nil {
				mu.Lock()
				users = append(users, u)
				mu.Unlock()
			}
			return err
		})
		if err != nil {
			return err
		}
		res.print(out, c.jsonOut)
	}
	if c.convergeURL != "" {
		res, err := converge(ctx, c, cl.http, seedStart, len(users))
		if err != nil {
			return err
		}
		res.print(out, c.jsonOut)
	}
	pick := func(r *rand.Rand) (user, error) {
		if len(users) == 0 {
			return user{}, errors.New("no seeded users: use -users > 0 for get/filter/patch")
		}
		return users[r.IntN(len(users))], nil
	}
	phases := map[string]func(context.Context, *rand.Rand) error{
		"get": func(ctx context.Context, r *rand.Rand) error {
			u, err := pick(r)
			if err != nil {
				return err
			}
			return cl.do(ctx, http.MethodGet, "/Users/"+u.id, "", http.StatusOK, nil)
		},
		"filter": func(ctx context.Context, r *rand.Rand) error {
			u, err := pick(r)
			if err != nil {
				return err
			}
			q := url.Values{"filter": {fmt.Sprintf("userName eq %q", u.userName)}, "startIndex": {"1"}, "count": {"100"}}
			var lr struct {
				TotalResults int `json:"totalResults"`
			}
			if err := cl.do(ctx, http.MethodGet, "/Users?"+q.Encode(), "", http.StatusOK, &lr); err != nil {
				return err
			}
			if lr.TotalResults != 1 {
				return fmt.Errorf("filter %s: %d results", u.userName, lr.TotalResults)
			}
			return nil
		},
		"post": func(ctx context.Context, _ *rand.Rand) error {
			_, err := newUser(ctx)
			return err
		},
		"patch": func(ctx context.Context, r *rand.Rand) error {
			u, err := pick(r)
			if err != nil {
				return err
			}
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],`+
				`"Operations":[{"op":"replace","path":"title","value":"Engineer %d"}]}`, r.IntN(1<<30))
			return cl.do(ctx, http.MethodPatch, "/Users/"+u.id, body, http.StatusOK, nil)
		},
	}
	var heavy *maxPatch
	var runs atomic.Int64
	maxpatch := func(ctx context.Context, _ *rand.Rand) error {
		body := strings.ReplaceAll(heavy.body, "%d", strconv.FormatInt(runs.Add(1), 10))
		return cl.do(ctx, http.MethodPatch, "/Users/"+heavy.id, body, http.StatusOK, nil)
	}
	phases["maxpatch"] = maxpatch
	for _, op := range c.ops {
		if (op == "maxpatch" || op == "post-during-maxpatch") && heavy == nil {
			var err error
			if heavy, err = newMaxPatch(ctx, cl, c.prefix); err != nil {
				return err
			}
		}
		if op == "post-during-maxpatch" {
			if err := during(ctx, c, out, phases["post"], maxpatch); err != nil {
				return err
			}
			continue
		}
		conc := c.conc
		if op == "maxpatch" {
			conc = 1
		}
		fn, ok := phases[op]
		if !ok {
			return fmt.Errorf("unknown op %q", op)
		}
		res, err := phase(ctx, op, conc, c.duration, 0, fn)
		if err != nil {
			return err
		}
		res.print(out, c.jsonOut)
	}
	return nil
}

// maxPatch is the costliest user PATCH the server's limits allow (1,000
// operations, 1,000 values of a multi-valued attribute), for the user it
// was made for.
type maxPatch struct{ id, body string }

const maxPatchSize = 1000 // Tenure's MaxOperations and MaxValues

func newMaxPatch(ctx context.Context, cl *client, prefix string) (*maxPatch, error) {
	name := prefix + "-maxpatch@example.com"
	emails := make([]string, maxPatchSize)
	ops := make([]string, maxPatchSize)
	for i := range maxPatchSize {
		emails[i] = fmt.Sprintf(`{"type":"t%d","value":"e%d.%s"}`, i, i, name)
		ops[i] = fmt.Sprintf(`{"op":"replace","path":"emails[value co \"e%d.\"].display","value":"d%d-%%d"}`, i, i)
	}
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true,"emails":[%s]}`,
		name, strings.Join(emails, ","))
	var created struct {
		ID string `json:"id"`
	}
	if err := cl.do(ctx, http.MethodPost, "/Users", body, http.StatusCreated, &created); err != nil {
		return nil, fmt.Errorf("maxpatch user: %w", err)
	}
	// Every PATCH changes every address (a PATCH that changes nothing
	// writes nothing): each sets the %d in the body to a new number.
	return &maxPatch{id: created.ID, body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
		strings.Join(ops, ",") + `]}`}, nil
}

// during runs the post phase while one more client sends maxpatch back to
// back (from 100 ms before the posts until they end), and prints both.
func during(ctx context.Context, c config, out io.Writer, post, maxpatch func(context.Context, *rand.Rand) error) error {
	type bgResult struct {
		res result
		err error
	}
	bg := make(chan bgResult, 1)
	go func() {
		res, err := phase(ctx, "maxpatch(bg)", 1, c.duration+200*time.Millisecond, 0, maxpatch)
		bg <- bgResult{res, err}
	}()
	time.Sleep(100 * time.Millisecond)
	res, err := phase(ctx, "post-during-maxpatch", c.conc, c.duration, 0, post)
	b := <-bg
	if err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	res.print(out, c.jsonOut)
	b.res.print(out, c.jsonOut)
	return nil
}

// converge polls the downstream until it holds n users whose userName
// starts with the run's prefix, and reports n over the time since start.
func converge(ctx context.Context, c config, hc *http.Client, start time.Time, n int) (result, error) {
	down := &client{http: hc, base: strings.TrimRight(c.convergeURL, "/"), token: c.convergeToken}
	q := url.Values{"filter": {fmt.Sprintf("userName sw %q", c.prefix+"-")}, "count": {"0"}}
	ctx, cancel := context.WithTimeout(ctx, c.convergeWait)
	defer cancel()
	for {
		var lr struct {
			TotalResults int `json:"totalResults"`
		}
		if err := down.do(ctx, http.MethodGet, "/Users?"+q.Encode(), "", http.StatusOK, &lr); err != nil {
			return result{}, fmt.Errorf("converge: %w", err)
		}
		if lr.TotalResults >= n {
			el := time.Since(start)
			return result{Op: "converge", Requests: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds()}, nil
		}
		select {
		case <-ctx.Done():
			return result{}, fmt.Errorf("converge: %d of %d users downstream: %w", lr.TotalResults, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *client) do(ctx context.Context, method, path, body string, want int, into any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if into != nil {
		return json.Unmarshal(raw, into)
	}
	return nil
}

type result struct {
	Op          string  `json:"op"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"req_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstError  string  `json:"first_error,omitempty"`
}

// phase runs fn from conc workers until d elapses (d > 0) or n calls are done.
func phase(ctx context.Context, op string, conc int, d time.Duration, n int, fn func(context.Context, *rand.Rand) error) (result, error) {
	if conc < 1 {
		return result{}, errors.New("concurrency must be at least 1")
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		pctx, cancel = context.WithTimeout(pctx, d)
		defer cancel()
	}
	var (
		next     atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, conc)
	)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for pctx.Err() == nil {
				if n > 0 && next.Add(1) > int64(n) {
					return
				}
				t0 := time.Now()
				err := fn(pctx, r)
				if pctx.Err() != nil && d > 0 {
					return // the phase ended mid-request; do not count it
				}
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	res := result{
		Op: op, Concurrency: conc, Requests: len(all), Errors: int(errs.Load()),
		Seconds: elapsed.Seconds(), PerSecond: float64(len(all)) / elapsed.Seconds(),
		P50ms: pct(.50), P90ms: pct(.90), P99ms: pct(.99), MaxMs: pct(1),
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res, nil
}

func (r result) print(w io.Writer, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(r)
		return
	}
	fmt.Fprintf(w, "%-7s c=%-3d %8d req in %6.1fs  %9.0f req/s  p50 %7.2fms  p90 %7.2fms  p99 %7.2fms  max %7.2fms  errors %d\n",
		r.Op, r.Concurrency, r.Requests, r.Seconds, r.PerSecond, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "        first error: %s\n", r.FirstError)
	}
}
