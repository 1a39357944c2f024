package recommend

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
)

// suggestions turns the kept candidates into rules, with their numbers,
// their impact over the whole population and their YAML blocks, and
// proves every block with the policy compiler.
func suggestions(pop *population, in *Input, attrs []attr, groups []group, kept []candidate, popShare []float64, o Options) ([]Suggestion, error) {
	out := make([]Suggestion, 0, len(kept))
	names := map[string]int{}
	for _, k := range kept {
		g := &groups[k.g]
		ent := pop.ents[k.e]
		m := len(g.members)
		s := Suggestion{
			Target: ent.Target, Entitlement: in.name(ent), Ref: ent.Ref,
			Group: label(pop, attrs, g), When: when(pop, attrs, g),
			Members: m, Holders: int(k.c.has), Granted: int(k.c.granted),
			Confidence: round(float64(k.c.has) / float64(m)),
			Support:    round(float64(k.c.has) / float64(pop.n)),
			Covered:    int(k.c.granted) == m,
		}
		if share := popShare[k.e]; share > 0 {
			s.Lift = round(float64(k.c.has) / float64(m) / share)
		}
		// The group is exactly who the rule's when selects in the whole
		// population (TestWhenSelectsGroup holds the two equal), so
		// its members are the dry run.
		for _, p := range g.members {
			switch pop.flagOf(p, k.e) {
			case 0:
				s.Gain.add(in.People[p].Name, o.MaxListed)
			case flagHeld:
				s.Adopt.add(in.People[p].Name, o.MaxListed)
			}
		}
		s.Rule = ruleName(s, names)
		block, err := Block(s.Rule, s.When, s.Target, s.Entitlement)
		if err != nil {
			return nil, err
		}
		s.Block = block
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(strings.Compare(a.Target, b.Target), len(a.Group)-len(b.Group),
			-cmp.Compare(a.Members, b.Members), strings.Compare(a.Rule, b.Rule))
	})
	if err := Check(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (im *Impact) add(name string, max int) {
	im.Count++
	if len(im.People) < max {
		im.People = append(im.People, name)
	}
}

// ruleName is a readable, unique rule name: the group's values and the
// entitlement's name, slugged ("engineering-berlin-lab").
func ruleName(s Suggestion, used map[string]int) string {
	var parts []string
	for _, c := range s.Group {
		parts = append(parts, slug(c.Value))
	}
	if len(parts) == 0 {
		parts = append(parts, "everyone")
	}
	ent := s.Entitlement
	if i := strings.IndexByte(ent, ','); i > 0 && strings.Contains(ent[:i], "=") {
		ent = ent[strings.IndexByte(ent, '=')+1 : i] // a DN: its RDN value
	}
	parts = append(parts, slug(ent))
	name := strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), "-")
	used[name]++
	if n := used[name]; n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// blockRule is a birthright rule as a config file holds it.
type blockRule struct {
	Name   string              `yaml:"name"`
	When   string              `yaml:"when"`
	Grants map[string][]string `yaml:"grants"`
}

// Block is the birthright list item granting entitlement on target to the
// people when selects, as YAML to paste under `birthright:`.
func Block(name, when, target, entitlement string) (string, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	err := enc.Encode([]blockRule{{Name: name, When: when, Grants: map[string][]string{target: {entitlement}}}})
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("recommend: rule %s: %w", name, err)
	}
	return b.String(), nil
}

// Check decodes every suggestion's block as the configuration does and
// compiles the rules with the policy compiler, so that a block that would
// not load is an error here, never a surprise after pasting.
func Check(ss []Suggestion) error {
	var rules []config.Rule
	for _, s := range ss {
		var rs []config.Rule
		dec := yaml.NewDecoder(strings.NewReader(s.Block))
		dec.KnownFields(true)
		if err := dec.Decode(&rs); err != nil {
			return fmt.Errorf("recommend: rule %s: block: %w", s.Rule, err)
		}
		rules = append(rules, rs...)
	}
	if _, err := mapper.Compile("recommendations", &config.Config{Birthright: rules}); err != nil {
		return fmt.Errorf("recommend: a suggested rule does not compile: %w", err)
	}
	return nil
}
