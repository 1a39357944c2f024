package admin

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
)

// DraftCheck is what checking a draft configuration file found: its
// policy when it is valid, else every problem with its key and line.
type DraftCheck struct {
	Policy   *mapper.Policy
	Problems config.Problems
	Warnings config.Problems
	// Reload are the reasons a reload would refuse the draft although it
	// is valid (a target added or its connection changed: a restart).
	Reload []string
}

// Bounds of POST /policy/impact: the people evaluated and how long for.
const (
	ImpactMaxPeople = 200_000
	ImpactBudget    = 10 * time.Second
	impactNames     = 5
)

// RunningPolicy is GET /policy: the configuration file as the running
// policy was loaded from it.
type RunningPolicy struct {
	Text    string   `json:"text"`
	Targets []string `json:"targets"`
	Rules   int      `json:"rules"`
}

// PolicyImpact is POST /policy/impact: the draft's problems, or, when it
// is valid, what it would change for everyone at At.
type PolicyImpact struct {
	Valid    bool            `json:"valid"`
	Problems []PolicyProblem `json:"problems"`
	Warnings []PolicyProblem `json:"warnings,omitempty"`
	// Reload says why a reload would refuse the draft although it is
	// valid.
	Reload []string `json:"reload,omitempty"`
	Impact *Impact  `json:"impact,omitempty"`
}

// PolicyProblem is one problem of a draft, at its key and line.
type PolicyProblem struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Impact is a draft's effect on the desired state of everyone: who would
// gain or lose which entitlement, which accounts would be created,
// deleted, disabled or enabled (engine.Impact).
type Impact struct {
	At           time.Time           `json:"at"`
	People       int                 `json:"people"`
	Changed      int                 `json:"changed"`
	Truncated    string              `json:"truncated,omitempty"`
	Entitlements []EntitlementImpact `json:"entitlements"`
	Accounts     []AccountImpact     `json:"accounts"`
	Failed       int                 `json:"failed"`
	Errors       []ImpactFailure     `json:"errors,omitempty"`
}

// EntitlementImpact is one entitlement on one target: how many people
// would gain and lose it, and the first of them.
type EntitlementImpact struct {
	Target      string   `json:"target"`
	Entitlement string   `json:"entitlement"`
	Gain        int      `json:"gain"`
	Lose        int      `json:"lose"`
	Gainers     []string `json:"gainers,omitempty"`
	Losers      []string `json:"losers,omitempty"`
}

// AccountImpact is one change (create, delete, disable, enable) of
// accounts on one target: how many, and the first people.
type AccountImpact struct {
	Target string   `json:"target"`
	Change string   `json:"change"`
	Count  int      `json:"count"`
	People []string `json:"people,omitempty"`
}

// ImpactFailure is a person a policy (running or draft) could not be
// evaluated on.
type ImpactFailure struct {
	Person string `json:"person"`
	Policy string `json:"policy"`
	Error  string `json:"error"`
}

// Policy is GET /policy.
func (h *Handler) Policy() (*RunningPolicy, error) {
	if h.policyText == nil {
		return nil, errorf(http.StatusNotImplemented, "the policy's text is not available on this server")
	}
	pol := h.eng.Policy()
	return &RunningPolicy{Text: string(h.policyText()), Targets: pol.TargetNames, Rules: len(pol.Rules)}, nil
}

// PolicyImpact is POST /policy/impact: draft, a whole configuration file,
// checked as `tenure config validate` checks one and, when valid, its
// effect on everyone's desired state at at (zero: now) against the running
// policy's, bounded by ImpactMaxPeople and ImpactBudget. It changes
// nothing: installing a policy stays POST /policy/reload (or SIGHUP).
func (h *Handler) PolicyImpact(ctx context.Context, draft []byte, at time.Time) (*PolicyImpact, error) {
	if h.checkDraft == nil {
		return nil, errorf(http.StatusNotImplemented, "checking a draft policy is not available on this server")
	}
	if strings.TrimSpace(string(draft)) == "" {
		return nil, errorf(http.StatusBadRequest, "the draft (a whole configuration file, as YAML) is required")
	}
	c := h.checkDraft(draft)
	out := &PolicyImpact{Problems: problemsOf(c.Problems), Warnings: problemsOf(c.Warnings), Reload: c.Reload}
	if len(c.Problems) > 0 || c.Policy == nil {
		return out, nil
	}
	out.Valid = true
	im, err := h.eng.Impact(ctx, c.Policy, engine.ImpactOptions{At: at, MaxPeople: ImpactMaxPeople,
		Budget: ImpactBudget, Names: impactNames})
	if err != nil {
		return nil, err
	}
	out.Impact = convertPtr(im, impactOf)
	return out, nil
}

func problemsOf(ps config.Problems) []PolicyProblem {
	out := make([]PolicyProblem, len(ps))
	for i, p := range ps {
		out[i] = PolicyProblem{Path: p.Path, Line: p.Line, Message: p.Msg}
	}
	return out
}

func impactOf(i engine.Impact) Impact {
	return Impact{At: i.At, People: i.People, Changed: i.Changed, Truncated: i.Truncated, Failed: i.Failed,
		Entitlements: convertSlice(i.Entitlements, func(e engine.EntitlementImpact) EntitlementImpact {
			return EntitlementImpact(e)
		}),
		Accounts: convertSlice(i.Accounts, func(a engine.AccountImpact) AccountImpact { return AccountImpact(a) }),
		Errors:   convertSlice(i.Errors, func(f engine.ImpactFailure) ImpactFailure { return ImpactFailure(f) }),
	}
}

// GET /policy.
func (h *Handler) runningPolicy(*http.Request) (any, error) { return h.Policy() }

// POST /policy/impact?at=TIME with a configuration file (YAML) as the
// body.
func (h *Handler) policyImpact(r *http.Request) (any, error) {
	body, err := h.readBody(r)
	if err != nil {
		return nil, err
	}
	var at time.Time
	if s := r.URL.Query().Get("at"); s != "" {
		if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, errorf(http.StatusBadRequest, "at must be an RFC 3339 time, got %q", s)
		}
	}
	return h.PolicyImpact(r.Context(), body, at)
}
