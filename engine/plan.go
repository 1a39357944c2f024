package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	// Refused is set when the SCIM server would refuse the planned write
	// (a user document): nothing of it would be stored, so Person, Change
	// and Targets are empty.
	Refused *PlanRefusal `json:"refused,omitempty"`
}

// PlanRefusal is the SCIM error a planned write would be answered with
// instead of being applied: 409 uniqueness for a second live record of one
// person (UniquenessError). A write the policy cannot evaluate (400
// invalidValue at the SCIM server) is a Plan error that wraps both ErrPolicy
// and a *PlanRefusal.
type PlanRefusal struct {
	Status   int    `json:"status"`
	ScimType string `json:"scimType"`
	Detail   string `json:"detail"`
}

func (r *PlanRefusal) Error() string {
	return fmt.Sprintf("the SCIM write would be refused: %d %s: %s", r.Status, r.ScimType, r.Detail)
}

// TargetPlan is what one target would see.
type TargetPlan struct {
	Target  string          `json:"target"`
	Desired *mapper.Desired `json:"desired"`
	Ops     []targets.Op    `json:"ops"`
	// Later are the scheduled boundaries that follow, each with the
	// operations it would perform if nothing else changed.
	Later []PlanStep `json:"later,omitempty"`
	// Conflict is where a converge would stop instead (Ops are what it
	// would do otherwise): the person's parked conflict, or what the
	// target's Finder sees for an account still to be created.
	Conflict *targets.Conflict `json:"conflict,omitempty"`
	// Lookup is set when the target could not be read to tell whether
	// an account would be created or linked.
	Lookup string `json:"lookup,omitempty"`
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
		var uniq *UniquenessError
		if errors.As(err, &uniq) {
			p.Change = mapper.Change{}
			p.Refused = &PlanRefusal{Status: http.StatusConflict, ScimType: "uniqueness", Detail: uniq.Uniqueness()}
			return nil
		}
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
			tp, err := planTarget(r, pol, rec, t, links[t], at)
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
	for i := range p.Targets {
		if c := links[p.Targets[i].Target]; c != nil && c.Conflict != nil {
			p.Targets[i].Conflict = &c.Conflict.Conflict
		}
		e.planFind(ctx, p.Person, &p.Targets[i], links[p.Targets[i].Target])
	}
	return p, nil
}

// planFind asks a target that can tell (targets.Finder), reading only,
// whether a create in tp would rather link an existing account, take
// another name under a collision rule, or stop at a conflict, and rewrites
// tp to say so.
func (e *Engine) planFind(ctx context.Context, person string, tp *TargetPlan, link *LinkState) {
	if len(tp.Ops) == 0 || tp.Ops[0].Kind != targets.OpCreate || tp.Desired == nil {
		return
	}
	f, ok := e.targets[tp.Target].(targets.Finder)
	if !ok {
		return
	}
	req := &targets.Request{Identity: person, Desired: &tp.Desired.Account}
	if link != nil {
		req.Link = &link.Link
	}
	m, err := f.Find(ctx, req)
	var c *targets.Conflict
	switch {
	case errors.As(err, &c):
		tp.Conflict = c
		return
	case err != nil:
		tp.Lookup = err.Error()
		return
	case m == nil:
		return
	case m.Renamed:
		tp.Ops[0].Detail = strings.TrimSpace("as " + m.Ref + " (its name is taken) " + tp.Ops[0].Detail)
		return
	}
	if m.ID != "" && person != "" {
		var owner string
		err := e.st.View(ctx, func(r store.Reader) error {
			var err error
			owner, err = ownerOf(r, tp.Target, m.ID)
			return err
		})
		if err != nil {
			tp.Lookup = err.Error()
			return
		}
		if owner != "" && owner != person {
			tp.Conflict = &targets.Conflict{Reason: targets.ConflictOwned, ID: m.ID, Ref: m.Ref, Owner: owner,
				Detail: "the account is linked to another person"}
			return
		}
	}
	tp.Ops[0] = targets.Op{Kind: targets.OpLink, Detail: fmt.Sprintf("existing %s (by %s)", m.Ref, m.By)}
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
	// superseded: the document's id is a stored SCIM user that is a
	// person's first record (its id is the person id), replaced by a later
	// one when they were rehired by correlation. The intake sees a write
	// to it as a new user's.
	superseded := false
	if id != "" {
		person, err := personOf(r, id)
		if err != nil {
			return nil, err
		}
		fallback := person == ""
		if fallback {
			person = id
		}
		if rec, err = loadRecord(r, person); err != nil {
			return nil, err
		}
		resID := ""
		if rec != nil {
			resID = rec.UserID
		}
		if req.User != nil && fallback && rec != nil && rec.UserID != id {
			if _, err := r.Get(store.KindUser, id); err == nil {
				superseded, resID = true, id
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		if resID != "" {
			if res, err = r.Get(store.KindUser, resID); err != nil && !errors.Is(err, store.ErrNotFound) {
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
		if rec.UserID != "" && !superseded {
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
	// What follows is the intake's userWrite, reading only: the same
	// refusals, from the same functions.
	corr, err := correlate(pol, ident, at)
	if err != nil {
		return nil, policyRefusal(err)
	}
	if superseded {
		rec = nil
	}
	if rec == nil {
		if rec, err = leftPerson(r, source, corr, at); err != nil {
			return nil, err
		}
	}
	prev := rec
	next, ch, err := observe(pol, rec, userID, source, ident, at)
	if err != nil {
		return nil, policyRefusal(err)
	}
	if prev == nil && superseded {
		first, err := loadRecord(r, next.ID)
		if err != nil {
			return nil, err
		}
		if first != nil {
			if err := supersededWrite(first, userID, next, at); err != nil {
				return nil, err
			}
			// The intake ignores the write: plan the stored person.
			p.Change = mapper.Change{Transition: mapper.None}
			return first, nil
		}
	}
	claim, err := needsKey(r, source, corr, next, next.ID)
	if err != nil {
		return nil, err
	}
	if claim {
		take, err := claimCorrelation(r, pol, source, corr, next, at)
		if err != nil {
			return nil, err
		}
		if take {
			next.Correlation = corr
		}
	}
	p.Change = ch
	return next, nil
}

// policyRefusal is a hookErr (the SCIM server's 400 invalidValue) as a Plan
// error: ErrPolicy, as before, and the *PlanRefusal the write would get.
func policyRefusal(err error) error {
	var he *hookErr
	if errors.As(err, &he) {
		return fmt.Errorf("%w: %w", ErrPolicy, &PlanRefusal{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: he.Rejected()})
	}
	return fmt.Errorf("%w: %w", ErrPolicy, err)
}

// planTarget computes one target's operations now and at later boundaries,
// assuming each step is applied.
func planTarget(r store.Reader, pol *mapper.Policy, rec *mapper.Record, target string, link *LinkState, at time.Time) (*TargetPlan, error) {
	desired := func(exists bool, t time.Time) (*mapper.Desired, error) {
		d, err := pol.Desired(rec, target, exists, t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		// References resolve as a worker resolves them: to the other
		// person's account, or left out while there is none.
		if _, err := resolveRefs(r, target, rec, d); err != nil {
			return nil, err
		}
		return d, nil
	}
	d, err := desired(link.Linked(), at)
	if err != nil {
		return nil, err
	}
	var applied *targets.Account
	if link != nil {
		applied = link.Applied
	}
	tp := &TargetPlan{Target: target, Desired: d, Ops: targets.Plan(applied, &d.Account)}
	cur := d
	for t := d.Next; !t.IsZero() && len(tp.Later) < maxPlanSteps; {
		nd, err := desired(cur.Exists, t)
		if err != nil {
			return nil, err
		}
		tp.Later = append(tp.Later, PlanStep{At: t, State: nd.State, Reason: nd.Reason, Ops: targets.Plan(&cur.Account, &nd.Account)})
		cur, t = nd, nd.Next
	}
	return tp, nil
}
