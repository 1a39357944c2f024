// Package recommend suggests birthright rules from what peers hold, and
// flags access that is rare among a person's peers. It reads: people and
// their position attributes (CEL expressions in the policy's environment,
// so a suggested rule's `when` means exactly what the grouping meant),
// what the policy grants each of them now, and what each holds on every
// target — memberships read from the target itself where it can list them
// (targets.Memberships), including access Tenure never granted; else what
// Tenure last applied. Analyze is pure; Gather reads a snapshot from the
// engine and the targets. Nothing here writes: a suggestion becomes policy
// only when an admin pastes its block into the configuration.
// docs/recommendations.md explains the method and its limits.
package recommend

import (
	"time"

	"github.com/tenurehq/tenure/mapper"
)

// Defaults of Options left zero.
const (
	DefaultMinGroupSize  = 5
	DefaultMinSupport    = 5
	DefaultMinConfidence = 0.8
	DefaultOutlierShare  = 0.2
	DefaultMaxListed     = 20
	DefaultSignificance  = 0.001
)

// Attribute is one position attribute people are grouped by.
type Attribute struct {
	// Name labels the attribute in reports and rule names.
	Name string `json:"name" yaml:"name"`
	// Expr is a CEL expression over the person (the policy's variables),
	// yielding a string, number or bool; "" reads Name as an attribute
	// path, as lifecycle.position_attributes spells them (title,
	// enterprise.department, tenure.location, a URN path).
	Expr string `json:"expr,omitempty" yaml:"expr,omitempty"`
}

// Options tune an analysis. Zero values take the defaults.
type Options struct {
	// Attributes group people; default the policy's position attributes.
	Attributes []Attribute `json:"attributes,omitempty"`
	// Targets limits the analysis to these targets; default all.
	Targets []string `json:"targets,omitempty"`
	// MinGroupSize: smaller peer groups are not considered (default 5).
	MinGroupSize int `json:"minGroupSize,omitempty"`
	// MinSupport: a suggestion needs at least this many members holding
	// the entitlement (default 5).
	MinSupport int `json:"minSupport,omitempty"`
	// MinConfidence: … and at least this share of the group (default 0.8).
	MinConfidence float64 `json:"minConfidence,omitempty"`
	// Significance: a group is suggested a rule only if its members would
	// hold the entitlement as often as they do with at most this chance
	// when drawn at random from any wider group they lie in (everyone,
	// a department holding a title); default 0.001. Small organisations
	// need a larger value.
	Significance float64 `json:"significance,omitempty"`
	// NoPairs considers single attributes only (and everyone).
	NoPairs bool `json:"noPairs,omitempty"`
	// OutlierShare: a holding no peer group explains is an outlier; a
	// group explains it when at least MinConfidence of the other members
	// hold it, or at least OutlierShare of them and twice the share of the
	// whole population (default 0.2). Negative: no outliers.
	OutlierShare float64 `json:"outlierShare,omitempty"`
	// IncludeGranted also lists rules the policy already grants to the
	// whole group (marked Covered): what the data says the policy is.
	IncludeGranted bool `json:"includeGranted,omitempty"`
	// MaxListed bounds the people a suggestion names (default 20; the
	// counts are always whole).
	MaxListed int `json:"maxListed,omitempty"`
}

func (o Options) withDefaults() Options {
	if o.MinGroupSize <= 0 {
		o.MinGroupSize = DefaultMinGroupSize
	}
	if o.MinSupport <= 0 {
		o.MinSupport = DefaultMinSupport
	}
	if o.MinConfidence <= 0 {
		o.MinConfidence = DefaultMinConfidence
	}
	if o.OutlierShare == 0 {
		o.OutlierShare = DefaultOutlierShare
	}
	if o.Significance <= 0 || o.Significance >= 1 {
		o.Significance = DefaultSignificance
	}
	if o.MaxListed <= 0 {
		o.MaxListed = DefaultMaxListed
	}
	return o
}

// Entitlement is a group on a target, by its comparable form (for a
// directory the normalised DN: what GroupRef gives).
type Entitlement struct {
	Target string `json:"target"`
	Ref    string `json:"ref"`
}

// Person is one person of the population analysed (active people only:
// leavers and pre-hires are nobody's peers).
type Person struct {
	ID string // the person id (the SCIM id of their first record)
	// Name labels them in reports (userName).
	Name     string
	Identity *mapper.Identity
	Record   *mapper.Record // may be nil
	// Held is what they hold: memberships read from the targets, what
	// Tenure last applied where a target cannot list them, and approved
	// requests.
	Held []Entitlement
	// Granted is what the policy's birthright rules grant them now.
	Granted []Entitlement
	// Kept are entitlements of a position they moved from (the record's
	// old grants, whether or not the grace has ended): a hint for outliers.
	Kept []Entitlement
}

// Input is what Analyze reads.
type Input struct {
	People []Person
	// Names maps an entitlement to how a rule grants it (the policy's own
	// spelling, or a group name the target resolves to the same group);
	// absent: Ref.
	Names map[Entitlement]string
	// Targets in the order reports list them.
	Targets []string
	// Unlinked counts, per target, accounts the target listed that no
	// person's link names (not analysed; see the orphan report).
	Unlinked map[string]int
}

// Condition is one attribute value of a peer group.
type Condition struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

// Suggestion is a birthright rule the data supports.
type Suggestion struct {
	// Rule is the proposed rule name; Block the ready-to-paste birthright
	// list item, accepted by the policy loader.
	Rule   string `json:"rule"`
	Block  string `json:"block"`
	When   string `json:"when"`
	Target string `json:"target"`
	// Entitlement as a rule grants it; Ref as the target compares it.
	Entitlement string      `json:"entitlement"`
	Ref         string      `json:"ref"`
	Group       []Condition `json:"group"` // empty: everyone
	// Members of the group; Holders of them hold it; Granted of them the
	// policy grants it already.
	Members int `json:"members"`
	Holders int `json:"holders"`
	Granted int `json:"granted"`
	// Confidence = Holders/Members; Support = Holders/population; Lift =
	// Confidence / the population's share holding it.
	Confidence float64 `json:"confidence"`
	Support    float64 `json:"support"`
	Lift       float64 `json:"lift"`
	// Gain: who would get it by the rule (selected, neither holding it
	// nor granted it). Adopt: who holds it outside the policy now, whose
	// access the rule would make the policy's.
	Gain  Impact `json:"gain"`
	Adopt Impact `json:"adopt"`
	// Covered: the policy grants it to every member already (listed
	// with Options.IncludeGranted only).
	Covered bool `json:"covered,omitempty"`
}

// Impact is a set of people a rule would touch.
type Impact struct {
	Count  int      `json:"count"`
	People []string `json:"people,omitempty"` // the first MaxListed names
}

// Outlier is access a person holds that their peers do not.
type Outlier struct {
	Person      string `json:"person"`
	Name        string `json:"name,omitempty"`
	Target      string `json:"target"`
	Entitlement string `json:"entitlement"`
	Ref         string `json:"ref"`
	// PeerShare is the largest share of the other members of one of
	// their peer groups holding it; Peers that group.
	PeerShare float64     `json:"peerShare"`
	Peers     []Condition `json:"peers"`
	// Moved: they held it under a position they moved from.
	Moved bool `json:"moved,omitempty"`
}

// Report is an analysis.
type Report struct {
	At      time.Time `json:"at"`
	People  int       `json:"people"`
	Targets []string  `json:"targets"`
	// Entitlements held or granted; Groups considered (size at least
	// MinGroupSize, everyone included).
	Entitlements int            `json:"entitlements"`
	Groups       int            `json:"groups"`
	Options      Options        `json:"options"`
	Unlinked     map[string]int `json:"unlinked,omitempty"`
	Suggestions  []Suggestion   `json:"suggestions"`
	Outliers     []Outlier      `json:"outliers"`
}
