// Package targets defines what a downstream system (an LDAP/AD directory, a
// SCIM app) must do for Tenure's engine: converge one identity's account to
// a desired state, idempotently, and say whether a failure is worth retrying.
//
// Kinds live in subpackages (targets/scimclient; the LDAP kind builds on
// ldapsync). There is no init() registration: cmd/tenure owns the map from
// kind name to constructor. Every kind passes the suite in
// targets/conformance against real servers.
package targets

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error classes the engine branches on.
var (
	// ErrRetryable marks failures that may succeed later: network errors,
	// timeouts, busy or unavailable servers, 429/5xx.
	ErrRetryable = errors.New("retryable")
	// ErrPermanent marks failures that will fail again until someone changes
	// data or configuration: schema and constraint violations, other 4xx.
	ErrPermanent = errors.New("permanent")
	// ErrUnavailable marks retryable failures where the target could not
	// be reached at all (connection refused or lost, 502/503/504): no
	// operation was refused, so the engine counts unavailability, not
	// operation errors.
	ErrUnavailable = errors.New("unavailable")
)

// Error is a classified target failure.
type Error struct {
	Op         string        // what was attempted, e.g. "ldap add"
	Class      error         // ErrRetryable or ErrPermanent
	RetryAfter time.Duration // a delay the target asked for (Retry-After), if any
	Err        error         // the underlying error, with the server's message
	// Down: the target could not be reached (ErrUnavailable).
	Down bool
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }

// Unwrap exposes the class, ErrUnavailable when Down, and the cause to
// errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Down {
		return []error{e.Class, ErrUnavailable, e.Err}
	}
	return []error{e.Class, e.Err}
}

// Unavailable wraps err as a retryable failure of op in which the target
// could not be reached.
func Unavailable(op string, err error, after time.Duration) error {
	return &Error{Op: op, Class: ErrRetryable, RetryAfter: after, Err: err, Down: true}
}

// Retryable wraps err as a retryable failure of op.
func Retryable(op string, err error, after time.Duration) error {
	return &Error{Op: op, Class: ErrRetryable, RetryAfter: after, Err: err}
}

// Permanent wraps err as a permanent failure of op.
func Permanent(op string, err error) error {
	return &Error{Op: op, Class: ErrPermanent, Err: err}
}

// IsRetryable reports whether err should be retried. Unclassified errors are
// treated as retryable: losing a change is worse than trying again.
// Conflicts are not retried: the engine parks them (ErrConflict).
func IsRetryable(err error) bool {
	return err != nil && !errors.Is(err, ErrPermanent) && !errors.Is(err, ErrConflict)
}

// Found is one account an Inventory lists.
type Found struct {
	// ID is the account's anchor in the form Link.ID stores it.
	ID string `json:"id"`
	// Ref locates it for a person (a DN).
	Ref string `json:"ref"`
	// Name is a human label (the RDN value), for reports only.
	Name string `json:"name,omitempty"`
}

// Inventory is a target that can list every account in the places it
// manages, so that accounts no link names (orphans) can be reported.
// Targets implement it optionally; the engine finds it by type assertion.
type Inventory interface {
	// Accounts calls fn for each account once; an error from fn stops
	// the listing and is returned.
	Accounts(ctx context.Context, fn func(Found) error) error
}

// Remover is a target that can delete an account it did not converge
// (an orphan) by its anchor. An account already gone is success.
// Failures are classified like Converge's.
type Remover interface {
	Remove(ctx context.Context, id string) error
}
