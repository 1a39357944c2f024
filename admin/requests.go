package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// The access-request endpoints (docs/requests.md): the admin API acts on
// behalf of a named person (the "as" field), so every request and decision
// is one of Tenure's people's, checked and audited as if it came through
// any other channel ("admin-api").

// ChannelAdmin is the channel the admin API's decisions are recorded with.
const ChannelAdmin = "admin-api"

// AccessRequest is an access request as the API shows it.
type AccessRequest struct {
	ID           string        `json:"id"`
	Item         string        `json:"item"`
	Target       string        `json:"target"`
	Entitlements []string      `json:"entitlements"`
	Subject      string        `json:"subject"`
	Requester    string        `json:"requester"`
	Reason       string        `json:"reason,omitempty"`
	Channel      string        `json:"channel"`
	State        string        `json:"state"`
	Created      time.Time     `json:"created"`
	Step         int           `json:"step"`
	Escalated    time.Time     `json:"escalated,omitzero"`
	Decided      time.Time     `json:"decided,omitzero"`
	Start        time.Time     `json:"start,omitzero"`
	End          time.Time     `json:"end,omitzero"`
	Next         time.Time     `json:"next,omitzero"`
	Trail        []TrailEntry  `json:"trail"`
	Duration     time.Duration `json:"duration,omitempty"`
}

// TrailEntry is one line of a request's audit trail.
type TrailEntry struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Channel string    `json:"channel,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Proof is how the channel knew who acted (Slack, an email link).
	Proof string `json:"proof,omitempty"`
}

// RequestCreate is the body of POST /requests.
type RequestCreate struct {
	Item string `json:"item"`
	// Subject and As (the requester) name people: a person id, a SCIM
	// user id or "<source>/<userName>".
	Subject  string `json:"subject"`
	As       string `json:"as"`
	Reason   string `json:"reason,omitempty"`
	Duration string `json:"duration,omitempty"` // e.g. 72h; empty: the item's max_duration
}

// RequestAction is the body of POST /requests/{id}/approve|deny|withdraw.
type RequestAction struct {
	As     string `json:"as"`
	Reason string `json:"reason,omitempty"`
}

func accessRequestOf(r *engine.Request) AccessRequest {
	out := AccessRequest{ID: r.ID, Item: r.Item, Target: r.Target, Entitlements: r.Entitlements, Subject: r.Subject,
		Requester: r.Requester, Reason: r.Reason, Channel: r.Channel, State: string(r.State), Created: r.Created,
		Step: r.Step, Escalated: r.Escalated, Decided: r.Decided, Start: r.Start, End: r.End, Next: r.Next, Duration: r.Duration}
	for _, t := range r.Trail {
		out.Trail = append(out.Trail, TrailEntry(t))
	}
	return out
}

// requestRoutes registers the request endpoints.
func (h *Handler) requestRoutes(get func(string, endpoint), post func(string, string, endpoint)) {
	get("/catalog", func(*http.Request) (any, error) { return h.Catalog(), nil })
	get("/inbox", func(r *http.Request) (any, error) { return h.Inbox(r.Context(), r.URL.Query().Get("as")) })
	get("/requests", h.listRequests)
	post("/requests", "create request", h.createRequest)
	get("/requests/{id}", func(r *http.Request) (any, error) { return h.Request(r.Context(), pathVar(r, "id")) })
	for _, a := range []string{ActionApprove, ActionDeny, ActionWithdraw} {
		post("/requests/{id}/"+a, a+" request", h.requestAction(a))
	}
}

// GET /requests?subject=&state=&item=
func (h *Handler) listRequests(r *http.Request) (any, error) {
	q := r.URL.Query()
	return h.Requests(r.Context(), q.Get("subject"), q.Get("state"), q.Get("item"))
}

// POST /requests
func (h *Handler) createRequest(r *http.Request) (any, error) {
	var in RequestCreate
	if err := h.decodeBody(r, &in); err != nil {
		return nil, err
	}
	return h.CreateRequest(r.Context(), in, adminVia(r))
}

// POST /requests/{id}/approve|deny|withdraw
func (h *Handler) requestAction(action string) endpoint {
	return func(r *http.Request) (any, error) {
		var in RequestAction
		if err := h.decodeBody(r, &in); err != nil {
			return nil, err
		}
		if action != "withdraw" {
			if err := h.adminDecisions(); err != nil {
				return nil, err
			}
		}
		return h.DecideRequest(r.Context(), pathVar(r, "id"), action, in, adminVia(r))
	}
}

// ErrAdminDecisions refuses a decision through the admin API when the
// policy's requests.admin_decisions is false (403).
var ErrAdminDecisions = errors.New("requests.admin_decisions is false: decisions must come through a channel that proves who decides (the console, Slack, an email link)")

// adminDecisions checks that the running policy lets the admin token
// decide on a person's behalf.
func (h *Handler) adminDecisions() error {
	if !h.eng.Policy().AdminDecisions {
		return ErrAdminDecisions
	}
	return nil
}

// adminVia is how an admin API call acts: the proof the trail records is
// the operator's token, which may name anyone in "as", and the actor the
// caller declared (X-Tenure-Actor: intent, not identity).
func adminVia(r *http.Request) Via {
	return Via{Channel: ChannelAdmin, Proof: "admin token; " + ActorHeader + "=" + Actor(r)}
}

// requestStatus is the status of a request operation's error; 0 if it is
// none of theirs.
func requestStatus(err error) int {
	switch {
	case errors.Is(err, engine.ErrNoRequest), errors.Is(err, engine.ErrNoItem), errors.Is(err, engine.ErrNoReview):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrNotApprover), errors.Is(err, engine.ErrNotAllowed), errors.Is(err, ErrAdminDecisions):
		return http.StatusForbidden
	case errors.Is(err, engine.ErrRequestClosed), errors.Is(err, engine.ErrDuplicate):
		return http.StatusConflict
	case errors.Is(err, engine.ErrBadRequest):
		return http.StatusBadRequest
	}
	return 0
}

// Requests is GET /requests.
func (c *Client) Requests(ctx context.Context, subject, state, item string) ([]AccessRequest, error) {
	q := url.Values{}
	for k, v := range map[string]string{"subject": subject, "state": state, "item": item} {
		if v != "" {
			q.Set(k, v)
		}
	}
	out, err := get[[]AccessRequest](ctx, c, "/requests", q)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Request is GET /requests/{id}.
func (c *Client) Request(ctx context.Context, id string) (*AccessRequest, error) {
	return get[AccessRequest](ctx, c, "/requests/"+url.PathEscape(id), nil)
}

// CreateRequest is POST /requests.
func (c *Client) CreateRequest(ctx context.Context, in RequestCreate) (*AccessRequest, error) {
	return post[AccessRequest](ctx, c, "/requests", in)
}

// RequestAction is POST /requests/{id}/{action}: approve, deny or withdraw.
func (c *Client) RequestAction(ctx context.Context, id, action string, in RequestAction) (*AccessRequest, error) {
	return post[AccessRequest](ctx, c, "/requests/"+url.PathEscape(id)+"/"+url.PathEscape(action), in)
}
