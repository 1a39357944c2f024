package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
)

// targetKind builds a target of one kind from its config.
type targetKind func(cfg config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error)

// extraTargetKinds lets tests add kinds (a probe that records overlapping
// converges); the production binary registers none of them.
var extraTargetKinds map[string]targetKind

// targetKinds is the registry of target kinds by name; cmd owns it so no
// package registers itself. The LDAP and SCIM kinds arrive with their
// packages.
func targetKinds() map[string]targetKind {
	kinds := map[string]targetKind{}
	for k, v := range extraTargetKinds {
		kinds[k] = v
	}
	return kinds
}

// buildTargets constructs every configured target.
func buildTargets(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (map[string]targets.Target, error) {
	kinds := targetKinds()
	out := map[string]targets.Target{}
	for i, tc := range cfg.Targets {
		build, ok := kinds[tc.Kind]
		if !ok {
			return nil, fmt.Errorf("targets[%d] (%s): kind %q is not built into this binary", i, tc.Name, tc.Kind)
		}
		t, err := build(tc, log.With("component", "target", "target", tc.Name), reg)
		if err != nil {
			return nil, fmt.Errorf("targets[%d] (%s): %w", i, tc.Name, err)
		}
		out[tc.Name] = t
	}
	return out, nil
}
