package config

import (
	"fmt"
	"time"
)

// Drift is a target's periodic drift pass: every Interval the engine
// removes the members of the target's exclusive groups that no grant
// explains, lists its accounts (the orphan count) and schedules every
// linked person's converge, spread over Spread, so each account is read
// and repaired through the normal converge path. Off unless Interval is
// set.
type Drift struct {
	// Interval between passes; 0 (the default) turns the pass off.
	Interval time.Duration `yaml:"interval"`
	// Spread is how long one pass's converges are spread over, so a pass
	// over many people does not hold up real changes. Default the smaller
	// of 1h and half the interval; 0s schedules everyone at once.
	Spread *time.Duration `yaml:"spread"`
}

// Drift limits and defaults.
const (
	// MinDriftInterval is the shortest drift interval accepted.
	MinDriftInterval = time.Minute
	// DefaultDriftSpread bounds the default spread.
	DefaultDriftSpread = time.Hour
)

// applyDriftDefaults fills in each enabled drift pass's spread.
func (c *Config) applyDriftDefaults() {
	for i := range c.Targets {
		d := &c.Targets[i].Drift
		if d.Interval > 0 && d.Spread == nil {
			s := min(DefaultDriftSpread, d.Interval/2)
			d.Spread = &s
		}
	}
}

// validateDrift checks every target's drift pass and its exclusive groups;
// the kind checks the rest of its groups' settings (an ldap target's
// keep_members).
func (c *Config) validateDrift(add addFunc) {
	for i, t := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		d := t.Drift
		switch {
		case d.Interval < 0:
			add(path+".drift.interval", "must not be negative (0 turns the drift pass off)")
		case d.Interval > 0 && d.Interval < MinDriftInterval:
			add(path+".drift.interval", "must be at least %s, got %s", MinDriftInterval, d.Interval)
		}
		if s := d.Spread; s != nil {
			switch {
			case d.Interval == 0:
				add(path+".drift.spread", "set, but drift.interval is not (the drift pass is off)")
			case *s < 0:
				add(path+".drift.spread", "must not be negative")
			case d.Interval > 0 && *s > d.Interval:
				add(path+".drift.spread", "%s is longer than drift.interval %s: one pass would not end before the next", *s, d.Interval)
			}
		}
		c.validateExclusive(i, add)
	}
}

// validateExclusive checks targets[i].exclusive_groups: groups the kind
// can hold exclusively, named as grants name them, each once, and each
// granted by some birthright rule on the target (a group no rule grants
// would lose every member at the next pass).
func (c *Config) validateExclusive(i int, add addFunc) {
	t := c.Targets[i]
	if len(t.ExclusiveGroups) == 0 {
		return
	}
	path := fmt.Sprintf("targets[%d].exclusive_groups", i)
	// key reduces a group to one comparable form, the kind's (on an ldap
	// target a name is the cn under groups_ou, so "staff" and its DN are
	// one group); without the kinds, the group as written.
	key := func(g string) (string, error) { return g, nil }
	if k := c.kinds[t.Kind]; k != nil {
		gk, ok := k.(GroupKind)
		if !ok {
			add(path, "not supported by kind %s (only %s targets remove the members no grant explains)", t.Kind,
				c.kinds.names(" and ", func(k Kind) bool { _, ok := k.(GroupKind); return ok }))
			return
		}
		key = func(g string) (string, error) { return gk.GroupKey(&t, g) }
	}
	same := func(g string) string {
		if k, err := key(g); err == nil {
			return k
		}
		return g
	}
	granted := map[string]bool{}
	for _, r := range c.Birthright {
		for _, g := range r.Grants[t.Name] {
			granted[same(g)] = true
		}
	}
	seen := map[string]int{}
	for j, g := range t.ExclusiveGroups {
		p := fmt.Sprintf("%s[%d]", path, j)
		if g == "" {
			add(p, "empty")
			continue
		}
		k, err := key(g)
		if err != nil {
			add(p, "%v", err)
			continue
		}
		if prev, dup := seen[k]; dup {
			add(p, "the same group as %s[%d]", path, prev)
			continue
		}
		seen[k] = j
		if !granted[k] {
			add(p, "%q is granted by no birthright rule on %s: the drift pass would remove every member", g, t.Name)
		}
	}
}
