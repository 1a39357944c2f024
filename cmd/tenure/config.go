package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/console"
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
	cfg, _, _, err := loadConfig(*path)
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
// line, so that a broken structure does not hide a broken expression. raw
// is the file's text as read.
func loadConfig(path string) (cfg *config.Config, pol *mapper.Policy, raw []byte, err error) {
	raw, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	f, pol := checkConfig(path, raw)
	if err := f.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f.Config, pol, raw, nil
}

// checkConfig checks the text of a configuration file as `tenure config
// validate` does (the file named file): decoded, validated with every
// target kind's checks, its policy and the console's role expressions
// compiled. The problems are f's; pol is nil unless the policy compiled.
// The admin API checks a draft (POST /policy/impact) with it too.
func checkConfig(file string, raw []byte) (f *config.File, pol *mapper.Policy) {
	f = config.CheckBytes(raw, configKinds()...)
	pol = mapper.CheckCompile(f, file)
	console.CheckRoles(f, file)
	return f, pol
}
