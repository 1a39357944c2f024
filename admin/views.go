package admin

import "time"

// The API's views of a person, a link, a guard, a plan and a target's
// drift. They are the admin API's own types: the engine keeps its state in
// types of its own (stored as JSON in the store), and convert.go copies
// them into these, so the engine's storage can change without changing
// what the API answers, and the operator commands need nothing of the
// engine. Each type's JSON is what the API answered when it served the
// engine's types directly (views_test.go checks it byte for byte).

// Lifecycle states (State fields).
const (
	StatePending    = "pending"
	StateActive     = "active"
	StateTerminated = "terminated"
	StatePurged     = "purged"
)

// Account is an account as desired or as last applied on a target.
type Account struct {
	// Exists is false when the account must not exist.
	Exists  bool `json:"exists"`
	Enabled bool `json:"enabled"`
	// Container is where the account lives (an OU); "" means the
	// target's default.
	Container string `json:"container,omitempty"`
	// Attributes are the mapped attribute values; References name other
	// people's accounts (attribute → their reference).
	Attributes map[string]any    `json:"attributes,omitempty"`
	References map[string]string `json:"references,omitempty"`
	// Entitlements are the account's grants (groups), sorted.
	Entitlements []string `json:"entitlements,omitempty"`
}

// Op is one change to an account: its kind (create, update, move, enable,
// disable, grant, revoke, delete, link) and what it changes.
type Op struct {
	Kind   string `json:"op"`
	Detail string `json:"detail,omitempty"`
}

func (o Op) String() string {
	if o.Detail == "" {
		return o.Kind
	}
	return o.Kind + " " + o.Detail
}

// Conflict reasons.
const (
	ConflictOwned     = "owned"     // the account is another person's
	ConflictCollision = "collision" // the account's name is held by an account not this person's
	ConflictAmbiguous = "ambiguous" // several accounts match the person
)

// Conflict is why Tenure will not write to an account: its reason, the
// account (anchor and reference, when known), its owner (owned) and an
// explanation.
type Conflict struct {
	Reason string `json:"reason"`
	ID     string `json:"id,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Owner  string `json:"owner,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// ConflictState is a parked conflict: since when, and the record
// generation it was found at.
type ConflictState struct {
	Conflict
	Since      time.Time `json:"since"`
	Generation uint64    `json:"generation"`
}

// ParkedConflict is one entry of GET /conflicts.
type ParkedConflict struct {
	Target   string        `json:"target"`
	Person   string        `json:"person"`
	Conflict ConflictState `json:"conflict"`
}

// Link is a person's link on a target: the account (anchor, reference, the
// name a collision rule chose for the Wanted one), the state last applied,
// and the last converge.
type Link struct {
	ID      string   `json:"id,omitempty"`
	Ref     string   `json:"ref,omitempty"`
	Applied *Account `json:"applied,omitempty"`
	Name    string   `json:"name,omitempty"`
	Wanted  string   `json:"wanted,omitempty"`
	// Generation is the record generation last converged, At when and
	// Result how ("ok" or the error); Next the next boundary scheduled.
	Generation uint64    `json:"generation"`
	Next       time.Time `json:"next,omitzero"`
	At         time.Time `json:"at"`
	Result     string    `json:"result"`
	// Conflict is set while the person is parked on a conflict here.
	Conflict *ConflictState `json:"conflict,omitempty"`
	// Refs are the people the account's references name (attribute →
	// person); Unresolved the references to ids no person has yet.
	Refs       map[string]string `json:"refs,omitempty"`
	Unresolved map[string]string `json:"unresolved,omitempty"`
}

// Record is a person's lifecycle record.
type Record struct {
	// ID is the person's id; UserID the SCIM user that is them now.
	ID          string      `json:"id"`
	Source      string      `json:"source"`
	UserID      string      `json:"userId,omitempty"`
	Correlation string      `json:"correlation,omitempty"`
	Identity    PersonState `json:"identity"`
	Hired       time.Time   `json:"hired"`
	Start       time.Time   `json:"start"`
	End         time.Time   `json:"end,omitzero"`
	PrevEnd     time.Time   `json:"prevEnd,omitzero"`
	Rehired     time.Time   `json:"rehired,omitzero"`
	Moved       time.Time   `json:"moved,omitzero"`
	Purged      time.Time   `json:"purged,omitzero"`
	// OldGrants are a mover's grants kept until the grace ends.
	OldGrants []OldGrant `json:"oldGrants,omitempty"`
	// Requested is access decisions granted (docs/requests.md).
	Requested []RequestedGrant `json:"requested,omitempty"`
	// History is the most recent transitions, oldest first.
	History    []TransitionEvent `json:"history,omitempty"`
	Generation uint64            `json:"generation"`
	Changed    time.Time         `json:"changed"`
}

// PersonState is the person as last written: the SCIM user and its groups.
type PersonState struct {
	User   map[string]any `json:"user"`
	Groups []string       `json:"groups,omitempty"`
}

// RequestedGrant is access an approved request granted, from Start until
// Until (zero: no end).
type RequestedGrant struct {
	Request      string    `json:"request"`
	Item         string    `json:"item"`
	Target       string    `json:"target"`
	Entitlements []string  `json:"entitlements"`
	Start        time.Time `json:"start"`
	Until        time.Time `json:"until,omitzero"`
}

// OldGrant is an entitlement a mover keeps until Until.
type OldGrant struct {
	Target      string    `json:"target"`
	Entitlement string    `json:"entitlement"`
	Until       time.Time `json:"until"`
}

// TransitionEvent is one recorded transition (joiner, prehire, mover,
// leaver, rehire, conversion, update).
type TransitionEvent struct {
	At         time.Time `json:"at"`
	Transition string    `json:"transition"`
	Effective  time.Time `json:"effective,omitzero"`
	Changed    []string  `json:"changed,omitempty"`
}

// Event is one audit event of a person.
type Event struct {
	At         time.Time `json:"at"`
	Person     string    `json:"person"`
	Kind       string    `json:"kind"`
	Target     string    `json:"target,omitempty"`
	Transition string    `json:"transition,omitempty"`
	Effective  time.Time `json:"effective,omitzero"`
	Changed    []string  `json:"changed,omitempty"`
	Source     string    `json:"source,omitempty"`
	User       string    `json:"user,omitempty"`
	Generation uint64    `json:"generation,omitempty"`
	Ops        []Op      `json:"ops,omitempty"`
	Error      string    `json:"error,omitempty"`
	Retry      bool      `json:"retry,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// Contest is another person parked on a conflict over one of this
// person's accounts.
type Contest struct {
	Target string `json:"target"`
	Person string `json:"person"`
}

// Identity is GET /identities/{id}: the person's lifecycle record and
// state, who contests their accounts, their recent audit events (newest
// first) and their link and queue entry per target.
type Identity struct {
	Record   *Record                   `json:"record"`
	State    string                    `json:"state"`
	Contests []Contest                 `json:"contests,omitempty"`
	Events   []Event                   `json:"events"`
	Targets  map[string]IdentityTarget `json:"targets"`
}

// IdentityTarget is one target's side of a person.
type IdentityTarget struct {
	Link *Link `json:"link,omitempty"`
	Job  *Job  `json:"job,omitempty"`
}

// Guard is a target's guard on destructive operations (GET /guards/{target}
// and the answer to approve and discard).
type Guard struct {
	Target    string    `json:"target"`
	Tripped   bool      `json:"tripped"`
	TrippedAt time.Time `json:"trippedAt,omitzero"`
	// Counted are the destructive operations admitted in the window.
	Counted []GuardCount `json:"counted,omitempty"`
	// Held are the people (and exclusive-group members) whose destructive
	// work waits for an admin.
	Held []string `json:"held,omitempty"`
	// Approved maps each released person to the record generation
	// approved; NowOnly are those approved for the held operations only.
	Approved map[string]uint64 `json:"approved,omitempty"`
	NowOnly  []string          `json:"nowOnly,omitempty"`
	// Released is how many held people the last approval released.
	Released int `json:"released,omitempty"`
}

// GuardCount is one destructive operation the guard admitted.
type GuardCount struct {
	Person string    `json:"person"`
	Op     string    `json:"op"`
	At     time.Time `json:"at"`
}

// PlanRequest is the body of POST /plan. Set ID (a stored person: what is
// due for them?) or User (a SCIM user document: what would writing it
// do?); Source owns a new user; a zero At means now.
type PlanRequest struct {
	ID     string         `json:"id,omitempty"`
	User   map[string]any `json:"user,omitempty"`
	Source string         `json:"source,omitempty"`
	At     time.Time      `json:"at,omitzero"`
}

// Plan is POST /plan: the dry run's answer.
type Plan struct {
	Person string    `json:"person"`
	At     time.Time `json:"at"`
	State  string    `json:"state"`
	// Targets are in policy order.
	Targets []TargetPlan `json:"targets"`
	// Refused is set when the SCIM server would refuse the write.
	Refused *PlanRefusal `json:"refused,omitempty"`
	Change  Change       `json:"change"`
}

// PlanRefusal is the SCIM error a planned write would be answered with.
type PlanRefusal struct {
	Status   int    `json:"status"`
	ScimType string `json:"scimType"`
	Detail   string `json:"detail"`
}

// TargetPlan is what one target would see: the desired account, the
// operations now, the boundaries that follow, and the conflict a converge
// would stop at instead (or why the target could not be read).
type TargetPlan struct {
	Target   string     `json:"target"`
	Desired  *Desired   `json:"desired"`
	Ops      []Op       `json:"ops"`
	Later    []PlanStep `json:"later,omitempty"`
	Conflict *Conflict  `json:"conflict,omitempty"`
	Lookup   string     `json:"lookup,omitempty"`
}

// Desired is the account a person should have on a target, with their
// state, the next boundary, the grants behind its entitlements and why.
type Desired struct {
	Account
	State  string    `json:"state"`
	Next   time.Time `json:"next,omitzero"`
	Grants []Grant   `json:"grants,omitempty"`
	Reason string    `json:"reason"`
}

// Grant is an entitlement and the rule that grants it (until Until).
type Grant struct {
	Entitlement string    `json:"entitlement"`
	Rule        string    `json:"rule"`
	Until       time.Time `json:"until,omitzero"`
}

// PlanStep is one future boundary and what it would do.
type PlanStep struct {
	At     time.Time `json:"at"`
	State  string    `json:"state"`
	Reason string    `json:"reason"`
	Ops    []Op      `json:"ops"`
}

// Drift is GET /drift/{target}: the target's drift pass, its last report,
// its repair tally and, from Since, how many linked people have not
// converged since (Pending of Linked).
type Drift struct {
	Target    string       `json:"target"`
	Last      time.Time    `json:"last,omitzero"`
	Next      time.Time    `json:"next,omitzero"`
	Requested time.Time    `json:"requested,omitzero"`
	Report    *DriftReport `json:"report,omitempty"`
	// At is when the view was read, on the server's clock.
	At time.Time `json:"at"`
	// Interval and Spread of the periodic pass ("" when off).
	Interval  string     `json:"interval,omitempty"`
	Spread    string     `json:"spread,omitempty"`
	Exclusive []string   `json:"exclusiveGroups,omitempty"`
	Tally     DriftTally `json:"tally"`
	Since     time.Time  `json:"since,omitzero"`
	Pending   int        `json:"pending"`
	Linked    int        `json:"linked"`
}

// DriftTally counts the repairs per drift class since Since.
type DriftTally struct {
	Since   time.Time        `json:"since,omitzero"`
	Repairs map[string]int64 `json:"repairs,omitempty"`
}

// DriftReport is what one drift pass did.
type DriftReport struct {
	Target    string           `json:"target"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished,omitzero"`
	Scheduled int              `json:"scheduled"`
	Until     time.Time        `json:"until,omitzero"`
	Listed    int              `json:"listed"`
	Orphans   int              `json:"orphans"`
	Inventory string           `json:"inventory,omitempty"`
	Exclusive []ExclusiveGroup `json:"exclusive,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// ExclusiveGroup is the cleanup of one exclusive group: its members, and
// those no grant explains removed, held by the guard or failed.
type ExclusiveGroup struct {
	Group   string            `json:"group"`
	Ref     string            `json:"ref,omitempty"`
	Members int               `json:"members"`
	Removed []ExclusiveMember `json:"removed,omitempty"`
	Held    []ExclusiveMember `json:"held,omitempty"`
	Failed  []ExclusiveMember `json:"failed,omitempty"`
	// Error: the group could not be listed.
	Error string `json:"error,omitempty"`
}

// ExclusiveMember is a member of an exclusive group no grant explains: its
// value, the account it names and whose account that is.
type ExclusiveMember struct {
	Value string `json:"value"`
	ID    string `json:"id,omitempty"`
	Owner string `json:"owner,omitempty"`
	Error string `json:"error,omitempty"`
}

// OrphanReport is what a reconcile found (and deleted) on a target.
type OrphanReport struct {
	Target  string   `json:"target"`
	Listed  int      `json:"listed"`
	Orphans []Orphan `json:"orphans"`
	Removed int      `json:"removed"`
	Failed  int      `json:"failed"`
}

// Orphan is an account no link names: its anchor, reference and label,
// and with delete whether it was removed or why not.
type Orphan struct {
	ID      string `json:"id"`
	Ref     string `json:"ref"`
	Name    string `json:"name,omitempty"`
	Removed bool   `json:"removed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Drift classes, in the order reports list them.
const (
	DriftAttribute  = "attribute"
	DriftStatus     = "status"
	DriftContainer  = "container"
	DriftMembership = "membership"
	DriftAccount    = "account"
	DriftExclusive  = "exclusive"
)

// DriftClasses lists the drift classes in report order.
func DriftClasses() []string {
	return []string{DriftAttribute, DriftStatus, DriftContainer, DriftMembership, DriftAccount, DriftExclusive}
}
