package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// Inbox is what one person may decide now: the pending requests whose
// waiting step they are an approver of (or the fallback of, once it may
// decide) and the open mover reviews that name them, by the same rules
// DecideRequest and DecideReview apply (a request past its expiry, or
// whose subject left, is in no one's). It is a read: a decision is still
// checked anew when it is made.
type Inbox struct {
	Requests []*Request
	Reviews  []*Review
}

// Inbox lists what the person actorRef names (see RequestInput) may
// decide now, oldest first. Someone who has left may decide nothing.
func (e *Engine) Inbox(ctx context.Context, actorRef string) (*Inbox, error) {
	out := &Inbox{}
	err := e.st.View(ctx, func(r store.Reader) error {
		out = &Inbox{}
		now := e.now()
		actor, err := e.findPerson(r, actorRef)
		if err != nil {
			return err
		}
		if !live(actor, now) {
			return nil
		}
		pol := e.Policy()
		subjects := map[string]*recordOrNil{}
		subject := func(id string) (*recordOrNil, error) {
			if s, ok := subjects[id]; ok {
				return s, nil
			}
			rec, err := loadRecord(r, id)
			if err != nil {
				return nil, err
			}
			subjects[id] = &recordOrNil{rec}
			return subjects[id], nil
		}
		err = r.ScanDocs(nsRequest, "", false, func(_ string, val []byte) (bool, error) {
			req, err := decode[Request](val)
			if err != nil {
				return false, err
			}
			it, ok := pol.Item(req.Item)
			if req.State != RequestPending || !ok || req.Step >= len(it.Steps) || !now.Before(req.Created.Add(it.ExpireAfter)) {
				return true, nil
			}
			s, err := subject(req.Subject)
			if err != nil || s.rec == nil || subjectGone(s.rec, req, now) != "" {
				return err == nil, err
			}
			roles, _, err := stepRoles(r, s.rec, it, req, actor.ID, now)
			if err != nil {
				return false, err
			}
			if len(roles) > 0 {
				out.Requests = append(out.Requests, req)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return r.ScanDocs(nsReview, "", false, func(_ string, val []byte) (bool, error) {
			rv, err := decode[Review](val)
			if err != nil {
				return false, err
			}
			if !rv.Closed.IsZero() {
				return true, nil
			}
			s, err := subject(rv.Subject)
			if err != nil || s.rec == nil {
				return err == nil, err
			}
			who, err := e.reviewers(r, s.rec, rv, now)
			if err != nil {
				return false, err
			}
			if slices.Contains(who, actor.ID) {
				out.Reviews = append(out.Reviews, rv)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: inbox of %s: %w", actorRef, err)
	}
	slices.SortStableFunc(out.Requests, func(a, b *Request) int { return a.Created.Compare(b.Created) })
	slices.SortStableFunc(out.Reviews, func(a, b *Review) int { return a.Moved.Compare(b.Moved) })
	return out, nil
}

// recordOrNil caches a subject's record, nil when they are gone.
type recordOrNil struct{ rec *mapper.Record }
