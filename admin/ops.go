package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/store"
)

// The admin API's operations, for the endpoints and for in-process
// clients (the web console): one implementation, whoever calls it. Each
// takes its input typed and its actor given; mutating ones are logged by
// LogAction, which the endpoints call too.

// Identity is GET /identities/{id}: a person by person id or SCIM user id.
func (h *Handler) Identity(ctx context.Context, id string) (*Identity, error) {
	v, err := h.eng.Identity(ctx, id)
	if err != nil {
		return nil, err
	}
	return identityOf(v), nil
}

// People is GET /identities: a page of people.
func (h *Handler) People(ctx context.Context, q PeopleQuery) (*PeoplePage, error) {
	if err := checkPeopleQuery(q); err != nil {
		return nil, err
	}
	p, err := h.eng.People(ctx, engineQuery(q))
	if err != nil {
		return nil, err
	}
	return peoplePageOf(p), nil
}

// Plan is POST /plan: the dry run of a write or a date. Failures of the
// policy on the request (a date that does not parse, an expression that
// fails) are 422.
func (h *Handler) Plan(ctx context.Context, req PlanRequest) (*Plan, error) {
	p, err := h.eng.Plan(ctx, planRequestOf(req))
	switch {
	case errors.Is(err, engine.ErrNoIdentity), errors.Is(err, engine.ErrPlanInput):
		return nil, err
	case err != nil:
		// The engine does not tell policy failures from store failures;
		// Plan only reads, so a failure is almost always the input's.
		return nil, errorf(http.StatusUnprocessableEntity, "plan: %v", err)
	}
	return convertPtr(p, planOf), nil
}

// Jobs is GET /jobs: without a state every state is listed, in flight,
// then scheduled, then dead.
func (h *Handler) Jobs(ctx context.Context, state string, offset, limit int) (*JobList, error) {
	st := queue.State(state)
	switch st {
	case "", queue.Scheduled, queue.InFlight, queue.Dead:
	default:
		return nil, errorf(http.StatusBadRequest, "state must be %s, %s or %s, got %q", queue.Scheduled, queue.InFlight, queue.Dead, state)
	}
	if limit == 0 {
		return nil, errorf(http.StatusBadRequest, "limit must be at least 1")
	}
	limit = min(limit, MaxLimit)
	type part struct {
		state queue.State
		size  int // -1: unknown (the only state listed)
	}
	parts := []part{{st, -1}}
	if st == "" {
		c, err := h.q.Counts(ctx)
		if err != nil {
			return nil, err
		}
		parts = []part{{queue.InFlight, c.InFlight}, {queue.Scheduled, c.Scheduled}, {queue.Dead, c.Dead}}
	}
	out := &JobList{State: state, Offset: offset, Limit: limit, Jobs: []Job{}}
	skip := offset
	for _, p := range parts {
		if p.size >= 0 && skip >= p.size {
			skip -= p.size
			continue
		}
		entries, err := h.q.List(ctx, p.state, skip, limit-len(out.Jobs))
		if err != nil {
			return nil, err
		}
		skip = 0
		for _, e := range entries {
			out.Jobs = append(out.Jobs, jobOf(e))
		}
		if len(out.Jobs) >= limit {
			break
		}
	}
	return out, nil
}

// Counts is GET /jobs/counts.
func (h *Handler) Counts(ctx context.Context) (*Counts, error) {
	c, err := h.q.Counts(ctx)
	if err != nil {
		return nil, err
	}
	return &Counts{Scheduled: c.Scheduled, InFlight: c.InFlight, Dead: c.Dead, OldestDue: c.OldestDue}, nil
}

// Job is GET /jobs/{target}/{person}.
func (h *Handler) Job(ctx context.Context, key string) (*Job, error) {
	e, err := h.q.Get(ctx, key)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "no job %s", key)
	}
	if err != nil {
		return nil, err
	}
	j := jobOf(e)
	return &j, nil
}

// Replay is POST /jobs/{target}/{person}/replay: a dead letter scheduled
// now.
func (h *Handler) Replay(ctx context.Context, key string) (*JobAction, error) {
	if err := h.q.Replay(ctx, key); errors.Is(err, queue.ErrNotFound) {
		if e, gerr := h.q.Get(ctx, key); gerr == nil {
			return nil, errorf(http.StatusConflict, "%s is %s, not a dead letter", key, e.State)
		}
		return nil, errorf(http.StatusNotFound, "no job %s", key)
	} else if err != nil {
		return nil, err
	}
	h.eng.Wake()
	return h.after(ctx, "replay", key)
}

// Cancel is POST /jobs/{target}/{person}/cancel: a scheduled or dead key
// removed; a key in flight loses its pending due time.
func (h *Handler) Cancel(ctx context.Context, key string) (*JobAction, error) {
	if _, err := h.Job(ctx, key); err != nil {
		return nil, err
	}
	if err := h.q.Cancel(ctx, key); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return nil, err
	}
	return h.after(ctx, "cancel", key)
}

// after describes key once action is done.
func (h *Handler) after(ctx context.Context, action, key string) (*JobAction, error) {
	out := &JobAction{Action: action, Key: key}
	e, err := h.q.Get(ctx, key)
	switch {
	case err == nil:
		out.Job = convertPtr(&e, jobOf)
	case !errors.Is(err, queue.ErrNotFound):
		return nil, err
	}
	return out, nil
}

// Targets are the policy's target names, in policy order.
func (h *Handler) Targets() []string { return h.eng.Policy().TargetNames }

// Guards is GET /guards: every target's guard, in policy order.
func (h *Handler) Guards(ctx context.Context) ([]Guard, error) {
	out := []Guard{}
	for _, t := range h.eng.Policy().TargetNames {
		gs, err := h.eng.Guard(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, guardOf(*gs))
	}
	return out, nil
}

// Guard scopes of ApproveGuard.
const (
	ScopeChange = "change" // this change's destructive operations, the later delete too (the default)
	ScopeNow    = "now"    // the held operations only
)

// ApproveGuard is POST /guards/{target}/approve: the held destructive work
// runs, as actor.
func (h *Handler) ApproveGuard(ctx context.Context, target, scope, actor string) (*Guard, error) {
	if err := h.checkTarget(target); err != nil {
		return nil, err
	}
	switch scope {
	case "", ScopeChange:
		return guardResult(h.eng.ApproveGuard(ctx, target, actor))
	case ScopeNow:
		return guardResult(h.eng.ApproveGuardNow(ctx, target, actor))
	}
	return nil, errorf(http.StatusBadRequest, "scope must be %s (default) or %s, got %q", ScopeChange, ScopeNow, scope)
}

// DiscardGuard is POST /guards/{target}/discard: the held destructive work
// is dropped, as actor.
func (h *Handler) DiscardGuard(ctx context.Context, target, actor string) (*Guard, error) {
	if err := h.checkTarget(target); err != nil {
		return nil, err
	}
	return guardResult(h.eng.DiscardGuard(ctx, target, actor))
}

func guardResult(gs *engine.GuardState, err error) (*Guard, error) {
	if err != nil {
		return nil, err
	}
	return convertPtr(gs, guardOf), nil
}

// checkTarget refuses a target the policy does not name.
func (h *Handler) checkTarget(t string) error {
	if _, ok := h.eng.Policy().Target(t); !ok {
		return errorf(http.StatusNotFound, "no target %q in the policy", t)
	}
	return nil
}

// LogAction logs a mutating action's outcome (its key, actor and status,
// and any attrs, such as an operator's reason), as the API does for its
// own requests.
func (h *Handler) LogAction(ctx context.Context, action, key, actor string, status int, err error, attrs ...any) {
	attrs = append([]any{"action", action, "key", key, "actor", actor, "status", status,
		"request_id", httpx.RequestID(ctx)}, attrs...)
	if err != nil {
		h.log.Warn("admin action failed", append(attrs, "err", err)...)
		return
	}
	h.log.Info("admin action", attrs...)
}

// ErrorStatus is the HTTP status the API answers err with, and the message
// it shows; 500 (and a message with no detail) for a fault of the server.
func ErrorStatus(err error) (int, string) {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case requestStatus(err) != 0:
		return requestStatus(err), err.Error()
	case scim.StoreUnavailable(err):
		return http.StatusServiceUnavailable, "the store is unavailable; retry later"
	case errors.Is(err, engine.ErrNoIdentity), errors.Is(err, engine.ErrNoTarget), errors.Is(err, queue.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, engine.ErrGuardNotTripped), errors.Is(err, engine.ErrOwned):
		return http.StatusConflict, err.Error()
	case errors.Is(err, engine.ErrPlanInput):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}
