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
	return h.Identity(r.Context(), pathVar(r, "id"))
}

// GET /identities?q=&state=&source=&department=&after=&limit=: a page of
// people, in person id order after the person id after.
func (h *Handler) people(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", DefaultPeopleLimit)
	if err != nil {
		return nil, err
	}
	return h.People(r.Context(), PeopleQuery{Search: q.Get("q"), State: q.Get("state"), Source: q.Get("source"),
		Department: q.Get("department"), After: q.Get("after"), Limit: limit})
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
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		return nil, err
	}
	limit, err := intParam(q, "limit", DefaultLimit)
	if err != nil {
		return nil, err
	}
	return h.Jobs(r.Context(), q.Get("state"), offset, limit)
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
func (h *Handler) counts(r *http.Request) (any, error) { return h.Counts(r.Context()) }

// GET /jobs/{target}/{person}.
func (h *Handler) job(r *http.Request) (any, error) { return h.Job(r.Context(), subject(r)) }

// POST /jobs/{target}/{person}/replay: a dead letter scheduled now.
func (h *Handler) replay(r *http.Request) (any, error) { return h.Replay(r.Context(), subject(r)) }

// POST /jobs/{target}/{person}/cancel: a scheduled or dead key removed; a
// key in flight loses its pending due time.
func (h *Handler) cancel(r *http.Request) (any, error) { return h.Cancel(r.Context(), subject(r)) }

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
	return h.after(ctx, "run", key)
}

// target is the {target} of r, which the policy must name.
func (h *Handler) target(r *http.Request) (string, error) {
	t := pathVar(r, "target")
	return t, h.checkTarget(t)
}

// GET /guards: every target's guard, in policy order.
func (h *Handler) guards(r *http.Request) (any, error) { return h.Guards(r.Context()) }

// GET /guards/{target}.
func (h *Handler) guard(r *http.Request) (any, error) {
	t, err := h.target(r)
	if err != nil {
		return nil, err
	}
	return guardResult(h.eng.Guard(r.Context(), t))
}

// POST /guards/{target}/approve?scope=change|now: the held destructive
// work runs.
func (h *Handler) approve(r *http.Request) (any, error) {
	return h.ApproveGuard(r.Context(), pathVar(r, "target"), r.URL.Query().Get("scope"), Actor(r))
}

// POST /guards/{target}/discard: the held destructive work is dropped.
func (h *Handler) discard(r *http.Request) (any, error) {
	return h.DiscardGuard(r.Context(), pathVar(r, "target"), Actor(r))
}

// POST /plan: body PlanRequest.
func (h *Handler) plan(r *http.Request) (any, error) {
	var req PlanRequest
	if err := h.decodeBody(r, &req); err != nil {
		return nil, err
	}
	return h.Plan(r.Context(), req)
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
