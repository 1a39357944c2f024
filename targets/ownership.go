package targets

import (
	"context"
	"errors"
	"fmt"
)

// ErrConflict marks a converge that stopped because the account it found is
// not (provably) this person's: another person links it, its name is taken
// by an account that does not match, or several accounts match. A conflict
// is neither retried nor dead-lettered: the engine parks the key, shows the
// conflict and re-checks it when the data changes or an operator resolves
// it. Nothing is written to the target before a conflict is returned.
var ErrConflict = errors.New("ownership conflict")

// ConflictReason says why an account could not be linked.
type ConflictReason string

// Conflict reasons.
const (
	// ConflictOwned: the account is linked to another person.
	ConflictOwned ConflictReason = "owned"
	// ConflictCollision: the name the account needs is held by an
	// account that is not this person's (no matching correlation value):
	// a naming collision, or an account Tenure does not manage.
	ConflictCollision ConflictReason = "collision"
	// ConflictAmbiguous: several accounts match the person's key.
	ConflictAmbiguous ConflictReason = "ambiguous"
)

// Conflict is the error a target (or the engine's ownership index) returns
// instead of writing to an account that is not the person's.
type Conflict struct {
	Reason ConflictReason `json:"reason"`
	// ID and Ref name the contested account (anchor and DN or downstream
	// id), when known.
	ID  string `json:"id,omitempty"`
	Ref string `json:"ref,omitempty"`
	// Owner is the person who links the account (ConflictOwned).
	Owner string `json:"owner,omitempty"`
	// Detail explains it for an operator.
	Detail string `json:"detail,omitempty"`
}

func (c *Conflict) Error() string {
	s := "ownership conflict (" + string(c.Reason) + ")"
	if c.Ref != "" {
		s += " on " + c.Ref
	} else if c.ID != "" {
		s += " on account " + c.ID
	}
	if c.Owner != "" {
		s += ", linked to person " + c.Owner
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (c *Conflict) Unwrap() error { return ErrConflict }

// Collision returns a ConflictCollision for the account at ref.
func Collision(id, ref, format string, args ...any) error {
	return &Conflict{Reason: ConflictCollision, ID: id, Ref: ref, Detail: fmt.Sprintf(format, args...)}
}

// IsConflict reports whether err is an ownership conflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// ClaimFunc records that the account (anchor id, reference ref) belongs to
// the request's person. It fails with a *Conflict (ConflictOwned) if
// another person links it; then the target must not write to the account.
// It is idempotent: claiming an account the person already links is free.
type ClaimFunc func(ctx context.Context, id, ref string) error

// ClaimAccount runs the request's ClaimFunc: targets call it before they
// write to any account they found rather than created or located by the
// request's own link (adopted by correlation or by name). A request with
// no ClaimFunc (a test driving a target directly) claims nothing.
func ClaimAccount(ctx context.Context, req *Request, id, ref string) error {
	if req == nil || req.Claim == nil {
		return nil
	}
	return req.Claim(ctx, id, ref)
}

// Owned reports whether id is the account the request's link names: the
// one account a target may write to without claiming it.
func (req *Request) Owned(id string) bool {
	return req != nil && req.Link != nil && req.Link.ID != "" && req.Link.ID == id
}

// Match is the existing account a converge would use for a person the
// engine holds no account for, as a Finder reports it.
type Match struct {
	// ID and Ref name the account (ID may be empty for a name only).
	ID  string `json:"id,omitempty"`
	Ref string `json:"ref"`
	// By says how it was found: "link", "correlation <attribute>", "name".
	By string `json:"by"`
	// Renamed is set when a collision rule would create the account under
	// Ref instead of the mapped name (nothing exists to link).
	Renamed bool `json:"renamed,omitempty"`
}

// Finder is a target that can tell, reading only, which existing account a
// converge of req would link, so that a dry run shows "link existing"
// rather than "create", and a conflict where a converge would stop.
// Targets implement it optionally; the engine finds it by type assertion.
type Finder interface {
	// Find returns the account req's converge would adopt or rename to
	// (nil: it would create one under the mapped name), or the *Conflict
	// it would stop at. Ownership by another person is the caller's to
	// check (Match.ID against its index).
	Find(ctx context.Context, req *Request) (*Match, error)
}
