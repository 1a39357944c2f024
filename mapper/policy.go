package mapper

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tenurehq/tenure/config"
)

// Policy is the compiled lifecycle policy: config's lifecycle, birthright and
// targets sections with every CEL expression compiled and type-checked.
// It is immutable; a reload compiles a new one.
type Policy struct {
	Location       *time.Location
	Position       []string
	PrehireLead    time.Duration
	MoverGrace     time.Duration
	SourceDelete   string
	ConversionAttr string
	RevokeAll      bool
	Correlation    *Expr // nil: no correlation
	Guard          config.Guard
	Rules          []*Rule
	Targets        map[string]*TargetPolicy
	TargetNames    []string // in config order
	// Catalog is what may be requested (requests.catalog), CatalogNames
	// its names in config order; Review the mover review.
	Catalog      map[string]*CatalogItem
	CatalogNames []string
	Review       ReviewPolicy
	// AdminDecisions: the admin API may decide on a person's behalf
	// (requests.admin_decisions).
	AdminDecisions bool
}

// Rule is a compiled birthright rule.
type Rule struct {
	Name   string
	When   *Expr
	Grants map[string][]string
	For    time.Duration
	Until  *Expr
}

// TargetPolicy is the compiled policy for one target.
type TargetPolicy struct {
	Name, Kind string
	Scope      *Expr // nil: everyone
	Container  *Expr // nil: the target's default
	Attributes map[string]*Expr
	References map[string]*Expr
	Leaver     config.Leaver
	// DriftInterval is how often the target's drift pass runs (0: never);
	// DriftSpread how long each pass's converges are spread over.
	DriftInterval, DriftSpread time.Duration
	// Exclusive are the groups (entitlements in the target's terms) whose
	// whole membership the policy owns.
	Exclusive []string
}

// Compile compiles the policy sections of cfg. file names the config file in
// errors; every failing expression is reported, each with its path.
func Compile(file string, cfg *config.Config) (*Policy, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("mapper: cel environment: %w", err)
	}
	l := cfg.Lifecycle
	loc, err := time.LoadLocation(l.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%s: lifecycle.timezone: %w", file, err)
	}
	p := &Policy{
		Location:       loc,
		Position:       slices.Clone(l.PositionAttributes),
		SourceDelete:   l.SourceDelete,
		ConversionAttr: l.Conversion.Attribute,
		Guard:          l.Guard,
		Targets:        map[string]*TargetPolicy{},
	}
	if l.PrehireLead != nil {
		p.PrehireLead = *l.PrehireLead
	}
	if l.MoverGrace != nil {
		p.MoverGrace = *l.MoverGrace
	}
	if l.Conversion.RevokeAll != nil {
		p.RevokeAll = *l.Conversion.RevokeAll
	}
	var errs []error
	comp := func(path, text string, w want) *Expr {
		if text == "" {
			return nil
		}
		e, err := compile(env, path, text, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
		return e
	}
	p.Correlation = comp("lifecycle.correlation", l.Correlation, wantString)
	for i, r := range cfg.Birthright {
		path := fmt.Sprintf("birthright[%d]", i)
		p.Rules = append(p.Rules, &Rule{
			Name:   r.Name,
			When:   comp(path+".when", r.When, wantBool),
			Grants: r.Grants,
			For:    r.For,
			Until:  comp(path+".until", r.Until, wantTime),
		})
	}
	for i, t := range cfg.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		tp := &TargetPolicy{
			Name:       t.Name,
			Kind:       t.Kind,
			Scope:      comp(path+".scope", t.Scope, wantBool),
			Container:  comp(path+".container", t.Container, wantString),
			Attributes: map[string]*Expr{},
			References: map[string]*Expr{},
			Leaver:     t.Leaver,
			Exclusive:  slices.Clone(t.ExclusiveGroups),
		}
		if d := t.Drift; d.Interval > 0 {
			tp.DriftInterval = d.Interval
			if d.Spread != nil {
				tp.DriftSpread = *d.Spread
			}
		}
		for _, a := range slices.Sorted(maps.Keys(t.Attributes)) {
			tp.Attributes[a] = comp(path+".attributes."+a, t.Attributes[a], wantValue)
		}
		for _, a := range slices.Sorted(maps.Keys(t.References)) {
			tp.References[a] = comp(path+".references."+a, t.References[a], wantString)
		}
		p.Targets[t.Name] = tp
		p.TargetNames = append(p.TargetNames, t.Name)
	}
	reqEnv, err := requestEnv()
	if err != nil {
		return nil, fmt.Errorf("mapper: cel environment: %w", err)
	}
	p.Catalog, p.CatalogNames = compileRequests(cfg, func(path, text string) *Expr {
		if text == "" {
			return nil
		}
		e, err := compile(reqEnv, path, text, wantBool)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
		return e
	})
	p.Review = cfg.Requests.Review
	p.AdminDecisions = cfg.Requests.AdminDecisions == nil || *cfg.Requests.AdminDecisions
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Target returns the named target's policy.
func (p *Policy) Target(name string) (*TargetPolicy, bool) {
	t, ok := p.Targets[name]
	return t, ok
}
