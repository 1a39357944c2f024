package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tenurehq/tenure/config"
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
	fmt.Fprintf(stdout, "%s: ok (store %s, %d source(s))\n", *path, cfg.Store.Kind, len(cfg.Sources))
	return nil
}
