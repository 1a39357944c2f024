package console

import (
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Role is a console role.
type Role string

// The console's roles. An admin may act; an auditor sees everything and
// may not act; an approver decides the requests and reviews they may
// decide (their inbox lands with access requests).
const (
	RoleAdmin    Role = "admin"
	RoleApprover Role = "approver"
	RoleAuditor  Role = "auditor"
)

// RoleExprs are the CEL expressions that grant each role: bools over
// person (id, source, userName, displayName, department, state, groups
// and user, the SCIM user as last written) and claims (the ID token's).
// An empty expression grants the role to no one.
type RoleExprs struct {
	Admin, Approver, Auditor string
}

// Roles are compiled role expressions, evaluated on every request, so a
// person's change (a leaver, a group removed) or the IdP's takes effect
// at once rather than at the next sign-in.
type Roles struct {
	progs []roleProg
}

type roleProg struct {
	role Role
	prg  cel.Program
}

// CompileRoles compiles and type-checks the role expressions. Each error
// is "console.roles.NAME: "EXPR": ERROR", joined, so that config validate
// reports each at its key.
func CompileRoles(x RoleExprs) (*Roles, error) {
	env, err := cel.NewEnv(
		cel.OptionalTypes(),
		cel.Variable("person", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		return nil, fmt.Errorf("console: roles: %w", err)
	}
	out := &Roles{}
	var errs []error
	for _, r := range []struct {
		role Role
		text string
	}{{RoleAdmin, x.Admin}, {RoleApprover, x.Approver}, {RoleAuditor, x.Auditor}} {
		if r.text == "" {
			continue
		}
		path := "console.roles." + string(r.role)
		ast, iss := env.Compile(r.text)
		if iss != nil && iss.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", path, r.text, iss.Err()))
			continue
		}
		if t := ast.OutputType(); t != cel.BoolType && t.Kind() != types.DynKind {
			errs = append(errs, fmt.Errorf("%s: %q: result type %s is not bool", path, r.text, t))
			continue
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", path, r.text, err))
			continue
		}
		out.progs = append(out.progs, roleProg{r.role, prg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Of returns the roles person and claims hold. An expression that fails
// (a claim absent) or is not true grants nothing: a role is never given
// by an error.
func (rs *Roles) Of(person, claims map[string]any) map[Role]bool {
	out := map[Role]bool{}
	vars := map[string]any{"person": person, "claims": claims}
	for _, p := range rs.progs {
		v, _, err := p.prg.Eval(vars)
		if err == nil && v == types.True {
			out[p.role] = true
		}
	}
	return out
}
