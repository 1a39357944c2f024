package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// The access-request and mover-review operations, for the endpoints
// (requests.go, reviews.go) and in-process clients (the web console):
// every one acts as a named person, and the engine checks and audits it
// whoever calls. Via says through which channel, and with what proof of
// who acts.

// Via is how a request operation reached Tenure: the channel its trail
// records (ChannelAdmin for the API) and how the channel knew the person
// (the trail's proof; the API's is its operator token, see adminVia).
type Via struct {
	Channel string
	Proof   string
}

// CatalogItem is a requestable item of the policy's catalog.
type CatalogItem struct {
	Name         string   `json:"name"`
	Description  string   `json:"description,omitempty"`
	Target       string   `json:"target"`
	Entitlements []string `json:"entitlements"`
	// MaxDuration bounds a grant (0: until withdrawn or the person
	// leaves); Steps is how many approval steps decide a request.
	MaxDuration time.Duration `json:"maxDuration,omitempty"`
	Steps       int           `json:"steps"`
}

// Inbox is what one person may decide now.
type Inbox struct {
	Requests []AccessRequest `json:"requests"`
	Reviews  []Review        `json:"reviews"`
}

// Catalog is GET /catalog: the items a request may name, in policy
// order.
func (h *Handler) Catalog() []CatalogItem {
	pol := h.eng.Policy()
	out := []CatalogItem{}
	for _, n := range pol.CatalogNames {
		it := pol.Catalog[n]
		out = append(out, CatalogItem{Name: it.Name, Description: it.Description, Target: it.Target,
			Entitlements: it.Entitlements, MaxDuration: it.MaxDuration, Steps: len(it.Steps)})
	}
	return out
}

// Requests is GET /requests: requests, oldest first, of a subject (a
// person reference), in a state, for an item (each optional).
func (h *Handler) Requests(ctx context.Context, subject, state, item string) ([]AccessRequest, error) {
	rs, err := h.eng.Requests(ctx, engine.RequestFilter{Subject: subject, State: engine.RequestState(state), Item: item})
	return listOf(rs, accessRequestOf), err
}

// Request is GET /requests/{id}.
func (h *Handler) Request(ctx context.Context, id string) (*AccessRequest, error) {
	return requestResult(h.eng.GetRequest(ctx, id))
}

// CreateRequest is POST /requests: in.As asks for in.Item for
// in.Subject; the catalog's allow decides whether they may.
func (h *Handler) CreateRequest(ctx context.Context, in RequestCreate, via Via) (*AccessRequest, error) {
	if in.Item == "" || in.Subject == "" || in.As == "" {
		return nil, errorf(http.StatusBadRequest, "item, subject and as (the requester) are required")
	}
	var d time.Duration
	if in.Duration != "" {
		var err error
		if d, err = time.ParseDuration(in.Duration); err != nil {
			return nil, errorf(http.StatusBadRequest, "duration: %v", err)
		}
	}
	return requestResult(h.eng.CreateRequest(ctx, engine.RequestInput{Item: in.Item, Subject: in.Subject, Requester: in.As,
		Reason: in.Reason, Channel: via.Channel, Duration: d}))
}

// Request actions of DecideRequest.
const (
	ActionApprove  = "approve"
	ActionDeny     = "deny"
	ActionWithdraw = "withdraw"
)

// DecideRequest is POST /requests/{id}/approve|deny|withdraw, as in.As.
// Someone who may not decide (or withdraw) is refused by the engine, and
// the refusal is in the request's trail, with the channel's proof, as
// the decision or withdrawal is.
func (h *Handler) DecideRequest(ctx context.Context, id, action string, in RequestAction, via Via) (*AccessRequest, error) {
	if in.As == "" {
		return nil, errorf(http.StatusBadRequest, "as (the person deciding) is required")
	}
	switch action {
	case ActionWithdraw:
		return requestResult(h.eng.WithdrawRequest(ctx, id, in.As, in.Reason, via.Channel, via.Proof))
	case ActionApprove, ActionDeny:
		return requestResult(h.eng.DecideRequest(ctx, id, engine.Decision{Approve: action == ActionApprove, Actor: in.As,
			Reason: in.Reason, Channel: via.Channel, Proof: via.Proof}))
	}
	return nil, errorf(http.StatusBadRequest, "action must be %s, %s or %s, got %q", ActionApprove, ActionDeny, ActionWithdraw, action)
}

func requestResult(req *engine.Request, err error) (*AccessRequest, error) {
	if err != nil {
		return nil, err
	}
	out := accessRequestOf(req)
	return &out, nil
}

// Reviews is GET /reviews: mover reviews, oldest first; open only if
// openOnly.
func (h *Handler) Reviews(ctx context.Context, openOnly bool) ([]Review, error) {
	rvs, err := h.eng.Reviews(ctx, openOnly)
	return listOf(rvs, reviewOf), err
}

// Review is GET /reviews/{id}.
func (h *Handler) Review(ctx context.Context, id string) (*Review, error) {
	return reviewResult(h.eng.GetReview(ctx, id))
}

// DecideReview is POST /reviews/{id}/decide: one item kept (with a new
// end, optionally) or revoked, as in.As, whom the engine checks.
func (h *Handler) DecideReview(ctx context.Context, id string, in ReviewDecide, via Via) (*Review, error) {
	if in.As == "" || in.Request == "" {
		return nil, errorf(http.StatusBadRequest, "as (the reviewer) and request (the item) are required")
	}
	return reviewResult(h.eng.DecideReview(ctx, id, engine.ReviewDecision{Request: in.Request, Keep: in.Keep,
		NewEnd: in.NewEnd, Actor: in.As, Reason: in.Reason, Channel: via.Channel, Proof: via.Proof}))
}

func reviewResult(rv *engine.Review, err error) (*Review, error) {
	if err != nil {
		return nil, err
	}
	out := reviewOf(rv)
	return &out, nil
}

// Inbox is GET /inbox?as=: the pending requests and open mover reviews
// the person may decide now, by the rules a decision is checked by.
func (h *Handler) Inbox(ctx context.Context, person string) (*Inbox, error) {
	if person == "" {
		return nil, errorf(http.StatusBadRequest, "as (the person) is required")
	}
	in, err := h.eng.Inbox(ctx, person)
	if err != nil {
		return nil, err
	}
	return &Inbox{Requests: listOf(in.Requests, accessRequestOf), Reviews: listOf(in.Reviews, reviewOf)}, nil
}

// listOf converts a list of the engine's records; never nil (the API
// answers [] for none).
func listOf[T, U any](in []*T, f func(*T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
