package targettest

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
)

// MemoryKind is Memory as a target kind, whole in this package the way a
// real kind is in its own: a block (targets[].memory), its checks, its
// constructor and its reload rule. A test registers it with one line, as
// cmd registers the real kinds (cmd/tenure's kind_test.go); like Memory it
// is never registered in the production binary.
type MemoryKind struct{}

var (
	_ targets.Kind     = MemoryKind{}
	_ config.GroupKind = MemoryKind{}
)

// MemorySettings is the memory kind's block.
type MemorySettings struct {
	// NameAttribute names accounts ("name" when empty); KeyAttribute is
	// the correlation attribute ("" for none).
	NameAttribute string `yaml:"name_attribute"`
	KeyAttribute  string `yaml:"key_attribute"`
	// Collision is "fail" (the default) or "suffix".
	Collision string `yaml:"collision"`
	// Groups exist from the start.
	Groups []string `yaml:"groups"`
}

// Name is the kind's name.
func (MemoryKind) Name() string { return "memory" }

// NewSettings returns a new, empty memory block.
func (MemoryKind) NewSettings() any { return new(MemorySettings) }

// Check checks the block, the mappings the names need and the grants.
func (MemoryKind) Check(c *config.TargetCheck) {
	s := c.Target.Settings.(*MemorySettings)
	switch s.Collision {
	case "", "fail", "suffix":
	default:
		c.Add("memory.collision", "must be fail or suffix, got %q", s.Collision)
	}
	name := s.NameAttribute
	if name == "" {
		name = "name"
	}
	if _, ok := c.Target.Attributes[name]; !ok {
		c.Add("attributes", "no mapping for %s (the name attribute)", name)
	}
	for path, ents := range c.Grants() {
		for j, e := range ents {
			if _, err := (MemoryKind{}).GroupKey(c.Target, e); err != nil {
				c.AddAt(fmt.Sprintf("%s[%d]", path, j), "%v", err)
			}
		}
	}
}

// GroupKey: a group is named by its name; it must be one of the block's
// groups.
func (MemoryKind) GroupKey(t *config.Target, group string) (string, error) {
	s := t.Settings.(*MemorySettings)
	for _, g := range s.Groups {
		if g == group {
			return g, nil
		}
	}
	return "", fmt.Errorf("%q is not one of the target's memory.groups", group)
}

// New builds a Memory holding the block's groups.
func (MemoryKind) New(t config.Target, _ *slog.Logger, _ prometheus.Registerer) (targets.Target, error) {
	s := t.Settings.(*MemorySettings)
	m := &Memory{NameAttr: s.NameAttribute, KeyAttr: s.KeyAttribute, Collision: s.Collision}
	for _, g := range s.Groups {
		m.AddGroup(g)
	}
	return m, nil
}

// Rebuild: a Memory is built from the block alone.
func (MemoryKind) Rebuild(built, loaded *config.Target) string {
	return targets.BlockChanged(built, loaded)
}
