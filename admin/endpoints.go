package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/targets"
)

// GET /identities/{id}: a person by person id or SCIM user id.
func (h *Handler) identity(r *http.Request) (any, error) {
	v, err := h.eng.Identity(r.Context(), pathVar(r, "id"))
	if err != nil {
		return nil, err
	}
	return identityOf(v), nil
}

// LinkRequest is the body of POST /identities/{id}/link/{target}: the
// account (its anchor as Tenure stores it: entryUUID, objectGUID, the
// app's id) and, optionally, its reference (a DN).
type LinkRequest struct {
	Account string `json:"account"`
	Ref     string `json:"ref,omitempty"`
}

// POST /identities/{id}/link/{target}: an operator links the person to an
// account (resolving a conflict); refused with 409 if another person links
// it.
func (h *Handler) link(r *http.Request) (any, error) {
	var req LinkRequest
	if err := h.decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Account == "" {
		return nil, errorf(http.StatusBadRequest, "account (the account's id on the target) is required")
	}
	return linkAnswer(h.eng.Link(r.Context(), pathVar(r, "target"), pathVar(r, "id"), req.Account, req.Ref, Actor(r)))
}

// linkAnswer is the answer to link and unlink: the person's link afterwards.
func linkAnswer(l *engine.LinkState, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return convertPtr(l, linkOf), nil
}

// POST /identities/{id}/unlink/{target}: the person's link is dropped;
// nothing is written to the account.
func (h *Handler) unlink(r *http.Request) (any, error) {
	return linkAnswer(h.eng.Unlink(r.Context(), pathVar(r, "target"), pathVar(r, "id"), Actor(r)))
}

// GET /conflicts: every parked ownership conflict.
func (h *Handler) conflicts(r *http.Request) (any, error) {
	cs, err := h.eng.Conflicts(r.Context())
	if err != nil {
		return nil, err
	}
	out := convertSlice(cs, parkedConflictOf)
	if out == nil {
		out = []ParkedConflict{}
	}
	return out, nil
}

// GET /jobs?state=&offset=&limit=. Without a state, every state is listed:
// in flight, then scheduled, then dead.
func (h *Handler) jobs(r *http.Request) (any, error) {
	q := r.URL.Query()
	state := queue.State(q.Get("state"))
	switch state {
	case "", queue.Scheduled, queue.InFlight, queue.Dead:
	default:
		return nil, errorf(http.StatusBadRequest, "state must be %s, %s or %s, got %q", queue.Scheduled, queue.InFlight, queue.Dead, state)
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		return nil, err
	}
	limit, err := intParam(q, "limit", DefaultLimit)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		return nil, errorf(http.StatusBadRequest, "limit must be at least 1")
	}
	limit = min(limit, MaxLimit)
	ctx := r.Context()
	type part struct {
		state queue.State
		size  int // -1: unknown (the only state listed)
	}
	parts := []part{{state, -1}}
	if state == "" {
		c, err := h.q.Counts(ctx)
		if err != nil {
			return nil, err
		}
		parts = []part{{queue.InFlight, c.InFlight}, {queue.Scheduled, c.Scheduled}, {queue.Dead, c.Dead}}
	}
	out := &JobList{State: string(state), Offset: offset, Limit: limit, Jobs: []Job{}}
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

func intParam(q url.Values, name string, def int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "%s must be a non-negative integer, got %q", name, s)
	}
	return n, nil
}

// GET /jobs/counts.
func (h *Handler) counts(r *http.Request) (any, error) {
	c, err := h.q.Counts(r.Context())
	if err != nil {
		return nil, err
	}
	return &Counts{Scheduled: c.Scheduled, InFlight: c.InFlight, Dead: c.Dead, OldestDue: c.OldestDue}, nil
}

// GET /jobs/{target}/{person}.
func (h *Handler) job(r *http.Request) (any, error) {
	key := subject(r)
	e, err := h.q.Get(r.Context(), key)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "no job %s", key)
	}
	if err != nil {
		return nil, err
	}
	j := jobOf(e)
	return &j, nil
}

// POST /jobs/{target}/{person}/replay: a dead letter scheduled now.
func (h *Handler) replay(r *http.Request) (any, error) {
	ctx, key := r.Context(), subject(r)
	if err := h.q.Replay(ctx, key); errors.Is(err, queue.ErrNotFound) {
		if e, gerr := h.q.Get(ctx, key); gerr == nil {
			return nil, errorf(http.StatusConflict, "%s is %s, not a dead letter", key, e.State)
		}
		return nil, errorf(http.StatusNotFound, "no job %s", key)
	} else if err != nil {
		return nil, err
	}
	h.eng.Wake()
	return h.after(r, "replay", key)
}

// POST /jobs/{target}/{person}/cancel: a scheduled or dead key removed; a
// key in flight loses its pending due time.
func (h *Handler) cancel(r *http.Request) (any, error) {
	if _, err := h.job(r); err != nil {
		return nil, err
	}
	key := subject(r)
	if err := h.q.Cancel(r.Context(), key); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return nil, err
	}
	return h.after(r, "cancel", key)
}

// POST /jobs/{target}/{person}/run: converge now. The person may be named
// by SCIM user id; a dead letter must be replayed instead.
func (h *Handler) run(r *http.Request) (any, error) {
	ctx := r.Context()
	target, err := h.target(r)
	if err != nil {
		return nil, err
	}
	v, err := h.eng.Identity(ctx, pathVar(r, "person"))
	if err != nil {
		return nil, err
	}
	key := engine.Key(target, v.Record.ID)
	if e, err := h.q.Get(ctx, key); err == nil && e.State == queue.Dead {
		return nil, errorf(http.StatusConflict, "%s is a dead letter: replay it", key)
	}
	if err := h.q.Schedule(ctx, key, h.now()); err != nil {
		return nil, err
	}
	h.eng.Wake()
	return h.after(r, "run", key)
}

// after describes key once action is done.
func (h *Handler) after(r *http.Request, action, key string) (*JobAction, error) {
	out := &JobAction{Action: action, Key: key}
	e, err := h.q.Get(r.Context(), key)
	switch {
	case err == nil:
		out.Job = convertPtr(&e, jobOf)
	case !errors.Is(err, queue.ErrNotFound):
		return nil, err
	}
	return out, nil
}

// target is the {target} of r, which the policy must name.
func (h *Handler) target(r *http.Request) (string, error) {
	t := pathVar(r, "target")
	if _, ok := h.eng.Policy().Target(t); !ok {
		return "", errorf(http.StatusNotFound, "no target %q in the policy", t)
	}
	return t, nil
}

// GET /guards: every target's guard, in policy order.
func (h *Handler) guards(r *http.Request) (any, error) {
	out := []Guard{}
	for _, t := range h.eng.Policy().TargetNames {
		gs, err := h.eng.Guard(r.Context(), t)
		if err != nil {
			return nil, err
		}
		out = append(out, guardOf(*gs))
	}
	return out, nil
}

// GET /guards/{target}.
func (h *Handler) guard(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	return guardAnswer(h.eng.Guard(r.Context(), t))
}

// guardAnswer is a guard as the API answers it.
func guardAnswer(gs *engine.GuardState, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return convertPtr(gs, guardOf), nil
}

// POST /guards/{target}/approve: the held destructive work runs.
func (h *Handler) approve(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "change":
		return guardAnswer(h.eng.ApproveGuard(r.Context(), t, Actor(r)))
	case "now":
		return guardAnswer(h.eng.ApproveGuardNow(r.Context(), t, Actor(r)))
	default:
		return nil, errorf(http.StatusBadRequest, "scope must be change (default) or now, got %q", scope)
	}
}

// POST /guards/{target}/discard: the held destructive work is dropped.
func (h *Handler) discard(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	return guardAnswer(h.eng.DiscardGuard(r.Context(), t, Actor(r)))
}

// POST /plan: body PlanRequest. Failures of the policy on the request (a
// date that does not parse, an expression that fails) are 422.
func (h *Handler) plan(r *http.Request) (any, error) {
	var req PlanRequest
	if err := h.decodeBody(r, &req); err != nil {
		return nil, err
	}
	p, err := h.eng.Plan(r.Context(), planRequestOf(req))
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

// POST /reconcile/{target}?orphans=report|delete|none: the target's
// orphans reported (or deleted), its exclusive groups cleaned (members no
// grant explains removed, through the guard), then everyone scheduled on
// it now. The orphans go first so that the listing does not race the
// converges it would otherwise start; a failure of the orphan part
// schedules nothing. The answer carries the start time and the repair
// tally then, which GET /drift/{target}?since= compares against.
func (h *Handler) reconcile(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	mode := r.URL.Query().Get("orphans")
	switch mode {
	case "":
		mode = OrphansReport
	case OrphansReport, OrphansDelete, OrphansNone:
	default:
		return nil, errorf(http.StatusBadRequest, "orphans must be %s, %s or %s, got %q", OrphansReport, OrphansDelete, OrphansNone, mode)
	}
	out := &ReconcileResult{Target: t, Orphans: &Orphans{Mode: mode, Status: OrphansSkipped}}
	if mode != OrphansNone {
		rep, err := h.eng.Orphans(ctx, t, mode == OrphansDelete)
		var te *targets.Error
		switch {
		case errors.Is(err, engine.ErrNoInventory) && mode == OrphansReport:
			out.Orphans.Status = OrphansNotSupported
		case errors.Is(err, engine.ErrNoInventory), errors.Is(err, engine.ErrNoRemover):
			return nil, errorf(http.StatusConflict, "orphans on %s cannot be deleted: %v", t, err)
		case errors.Is(err, engine.ErrPendingLinks):
			return nil, errorf(http.StatusConflict, "nothing deleted or scheduled: %v", err)
		case errors.As(err, &te):
			// The target's own failure (unreachable, refused): the
			// operator needs its message.
			return nil, errorf(http.StatusBadGateway, "target %s: %v", t, err)
		case err != nil:
			return nil, err
		default:
			out.Orphans.OrphanReport = convertPtr(rep, orphanReportOf)
			out.Orphans.Status = OrphansReported
			if mode == OrphansDelete {
				out.Orphans.Status = OrphansDeleted
				h.log.Info("admin orphans deleted", "target", t, "orphans", len(rep.Orphans), "deleted", rep.Removed,
					"failed", rep.Failed, "actor", Actor(r), "request_id", httpx.RequestID(ctx))
			}
		}
	}
	view, err := h.eng.Drift(ctx, t, time.Time{})
	if err != nil {
		return nil, err
	}
	out.Started, out.Tally = view.At, DriftTally(view.Tally)
	exclusive, err := h.eng.Exclusive(ctx, t)
	out.Exclusive = exclusiveOf(exclusive)
	if err != nil {
		out.ExclusiveError = err.Error()
	}
	n, err := h.eng.Reconcile(ctx, t)
	if err != nil {
		return nil, err
	}
	out.Scheduled = n
	return out, nil
}

// GET /drift/{target}?since=TIME: the target's drift pass (interval,
// last and next pass, the last report), its repair tally and, with since
// (RFC 3339), how many linked people have not converged since then.
func (h *Handler) drift(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	var since time.Time
	if s := r.URL.Query().Get("since"); s != "" {
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, errorf(http.StatusBadRequest, "since must be an RFC 3339 time, got %q", s)
		}
	}
	v, err := h.eng.Drift(r.Context(), t, since)
	if err != nil {
		return nil, err
	}
	return convertPtr(v, driftOf), nil
}

// POST /policy/reload.
func (h *Handler) reloadPolicy(r *http.Request) (any, error) {
	if h.reload == nil {
		return nil, errorf(http.StatusNotImplemented, "policy reload is not available on this server")
	}
	if err := h.reload(r.Context()); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, "policy not reloaded (the old policy stays): %v", err)
	}
	return &ReloadResult{Reloaded: true, Targets: h.eng.Policy().TargetNames}, nil
}
