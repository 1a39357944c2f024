package mapper

import (
	"fmt"
	"time"
)

// The recommend package groups people by position attributes that are CEL
// expressions in the policy's own environment, so that a suggested rule's
// `when` (the attribute's expression compared with a value) means exactly
// what the grouping meant. These two functions are its way in.

// CompileValue compiles text as an attribute expression over a person (the
// variables of every policy expression), type-checked now: a result that
// cannot be a string, bool, number or list is refused.
func CompileValue(path, text string) (*Expr, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("mapper: cel environment: %w", err)
	}
	return compile(env, path, text, wantValue)
}

// Vars is the CEL activation every policy expression sees for the person
// at now; rec may be nil (lifecycle.state is then "pending").
func (id *Identity) Vars(rec *Record, now time.Time) map[string]any {
	return id.vars(rec, now)
}
