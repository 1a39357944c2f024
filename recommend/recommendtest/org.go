// Package recommendtest generates synthetic organisations for the
// recommend package's quality tests and benchmarks: people with position
// attributes, access planted by known rules, decoys that look like rules
// but are not, movers who kept their old access, and noise. The same seed
// gives the same organisation.
package recommendtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/recommend"
)

// Target is the one target the organisation's access lives on.
const Target = "directory"

// Options shape an organisation. Zero values take the defaults.
type Options struct {
	Seed   uint64
	People int // default 2,000
	// Entitlements in all (default 60): the planted and decoy ones, the
	// rest handed out only by noise.
	Entitlements int
	// Noise: each planted grant is missing with this probability, and
	// each person holds one random extra entitlement with it (default
	// 0.05; negative: none).
	Noise float64
	// Movers: the share of people who moved department and kept their
	// old department's entitlement (default 0.03).
	Movers float64
	// TitleApps planted rules per title, each granting one entitlement to
	// everyone with the title (default 0): people then hold more each,
	// as in a benchmark of a real organisation.
	TitleApps int
}

// Rule is a planted (or decoy) pattern: the people whose attributes have
// these values hold the entitlement.
type Rule struct {
	Group       map[string]string // attribute name → value; empty: everyone
	Entitlement string
}

// Key is a rule's identity for comparing with suggestions.
func (r Rule) Key() string { return key(r.Group, r.Entitlement) }

func key(group map[string]string, ent string) string {
	var parts []string
	for _, a := range slices.Sorted(maps.Keys(group)) {
		parts = append(parts, a+"="+group[a])
	}
	return strings.Join(parts, "&") + "→" + ent
}

// SuggestionKey is a suggestion's identity for comparing with rules.
func SuggestionKey(s recommend.Suggestion) string {
	g := map[string]string{}
	for _, c := range s.Group {
		g[c.Attribute] = c.Value
	}
	return key(g, s.Entitlement)
}

// Org is a generated organisation.
type Org struct {
	Input      *recommend.Input
	Attributes []recommend.Attribute
	// Rules are the planted rules; Decoys patterns that must not be
	// suggested (too few holders, too small a group).
	Rules, Decoys []Rule
	// Stray are the held entitlements no rule explains — noise and
	// movers' leftovers — keyed by OutlierKey: what outliers should find.
	Stray map[string]bool
}

// OutlierKey identifies a person's holding.
func OutlierKey(person, ent string) string { return person + "→" + ent }

// The organisation's shape: departments with their weights, each with
// three titles of its own; locations; employee types.
var (
	departments = []struct {
		name   string
		weight int
	}{
		{"Engineering", 30}, {"Sales", 18}, {"Support", 12}, {"Marketing", 8}, {"Finance", 6},
		{"People", 5}, {"Legal", 3}, {"Product", 8}, {"Operations", 6}, {"Design", 4},
	}
	levels    = []string{"Associate", "Specialist", "Lead"}
	locations = []string{"Berlin", "New York", "London", "Singapore", "Austin", "Remote"}
	// pairs are planted rules on two attributes.
	pairs = []Rule{
		{Group: map[string]string{"enterprise.department": "Engineering", "tenure.location": "Berlin"}, Entitlement: "berlin-lab"},
		{Group: map[string]string{"enterprise.department": "Sales", "tenure.location": "New York"}, Entitlement: "nyc-trading-floor"},
		{Group: map[string]string{"enterprise.department": "Support", "userType": "Contractor"}, Entitlement: "support-vendor-portal"},
	}
)

// Attributes are the position attributes the organisation varies.
var Attributes = []recommend.Attribute{{Name: "title"}, {Name: "userType"}, {Name: "enterprise.department"}, {Name: "tenure.location"}}

// Generate builds the organisation o describes.
func Generate(o Options) *Org {
	if o.People <= 0 {
		o.People = 2000
	}
	if o.Entitlements <= 0 {
		o.Entitlements = 60
	}
	switch {
	case o.Noise == 0:
		o.Noise = 0.05
	case o.Noise < 0:
		o.Noise = 0
	}
	if o.Movers == 0 {
		o.Movers = 0.03
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	org := &Org{Input: &recommend.Input{Targets: []string{Target}}, Attributes: Attributes, Stray: map[string]bool{}}

	org.Rules = append(org.Rules, Rule{Group: map[string]string{}, Entitlement: "staff"})
	for _, d := range departments {
		org.Rules = append(org.Rules, Rule{Group: map[string]string{"enterprise.department": d.name}, Entitlement: slug(d.name) + "-app"})
	}
	for _, l := range locations[:5] {
		org.Rules = append(org.Rules, Rule{Group: map[string]string{"tenure.location": l}, Entitlement: "site-" + slug(l)})
	}
	org.Rules = append(org.Rules, Rule{Group: map[string]string{"userType": "Contractor"}, Entitlement: "contractor-portal"})
	for _, d := range departments[:3] {
		org.Rules = append(org.Rules, Rule{Group: map[string]string{"title": d.name + " Lead"}, Entitlement: slug(d.name) + "-leads"})
	}
	org.Rules = append(org.Rules, pairs...)
	for _, d := range departments {
		for _, l := range levels {
			for k := range o.TitleApps {
				title := d.name + " " + l
				org.Rules = append(org.Rules, Rule{Group: map[string]string{"title": title}, Entitlement: fmt.Sprintf("%s-%d", slug(title), k)})
			}
		}
	}
	// Decoys: half of Marketing holds analytics, 60% of London a wiki,
	// and four people with a title of their own (a group too small) a
	// tool.
	partial := map[string]float64{"Marketing": 0.5}
	org.Decoys = []Rule{
		{Group: map[string]string{"enterprise.department": "Marketing"}, Entitlement: "marketing-analytics"},
		{Group: map[string]string{"tenure.location": "London"}, Entitlement: "london-wiki"},
		{Group: map[string]string{"title": "Chief of Staff"}, Entitlement: "board-portal"},
	}
	planted := map[string]bool{"staff": true, "marketing-analytics": true, "london-wiki": true, "board-portal": true}
	for _, r := range org.Rules {
		planted[r.Entitlement] = true
	}
	pool := slices.Sorted(maps.Keys(planted))
	for i := 0; len(pool) < o.Entitlements; i++ {
		pool = append(pool, fmt.Sprintf("app-%03d", i))
	}
	total := 0
	for _, d := range departments {
		total += d.weight
	}
	pickDept := func() int {
		n := rng.IntN(total)
		for i, d := range departments {
			if n < d.weight {
				return i
			}
			n -= d.weight
		}
		return 0
	}
	for p := range o.People {
		d := pickDept()
		title := departments[d].name + " " + levels[rng.IntN(len(levels))]
		if p < 4 {
			d, title = 1, "Chief of Staff"
		}
		loc := locations[rng.IntN(len(locations))]
		typ := "Employee"
		if rng.Float64() < 0.1 {
			typ = "Contractor"
		}
		attrs := map[string]string{"title": title, "userType": typ, "enterprise.department": departments[d].name, "tenure.location": loc}
		id := fmt.Sprintf("p%06d", p)
		var held []string
		ruled := map[string]bool{}
		for _, r := range org.Rules {
			if matches(r.Group, attrs) {
				ruled[r.Entitlement] = true
				if rng.Float64() >= o.Noise {
					held = append(held, r.Entitlement)
				}
			}
		}
		decoy := map[string]bool{}
		if share, ok := partial[departments[d].name]; ok && rng.Float64() < share {
			held = append(held, "marketing-analytics")
			decoy["marketing-analytics"] = true
		}
		if loc == "London" && rng.Float64() < 0.6 {
			held = append(held, "london-wiki")
			decoy["london-wiki"] = true
		}
		if title == "Chief of Staff" {
			// Four people are no peer group: nothing explains it, so
			// it is an outlier as much as noise is.
			held = append(held, "board-portal")
			org.Stray[OutlierKey(id, "board-portal")] = true
			decoy["board-portal"] = true
		}
		stray := func(e string) {
			if !ruled[e] && !decoy[e] && !slices.Contains(held, e) {
				held = append(held, e)
				org.Stray[OutlierKey(id, e)] = true
			}
		}
		var kept []recommend.Entitlement
		if rng.Float64() < o.Movers {
			old := departments[(d+1+rng.IntN(len(departments)-1))%len(departments)]
			e := slug(old.name) + "-app"
			kept = append(kept, recommend.Entitlement{Target: Target, Ref: e})
			stray(e)
		}
		if rng.Float64() < o.Noise {
			stray(pool[rng.IntN(len(pool))])
		}
		org.Input.People = append(org.Input.People, person(id, attrs, held, kept))
	}
	return org
}

func matches(group, attrs map[string]string) bool {
	for a, v := range group {
		if attrs[a] != v {
			return false
		}
	}
	return true
}

// person is a recommend.Person whose identity is a SCIM user with attrs.
func person(id string, attrs map[string]string, held []string, kept []recommend.Entitlement) recommend.Person {
	user := map[string]any{
		"id": id, "userName": id + "@example.com", "active": true,
		"title": attrs["title"], "userType": attrs["userType"],
		mapper.EnterpriseURN: map[string]any{"department": attrs["enterprise.department"]},
		mapper.TenureURN:     map[string]any{"location": attrs["tenure.location"]},
	}
	p := recommend.Person{ID: id, Name: id + "@example.com", Identity: &mapper.Identity{User: user}, Kept: kept}
	for _, e := range held {
		p.Held = append(p.Held, recommend.Entitlement{Target: Target, Ref: e})
	}
	return p
}

func slug(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "-") }

// Quality is how well a report recovers an organisation's planted rules
// and stray holdings.
type Quality struct {
	RulePrecision, RuleRecall       float64
	OutlierPrecision, OutlierRecall float64
	// Extra are suggestions no planted rule is; Missed planted rules no
	// suggestion is; Decoys decoys suggested.
	Extra, Missed, Decoys []string
}

// Score compares rep with what org planted.
func Score(org *Org, rep *recommend.Report) Quality {
	var q Quality
	want := map[string]bool{}
	for _, r := range org.Rules {
		want[r.Key()] = true
	}
	decoys := map[string]bool{}
	for _, r := range org.Decoys {
		decoys[r.Key()] = true
	}
	got := map[string]bool{}
	hits := 0
	for _, s := range rep.Suggestions {
		k := SuggestionKey(s)
		got[k] = true
		switch {
		case want[k]:
			hits++
		case decoys[k]:
			q.Decoys = append(q.Decoys, k)
			q.Extra = append(q.Extra, k)
		default:
			q.Extra = append(q.Extra, k)
		}
	}
	for _, r := range org.Rules {
		if !got[r.Key()] {
			q.Missed = append(q.Missed, r.Key())
		}
	}
	q.RulePrecision = ratio(hits, len(rep.Suggestions))
	q.RuleRecall = ratio(hits, len(org.Rules))
	found := 0
	for _, o := range rep.Outliers {
		if org.Stray[OutlierKey(o.Person, o.Entitlement)] {
			found++
		}
	}
	q.OutlierPrecision = ratio(found, len(rep.Outliers))
	q.OutlierRecall = ratio(found, len(org.Stray))
	return q
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
