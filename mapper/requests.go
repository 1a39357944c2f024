package mapper

import (
	"fmt"
	"slices"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/tenurehq/tenure/config"
)

// CatalogItem is a compiled requestable item (config.CatalogItem).
type CatalogItem struct {
	Name, Description string
	Target            string
	Entitlements      []string
	// Allow says whether a requester may ask for a subject.
	Allow    *Expr
	Steps    []config.ApprovalStep
	Fallback string
	// MaxDuration bounds a grant; 0: no end.
	MaxDuration   time.Duration
	ReminderAfter time.Duration // 0: no reminders
	EscalateAfter time.Duration // 0: never
	ExpireAfter   time.Duration
}

// ReviewPolicy is the mover review (config.Review).
type ReviewPolicy = config.Review

// RequestedGrant is access a decision granted: part of the person's desired
// state exactly like a birthright grant, from Start until Until (zero: no
// end), until a decision takes it away.
type RequestedGrant struct {
	Request      string    `json:"request"`
	Item         string    `json:"item"`
	Target       string    `json:"target"`
	Entitlements []string  `json:"entitlements"`
	Start        time.Time `json:"start"`
	Until        time.Time `json:"until,omitzero"`
}

// Active reports whether the grant holds at t.
func (g RequestedGrant) Active(t time.Time) bool {
	return !t.Before(g.Start) && (g.Until.IsZero() || t.Before(g.Until))
}

// RequestRule is the Grant.Rule of access a request granted.
func RequestRule(item, request string) string { return "request " + item + " " + request }

// requestEnv is the environment of catalog allow expressions: who asks
// (requester) and for whom (subject), each the user document with person
// (the Tenure person id), groups and manager (the manager's person id).
func requestEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.OptionalTypes(),
		cel.Variable("requester", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("subject", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType))
}

// compileRequests compiles cfg's catalog; comp reports failures.
func compileRequests(cfg *config.Config, comp func(path, text string) *Expr) (map[string]*CatalogItem, []string) {
	items := map[string]*CatalogItem{}
	var names []string
	for i, it := range cfg.Requests.Catalog {
		path := fmt.Sprintf("requests.catalog[%d]", i)
		ci := &CatalogItem{
			Name: it.Name, Description: it.Description, Target: it.Target,
			Entitlements: slices.Clone(it.Entitlements),
			Allow:        comp(path+".allow", it.Allow),
			Steps:        slices.Clone(it.Approval),
			Fallback:     it.Fallback,
			MaxDuration:  it.MaxDuration,
			ExpireAfter:  it.ExpireAfter,
		}
		if it.ReminderAfter != nil {
			ci.ReminderAfter = *it.ReminderAfter
		}
		if it.EscalateAfter != nil {
			ci.EscalateAfter = *it.EscalateAfter
		}
		items[it.Name] = ci
		names = append(names, it.Name)
	}
	return items, names
}

// Party is a requester or subject as allow expressions see them.
type Party struct {
	Person  string
	Record  *Record
	Manager string // the manager's person id, "" if none
}

func (p Party) view() map[string]any {
	m := map[string]any{}
	if p.Record != nil {
		if u, ok := plain(p.Record.Identity.User).(map[string]any); ok {
			m = u
		}
		groups := slices.Clone(p.Record.Identity.Groups)
		if groups == nil {
			groups = []string{}
		}
		m["groups"] = groups
	}
	m["person"] = p.Person
	m["manager"] = p.Manager
	return m
}

// MayRequest reports whether requester may ask for item for subject at now.
func (c *CatalogItem) MayRequest(requester, subject Party, now time.Time) (bool, error) {
	if c.Allow == nil {
		return false, nil
	}
	return c.Allow.Bool(map[string]any{"requester": requester.view(), "subject": subject.view(), "now": now})
}

// Item returns the named catalog item.
func (p *Policy) Item(name string) (*CatalogItem, bool) {
	c, ok := p.Catalog[name]
	return c, ok
}

// Birthright returns the birthright rules that already grant rec every one
// of ents on target at now, or nil if some entitlement is not granted by
// birthright: a request for access a person has by birthright is answered
// at once.
func (p *Policy) Birthright(rec *Record, target string, ents []string, now time.Time) ([]string, error) {
	gs, err := p.grants(&rec.Identity, rec, target, now)
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, e := range ents {
		i := slices.IndexFunc(gs, func(g Grant) bool { return g.Entitlement == e })
		if i < 0 {
			return nil, nil
		}
		if !slices.Contains(rules, gs[i].Rule) {
			rules = append(rules, gs[i].Rule)
		}
	}
	return rules, nil
}

// requestedGrants are rec's requested grants on target at now.
func requestedGrants(rec *Record, target string, now time.Time) []Grant {
	var out []Grant
	for _, g := range rec.Requested {
		if g.Target != target || !g.Active(now) {
			continue
		}
		for _, e := range g.Entitlements {
			out = append(out, Grant{Entitlement: e, Rule: RequestRule(g.Item, g.Request), Until: g.Until})
		}
	}
	return out
}

// requestedBounds are the times rec's requested grants on target start or
// end: boundaries of the desired state.
func requestedBounds(rec *Record, target string) []time.Time {
	var out []time.Time
	for _, g := range rec.Requested {
		if g.Target == target {
			out = append(out, g.Start, g.Until)
		}
	}
	return out
}
