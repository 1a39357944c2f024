package console

import (
	"errors"
	"fmt"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
)

// RoleExprsOf are the role expressions of a config's console section.
func RoleExprsOf(cs *config.Console) RoleExprs {
	return RoleExprs{Admin: cs.Roles.Admin, Approver: cs.Roles.Approver, Auditor: cs.Roles.Auditor}
}

// CheckRoles adds to f a problem at its key for every role expression of
// its console section that does not compile, as mapper.CheckCompile does
// for the policy's; file names the file, as there.
func CheckRoles(f *config.File, file string) {
	if f.Config == nil || f.Config.Console == nil {
		return
	}
	_, err := CompileRoles(RoleExprsOf(f.Config.Console))
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for i, e := range errs {
		errs[i] = fmt.Errorf("%s: %w", file, e)
	}
	mapper.AddCompileProblems(f, file, errors.Join(errs...))
}
