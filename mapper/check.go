package mapper

import (
	"regexp"
	"strings"
	"time"

	"github.com/tenurehq/tenure/config"
)

// CheckCompile compiles the policy of f, a file checked as far as it
// decoded (config.Check, config.CheckBytes), and adds every expression that
// does not compile to f as a problem at its key and line, so that a broken
// structure does not hide a broken expression. It returns the policy, nil
// when it did not compile or f has no configuration. file names the file in
// the policy's errors. This is `tenure config validate`'s compile step, and
// the policy reload's, and the console's draft check.
func CheckCompile(f *config.File, file string) *Policy {
	if f.Config == nil {
		return nil
	}
	c := *f.Config
	if _, err := time.LoadLocation(c.Lifecycle.Timezone); err != nil {
		// Reported already; compile the expressions all the same.
		c.Lifecycle.Timezone = "UTC"
	}
	pol, err := Compile(file, &c)
	if err != nil {
		AddCompileProblems(f, file, err)
		return nil
	}
	return pol
}

// celPosition is where CEL says an error is in an expression.
var celPosition = regexp.MustCompile(`ERROR: <input>:(\d+):(\d+): `)

// AddCompileProblems adds each error of Compile (or of any compile of
// expressions that names them the same way: "FILE: PATH: "EXPR": ERROR…")
// to f as a problem at its path.
func AddCompileProblems(f *config.File, file string, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		msg := celPosition.ReplaceAllString(e.Error(), "at $1:$2 of the expression: ")
		rest, ok := strings.CutPrefix(msg, file+": ")
		path, what, found := strings.Cut(rest, ": ")
		if !ok || !found {
			f.Add("", msg)
			continue
		}
		f.Add(path, "does not compile: "+what)
	}
}
