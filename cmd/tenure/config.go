package main

import (
	"flag"
	"fmt"
	"io"

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
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if _, err := mapper.Compile(*path, cfg); err != nil {
		return err
	}
	kinds := targetKinds()
	for i, t := range cfg.Targets {
		if _, ok := kinds[t.Kind]; !ok {
			return fmt.Errorf("%s: targets[%d].kind: %q is not built into this binary", *path, i, t.Kind)
		}
	}
	fmt.Fprintf(stdout, "%s: ok (store %s, %d source(s), %d target(s), %d birthright rule(s))\n",
		*path, cfg.Store.Kind, len(cfg.Sources), len(cfg.Targets), len(cfg.Birthright))
	return nil
}
