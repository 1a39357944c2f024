package config

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Lifecycle holds the policy defaults every identity shares. The CEL
// expressions here and in Rule and Target are only checked for presence by
// Validate; mapper.Compile compiles and type-checks them at load, naming the
// path of any that fails.
type Lifecycle struct {
	// Timezone is the IANA zone used for date-only start and end dates of
	// people whose SCIM timezone attribute is unset. Default UTC.
	Timezone string `yaml:"timezone"`
	// PositionAttributes are the attributes whose change makes a mover.
	// Names are SCIM paths: core attributes ("title"), sub-attributes
	// ("name.familyName") and the short forms "enterprise.<attr>" and
	// "tenure.<attr>" for the enterprise and Tenure extensions.
	PositionAttributes []string `yaml:"position_attributes"`
	// PrehireLead is how long before the start date accounts exist
	// (disabled). Default 72h; "0s" creates accounts at the start.
	PrehireLead *time.Duration `yaml:"prehire_lead"`
	// MoverGrace is how long a mover keeps the old position's grants.
	// Default 72h; "0s" revokes at once.
	MoverGrace *time.Duration `yaml:"mover_grace"`
	// SourceDelete says what a DELETE from the source means: "leaver"
	// (default: terminate now, then each target's leaver mode) or "purge"
	// (every account deleted at once).
	SourceDelete string `yaml:"source_delete"`
	// Correlation is a CEL expression yielding the key that identifies a
	// person across SCIM records (e.g. the employee number), so a new
	// record matching a terminated person is a rehire of that person.
	// Empty disables correlation.
	Correlation string `yaml:"correlation"`
	// Conversion configures employee <-> contractor changes.
	Conversion Conversion `yaml:"conversion"`
	// Guard bounds destructive operations per target.
	Guard Guard `yaml:"guard"`
}

// Conversion names the attribute whose change is a conversion rather than a
// plain move, and what happens to the old type's access.
type Conversion struct {
	// Attribute is a position attribute; default "userType".
	Attribute string `yaml:"attribute"`
	// RevokeAll revokes every old grant at once instead of after the mover
	// grace. Default true: a contractor must not keep employee access.
	RevokeAll *bool `yaml:"revoke_all"`
}

// Guard pauses a target's destructive work (disable, delete) when more than
// Threshold such operations happen within Window, until an admin approves.
type Guard struct {
	Threshold int           `yaml:"threshold"` // default 50; -1 disables the guard
	Window    time.Duration `yaml:"window"`    // default 1h
}

// Rule is a birthright rule: people for whom When is true get Grants.
type Rule struct {
	Name string `yaml:"name"`
	// When is a CEL boolean over the identity.
	When string `yaml:"when"`
	// Grants maps a target name to the entitlements (group names or DNs
	// in the target's terms) the rule grants there.
	Grants map[string][]string `yaml:"grants"`
	// For bounds the grant to this long after the person's start.
	For time.Duration `yaml:"for"`
	// Until is a CEL expression yielding the grant's expiry: a timestamp,
	// or a string holding a date or RFC 3339 time.
	Until string `yaml:"until"`
}

// Target is one downstream system and the policy for it.
type Target struct {
	Name string `yaml:"name"`
	// Kind selects the implementation (the binary's registry of kinds).
	Kind string `yaml:"kind"`
	// Scope is a CEL boolean: only identities for whom it is true get an
	// account. Default: everyone.
	Scope string `yaml:"scope"`
	// Container is a CEL string: where an active account lives (an OU DN
	// for directories). Empty means the target's default.
	Container string `yaml:"container"`
	// Attributes maps each target attribute to a CEL expression. A null
	// result, or a field the identity lacks, leaves the attribute unset.
	Attributes map[string]string `yaml:"attributes"`
	// References maps a target attribute to a CEL expression yielding the
	// SCIM id of another user (the manager); the engine resolves it to
	// that person's account on this target.
	References map[string]string `yaml:"references"`
	Leaver     Leaver            `yaml:"leaver"`
	// Drift is the target's periodic drift pass; off by default.
	Drift Drift `yaml:"drift"`
	// ExclusiveGroups are groups whose whole membership the policy owns:
	// the drift pass (and tenure reconcile) removes the members no grant
	// explains, through the guard. Named as grants name them.
	ExclusiveGroups []string `yaml:"exclusive_groups"`

	// Blocks are the keys every target does not have: the kind's own
	// block, named after the kind (targets[].ldap), which the kind decodes
	// and checks (Kind). Any other key is a problem.
	Blocks map[string]yaml.Node `yaml:",inline"`
	// Settings is the kind's block decoded into the kind's type (a
	// pointer, such as *ldapsync.Settings), when Check was given the
	// kinds; nil for a kind that takes no block.
	Settings any `yaml:"-"`
}

// Leaver is a target's leaver mode.
type Leaver struct {
	// Mode is "disable" (default) or "delete" (delete at once).
	Mode string `yaml:"mode"`
	// MoveTo is the container a disabled account moves to; empty leaves
	// it where it is.
	MoveTo string `yaml:"move_to"`
	// DeleteAfter deletes a disabled account this long after the
	// termination; 0 keeps it.
	DeleteAfter time.Duration `yaml:"delete_after"`
}

// Engine tunes the reconciliation workers.
type Engine struct {
	// Workers is the number of concurrent converges, shared by all
	// targets. Default 64: converges wait on the network and on commits,
	// and idle workers cost nothing, so enough are in flight to keep a
	// directory's connections busy (16 reached 92% of direct go-ldap) and
	// to hide a fast SCIM app's latency (against a downstream Tenure 16
	// reached 55% of its own POST rate, 64 about 75%, 128 over 80%;
	// docs/benchmarks.md). Targets keep their own bounds (an LDAP pool,
	// a SCIM rate limit).
	Workers int `yaml:"workers"`
	// Lease is how long a claimed job is held before another replica may
	// take it over; workers extend it while they run. Default 15s.
	Lease time.Duration `yaml:"lease"`
	// Poll is the longest idle wait between claims (local writes wake the
	// workers at once). Default 250ms.
	Poll time.Duration `yaml:"poll"`
	// Sweep is the interval of the sweep that re-enqueues identities whose
	// last change was never reconciled. Default 5m.
	Sweep time.Duration `yaml:"sweep"`
	// RetryHorizon is how long a key may keep failing before it becomes a
	// dead letter. Default 72h.
	RetryHorizon time.Duration `yaml:"retry_horizon"`
}

// Leaver modes and source-delete meanings.
const (
	LeaverDisable       = "disable"
	LeaverDelete        = "delete"
	SourceDeleteLeaver  = "leaver"
	SourceDeletePurge   = "purge"
	defaultPrehireLead  = 72 * time.Hour
	defaultMoverGrace   = 72 * time.Hour
	defaultGuardWindow  = time.Hour
	defaultGuardTrigger = 50
)

// DefaultPositionAttributes are the attributes whose change makes a mover
// unless lifecycle.position_attributes says otherwise.
var DefaultPositionAttributes = []string{
	"title", "userType", "enterprise.department", "enterprise.manager",
	"enterprise.costCenter", "enterprise.division", "enterprise.organization",
	"tenure.location", "tenure.jobCode",
}

func (c *Config) applyPolicyDefaults() {
	l := &c.Lifecycle
	def(&l.Timezone, "UTC")
	if l.PositionAttributes == nil {
		l.PositionAttributes = slices.Clone(DefaultPositionAttributes)
	}
	if l.PrehireLead == nil {
		d := defaultPrehireLead
		l.PrehireLead = &d
	}
	if l.MoverGrace == nil {
		g := defaultMoverGrace
		l.MoverGrace = &g
	}
	def(&l.SourceDelete, SourceDeleteLeaver)
	def(&l.Conversion.Attribute, "userType")
	if l.Conversion.RevokeAll == nil {
		t := true
		l.Conversion.RevokeAll = &t
	}
	def(&l.Guard.Threshold, defaultGuardTrigger)
	def(&l.Guard.Window, defaultGuardWindow)
	for i := range c.Targets {
		def(&c.Targets[i].Leaver.Mode, LeaverDisable)
	}
	c.applyDriftDefaults()
	c.applyRequestDefaults()
	e := &c.Engine
	def(&e.Workers, 64)
	def(&e.Lease, 15*time.Second)
	def(&e.Poll, 250*time.Millisecond)
	def(&e.Sweep, 5*time.Minute)
	def(&e.RetryHorizon, 72*time.Hour)
}

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (c *Config) validatePolicy(add func(path, format string, args ...any)) {
	l := c.Lifecycle
	if _, err := time.LoadLocation(l.Timezone); err != nil {
		add("lifecycle.timezone", "unknown time zone %q", l.Timezone)
	}
	if l.PrehireLead != nil && *l.PrehireLead < 0 {
		add("lifecycle.prehire_lead", "must not be negative")
	}
	if l.MoverGrace != nil && *l.MoverGrace < 0 {
		add("lifecycle.mover_grace", "must not be negative")
	}
	for i, a := range l.PositionAttributes {
		if a == "" {
			add(fmt.Sprintf("lifecycle.position_attributes[%d]", i), "empty")
		}
	}
	if !slices.Contains(l.PositionAttributes, l.Conversion.Attribute) {
		add("lifecycle.conversion.attribute", "%q is not one of lifecycle.position_attributes", l.Conversion.Attribute)
	}
	switch l.SourceDelete {
	case SourceDeleteLeaver, SourceDeletePurge:
	default:
		add("lifecycle.source_delete", "must be %s or %s, got %q", SourceDeleteLeaver, SourceDeletePurge, l.SourceDelete)
	}
	if l.Guard.Threshold == 0 || l.Guard.Threshold < -1 {
		add("lifecycle.guard.threshold", "must be positive, or -1 to disable the guard")
	}
	if l.Guard.Window <= 0 {
		add("lifecycle.guard.window", "must be positive")
	}

	targets := map[string]int{}
	for i, t := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		if !targetName.MatchString(t.Name) {
			add(path+".name", "want %s, got %q", nameRule, t.Name)
		}
		if j, dup := targets[t.Name]; dup {
			add(path+".name", "duplicate of targets[%d]", j)
		}
		targets[t.Name] = i
		if t.Kind == "" {
			add(path+".kind", "required")
		}
		for attr, expr := range t.Attributes {
			if expr == "" {
				add(path+".attributes."+attr, "empty expression")
			}
		}
		for attr, expr := range t.References {
			if expr == "" {
				add(path+".references."+attr, "empty expression")
			}
			if _, dup := t.Attributes[attr]; dup {
				add(path+".references."+attr, "also mapped under attributes")
			}
		}
		lv := t.Leaver
		switch lv.Mode {
		case LeaverDisable:
		case LeaverDelete:
			if lv.MoveTo != "" || lv.DeleteAfter != 0 {
				add(path+".leaver", "move_to and delete_after apply to mode disable only")
			}
		default:
			add(path+".leaver.mode", "must be %s or %s, got %q", LeaverDisable, LeaverDelete, lv.Mode)
		}
		if lv.DeleteAfter < 0 {
			add(path+".leaver.delete_after", "must not be negative")
		}
	}
	c.checkTargetKinds(add)
	c.validateDrift(add)
	c.validateRequests(add)
	for i, r := range c.Birthright {
		path := fmt.Sprintf("birthright[%d]", i)
		if r.Name == "" {
			add(path+".name", "required")
		}
		if r.When == "" {
			add(path+".when", "required (use \"true\" for everyone)")
		}
		if len(r.Grants) == 0 {
			add(path+".grants", "required")
		}
		for tn := range r.Grants {
			if _, ok := targets[tn]; !ok {
				add(path+".grants."+tn, "no such target")
			}
		}
		if r.For < 0 {
			add(path+".for", "must not be negative")
		}
		if r.For != 0 && r.Until != "" {
			add(path, "set for or until, not both")
		}
	}

	e := c.Engine
	if e.Workers < 1 || e.Workers > 1024 {
		add("engine.workers", "must be 1..1024, got %d", e.Workers)
	}
	if e.Lease < time.Second {
		add("engine.lease", "must be at least 1s")
	}
	if e.Poll <= 0 || e.Poll > e.Lease/2 {
		add("engine.poll", "must be positive and at most half the lease")
	}
	if e.Sweep < time.Second {
		add("engine.sweep", "must be at least 1s")
	}
	if e.RetryHorizon < time.Minute {
		add("engine.retry_horizon", "must be at least 1m")
	}
}
