package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// PlanRequest asks what Tenure would do, without doing any of it.
type PlanRequest struct {
	// ID names a stored person (person id or SCIM user id). Set ID or User.
	ID string `json:"id,omitempty"`
	// User is a SCIM user document as a source would write it. If its
	// "id" names a stored user, it is a change to that user; otherwise a
	// new user.
	User map[string]any `json:"user,omitempty"`
	// Source owns a new User (default: the stored user's source, else "").
	Source string `json:"source,omitempty"`
	// At is the time to plan for; zero means now.
	At time.Time `json:"at,omitzero"`
}

// Plan is the dry run's answer.
type Plan struct {
	Person string        `json:"person"`
	At     time.Time     `json:"at"`
	Change mapper.Change `json:"change"`
	State  mapper.State  `json:"state"`
	// Targets are in policy order.
	Targets []TargetPlan `json:"targets"`
}

// TargetPlan is what one target would see.
type TargetPlan struct {
	Target  string          `json:"target"`
	Desired *mapper.Desired `json:"desired"`
	Ops     []targets.Op    `json:"ops"`
	// Later are the scheduled boundaries that follow, each with the
	// operations it would perform if nothing else changed.
	Later []PlanStep `json:"later,omitempty"`
}

// PlanStep is one future boundary.
type PlanStep struct {
	At     time.Time    `json:"at"`
	State  mapper.State `json:"state"`
	Reason string       `json:"reason"`
	Ops    []targets.Op `json:"ops"`
}

// maxPlanSteps bounds the simulated future (a well-formed policy has a
// handful of boundaries per person).
const maxPlanSteps = 20

// Errors a plan caller branches on.
var (
	// ErrPlanInput: the request names nothing to plan.
	ErrPlanInput = errors.New("engine: plan needs an id or a user document")
	// ErrPolicy: the policy could not be evaluated on the input (a bad
	// date, an expression failing on this identity).
	ErrPolicy = errors.New("engine: policy evaluation failed")
)

// Plan computes, through the same Observe, Desired and targets.Plan the
// intake and workers use, the transition a write would be and what every
// target would do now and at each later boundary. It writes nothing.
func (e *Engine) Plan(ctx context.Context, req PlanRequest) (*Plan, error) {
	if req.ID == "" && req.User == nil {
		return nil, ErrPlanInput
	}
	pol := e.Policy()
	at := req.At
	if at.IsZero() {
		at = e.now()
	}
	p := &Plan{At: at}
	links := map[string]*LinkState{}
	err := e.st.View(ctx, func(r store.Reader) error {
		rec, err := e.planRecord(r, pol, req, at, p)
		if err != nil {
			return err
		}
		p.Person = rec.ID
		p.State = rec.StateAt(at)
		for _, t := range pol.TargetNames {
			if links[t], err = loadLink(r, t, rec.ID); err != nil {
				return err
			}
		}
		for _, t := range pol.TargetNames {
			tp, err := planTarget(pol, rec, t, links[t], at)
			if err != nil {
				return err
			}
			p.Targets = append(p.Targets, *tp)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// planRecord returns the record the plan is about: the stored one, or the
// one a write of req.User would produce.
func (e *Engine) planRecord(r store.Reader, pol *mapper.Policy, req PlanRequest, at time.Time, p *Plan) (*mapper.Record, error) {
	id := req.ID
	if req.User != nil {
		id, _ = req.User["id"].(string)
	}
	var rec *mapper.Record
	var res *store.Resource
	if id != "" {
		person, err := personOf(r, id)
		if err != nil {
			return nil, err
		}
		if person == "" {
			person = id
		}
		if rec, err = loadRecord(r, person); err != nil {
			return nil, err
		}
		if rec != nil && rec.UserID != "" {
			if res, err = r.Get(store.KindUser, rec.UserID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	}
	if req.User == nil {
		if rec == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoIdentity, req.ID)
		}
		return rec, nil
	}
	userID, source := id, req.Source
	if userID == "" {
		userID = "(new)"
	}
	if rec != nil {
		source = rec.Source
		if rec.UserID != "" {
			userID = rec.UserID
		}
	}
	ident := &mapper.Identity{User: req.User}
	if res != nil {
		full, err := identityOf(r, res)
		if err != nil {
			return nil, err
		}
		ident.Groups = full.Groups
	}
	if rec == nil {
		corr, err := pol.Correlate(ident, at)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		if rec, err = leftPerson(r, source, corr, at); err != nil {
			return nil, err
		}
	}
	next, ch, err := pol.Observe(rec, userID, source, ident, at)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	p.Change = ch
	return next, nil
}

// planTarget computes one target's operations now and at later boundaries,
// assuming each step is applied.
func planTarget(pol *mapper.Policy, rec *mapper.Record, target string, link *LinkState, at time.Time) (*TargetPlan, error) {
	d, err := pol.Desired(rec, target, link.Linked(), at)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	var applied *targets.Account
	if link != nil {
		applied = link.Applied
	}
	tp := &TargetPlan{Target: target, Desired: d, Ops: targets.Plan(applied, &d.Account)}
	cur := d
	for t := d.Next; !t.IsZero() && len(tp.Later) < maxPlanSteps; {
		nd, err := pol.Desired(rec, target, cur.Exists, t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		tp.Later = append(tp.Later, PlanStep{At: t, State: nd.State, Reason: nd.Reason, Ops: targets.Plan(&cur.Account, &nd.Account)})
		cur, t = nd, nd.Next
	}
	return tp, nil
}
