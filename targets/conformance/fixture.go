package conformance

import (
	"slices"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// Naming collision rules (Options.Collision), as the configuration names
// them.
const (
	CollisionFail   = "fail"
	CollisionSuffix = "suffix"
)

// Kind is a target kind on one server, as the suite drives it.
type Kind struct {
	// New returns a fixture on a place of its own on the server: names,
	// groups and containers no other fixture uses. It registers the
	// cleanup of what it opens with t.
	New func(t *testing.T, o Options) Fixture
	// At returns a target of the kind configured as a fixture's is, but
	// for a server at addr (host:port), which the suite controls: a closed
	// port, or a listener that accepts connections and never answers.
	// nil skips the cases that need it.
	At func(t *testing.T, addr string) targets.Target
	// Collisions are the naming collision rules the kind offers
	// (CollisionFail, CollisionSuffix); the collision case runs for each.
	// Empty means CollisionFail only.
	Collisions []string
	// NoMembershipDrift says the target cannot see memberships changed
	// behind its back (a SCIM app that never returns a user's groups):
	// the drift case does not expect them repaired.
	NoMembershipDrift bool
	// EqualRef compares two Link.Refs (EqualDN for DNs); nil is ==.
	EqualRef func(a, b string) bool
}

// Options say how a fixture's target is set up.
type Options struct {
	// Collision is the naming collision rule, CollisionFail or
	// CollisionSuffix; "" is CollisionFail.
	Collision string
}

// Person is what the suite varies of a person's desired account; a
// fixture maps it onto the kind's attributes (Fixture.Account).
type Person struct {
	// Name is the naming value (uid or cn, userName); "" is none. It is
	// lower case, unique within a fixture unless a case makes names
	// collide.
	Name string
	// Key is the correlation value (employeeNumber, externalId); "" is none.
	Key string
	// Title is a single-valued plain attribute; "" leaves it unset.
	Title string
	// Groups are entitlements: names from Fixture.Groups, or a name the
	// server does not have.
	Groups []string
	// Manager is References["manager"]: another account's Link.Ref; ""
	// sets no reference.
	Manager string
	// Container is "" (the default) or Fixture.Container().
	Container string
	// Disabled makes the account disabled.
	Disabled bool
}

// Account is the desired account a fixture's Account may return: attrs
// (the kind's constant attributes, kept) with p's name, key and title
// under the attribute names given (absent when ""), p.Groups sorted as
// Entitlements, p.Manager as References["manager"] when set, p.Container,
// and Enabled unless p.Disabled.
func (p Person) Account(attrs map[string]any, nameAttr, keyAttr, titleAttr string) *targets.Account {
	a := &targets.Account{Exists: true, Enabled: !p.Disabled, Container: p.Container, Attributes: map[string]any{}}
	for k, v := range attrs {
		a.Attributes[k] = v
	}
	for k, v := range map[string]string{nameAttr: p.Name, keyAttr: p.Key, titleAttr: p.Title} {
		if v == "" {
			delete(a.Attributes, k)
		} else {
			a.Attributes[k] = v
		}
	}
	if len(p.Groups) > 0 {
		a.Entitlements = slices.Sorted(slices.Values(p.Groups))
	}
	if p.Manager != "" {
		a.References = map[string]string{"manager": p.Manager}
	}
	return a
}

// State is an account as the server holds it, in Person's terms.
type State struct {
	// Ref is the account's reference now (Link.Ref's form: a DN, an id).
	Ref string
	// Name, Key and Title as Fixture.Account mapped them ("" unset).
	Name, Key, Title string
	Enabled          bool
	// Container is "" for the default, or Fixture.Container().
	Container string
	// Groups are the names from Fixture.Groups whose members include the
	// account, sorted.
	Groups []string
	// Manager is the reference the account holds ("" none), compared
	// with Kind.EqualRef.
	Manager string
	// Extra is the attribute Tenure does not map that Drift sets.
	Extra string
}

// Fixture is one place on a server and a target of the kind converging
// accounts there. Its methods other than Target act on the server
// directly, as an administrator would, never through the target, and fail
// t on error.
type Fixture interface {
	// Target is the target under test; it must be a targets.Finder too.
	Target() targets.Target
	// Account is the desired account the kind's policy would produce for
	// p: p.Name in the naming attribute (none when ""), p.Key in the
	// correlation attribute the target is configured with, p.Title in a
	// single-valued attribute, p.Groups (sorted) as Entitlements,
	// p.Manager as References["manager"] when set, p.Container, Enabled
	// unless p.Disabled. Constant attributes of the kind's own may be
	// added; a fixture may prefix names and keys to keep them its own.
	Account(p Person) *targets.Account
	// Container is a container accounts can move to besides the
	// default; "" for a kind without containers (the move steps are
	// skipped).
	Container() string
	// Groups are four groups accounts may be granted; a grant may create
	// them where the kind creates groups.
	Groups() []string
	// Read reads the account anchored at id (a Link.ID); nil when there
	// is none.
	Read(t *testing.T, id string) *State
	// Raw is everything the server keeps of the account anchored at id,
	// its change stamps (version, modification time) and memberships
	// included, in a canonical form: equal Raws mean nothing was written
	// to the account. "" when there is none.
	Raw(t *testing.T, id string) string
	// Writes counts the write requests the target has sent the server so
	// far, refused ones included.
	Writes(t *testing.T) int
	// Plant makes an account for p by hand and returns its anchor (as a
	// Link.ID) and what it holds as a targets.Account (the attributes of
	// Account(p) it was given, whether it is enabled; no entitlements), from
	// which targets.Plan predicts what linking it does.
	Plant(t *testing.T, p Person) (id string, made *targets.Account)
	// Drift changes the account anchored at id behind Tenure's back: one
	// or more mapped attributes changed or removed (it returns their
	// keys, sorted, which the repairing converge's update names), an
	// attribute Tenure does not map set (State.Extra), the account
	// disabled, and removed from group (one it holds).
	Drift(t *testing.T, id, group string) (changed []string)
	// Join adds the account anchored at id to group by hand: a
	// membership Tenure never granted.
	Join(t *testing.T, id, group string)
	// Remove deletes the account anchored at id behind Tenure's back.
	Remove(t *testing.T, id string)
}
