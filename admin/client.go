package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// Client calls the admin API; the operator commands are built on it.
type Client struct {
	// Server is the server's root URL, e.g. http://127.0.0.1:8080.
	Server string
	Token  string
	// Actor, if set, is sent as X-Tenure-Actor.
	Actor string
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
}

// maxResponse bounds what the client reads of a response.
const maxResponse = 64 << 20

// Do sends one request to Prefix+path and decodes the JSON answer into out
// (if not nil). An error response is returned as *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := strings.TrimRight(c.Server, "/") + Prefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Actor != "" {
		req.Header.Set(ActorHeader, c.Actor)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + ": " + firstLine(b))
		}
		e.Status = resp.StatusCode
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// get and post are Do for one typed answer.
func get[T any](ctx context.Context, c *Client, path string, query url.Values) (*T, error) {
	return call[T](ctx, c, http.MethodGet, path, query, nil)
}

func post[T any](ctx context.Context, c *Client, path string, in any) (*T, error) {
	return call[T](ctx, c, http.MethodPost, path, nil, in)
}

func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, in any) (*T, error) {
	out := new(T)
	if err := c.Do(ctx, method, path, query, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// JobPath is the API path of a queue key "target/person".
func JobPath(key string) (string, error) {
	target, person, ok := engine.SplitKey(key)
	if !ok || target == "" || person == "" {
		return "", fmt.Errorf("job key %q is not target/person", key)
	}
	return "/jobs/" + url.PathEscape(target) + "/" + url.PathEscape(person), nil
}

// Identity is GET /identities/{id}.
func (c *Client) Identity(ctx context.Context, id string) (*Identity, error) {
	return get[Identity](ctx, c, "/identities/"+url.PathEscape(id), nil)
}

// Link links the person id to an account on target (an operator's
// resolution of a conflict).
func (c *Client) Link(ctx context.Context, id, target, account, ref string) (*Link, error) {
	return post[Link](ctx, c, "/identities/"+url.PathEscape(id)+"/link/"+url.PathEscape(target), LinkRequest{Account: account, Ref: ref})
}

// Unlink drops the person's link on target.
func (c *Client) Unlink(ctx context.Context, id, target string) (*Link, error) {
	return post[Link](ctx, c, "/identities/"+url.PathEscape(id)+"/unlink/"+url.PathEscape(target), struct{}{})
}

// Conflicts lists the parked ownership conflicts.
func (c *Client) Conflicts(ctx context.Context) ([]ParkedConflict, error) {
	out, err := get[[]ParkedConflict](ctx, c, "/conflicts", nil)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Jobs is GET /jobs; an empty state lists every state, a zero limit takes
// the server's default.
func (c *Client) Jobs(ctx context.Context, state string, offset, limit int) (*JobList, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return get[JobList](ctx, c, "/jobs", q)
}

// Counts is GET /jobs/counts.
func (c *Client) Counts(ctx context.Context) (*Counts, error) {
	return get[Counts](ctx, c, "/jobs/counts", nil)
}

// Job is GET /jobs/{target}/{person}.
func (c *Client) Job(ctx context.Context, key string) (*Job, error) {
	p, err := JobPath(key)
	if err != nil {
		return nil, err
	}
	return get[Job](ctx, c, p, nil)
}

// JobAction is POST /jobs/{target}/{person}/{action}: replay, cancel or run.
func (c *Client) JobAction(ctx context.Context, key, action string) (*JobAction, error) {
	p, err := JobPath(key)
	if err != nil {
		return nil, err
	}
	return post[JobAction](ctx, c, p+"/"+action, nil)
}

// Guards is GET /guards.
func (c *Client) Guards(ctx context.Context) ([]Guard, error) {
	out, err := get[[]Guard](ctx, c, "/guards", nil)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Guard is GET /guards/{target}.
func (c *Client) Guard(ctx context.Context, target string) (*Guard, error) {
	return get[Guard](ctx, c, "/guards/"+url.PathEscape(target), nil)
}

// ResolveGuard is POST /guards/{target}/{action}: approve or discard.
func (c *Client) ResolveGuard(ctx context.Context, target, action string) (*Guard, error) {
	return post[Guard](ctx, c, "/guards/"+url.PathEscape(target)+"/"+action, nil)
}

// ApproveGuardNow approves only the held operations (scope=now): later
// destructive steps of the same changes count again.
func (c *Client) ApproveGuardNow(ctx context.Context, target string) (*Guard, error) {
	return call[Guard](ctx, c, http.MethodPost, "/guards/"+url.PathEscape(target)+"/approve", url.Values{"scope": {"now"}}, nil)
}

// Plan is POST /plan.
func (c *Client) Plan(ctx context.Context, req PlanRequest) (*Plan, error) {
	return post[Plan](ctx, c, "/plan", req)
}

// Reconcile is POST /reconcile/{target}?orphans=MODE; an empty mode takes
// the server's default (OrphansReport).
func (c *Client) Reconcile(ctx context.Context, target, orphans string) (*ReconcileResult, error) {
	var q url.Values
	if orphans != "" {
		q = url.Values{"orphans": {orphans}}
	}
	return call[ReconcileResult](ctx, c, http.MethodPost, "/reconcile/"+url.PathEscape(target), q, nil)
}

// Drift is GET /drift/{target}[?since=TIME].
func (c *Client) Drift(ctx context.Context, target string, since time.Time) (*Drift, error) {
	var q url.Values
	if !since.IsZero() {
		q = url.Values{"since": {since.Format(time.RFC3339Nano)}}
	}
	return get[Drift](ctx, c, "/drift/"+url.PathEscape(target), q)
}

// Reload is POST /policy/reload.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	return post[ReloadResult](ctx, c, "/policy/reload", nil)
}

// Backup is GET /backup: it copies the server's store into w and returns
// the bytes written. The caller must verify the copy (a stream cut short
// after the 200 is not an error here).
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.Server, "/")+Prefix+"/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.Actor != "" {
		req.Header.Set(ActorHeader, c.Actor)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		e := &Error{}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + ": " + firstLine(b))
		}
		e.Status = resp.StatusCode
		return 0, e
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET /backup: %w", err)
	}
	return n, nil
}
