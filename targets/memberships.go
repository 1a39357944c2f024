package targets

import "context"

// Membership is one account and the groups it is a member of, as a
// Memberships listing reads them from the target: every group, granted by
// Tenure or not.
type Membership struct {
	Account Found `json:"account"`
	// Groups are the groups' comparable forms (for a directory, the
	// normalised DN: what GroupRef gives for an entitlement naming it).
	Groups []string `json:"groups"`
}

// Memberships is a target that can list the group memberships of the
// accounts it manages, read from the target itself, so that access
// Tenure did not grant is seen too (recommendations from peers use it).
// Targets implement it optionally; readers find it by type assertion.
type Memberships interface {
	// Memberships calls fn for each account once, with its groups; an
	// error from fn stops the listing and is returned.
	Memberships(ctx context.Context, fn func(Membership) error) error
	// GroupRef is the comparable form of the group an entitlement names,
	// as Membership.Groups holds it.
	GroupRef(ent string) (string, error)
}
