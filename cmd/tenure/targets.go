package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient"
)

// targetKinds is the registry of target kinds, one line each; cmd owns it
// so no package registers itself. Everything else about a kind is in its
// package (see docs/architecture.md, "Adding a target kind").
func targetKinds() []targets.Kind {
	kinds := []targets.Kind{
		ldapsync.Kind{},
		scimclient.Kind{},
	}
	kinds = append(kinds, testKinds...)
	for name, build := range extraTargetKinds {
		kinds = append(kinds, funcKind{name: name, build: build})
	}
	return kinds
}

// The ldap kind's directories list and prune the members of exclusive
// groups.
var _ engine.GroupLister = (*ldapsync.Directory)(nil)

// targetKind builds a target of a kind without settings of its own.
type targetKind func(cfg config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error)

// extraTargetKinds lets tests add kinds without a block (a probe that
// records overlapping converges); the production binary registers none of
// them.
var extraTargetKinds map[string]targetKind

// testKinds lets tests register whole kinds (targettest.MemoryKind), the
// way the production kinds are registered above.
var testKinds []targets.Kind

// funcKind is a kind without a block, built by a function.
type funcKind struct {
	name  string
	build targetKind
}

func (k funcKind) Name() string                     { return k.name }
func (funcKind) NewSettings() any                   { return nil }
func (funcKind) Check(*config.TargetCheck)          {}
func (funcKind) Rebuild(_, _ *config.Target) string { return "" }
func (k funcKind) New(t config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error) {
	return k.build(t, log, reg)
}

// configKinds is the kinds as config.Check takes them.
func configKinds() []config.Kind {
	var out []config.Kind
	for _, k := range targetKinds() {
		out = append(out, k)
	}
	return out
}

// kindsByName is the registry by kind name.
func kindsByName() map[string]targets.Kind {
	out := map[string]targets.Kind{}
	for _, k := range targetKinds() {
		out[k.Name()] = k
	}
	return out
}

// buildTargets constructs every configured target. On error the targets
// already built are closed.
func buildTargets(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (map[string]targets.Target, error) {
	kinds := kindsByName()
	out := map[string]targets.Target{}
	for i, tc := range cfg.Targets {
		kind, ok := kinds[tc.Kind]
		if !ok {
			closeTargets(out, log)
			return nil, fmt.Errorf("targets[%d] (%s): kind %q is not built into this binary", i, tc.Name, tc.Kind)
		}
		t, err := kind.New(tc, log.With("component", "target", "target", tc.Name), reg)
		if err != nil {
			closeTargets(out, log)
			return nil, fmt.Errorf("targets[%d] (%s): %w", i, tc.Name, err)
		}
		out[tc.Name] = t
	}
	return out, nil
}

// rebuildNeeded says, for each target of loaded, why the targets built
// from started cannot serve it: a new target, a changed kind, or what the
// kind says (a changed connection block). Targets are built at start;
// silently keeping the old connection would look like a reload that
// worked.
func rebuildNeeded(started, loaded *config.Config) []string {
	built := map[string]*config.Target{}
	for i := range started.Targets {
		built[started.Targets[i].Name] = &started.Targets[i]
	}
	kinds := kindsByName()
	var problems []string
	for i := range loaded.Targets {
		t := &loaded.Targets[i]
		why := ""
		switch old, ok := built[t.Name]; {
		case !ok:
			why = "a new target needs a restart"
		case old.Kind != t.Kind:
			why = fmt.Sprintf("kind changed from %q to %q, which needs a restart", old.Kind, t.Kind)
		case kinds[t.Kind] != nil:
			if w := kinds[t.Kind].Rebuild(old, t); w != "" {
				why = w + ", which needs a restart"
			}
		}
		if why != "" {
			problems = append(problems, fmt.Sprintf("targets[%d] (%s): %s", i, t.Name, why))
		}
	}
	return problems
}

// closeTargets closes the targets that hold resources, logging failures:
// at shutdown there is nobody left to return them to.
func closeTargets(ts map[string]targets.Target, log *slog.Logger) {
	for name, t := range ts {
		if c, ok := t.(io.Closer); ok {
			if err := c.Close(); err != nil {
				log.Error("close target", "target", name, "err", err)
			}
		}
	}
}
