package config

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kind is what config needs of a target kind to check a target of that
// kind: the type of the kind's own block (targets[].<name>) and the checks
// of it. The kinds are not config's: each lives in its own package
// (ldapsync, targets/scimclient), and cmd passes its registry to Check, so
// config knows only the shape every target shares. targets.Kind adds how
// to build the target.
type Kind interface {
	// Name is the kind's name: what targets[].kind says, and the key of
	// the kind's block.
	Name() string
	// NewSettings returns a pointer to a new zero value of the kind's block
	// type, into which config decodes targets[].<name> strictly (an unknown
	// key, a value of the wrong type, a secret written in the file are
	// problems with their key and line); nil for a kind that takes no
	// block. The type's fields use yaml tags, durations and config.Secret
	// the way the rest of the file does.
	NewSettings() any
	// Check fills in the defaults of one target's block (t.Target.Settings)
	// and reports every problem with it, and with whatever else of the
	// policy is in the kind's terms (attribute names, containers, the
	// entitlements rules grant on the target), each with its key path,
	// through t. It resolves the block's secrets.
	Check(t *TargetCheck)
}

// GroupKind is a Kind whose targets may hold groups exclusively
// (targets[].exclusive_groups): the drift pass removes the members no grant
// explains.
type GroupKind interface {
	Kind
	// GroupKey returns the comparable form of group, named as grants on t
	// name it: equal for two names of one group. The error says, in the
	// file's terms, why group names no group.
	GroupKey(t *Target, group string) (string, error)
}

// TargetCheck is one target as its kind's Check sees it, and where to
// report what is wrong with it.
type TargetCheck struct {
	// Config is the whole configuration, defaulted. Check reads it (rules
	// grant on targets by name) and changes nothing but Target.Settings.
	Config *Config
	// Target is the target checked. Its Settings hold the block decoded
	// into the kind's type (Check is not called for a target whose block
	// is missing or is not keys: that is reported already).
	Target *Target
	// Path is the target's key path, targets[i].
	Path string

	add addFunc
}

// Add reports a problem at key, a path under the target: "ldap.url",
// "attributes.cn", "leaver.move_to".
func (c *TargetCheck) Add(key, format string, args ...any) {
	c.add(c.Path+"."+key, format, args...)
}

// AddAt reports a problem at path, a whole key path outside the target
// (a grant on it: birthright[0].grants.app[1]).
func (c *TargetCheck) AddAt(path, format string, args ...any) { c.add(path, format, args...) }

// Resolve reads secret s of the block, reporting at key (under the target)
// why it cannot be read.
func (c *TargetCheck) Resolve(key string, s *Secret) {
	if err := s.resolve(); err != nil {
		c.Add(key, "%v", err)
	}
}

// Grants yields each birthright rule's grants on the target, with its key
// path (birthright[i].grants.<target>).
func (c *TargetCheck) Grants() iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		for i, r := range c.Config.Birthright {
			if ents, ok := r.Grants[c.Target.Name]; ok {
				if !yield(fmt.Sprintf("birthright[%d].grants.%s", i, c.Target.Name), ents) {
					return
				}
			}
		}
	}
}

// kindSet is the kinds Check was given, by name; nil when it was given
// none, and then targets' blocks are kept unchecked.
type kindSet map[string]Kind

func newKindSet(kinds []Kind) kindSet {
	if len(kinds) == 0 {
		return nil
	}
	s := kindSet{}
	for _, k := range kinds {
		s[k.Name()] = k
	}
	return s
}

// names lists the kinds, sorted, joined with sep.
func (s kindSet) names(sep string, keep func(Kind) bool) string {
	var n []string
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if keep == nil || keep(s[name]) {
			n = append(n, name)
		}
	}
	return strings.Join(n, sep)
}

// blockKey says what a key of target i that is not one every target has
// is: the target's kind's block (ok), or a problem.
func (s kindSet) blockKey(kind, key string) (problem string, ok bool) {
	if s == nil {
		return "", key == kind
	}
	if k := s[key]; k != nil && k.NewSettings() != nil {
		if key == kind {
			return "", true
		}
		return "only for kind " + key, false
	}
	if key == kind && s[kind] == nil {
		return "", true // the unknown kind is the problem, reported at kind
	}
	return "", false
}

// decodeSettings decodes each target's block into its kind's type.
// Problems in the block are the walk's to report, with their lines; what
// the decoder refuses beyond them is a safety net, as for the whole file.
func (f *File) decodeSettings(c *Config) {
	for i := range c.Targets {
		t := &c.Targets[i]
		k := c.kinds[t.Kind]
		if k == nil {
			continue
		}
		n, ok := t.Blocks[t.Kind]
		s := k.NewSettings()
		if !ok || s == nil || n.Kind != yaml.MappingNode {
			continue
		}
		if err := n.Decode(s); err != nil {
			f.decodeLeftovers(err)
		}
		t.Settings = s
	}
}

// checkTargetKinds checks what every target's kind says of it: that the
// kind is known, that its block is there, and the kind's own checks.
func (c *Config) checkTargetKinds(add addFunc) {
	if c.kinds == nil {
		return
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		k := c.kinds[t.Kind]
		if k == nil {
			if t.Kind != "" {
				add(path+".kind", "%q is not a kind this binary knows; want %s", t.Kind, c.kinds.names(" or ", nil))
			}
			continue
		}
		if k.NewSettings() != nil && t.Settings == nil {
			if _, set := t.Blocks[t.Kind]; !set {
				add(path+"."+t.Kind, "required for kind %s", t.Kind)
			}
			continue // a block that is not keys is reported by the walk
		}
		k.Check(&TargetCheck{Config: c, Target: t, Path: path, add: add})
	}
}

type addFunc = func(path, format string, args ...any)
