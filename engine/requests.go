package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/store"
)

// Access requests (docs/requests.md). A request is a record in the store
// (request/<id>) with its whole audit trail; its reminders, escalation and
// expiry, and the end of what it granted, are boundaries of the queue key
// requests/<id>, scheduled in the transactions that change it, so nothing
// polls and a restart loses nothing. An approval is a grant with a start
// and an end in the subject's lifecycle record (mapper.RequestedGrant):
// the desired state includes it like a birthright, and the normal converge
// puts it on the target.

// The request documents.
const (
	nsRequest     store.Namespace = "request"   // id → Request
	nsRequestSubj store.Namespace = "reqsubj"   // subject person/id → item: a person's requests
	requestPrefix                 = "requests/" // queue keys of requests
)

// RequestState is where a request is.
type RequestState string

// Request states. Pending is the only one that waits for a decision;
// approved holds a grant; the others are final.
const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestExpired   RequestState = "expired"
	RequestWithdrawn RequestState = "withdrawn"
	RequestEnded     RequestState = "ended"     // the grant reached its end
	RequestRevoked   RequestState = "revoked"   // a leaver, a rehire or a mover review took it away
	RequestFulfilled RequestState = "fulfilled" // held by birthright already: answered at once
)

// Request is an access request and its audit trail.
type Request struct {
	ID           string   `json:"id"`
	Item         string   `json:"item"`
	Target       string   `json:"target"`
	Entitlements []string `json:"entitlements"`
	// Subject is who the access is for; Requester who asked (person ids).
	Subject   string `json:"subject"`
	Requester string `json:"requester"`
	Reason    string `json:"reason,omitempty"`
	Channel   string `json:"channel"`
	// Duration is the grant's length asked for (0: the item's maximum).
	Duration time.Duration `json:"duration,omitempty"`
	State    RequestState  `json:"state"`
	Created  time.Time     `json:"created"`
	// Step is the approval step waiting (0-based), StepStarted when it
	// began; Approvals are the approvals given so far.
	Step        int        `json:"step"`
	StepStarted time.Time  `json:"stepStarted"`
	Approvals   []Approval `json:"approvals,omitempty"`
	Escalated   time.Time  `json:"escalated,omitzero"`
	Reminded    time.Time  `json:"reminded,omitzero"`
	Decided     time.Time  `json:"decided,omitzero"`
	// Start and End are the grant's (End zero: no end).
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Next is the request's next boundary (reminder, escalation, expiry,
	// the grant's end); zero if none.
	Next  time.Time    `json:"next,omitzero"`
	Trail []TrailEntry `json:"trail"`
}

// Approval is one approval of a step: who (By), as which of the step's
// approvers (an approver reference, or "fallback").
type Approval struct {
	Step     int       `json:"step"`
	Approver string    `json:"approver"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// TrailEntry is one line of a request's or review's audit trail: who did
// what, when, why and through which channel. Refused attempts are in it
// too.
type TrailEntry struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"` // a person id, or "tenure" for the clock
	Action  string    `json:"action"`
	Channel string    `json:"channel,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Proof is how the channel knew who acted (a Slack signed
	// interaction and the email it mapped, a one-time link).
	Proof string `json:"proof,omitempty"`
}

// Sentinel errors of request operations.
var (
	ErrNoRequest     = errors.New("engine: no such request")
	ErrNoItem        = errors.New("engine: no such catalog item")
	ErrNotAllowed    = errors.New("engine: not allowed")     // the catalog's allow said no, or not the requester
	ErrNotApprover   = errors.New("engine: not an approver") // refused and audited
	ErrRequestClosed = errors.New("engine: request is closed")
	ErrDuplicate     = errors.New("engine: an open request for this item exists")
	ErrBadRequest    = errors.New("engine: invalid request")
)

// EventRequest is the audit kind of request and review events in the
// subject's log.
const EventRequest EventKind = "request"

// ActorTenure is the actor of what the clock and the policy do.
const ActorTenure = "tenure"

// RequestInput is a new request.
type RequestInput struct {
	Item string
	// Subject and Requester name people: a person id, a SCIM user id,
	// or "<source>/<userName>".
	Subject, Requester string
	Reason, Channel    string
	Duration           time.Duration
}

// RequestKey is a request's queue key.
func RequestKey(id string) string { return requestPrefix + id }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// findPerson resolves a person reference: a person id, a SCIM user id, or
// "<source>/<userName>".
func (e *Engine) findPerson(r store.Reader, ref string) (*mapper.Record, error) {
	if p, err := e.personID(r, ref); err == nil {
		return loadRecord(r, p)
	} else if !errors.Is(err, ErrNoIdentity) {
		return nil, err
	}
	if src, name, ok := strings.Cut(ref, "/"); ok {
		ids, err := r.LookupName(store.KindUser, src, name)
		if err != nil {
			return nil, err
		}
		if len(ids) == 1 {
			// A user that is no person (yet) is nobody: ErrNoIdentity
			// below, never a nil record.
			p, err := personOf(r, ids[0])
			if err != nil {
				return nil, err
			}
			if p != "" {
				if rec, err := loadRecord(r, p); err != nil || rec != nil {
					return rec, err
				}
			}
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoIdentity, ref)
}

// party is rec as a catalog's allow expression sees them.
func party(r store.Reader, rec *mapper.Record) (mapper.Party, error) {
	p := mapper.Party{Person: rec.ID, Record: rec}
	if m := rec.Identity.ManagerID(); m != "" {
		mgr, err := referent(r, rec.Source, m)
		if err != nil {
			return p, err
		}
		p.Manager = mgr
	}
	return p, nil
}

// approvers resolves an approver reference for subj to people who have
// not left at now: the subject's manager, a user of the subject's source
// by userName, or the members of a group of that source. Someone who left
// decides nothing, and does not count as someone who can (the fallback
// opens when nobody else can decide).
func approvers(r store.Reader, subj *mapper.Record, ref string, now time.Time) ([]string, error) {
	kind, name, ok := config.ParseApprover(ref)
	if !ok {
		return nil, fmt.Errorf("engine: approver %q", ref)
	}
	var ids []string
	switch kind {
	case config.ApproverManager:
		m := subj.Identity.ManagerID()
		if m == "" {
			return nil, nil
		}
		p, err := referent(r, subj.Source, m)
		if err != nil || p == "" {
			return nil, err
		}
		return livePeople(r, []string{p}, now)
	case "user":
		var err error
		if ids, err = r.LookupName(store.KindUser, subj.Source, name); err != nil {
			return nil, err
		}
	case "group":
		gids, err := r.LookupName(store.KindGroup, subj.Source, name)
		if err != nil {
			return nil, err
		}
		for _, gid := range gids {
			g, err := r.Get(store.KindGroup, gid)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, m := range g.Members {
				ids = append(ids, m.Value)
			}
		}
	}
	var out []string
	for _, id := range ids {
		p, err := personOf(r, id)
		if err != nil {
			return nil, err
		}
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return livePeople(r, out, now)
}

// livePeople keeps of ps the people who have not left at now.
func livePeople(r store.Reader, ps []string, now time.Time) ([]string, error) {
	var out []string
	for _, p := range ps {
		rec, err := loadRecord(r, p)
		if err != nil {
			return nil, err
		}
		if rec != nil && live(rec, now) {
			out = append(out, p)
		}
	}
	return out, nil
}

// stepRoles returns, for the current step of req, the approver references
// not yet satisfied that actor may decide as ("fallback" when the step is
// escalated or has nobody to decide it), and everyone who may decide.
// Nobody decides their own request, and whoever approved a step of it
// decides no other and no second place of the same step: separation of
// duties, so that an "all" step or a chain means as many people.
func stepRoles(r store.Reader, subj *mapper.Record, it *mapper.CatalogItem, req *Request, actor string, now time.Time) (roles, everyone []string, err error) {
	step := it.Steps[req.Step]
	anyone := false
	excluded := func(p string) bool {
		return p == req.Subject || p == req.Requester || slices.ContainsFunc(req.Approvals, func(a Approval) bool { return a.By == p })
	}
	for _, ref := range step.Approvers {
		if slices.ContainsFunc(req.Approvals, func(a Approval) bool { return a.Step == req.Step && a.Approver == ref }) {
			continue
		}
		ps, err := approvers(r, subj, ref, now)
		if err != nil {
			return nil, nil, err
		}
		ps = slices.DeleteFunc(ps, excluded)
		anyone = anyone || len(ps) > 0
		if slices.Contains(ps, actor) {
			roles = append(roles, ref)
		}
		everyone = append(everyone, ps...)
	}
	if it.Fallback != "" && (!req.Escalated.IsZero() || !anyone) {
		ps, err := approvers(r, subj, it.Fallback, now)
		if err != nil {
			return nil, nil, err
		}
		ps = slices.DeleteFunc(ps, excluded)
		if slices.Contains(ps, actor) {
			roles = append(roles, "fallback")
		}
		everyone = append(everyone, ps...)
	}
	slices.Sort(everyone)
	return roles, slices.Compact(everyone), nil
}

// stepDone reports whether req's current step has the approvals it needs.
func stepDone(it *mapper.CatalogItem, req *Request) bool {
	step := it.Steps[req.Step]
	got := func(ref string) bool {
		return slices.ContainsFunc(req.Approvals, func(a Approval) bool { return a.Step == req.Step && a.Approver == ref })
	}
	if got("fallback") {
		return true
	}
	if step.Mode == config.ApproveAll {
		return !slices.ContainsFunc(step.Approvers, func(ref string) bool { return !got(ref) })
	}
	return slices.ContainsFunc(step.Approvers, got)
}

// pendingNext is a pending request's next boundary: its next reminder,
// its escalation, its expiry.
func pendingNext(it *mapper.CatalogItem, req *Request) time.Time {
	n := req.Created.Add(it.ExpireAfter)
	if it.EscalateAfter > 0 && req.Escalated.IsZero() {
		n = earliest(n, req.StepStarted.Add(it.EscalateAfter))
	}
	if it.ReminderAfter > 0 {
		last := req.StepStarted
		if req.Reminded.After(last) {
			last = req.Reminded
		}
		n = earliest(n, last.Add(it.ReminderAfter))
	}
	return n
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// CreateRequest records a request, answers it at once when the subject
// holds the access by birthright, and otherwise asks the first step's
// approvers. A requester the item's allow refuses gets ErrNotAllowed
// (audited in the subject's log).
func (e *Engine) CreateRequest(ctx context.Context, in RequestInput) (*Request, error) {
	pol := e.Policy()
	it, ok := pol.Item(in.Item)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoItem, in.Item)
	}
	if in.Duration < 0 || (it.MaxDuration > 0 && in.Duration > it.MaxDuration) {
		return nil, fmt.Errorf("%w: duration %s is not within the item's max_duration %s", ErrBadRequest, in.Duration, it.MaxDuration)
	}
	if in.Channel == "" {
		return nil, fmt.Errorf("%w: no channel", ErrBadRequest)
	}
	var (
		out     *Request
		refused error
		after   func()
	)
	err := e.st.Update(ctx, func(tx store.Tx) error {
		out, refused, after = nil, nil, nil
		now := e.now()
		subj, err := e.findPerson(tx, in.Subject)
		if err != nil {
			return err
		}
		reqr, err := e.findPerson(tx, in.Requester)
		if err != nil {
			return err
		}
		a := newAuditor(tx, now)
		refuse := func(why string) error {
			refused = fmt.Errorf("%w: %s", ErrNotAllowed, why)
			return a.add(subj.ID, Event{Kind: EventRequest, Actor: reqr.ID, Detail: fmt.Sprintf("request for %s refused: %s", it.Name, why)})
		}
		if !live(subj, now) || !live(reqr, now) {
			return refuse("the subject and the requester must be people who have not left")
		}
		sp, err := party(tx, subj)
		if err != nil {
			return err
		}
		rp, err := party(tx, reqr)
		if err != nil {
			return err
		}
		may, err := it.MayRequest(rp, sp, now)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if !may {
			return refuse(fmt.Sprintf("requests.catalog %s allow (%s) is false for requester %s", it.Name, it.Allow.Text, reqr.ID))
		}
		open, err := subjectRequests(tx, subj.ID)
		if err != nil {
			return err
		}
		for _, o := range open {
			if o.Item == it.Name && (o.State == RequestPending || o.State == RequestApproved) {
				refused = fmt.Errorf("%w: %s (%s)", ErrDuplicate, o.ID, o.State)
				return nil
			}
		}
		req := &Request{ID: newID(), Item: it.Name, Target: it.Target, Entitlements: slices.Clone(it.Entitlements),
			Subject: subj.ID, Requester: reqr.ID, Reason: in.Reason, Channel: in.Channel, Duration: in.Duration,
			State: RequestPending, Created: now, StepStarted: now}
		req.trail(now, reqr.ID, "requested", in.Channel, in.Reason, "")
		rules, err := pol.Birthright(subj, it.Target, it.Entitlements, now)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		var ev []func()
		if rules != nil {
			req.State, req.Decided = RequestFulfilled, now
			req.trail(now, ActorTenure, "fulfilled", "", "", "held by birthright: "+strings.Join(rules, ", "))
			ev = append(ev, func() { e.rmetrics.decided.WithLabelValues(it.Name, string(RequestFulfilled)).Inc() })
		} else {
			_, everyone, err := stepRoles(tx, subj, it, req, "", now)
			if err != nil {
				return err
			}
			if len(everyone) == 0 {
				req.trail(now, ActorTenure, "no approver", "", "", "nobody can decide step 1 yet; it waits for escalation or expiry")
			}
			if err := e.message(tx, req, notify.EventCreated, everyone, now); err != nil {
				return err
			}
		}
		if err := e.putRequest(tx, req, now); err != nil {
			return err
		}
		if err := tx.PutDoc(nsRequestSubj, subj.ID+"/"+req.ID, []byte(it.Name)); err != nil {
			return err
		}
		if err := a.add(subj.ID, Event{Kind: EventRequest, Actor: reqr.ID, Detail: fmt.Sprintf("request %s for %s: %s", req.ID, it.Name, req.State)}); err != nil {
			return err
		}
		out = req
		after = func() {
			e.rmetrics.created.WithLabelValues(it.Name).Inc()
			for _, f := range ev {
				f()
			}
			e.Wake()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: create request: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	after()
	return out, nil
}

func (r *Request) trail(at time.Time, actor, action, channel, reason, detail string) {
	r.Trail = append(r.Trail, TrailEntry{At: at, Actor: actor, Action: action, Channel: channel, Reason: reason, Detail: detail})
}

// putRequest stores req with its next boundary, scheduled on its key.
func (e *Engine) putRequest(tx store.Tx, req *Request, now time.Time) error {
	req.Next = time.Time{}
	switch req.State {
	case RequestPending:
		if it, ok := e.Policy().Item(req.Item); ok {
			req.Next = pendingNext(it, req)
		} else {
			req.Next = now // the item is gone from the policy: the boundary closes it
		}
	case RequestApproved:
		req.Next = req.End
		if _, ok := e.Policy().Item(req.Item); !ok {
			req.Next = now // the item is gone from the policy: the boundary revokes it
		}
	}
	if !req.Next.IsZero() {
		if err := e.sched.ScheduleTx(tx, RequestKey(req.ID), req.Next); err != nil {
			return err
		}
	}
	return putJSON(tx, nsRequest, req.ID, req)
}

// subjectRequests returns a person's requests.
func subjectRequests(r store.Reader, person string) ([]*Request, error) {
	var out []*Request
	err := r.ScanDocs(nsRequestSubj, person+"/", false, func(key string, _ []byte) (bool, error) {
		req, err := getJSON[Request](r, nsRequest, strings.TrimPrefix(key, person+"/"))
		if err != nil {
			return false, err
		}
		if req != nil {
			out = append(out, req)
		}
		return true, nil
	})
	return out, err
}

// Decision is an approver's answer to a request.
type Decision struct {
	Approve bool
	// Actor names the person deciding (see RequestInput).
	Actor, Reason, Channel string
	// Proof is how the channel knew the actor, audited with the decision.
	Proof string
	// Step, when not nil, is the step decided: a link or button of an
	// earlier step is refused once the request moved on.
	Step *int
}

// DecideRequest records an approver's decision. Anyone who is not an
// approver of the waiting step (the subject and the requester never are)
// gets ErrNotApprover, and the refusal is in the request's trail and the
// subject's log. The last approval grants: the subject's record gets the
// grant and the target's converge is scheduled in the same transaction.
func (e *Engine) DecideRequest(ctx context.Context, id string, d Decision) (*Request, error) {
	return e.changeRequest(ctx, id, func(tx store.Tx, req *Request, it *mapper.CatalogItem, now time.Time) (error, error) {
		if it == nil {
			return nil, fmt.Errorf("%w: %q (request %s)", ErrNoItem, req.Item, req.ID)
		}
		actor, err := e.findPerson(tx, d.Actor)
		if err != nil {
			return nil, err
		}
		if req.State != RequestPending {
			return fmt.Errorf("%w: %s", ErrRequestClosed, req.State), nil
		}
		if d.Step != nil && *d.Step != req.Step {
			return fmt.Errorf("%w: the decision is for step %d, the request waits at step %d", ErrRequestClosed, *d.Step+1, req.Step+1), nil
		}
		subj, err := loadRecord(tx, req.Subject)
		if err != nil {
			return nil, err
		}
		if closed, err := e.closeStale(tx, req, it, subj, now); err != nil || closed {
			return fmt.Errorf("%w: %s (%s)", ErrRequestClosed, req.State, req.Trail[len(req.Trail)-1].Detail), err
		}
		var roles []string
		if live(actor, now) {
			if roles, _, err = stepRoles(tx, subj, it, req, actor.ID, now); err != nil {
				return nil, err
			}
		}
		verb := map[bool]string{true: "approve", false: "deny"}[d.Approve]
		if len(roles) == 0 {
			why := fmt.Sprintf("%s is not an approver of step %d", actor.ID, req.Step+1)
			if i := slices.IndexFunc(req.Approvals, func(a Approval) bool { return a.By == actor.ID }); i >= 0 {
				why = fmt.Sprintf("%s approved step %d already: one person approves one place of one step", actor.ID, req.Approvals[i].Step+1)
			}
			if !live(actor, now) {
				why = fmt.Sprintf("%s has left", actor.ID)
			}
			req.trail(now, actor.ID, "refused "+verb, d.Channel, d.Reason, why)
			req.Trail[len(req.Trail)-1].Proof = d.Proof
			if err := newAuditor(tx, now).add(req.Subject, Event{Kind: EventRequest, Actor: actor.ID,
				Detail: fmt.Sprintf("request %s: %s refused: %s", req.ID, verb, why)}); err != nil {
				return nil, err
			}
			return fmt.Errorf("%w: %s", ErrNotApprover, why), nil
		}
		// One decision is one role: a manager who is also in an "all"
		// step's group is one approval, not two. The fallback, once it may
		// decide, decides the whole step.
		role := roles[0]
		if slices.Contains(roles, "fallback") {
			role = "fallback"
		}
		req.trail(now, actor.ID, verb+"d", d.Channel, d.Reason, "as "+role)
		req.Trail[len(req.Trail)-1].Proof = d.Proof
		if !d.Approve {
			return nil, e.closeRequest(tx, req, RequestDenied, now, notify.EventDenied)
		}
		req.Approvals = append(req.Approvals, Approval{Step: req.Step, Approver: role, By: actor.ID, At: now})
		if !stepDone(it, req) {
			return nil, nil
		}
		if req.Step+1 < len(it.Steps) {
			req.Step++
			req.StepStarted, req.Escalated, req.Reminded = now, time.Time{}, time.Time{}
			_, everyone, err := stepRoles(tx, subj, it, req, "", now)
			if err != nil {
				return nil, err
			}
			return nil, e.message(tx, req, notify.EventCreated, everyone, now)
		}
		return nil, e.grant(tx, req, it, subj, now)
	})
}

// grant approves req: the grant goes into the subject's record.
func (e *Engine) grant(tx store.Tx, req *Request, it *mapper.CatalogItem, subj *mapper.Record, now time.Time) error {
	dur := req.Duration
	if dur == 0 {
		dur = it.MaxDuration
	}
	req.State, req.Decided, req.Start = RequestApproved, now, now
	if dur > 0 {
		req.End = now.Add(dur)
	}
	g := mapper.RequestedGrant{Request: req.ID, Item: req.Item, Target: req.Target,
		Entitlements: slices.Clone(req.Entitlements), Start: now.UTC(), Until: req.End.UTC()}
	if err := e.changeGrants(tx, subj.ID, now, func(rec *mapper.Record) bool {
		rec.Requested = append(rec.Requested, g)
		return true
	}); err != nil {
		return err
	}
	e.onCommit(tx, func() {
		e.rmetrics.decided.WithLabelValues(req.Item, string(RequestApproved)).Inc()
		e.rmetrics.latency.WithLabelValues(req.Item).Observe(now.Sub(req.Created).Seconds())
	})
	return e.message(tx, req, notify.EventApproved, []string{req.Subject, req.Requester}, now)
}

// closeRequest ends req in state, telling the subject and the requester;
// a grant it held leaves the subject's record.
func (e *Engine) closeRequest(tx store.Tx, req *Request, state RequestState, now time.Time, event string) error {
	held := req.State == RequestApproved
	req.State, req.Decided = state, now
	if held {
		if err := e.changeGrants(tx, req.Subject, now, func(rec *mapper.Record) bool {
			n := len(rec.Requested)
			rec.Requested = slices.DeleteFunc(rec.Requested, func(g mapper.RequestedGrant) bool { return g.Request == req.ID })
			return len(rec.Requested) != n
		}); err != nil {
			return err
		}
	}
	e.onCommit(tx, func() {
		switch state {
		case RequestExpired:
			e.rmetrics.expired.WithLabelValues(req.Item).Inc()
		case RequestDenied:
			e.rmetrics.decided.WithLabelValues(req.Item, string(state)).Inc()
			e.rmetrics.latency.WithLabelValues(req.Item).Observe(now.Sub(req.Created).Seconds())
		default:
			e.rmetrics.decided.WithLabelValues(req.Item, string(state)).Inc()
		}
	})
	return e.message(tx, req, event, []string{req.Subject, req.Requester}, now)
}

// changeGrants applies fn to the person's record; if fn changed it, the
// record moves to a new generation and the person converges now on every
// target (the desired state depends on it like on any write).
func (e *Engine) changeGrants(tx store.Tx, person string, now time.Time, fn func(*mapper.Record) bool) error {
	rec, err := loadRecord(tx, person)
	if err != nil || rec == nil {
		return err
	}
	next := rec.Clone()
	if !fn(next) {
		return nil
	}
	next.Generation++
	next.Changed = now.UTC()
	if err := putJSON(tx, nsPerson, person, next); err != nil {
		return err
	}
	return e.scheduleAll(tx, e.Policy(), person, now)
}

// WithdrawRequest withdraws a request (pending or granted) on behalf of
// its requester or subject; a grant it held is revoked. Anyone else gets
// ErrNotAllowed, audited. proof (how the channel knew the actor) is kept on
// the trail line, as a decision's is.
func (e *Engine) WithdrawRequest(ctx context.Context, id, actorRef, reason, channel, proof string) (*Request, error) {
	return e.changeRequest(ctx, id, func(tx store.Tx, req *Request, _ *mapper.CatalogItem, now time.Time) (error, error) {
		actor, err := e.findPerson(tx, actorRef)
		if err != nil {
			return nil, err
		}
		why := ""
		switch {
		case actor.ID != req.Requester && actor.ID != req.Subject:
			why = "only the requester or the subject may withdraw"
		case !live(actor, now):
			why = actor.ID + " has left"
		}
		if why != "" {
			req.trail(now, actor.ID, "refused withdraw", channel, reason, why)
			req.Trail[len(req.Trail)-1].Proof = proof
			if err := newAuditor(tx, now).add(req.Subject, Event{Kind: EventRequest, Actor: actor.ID,
				Detail: fmt.Sprintf("request %s: withdraw refused: %s", req.ID, why)}); err != nil {
				return nil, err
			}
			return fmt.Errorf("%w: %s", ErrNotAllowed, why), nil
		}
		if req.State != RequestPending && req.State != RequestApproved {
			return fmt.Errorf("%w: %s", ErrRequestClosed, req.State), nil
		}
		req.trail(now, actor.ID, "withdrew", channel, reason, "")
		req.Trail[len(req.Trail)-1].Proof = proof
		return nil, e.closeRequest(tx, req, RequestWithdrawn, now, notify.EventWithdrawn)
	})
}

// changeRequest runs fn on the stored request in one transaction and
// stores what it made of it; fn's item is nil if it left the policy. fn's
// first result is a refusal to report after the transaction commits (its
// trail line is kept); its second aborts the transaction.
//
// A decided request's earlier boundary job (a reminder) is left to run: the
// queue keeps a key's earliest due, and a boundary that finds nothing due
// only schedules the next (requestBoundary). Cancelling it after the commit
// — the queue cannot cancel inside a store transaction — could also cancel
// a due another transaction had put on the key meanwhile (a leaver's grant
// revocation), which then waited for the sweep.
func (e *Engine) changeRequest(ctx context.Context, id string, fn func(tx store.Tx, req *Request, it *mapper.CatalogItem, now time.Time) (error, error)) (*Request, error) {
	var (
		out     *Request
		refused error
		hooks   []func()
	)
	err := e.st.Update(ctx, func(tx store.Tx) error {
		out, refused, hooks = nil, nil, nil
		now := e.now()
		req, err := getJSON[Request](tx, nsRequest, id)
		if err != nil {
			return err
		}
		if req == nil {
			return fmt.Errorf("%w: %q", ErrNoRequest, id)
		}
		// it is nil if the item left the policy: the request can still be
		// withdrawn, its grant revoked.
		it, _ := e.Policy().Item(req.Item)
		htx, done := withCommitHooks(tx, &hooks)
		defer done()
		if refused, err = fn(htx, req, it, now); err != nil {
			return err
		}
		if err := e.putRequest(tx, req, now); err != nil {
			return err
		}
		out = req
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: request %s: %w", id, err)
	}
	for _, h := range hooks {
		h()
	}
	e.Wake()
	return out, refused
}

// commitHooks are what transactions in progress run once they commit
// (metrics), by transaction: the store may run an updater more than once,
// so effects outside it wait for its end. The transaction itself is
// handed on unwrapped, as the queue's ScheduleTx needs the backend's own.
var commitHooks sync.Map // store.Tx → *[]func()

// withCommitHooks makes onCommit(tx, …) collect into hooks until done.
func withCommitHooks(tx store.Tx, hooks *[]func()) (store.Tx, func()) {
	commitHooks.Store(tx, hooks)
	return tx, func() { commitHooks.Delete(tx) }
}

// onCommit runs f after tx commits, if tx collects hooks; else never.
func (e *Engine) onCommit(tx store.Tx, f func()) {
	if h, ok := commitHooks.Load(tx); ok {
		hooks := h.(*[]func())
		*hooks = append(*hooks, f)
	}
}

// requestBoundary runs a request's boundary at now: a reminder, the
// escalation, the expiry, the end of its grant, or the revocation of a
// grant whose subject left or was rehired. A boundary that finds nothing
// due (a reminder cancelled by a decision) only schedules the next.
func (e *Engine) requestBoundary(tx store.Tx, id string, now time.Time) error {
	req, err := getJSON[Request](tx, nsRequest, id)
	if err != nil || req == nil {
		return err
	}
	pol := e.Policy()
	it, ok := pol.Item(req.Item)
	switch {
	case !ok && (req.State == RequestPending || req.State == RequestApproved):
		req.trail(now, ActorTenure, "closed", "", "", "the catalog item is no longer in the policy")
		if err := e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked); err != nil {
			return err
		}
	case req.State == RequestPending:
		if err := e.pendingBoundary(tx, req, it, now); err != nil {
			return err
		}
	case req.State == RequestApproved:
		subj, err := loadRecord(tx, req.Subject)
		if err != nil {
			return err
		}
		held := subj != nil && slices.ContainsFunc(subj.Requested, func(g mapper.RequestedGrant) bool { return g.Request == req.ID })
		switch {
		case subj == nil || !live(subj, now):
			req.trail(now, ActorTenure, "revoked", "", "", "the subject left")
			err = e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked)
		case !held:
			req.trail(now, ActorTenure, "revoked", "", "", "the subject was rehired: the grant belonged to the old employment")
			req.State = RequestRevoked // nothing left to take away
			err = e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked)
		case !req.End.IsZero() && !now.Before(req.End):
			req.trail(now, ActorTenure, "ended", "", "", "max_duration reached")
			err = e.closeRequest(tx, req, RequestEnded, now, notify.EventEnded)
		}
		if err != nil {
			return err
		}
	}
	return e.putRequest(tx, req, now)
}

// pendingBoundary expires, escalates or reminds as due.
func (e *Engine) pendingBoundary(tx store.Tx, req *Request, it *mapper.CatalogItem, now time.Time) error {
	subj, err := loadRecord(tx, req.Subject)
	if err != nil {
		return err
	}
	if closed, err := e.closeStale(tx, req, it, subj, now); err != nil || closed {
		return err
	}
	if it.EscalateAfter > 0 && req.Escalated.IsZero() && !now.Before(req.StepStarted.Add(it.EscalateAfter)) {
		req.Escalated = now
		req.Reminded = now // the escalation is this round's reminder
		req.trail(now, ActorTenure, "escalated", "", "", "to the fallback "+it.Fallback)
		fb, err := approvers(tx, subj, it.Fallback, now)
		if err != nil {
			return err
		}
		return e.message(tx, req, notify.EventEscalated, fb, now)
	}
	if it.ReminderAfter > 0 {
		last := req.StepStarted
		if req.Reminded.After(last) {
			last = req.Reminded
		}
		if !now.Before(last.Add(it.ReminderAfter)) {
			req.Reminded = now
			_, everyone, err := stepRoles(tx, subj, it, req, "", now)
			if err != nil {
				return err
			}
			req.trail(now, ActorTenure, "reminded", "", "", strings.Join(everyone, ", "))
			return e.message(tx, req, notify.EventReminder, everyone, now)
		}
	}
	return nil
}

// subjectGone says why req can no longer be decided for subj, or "": the
// subject left (or is unknown), or was rehired after it was made (it
// belonged to the old employment).
func subjectGone(subj *mapper.Record, req *Request, now time.Time) string {
	switch {
	case subj == nil || !live(subj, now):
		return "the person left"
	case req.Created.Before(subj.Rehired):
		return "the person was rehired: the request belonged to the old employment"
	}
	return ""
}

// closeStale closes req, pending, if it can no longer be decided, and
// reports whether it did. A decision and a boundary both ask first, so
// nothing is granted to someone it was not asked for, nor after its
// expiry (whether or not the expiry job has run), nor by a step the
// policy (it, nil if the item is gone) no longer has: a reload that
// removed the step closes the request ungranted.
func (e *Engine) closeStale(tx store.Tx, req *Request, it *mapper.CatalogItem, subj *mapper.Record, now time.Time) (bool, error) {
	if why := subjectGone(subj, req, now); why != "" {
		req.trail(now, ActorTenure, "closed", "", "", why)
		return true, e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked)
	}
	var why string
	switch {
	case it == nil:
		return false, nil
	case !now.Before(req.Created.Add(it.ExpireAfter)):
		why = fmt.Sprintf("undecided after expire_after %s", it.ExpireAfter)
	case req.Step >= len(it.Steps):
		why = fmt.Sprintf("the policy changed: step %d is gone (the item has %d now)", req.Step+1, len(it.Steps))
	default:
		return false, nil
	}
	req.trail(now, ActorTenure, "expired", "", "", why)
	return true, e.closeRequest(tx, req, RequestExpired, now, notify.EventExpired)
}

// leaverPending closes the pending requests of a person who left or was
// rehired, in the transaction that learns of it (the intake calls it). A
// termination dated later closes them when it takes effect: their
// boundary is scheduled then.
func (e *Engine) leaverPending(tx store.Tx, next *mapper.Record, ch mapper.Change, now time.Time) error {
	if ch.Transition != mapper.Leaver && ch.Transition != mapper.Rehire {
		return nil
	}
	reqs, err := subjectRequests(tx, next.ID)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		if req.State != RequestPending {
			continue
		}
		it, _ := e.Policy().Item(req.Item)
		closed, err := e.closeStale(tx, req, it, next, now)
		switch {
		case err != nil:
			return err
		case closed:
			err = e.putRequest(tx, req, now)
		case !next.End.IsZero():
			err = e.sched.ScheduleTx(tx, RequestKey(req.ID), next.End)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// leaverGrants schedules the boundary of every grant a leaver or rehire
// touched (the intake calls it): the request closes when the person
// leaves, or at once when a rehire dropped it.
func (e *Engine) leaverGrants(tx store.Tx, prev, next *mapper.Record, now time.Time) error {
	if prev == nil {
		return nil
	}
	for _, g := range prev.Requested {
		due := time.Time{}
		switch {
		case !slices.ContainsFunc(next.Requested, func(n mapper.RequestedGrant) bool { return n.Request == g.Request }):
			due = now
		case !next.End.IsZero():
			due = next.End
			if due.Before(now) {
				due = now
			}
		}
		if !due.IsZero() {
			if err := e.sched.ScheduleTx(tx, RequestKey(g.Request), due); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetRequest returns a request.
func (e *Engine) GetRequest(ctx context.Context, id string) (*Request, error) {
	var out *Request
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		out, err = getJSON[Request](r, nsRequest, id)
		return err
	})
	if err == nil && out == nil {
		err = fmt.Errorf("%w: %q", ErrNoRequest, id)
	}
	return out, err
}

// RequestFilter selects requests; zero fields select all.
type RequestFilter struct {
	// Subject names a person (see RequestInput).
	Subject string
	State   RequestState
	Item    string
}

// Requests lists requests, oldest first.
func (e *Engine) Requests(ctx context.Context, f RequestFilter) ([]*Request, error) {
	var out []*Request
	err := e.st.View(ctx, func(r store.Reader) error {
		out = nil
		keep := func(req *Request) {
			if (f.State == "" || req.State == f.State) && (f.Item == "" || req.Item == f.Item) {
				out = append(out, req)
			}
		}
		if f.Subject != "" {
			subj, err := e.findPerson(r, f.Subject)
			if err != nil {
				return err
			}
			reqs, err := subjectRequests(r, subj.ID)
			for _, req := range reqs {
				keep(req)
			}
			return err
		}
		return r.ScanDocs(nsRequest, "", false, func(_ string, val []byte) (bool, error) {
			req, err := decode[Request](val)
			if err == nil {
				keep(req)
			}
			return err == nil, err
		})
	})
	slices.SortStableFunc(out, func(a, b *Request) int { return a.Created.Compare(b.Created) })
	return out, err
}
