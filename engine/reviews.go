package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/store"
)

// The mover review (docs/requests.md#mover-review). A mover's requested
// access (not birthright: that follows the new position by itself) is
// listed in a review (review/<id>) for the new and/or old manager; each
// item is kept, optionally with a new end, or revoked. The review's key
// reviews/<id> is due at its expiry (and reminders): what is undecided
// then takes requests.review.default. Until decided, the access stays.
const (
	nsReview     store.Namespace = "review"
	nsReviewSubj store.Namespace = "revsubj" // subject person/id of an open review
	reviewPrefix                 = "reviews/"
)

// Review is a mover review.
type Review struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Moved   time.Time `json:"moved"`
	// OldManager and NewManager are the manager ids the move went from
	// and to (as the source sent them); Reviewers says which decide.
	OldManager string       `json:"oldManager,omitempty"`
	NewManager string       `json:"newManager,omitempty"`
	Reviewers  string       `json:"reviewers"`
	Default    string       `json:"default"`
	Items      []ReviewItem `json:"items"`
	Expires    time.Time    `json:"expires"`
	Reminded   time.Time    `json:"reminded,omitzero"`
	Closed     time.Time    `json:"closed,omitzero"`
	// SupersededBy is the review of a later move that closed this one
	// and took over its undecided items.
	SupersededBy string       `json:"supersededBy,omitempty"`
	Trail        []TrailEntry `json:"trail"`
}

// ReviewItem is one grant under review.
type ReviewItem struct {
	Request      string    `json:"request"`
	Item         string    `json:"item"`
	Target       string    `json:"target"`
	Entitlements []string  `json:"entitlements"`
	Until        time.Time `json:"until,omitzero"`
	// Decision is "", keep or revoke; By and At who decided and when
	// (ActorTenure for the default at expiry).
	Decision string    `json:"decision,omitempty"`
	NewEnd   time.Time `json:"newEnd,omitzero"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// ErrNoReview: no review has that id.
var ErrNoReview = errors.New("engine: no such review")

// ReviewKey is a review's queue key.
func ReviewKey(id string) string { return reviewPrefix + id }

// afterTransition is the intake's hook for requested access: a mover's
// grants go to review, a leaver's or rehire's grants are closed at their
// boundary.
func (e *Engine) afterTransition(tx store.Tx, pol *mapper.Policy, prev, next *mapper.Record, ch mapper.Change, now time.Time) error {
	if err := e.leaverGrants(tx, prev, next, now); err != nil {
		return err
	}
	if err := e.leaverPending(tx, next, ch, now); err != nil {
		return err
	}
	if prev == nil || (ch.Transition != mapper.Mover && ch.Transition != mapper.Conversion) {
		return nil
	}
	if ch.Transition == mapper.Conversion && pol.RevokeAll {
		// A contractor keeps nothing of the employee's access, requested
		// access included: nothing to review.
		return e.revokeRequested(tx, next, "a conversion with conversion.revoke_all", now)
	}
	rv := &Review{ID: newID(), Subject: next.ID, Moved: now, OldManager: prev.Identity.ManagerID(),
		NewManager: next.Identity.ManagerID(), Reviewers: pol.Review.Reviewers, Default: pol.Review.Default,
		Expires: now.Add(pol.Review.ExpireAfter)}
	for _, g := range next.Requested {
		if g.Until.IsZero() || now.Before(g.Until) {
			rv.Items = append(rv.Items, ReviewItem{Request: g.Request, Item: g.Item, Target: g.Target,
				Entitlements: slices.Clone(g.Entitlements), Until: g.Until})
		}
	}
	if len(rv.Items) == 0 {
		return nil
	}
	rv.Trail = append(rv.Trail, TrailEntry{At: now, Actor: ActorTenure, Action: "opened",
		Detail: fmt.Sprintf("%s changed %s; %d requested grants to review by %s, else %s at %s", ch.Transition,
			strings.Join(ch.Changed, ", "), len(rv.Items), rv.Reviewers, rv.Default, rv.Expires.UTC().Format(time.RFC3339))})
	if err := e.supersedeReviews(tx, next, rv, now); err != nil {
		return err
	}
	reviewers, err := e.reviewers(tx, next, rv, now)
	if err != nil {
		return err
	}
	if err := e.reviewMessage(tx, rv, notify.EventReview, reviewers, now); err != nil {
		return err
	}
	if err := newAuditor(tx, now).add(next.ID, Event{Kind: EventRequest, Actor: ActorTenure,
		Detail: fmt.Sprintf("mover review %s of %d requested grants", rv.ID, len(rv.Items))}); err != nil {
		return err
	}
	return e.putReview(tx, rv, pol)
}

// revokeRequested revokes every requested grant of person (record rec)
// at once, closing the requests that made them.
func (e *Engine) revokeRequested(tx store.Tx, rec *mapper.Record, why string, now time.Time) error {
	for _, g := range rec.Requested {
		req, err := getJSON[Request](tx, nsRequest, g.Request)
		if err != nil {
			return err
		}
		if req == nil || req.State != RequestApproved {
			continue
		}
		req.trail(now, ActorTenure, "revoked", "", "", why)
		if err := e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked); err != nil {
			return err
		}
		if err := e.putRequest(tx, req, now); err != nil {
			return err
		}
	}
	// A grant whose request is missing or closed goes too.
	return e.changeGrants(tx, rec.ID, now, func(r *mapper.Record) bool {
		n := len(r.Requested)
		r.Requested = nil
		return n > 0
	})
}

// supersedeReviews closes the subject's open reviews of earlier moves in
// favour of rv, in the move's transaction: an old review's default must
// not revoke what the current managers keep in the new one. rv lists
// every requested grant the subject holds, so the old reviews' undecided
// items are in it; what an old review decided stands.
func (e *Engine) supersedeReviews(tx store.Tx, subj *mapper.Record, rv *Review, now time.Time) error {
	var open []string
	err := tx.ScanDocs(nsReviewSubj, subj.ID+"/", false, func(key string, _ []byte) (bool, error) {
		open = append(open, strings.TrimPrefix(key, subj.ID+"/"))
		return true, nil
	})
	if err != nil {
		return err
	}
	pol := e.Policy()
	for _, id := range open {
		old, err := getJSON[Review](tx, nsReview, id)
		if err != nil {
			return err
		}
		if old == nil || !old.Closed.IsZero() {
			if err := tx.DeleteDoc(nsReviewSubj, subj.ID+"/"+id); err != nil {
				return err
			}
			continue
		}
		var carried []string
		for _, it := range old.Items {
			if it.Decision == "" && slices.ContainsFunc(rv.Items, func(n ReviewItem) bool { return n.Request == it.Request }) {
				carried = append(carried, it.Item+" ("+it.Request+")")
			}
		}
		old.Closed, old.SupersededBy = now, rv.ID
		old.Trail = append(old.Trail, TrailEntry{At: now, Actor: ActorTenure, Action: "superseded",
			Detail: fmt.Sprintf("by review %s of a later move; undecided items carried over: %s", rv.ID, orDash(strings.Join(carried, ", ")))})
		rv.Trail = append(rv.Trail, TrailEntry{At: now, Actor: ActorTenure, Action: "carried over",
			Detail: fmt.Sprintf("from review %s: %s", old.ID, orDash(strings.Join(carried, ", ")))})
		who, err := e.reviewers(tx, subj, old, now)
		if err != nil {
			return err
		}
		if err := e.reviewMessage(tx, old, notify.EventReviewClosed, who, now); err != nil {
			return err
		}
		if err := e.putReview(tx, old, pol); err != nil {
			return err
		}
	}
	return nil
}

// reviewers resolves who may decide rv at now: the managers it names, as
// people, if they have not left.
func (e *Engine) reviewers(r store.Reader, subj *mapper.Record, rv *Review, now time.Time) ([]string, error) {
	var ids []string
	if rv.Reviewers != config.ReviewOldManager {
		ids = append(ids, rv.NewManager)
	}
	if rv.Reviewers != config.ReviewNewManager {
		ids = append(ids, rv.OldManager)
	}
	var out []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		p, err := referent(r, subj.Source, id)
		if err != nil {
			return nil, err
		}
		if p != "" && p != subj.ID && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return livePeople(r, out, now)
}

// putReview stores rv and schedules its next boundary (reminder, expiry);
// the subject's index of open reviews follows.
func (e *Engine) putReview(tx store.Tx, rv *Review, pol *mapper.Policy) error {
	idx := rv.Subject + "/" + rv.ID
	if !rv.Closed.IsZero() {
		if err := tx.DeleteDoc(nsReviewSubj, idx); err != nil {
			return err
		}
	} else if err := tx.PutDoc(nsReviewSubj, idx, []byte{}); err != nil {
		return err
	}
	if rv.Closed.IsZero() {
		next := rv.Expires
		if r := pol.Review.ReminderAfter; r > 0 {
			last := rv.Moved
			if rv.Reminded.After(last) {
				last = rv.Reminded
			}
			next = earliest(next, last.Add(r))
		}
		if err := e.sched.ScheduleTx(tx, ReviewKey(rv.ID), next); err != nil {
			return err
		}
	}
	return putJSON(tx, nsReview, rv.ID, rv)
}

func (e *Engine) reviewMessage(tx store.Tx, rv *Review, event string, recipients []string, now time.Time) error {
	m := notify.Message{Event: event, At: now, Review: rv.ID, Due: rv.Expires}
	var err error
	if m.Subject, err = notifyPerson(tx, rv.Subject); err != nil {
		return err
	}
	var items []string
	for _, it := range rv.Items {
		d := it.Decision
		if d == "" {
			d = "undecided"
		}
		items = append(items, fmt.Sprintf("%s on %s (%s)", it.Item, it.Target, d))
	}
	m.Text = fmt.Sprintf("%s: %s moved; requested access to review: %s; undecided becomes %s at %s", event,
		display(m.Subject), strings.Join(items, "; "), rv.Default, rv.Expires.UTC().Format(time.RFC3339))
	return e.enqueue(tx, m, recipients)
}

// ReviewDecision is a reviewer's answer for one item of a review.
type ReviewDecision struct {
	// Request names the item (the request that granted it).
	Request string
	Keep    bool
	// NewEnd, with Keep, replaces the grant's end (zero: unchanged).
	NewEnd                 time.Time
	Actor, Reason, Channel string
	// Proof is how the channel knew the actor, in the review's trail.
	Proof string
}

// DecideReview records a reviewer's decision on one item. Anyone the
// review does not name gets ErrNotApprover, audited.
func (e *Engine) DecideReview(ctx context.Context, id string, d ReviewDecision) (*Review, error) {
	var (
		out     *Review
		refused error
	)
	err := e.st.Update(ctx, func(tx store.Tx) error {
		out, refused = nil, nil
		now := e.now()
		rv, err := getJSON[Review](tx, nsReview, id)
		if err != nil {
			return err
		}
		if rv == nil {
			return fmt.Errorf("%w: %q", ErrNoReview, id)
		}
		actor, err := e.findPerson(tx, d.Actor)
		if err != nil {
			return err
		}
		subj, err := loadRecord(tx, rv.Subject)
		if err != nil || subj == nil {
			return errors.Join(err, ErrNoIdentity)
		}
		i := slices.IndexFunc(rv.Items, func(it ReviewItem) bool { return it.Request == d.Request })
		who, err := e.reviewers(tx, subj, rv, now)
		if err != nil {
			return err
		}
		verb := map[bool]string{true: "keep", false: "revoke"}[d.Keep]
		switch {
		case !live(actor, now):
			refused = fmt.Errorf("%w: %s has left", ErrNotApprover, actor.ID)
		case !slices.Contains(who, actor.ID):
			refused = fmt.Errorf("%w: %s is not a reviewer of review %s (%s)", ErrNotApprover, actor.ID, rv.ID, rv.Reviewers)
		case !rv.Closed.IsZero():
			refused = fmt.Errorf("%w: review %s closed at %s", ErrRequestClosed, rv.ID, rv.Closed.UTC().Format(time.RFC3339))
		case i < 0:
			refused = fmt.Errorf("%w: review %s has no item for request %q", ErrBadRequest, rv.ID, d.Request)
		case rv.Items[i].Decision != "":
			refused = fmt.Errorf("%w: item %s was decided already (%s)", ErrRequestClosed, d.Request, rv.Items[i].Decision)
		case d.Keep && !d.NewEnd.IsZero() && !d.NewEnd.After(now):
			refused = fmt.Errorf("%w: the new end %s is not in the future", ErrBadRequest, d.NewEnd.UTC().Format(time.RFC3339))
		}
		if refused != nil {
			rv.Trail = append(rv.Trail, TrailEntry{At: now, Actor: actor.ID, Action: "refused " + verb, Channel: d.Channel, Reason: d.Reason, Detail: refused.Error(), Proof: d.Proof})
			if errors.Is(refused, ErrNotApprover) {
				if err := newAuditor(tx, now).add(rv.Subject, Event{Kind: EventRequest, Actor: actor.ID,
					Detail: fmt.Sprintf("review %s: %s refused: not a reviewer", rv.ID, verb)}); err != nil {
					return err
				}
			}
			out = rv
			return putJSON(tx, nsReview, rv.ID, rv)
		}
		n := len(rv.Trail) // decideItem's line
		if err := e.decideItem(tx, rv, i, d.Keep, d.NewEnd, actor.ID, d.Channel, d.Reason, now); err != nil {
			return err
		}
		rv.Trail[n].Proof = d.Proof
		out = rv
		return e.putReview(tx, rv, e.Policy())
	})
	if err != nil {
		return nil, fmt.Errorf("engine: review %s: %w", id, err)
	}
	// A closed review's reminder job is left to run and find it closed
	// (see changeRequest).
	e.Wake()
	return out, refused
}

// decideItem applies a decision on rv.Items[i] and closes rv once every
// item is decided.
func (e *Engine) decideItem(tx store.Tx, rv *Review, i int, keep bool, newEnd time.Time, actor, channel, reason string, now time.Time) error {
	it := &rv.Items[i]
	it.By, it.At = actor, now
	req, err := getJSON[Request](tx, nsRequest, it.Request)
	if err != nil {
		return err
	}
	detail := "request " + it.Request
	if keep {
		it.Decision = config.ReviewKeep
		if ci, ok := e.Policy().Item(it.Item); ok && ci.MaxDuration > 0 && req != nil && !newEnd.IsZero() {
			// A review keeps access, it does not extend it past what a
			// request could have asked for.
			if limit := req.Start.Add(ci.MaxDuration); newEnd.After(limit) {
				newEnd = limit
				detail += fmt.Sprintf("; the new end is capped at max_duration %s from the grant's start", ci.MaxDuration)
			}
		}
		if !newEnd.IsZero() {
			it.NewEnd = newEnd.UTC()
			if err := e.changeGrants(tx, rv.Subject, now, func(rec *mapper.Record) bool {
				j := slices.IndexFunc(rec.Requested, func(g mapper.RequestedGrant) bool { return g.Request == it.Request })
				if j >= 0 {
					rec.Requested[j].Until = newEnd.UTC()
				}
				return j >= 0
			}); err != nil {
				return err
			}
			if req != nil && req.State == RequestApproved {
				req.End = newEnd.UTC()
			}
		}
	} else {
		it.Decision = config.ReviewRevoke
	}
	rv.Trail = append(rv.Trail, TrailEntry{At: now, Actor: actor, Action: it.Decision + " " + it.Item, Channel: channel, Reason: reason, Detail: detail})
	if req != nil && req.State == RequestApproved {
		req.trail(now, actor, "review: "+it.Decision, channel, reason, "mover review "+rv.ID)
		if !keep {
			if err := e.closeRequest(tx, req, RequestRevoked, now, notify.EventRevoked); err != nil {
				return err
			}
		}
		if err := e.putRequest(tx, req, now); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(rv.Items, func(it ReviewItem) bool { return it.Decision == "" }) {
		rv.Closed = now
		rv.Trail = append(rv.Trail, TrailEntry{At: now, Actor: ActorTenure, Action: "closed"})
	}
	return nil
}

// reviewBoundary reminds the reviewers, or at the expiry gives every
// undecided item the policy's default and closes the review.
func (e *Engine) reviewBoundary(tx store.Tx, id string, now time.Time) error {
	rv, err := getJSON[Review](tx, nsReview, id)
	if err != nil || rv == nil || !rv.Closed.IsZero() {
		return err
	}
	pol := e.Policy()
	subj, err := loadRecord(tx, rv.Subject)
	if err != nil {
		return err
	}
	if now.Before(rv.Expires) {
		if r := pol.Review.ReminderAfter; r > 0 && subj != nil {
			last := rv.Moved
			if rv.Reminded.After(last) {
				last = rv.Reminded
			}
			if !now.Before(last.Add(r)) {
				rv.Reminded = now
				who, err := e.reviewers(tx, subj, rv, now)
				if err != nil {
					return err
				}
				if err := e.reviewMessage(tx, rv, notify.EventReviewReminder, who, now); err != nil {
					return err
				}
			}
		}
		return e.putReview(tx, rv, pol)
	}
	for i := range rv.Items {
		if rv.Items[i].Decision == "" {
			if err := e.decideItem(tx, rv, i, rv.Default == config.ReviewKeep, time.Time{}, ActorTenure, "", "undecided at the review's expiry: requests.review.default", now); err != nil {
				return err
			}
		}
	}
	if subj != nil {
		who, err := e.reviewers(tx, subj, rv, now)
		if err != nil {
			return err
		}
		if err := e.reviewMessage(tx, rv, notify.EventReviewClosed, who, now); err != nil {
			return err
		}
	}
	return e.putReview(tx, rv, pol)
}

// GetReview returns a review.
func (e *Engine) GetReview(ctx context.Context, id string) (*Review, error) {
	var out *Review
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		out, err = getJSON[Review](r, nsReview, id)
		return err
	})
	if err == nil && out == nil {
		err = fmt.Errorf("%w: %q", ErrNoReview, id)
	}
	return out, err
}

// Reviews lists reviews, oldest first; open only if openOnly.
func (e *Engine) Reviews(ctx context.Context, openOnly bool) ([]*Review, error) {
	var out []*Review
	err := e.st.View(ctx, func(r store.Reader) error {
		out = nil
		return r.ScanDocs(nsReview, "", false, func(_ string, val []byte) (bool, error) {
			rv, err := decode[Review](val)
			if err == nil && (!openOnly || rv.Closed.IsZero()) {
				out = append(out, rv)
			}
			return err == nil, err
		})
	})
	slices.SortStableFunc(out, func(a, b *Review) int { return a.Moved.Compare(b.Moved) })
	return out, err
}
