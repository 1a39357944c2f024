package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
)

func configValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (required)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *path == "" {
		return usageError{fmt.Errorf("--config is required")}
	}
	cfg, _, err := loadConfig(*path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	fmt.Fprintf(stdout, "%s: ok (store %s, %d source(s), %d target(s), %d birthright rule(s))\n",
		*path, cfg.Store.Kind, len(cfg.Sources), len(cfg.Targets), len(cfg.Birthright))
	return nil
}

// loadConfig reads the configuration file at path and compiles its policy.
// It reports every problem in the file in one error — what does not
// decode, what does not validate, every policy expression that does not
// compile and every target kind this binary lacks — each with its key and
// line, so that a broken structure does not hide a broken expression.
func loadConfig(path string) (*config.Config, *mapper.Policy, error) {
	f, err := config.Check(path, configKinds()...)
	if err != nil {
		return nil, nil, err
	}
	var pol *mapper.Policy
	if f.Config != nil {
		c := *f.Config
		if _, err := time.LoadLocation(c.Lifecycle.Timezone); err != nil {
			// Reported already; compile the expressions all the same.
			c.Lifecycle.Timezone = "UTC"
		}
		pol, err = mapper.Compile(path, &c)
		if err != nil {
			addCompileProblems(f, path, err)
		}
		checkConsoleRoles(f, path, &c)
	}
	if err := f.Err(); err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f.Config, pol, nil
}

// celPosition is where CEL says an error is in an expression.
var celPosition = regexp.MustCompile(`ERROR: <input>:(\d+):(\d+): `)

// addCompileProblems adds each error of mapper.Compile ("FILE: PATH: "EXPR":
// ERROR…") to f as a problem at its path.
func addCompileProblems(f *config.File, file string, err error) {
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
