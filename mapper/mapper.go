// Package mapper is Tenure's policy brain, and deliberately pure: no I/O, no
// clock of its own. It names the lifecycle transition a SCIM write is
// (Classify: joiner, pre-hire, mover, leaver, rehire, conversion, update,
// none) and computes the state an identity should have on a target at a given
// time (Desired: exists, enabled, container, attributes, entitlements, and the
// next boundary time). Being pure is what lets `tenure plan` show exactly what
// the engine would do, and lets table tests cover every lifecycle rule.
// docs/policy.md is the user's description of the semantics; the tests
// (including one that loads every example of that page) hold the code to it.
package mapper

// Transition names the edge a SCIM write represents.
type Transition string

// The transitions of the Joiner-Mover-Leaver lifecycle.
const (
	Joiner     Transition = "joiner"
	PreHire    Transition = "prehire"
	Mover      Transition = "mover"
	Leaver     Transition = "leaver"
	Rehire     Transition = "rehire"
	Conversion Transition = "conversion"
	Update     Transition = "update"
	None       Transition = "none"
)
