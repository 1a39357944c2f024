package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// The mover-review endpoints (docs/requests.md): a reviewer keeps or
// revokes each requested grant a mover held from the old position, acting
// as a named person ("as"), checked and audited like any channel's
// decision ("admin-api").

// Review is a mover review as the API shows it.
type Review struct {
	ID           string       `json:"id"`
	Subject      string       `json:"subject"`
	Moved        time.Time    `json:"moved"`
	OldManager   string       `json:"oldManager,omitempty"`
	NewManager   string       `json:"newManager,omitempty"`
	Reviewers    string       `json:"reviewers"`
	Default      string       `json:"default"`
	Items        []ReviewItem `json:"items"`
	Expires      time.Time    `json:"expires"`
	Closed       time.Time    `json:"closed,omitzero"`
	SupersededBy string       `json:"supersededBy,omitempty"`
	Trail        []TrailEntry `json:"trail"`
}

// ReviewItem is one grant under review and its decision, if any.
type ReviewItem struct {
	Request      string    `json:"request"`
	Item         string    `json:"item"`
	Target       string    `json:"target"`
	Entitlements []string  `json:"entitlements"`
	Until        time.Time `json:"until,omitzero"`
	Decision     string    `json:"decision,omitempty"` // keep or revoke
	NewEnd       time.Time `json:"newEnd,omitzero"`
	By           string    `json:"by,omitempty"`
	At           time.Time `json:"at,omitzero"`
}

// ReviewDecide is the body of POST /reviews/{id}/decide: one item, kept
// (with a new end, optionally) or revoked.
type ReviewDecide struct {
	As      string    `json:"as"`
	Request string    `json:"request"` // the item, by the request that granted it
	Keep    bool      `json:"keep"`
	NewEnd  time.Time `json:"newEnd,omitzero"`
	Reason  string    `json:"reason,omitempty"`
}

func reviewOf(rv *engine.Review) Review {
	out := Review{ID: rv.ID, Subject: rv.Subject, Moved: rv.Moved, OldManager: rv.OldManager, NewManager: rv.NewManager,
		Reviewers: rv.Reviewers, Default: rv.Default, Expires: rv.Expires, Closed: rv.Closed, SupersededBy: rv.SupersededBy}
	for _, it := range rv.Items {
		out.Items = append(out.Items, ReviewItem(it))
	}
	for _, t := range rv.Trail {
		out.Trail = append(out.Trail, TrailEntry(t))
	}
	return out
}

// reviewRoutes registers the review endpoints.
func (h *Handler) reviewRoutes(get func(string, endpoint), post func(string, string, endpoint)) {
	get("/reviews", h.listReviews)
	get("/reviews/{id}", h.getReview)
	post("/reviews/{id}/decide", "decide review item", h.decideReview)
}

// GET /reviews?open=true
func (h *Handler) listReviews(r *http.Request) (any, error) {
	return h.Reviews(r.Context(), r.URL.Query().Get("open") == "true")
}

// GET /reviews/{id}
func (h *Handler) getReview(r *http.Request) (any, error) {
	return h.Review(r.Context(), pathVar(r, "id"))
}

// POST /reviews/{id}/decide
func (h *Handler) decideReview(r *http.Request) (any, error) {
	var in ReviewDecide
	if err := h.decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := h.adminDecisions(); err != nil {
		return nil, err
	}
	return h.DecideReview(r.Context(), pathVar(r, "id"), in, adminVia(r))
}

// Reviews is GET /reviews.
func (c *Client) Reviews(ctx context.Context, openOnly bool) ([]Review, error) {
	q := url.Values{}
	if openOnly {
		q.Set("open", "true")
	}
	out, err := get[[]Review](ctx, c, "/reviews", q)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Review is GET /reviews/{id}.
func (c *Client) Review(ctx context.Context, id string) (*Review, error) {
	return get[Review](ctx, c, "/reviews/"+url.PathEscape(id), nil)
}

// DecideReview is POST /reviews/{id}/decide.
func (c *Client) DecideReview(ctx context.Context, id string, in ReviewDecide) (*Review, error) {
	return post[Review](ctx, c, "/reviews/"+url.PathEscape(id)+"/decide", in)
}
