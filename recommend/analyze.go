package recommend

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Flags of a person's entitlement: held on the target, granted by policy.
const (
	flagHeld    uint8 = 1
	flagGranted uint8 = 2
)

// population is the input in the form the counting needs: entitlements
// and attribute values as small integers, each person's entitlements as
// one sorted run of a flat slice (no per-person allocations: 100,000
// people are a few megabytes).
type population struct {
	n     int
	ents  []Entitlement
	off   []int32 // person p's entitlements are has[off[p]:off[p+1]]
	has   []int32
	flags []uint8
	// vals[a][p] is person p's value of attribute a (an index into
	// dict[a]; 0: none).
	vals [][]uint32
	dict [][]value
}

func (pop *population) entsOf(p int32) ([]int32, []uint8) {
	lo, hi := pop.off[p], pop.off[p+1]
	return pop.has[lo:hi], pop.flags[lo:hi]
}

// group is a peer group: everyone (no conditions), one attribute value,
// or two.
type group struct {
	conds   []cond
	members []int32
	rank    int // everyone 0, single 1, pair 2: the more general first
	// within[a] is the value every member has for attribute a (0: not
	// one value): the group lies inside that single-value group.
	within []uint32
}

type cond struct {
	attr int
	val  uint32
}

// counts are a group's tallies for one entitlement.
type counts struct {
	has, granted, adopt int32 // holds or is granted; is granted; holds, not granted
}

type candidate struct {
	g int
	e int32
	c counts
}

// Analyze computes the suggestions and outliers of in under o. It is pure
// and deterministic; ctx is checked between groups.
func Analyze(ctx context.Context, in *Input, o Options, now time.Time) (*Report, error) {
	o = o.withDefaults()
	if len(o.Attributes) == 0 {
		return nil, fmt.Errorf("%w: no attributes to group people by", ErrInvalid)
	}
	attrs, err := compileAttributes(o.Attributes)
	if err != nil {
		return nil, err
	}
	pop, err := build(in, attrs, o, now)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		At: now.UTC(), People: pop.n, Targets: reportTargets(in, o), Options: o,
		Entitlements: len(pop.ents), Unlinked: in.Unlinked,
		Suggestions: []Suggestion{}, Outliers: []Outlier{},
	}
	if pop.n == 0 {
		return rep, nil // nobody: no groups, nothing to suggest
	}
	groups := peerGroups(pop, len(attrs), o)
	rep.Groups = len(groups)
	cands, expl, popShare, err := tally(ctx, pop, groups, o)
	if err != nil {
		return nil, err
	}
	kept := general(cands, groups)
	if rep.Suggestions, err = suggestions(pop, in, attrs, groups, kept, popShare, o); err != nil {
		return nil, err
	}
	if o.OutlierShare > 0 {
		rep.Outliers = outliers(pop, in, attrs, groups, expl)
	}
	return rep, nil
}

func reportTargets(in *Input, o Options) []string {
	if len(o.Targets) == 0 {
		return slices.Clone(in.Targets)
	}
	return slices.DeleteFunc(slices.Clone(in.Targets), func(t string) bool { return !slices.Contains(o.Targets, t) })
}

// build indexes the people's entitlements (of the targets asked for) and
// evaluates every attribute for every person.
func build(in *Input, attrs []attr, o Options, now time.Time) (*population, error) {
	pop := &population{n: len(in.People), off: make([]int32, 1, len(in.People)+1)}
	index := map[Entitlement]int32{}
	id := func(e Entitlement) (int32, bool) {
		if len(o.Targets) > 0 && !slices.Contains(o.Targets, e.Target) {
			return 0, false
		}
		i, ok := index[e]
		if !ok {
			i = int32(len(pop.ents))
			index[e] = i
			pop.ents = append(pop.ents, e)
		}
		return i, true
	}
	pop.vals = make([][]uint32, len(attrs))
	pop.dict = make([][]value, len(attrs))
	lookup := make([]map[string]uint32, len(attrs))
	for a := range attrs {
		pop.vals[a] = make([]uint32, pop.n)
		pop.dict[a] = []value{{}}
		lookup[a] = map[string]uint32{}
	}
	type mark struct {
		e int32
		f uint8
	}
	var row []mark
	for p := range in.People {
		per := &in.People[p]
		row = row[:0]
		for _, e := range per.Held {
			if i, ok := id(e); ok {
				row = append(row, mark{i, flagHeld})
			}
		}
		for _, e := range per.Granted {
			if i, ok := id(e); ok {
				row = append(row, mark{i, flagGranted})
			}
		}
		slices.SortFunc(row, func(a, b mark) int { return cmp.Compare(a.e, b.e) })
		for i, m := range row {
			if i > 0 && row[i-1].e == m.e {
				pop.flags[len(pop.flags)-1] |= m.f
				continue
			}
			pop.has = append(pop.has, m.e)
			pop.flags = append(pop.flags, m.f)
		}
		pop.off = append(pop.off, int32(len(pop.has)))
		if per.Identity == nil {
			continue
		}
		vars := per.Identity.Vars(per.Record, now)
		for a := range attrs {
			v, ok, err := attrs[a].evalValue(vars)
			if err != nil {
				return nil, fmt.Errorf("recommend: person %s: attribute %s: %w", per.ID, attrs[a].name, err)
			}
			if !ok {
				continue
			}
			k, seen := lookup[a][v.literal]
			if !seen {
				k = uint32(len(pop.dict[a]))
				lookup[a][v.literal] = k
				pop.dict[a] = append(pop.dict[a], v)
			}
			pop.vals[a][p] = k
		}
	}
	return pop, nil
}

// peerGroups lists everyone, every attribute value, and (unless NoPairs)
// every pair of values of two attributes, each with at least MinGroupSize
// members. A pair is formed only from values whose own groups are large
// enough, so the pairs are bounded by people × attribute pairs however
// many values there are.
func peerGroups(pop *population, nattr int, o Options) []group {
	all := make([]int32, pop.n)
	for p := range all {
		all[p] = int32(p)
	}
	groups := []group{{members: all}}
	size := make([][]int32, nattr)
	for a := range nattr {
		size[a] = make([]int32, len(pop.dict[a]))
		for _, v := range pop.vals[a] {
			size[a][v]++
		}
		byVal := make([][]int32, len(pop.dict[a]))
		for p, v := range pop.vals[a] {
			if v != 0 && int(size[a][v]) >= o.MinGroupSize {
				byVal[v] = append(byVal[v], int32(p))
			}
		}
		for v, ms := range byVal {
			if len(ms) > 0 {
				groups = append(groups, group{conds: []cond{{a, uint32(v)}}, members: ms, rank: 1})
			}
		}
	}
	if !o.NoPairs {
		for a := range nattr {
			for b := a + 1; b < nattr; b++ {
				idx := map[uint64]int{}
				var pairs []group
				for p := range pop.n {
					va, vb := pop.vals[a][p], pop.vals[b][p]
					if va == 0 || vb == 0 || int(size[a][va]) < o.MinGroupSize || int(size[b][vb]) < o.MinGroupSize {
						continue
					}
					k := uint64(va)<<32 | uint64(vb)
					i, ok := idx[k]
					if !ok {
						i = len(pairs)
						idx[k] = i
						pairs = append(pairs, group{conds: []cond{{a, va}, {b, vb}}, rank: 2})
					}
					pairs[i].members = append(pairs[i].members, int32(p))
				}
				for _, g := range pairs {
					if len(g.members) >= o.MinGroupSize {
						groups = append(groups, g)
					}
				}
			}
		}
	}
	for i := range groups {
		groups[i].within = within(pop, nattr, groups[i].members)
	}
	return groups
}

// within is, per attribute, the value all of members share (0: none).
func within(pop *population, nattr int, members []int32) []uint32 {
	out := make([]uint32, nattr)
	for a := range nattr {
		vs := pop.vals[a]
		v := vs[members[0]]
		for _, p := range members[1:] {
			if vs[p] != v {
				v = 0
				break
			}
		}
		out[a] = v
	}
	return out
}

// explanation is, for one held entitlement of one person that the policy
// does not grant, the best peer group found for it.
type explanation struct {
	share     float32
	group     int32
	explained bool
}

// tally counts, group by group, who holds and who is granted each
// entitlement; it returns the candidate rules (enough members hold it) and
// for each person's held-not-granted entitlement (parallel to pop.has)
// whether a peer group explains it.
// It also returns each entitlement's share of the whole population.
func tally(ctx context.Context, pop *population, groups []group, o Options) ([]candidate, []explanation, []float64, error) {
	ne := len(pop.ents)
	c := make([]counts, ne)
	var touched []int32
	popShare := make([]float64, ne)
	expl := make([]explanation, len(pop.has))
	for i := range expl {
		expl[i].group = -1
	}
	var cands []candidate
	// wide are the counts of everyone and the single-value groups (which
	// come first), the wider groups a group is tested against.
	nwide := slices.IndexFunc(groups, func(g group) bool { return g.rank > 1 })
	if nwide < 0 {
		nwide = len(groups)
	}
	wide := make([]int32, nwide*ne)
	single := map[cond]int{}
	for gi, g := range groups[:nwide] {
		if g.rank == 1 {
			single[g.conds[0]] = gi
		}
	}
	for gi := range groups {
		if gi%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, nil, err
			}
		}
		g := &groups[gi]
		touched = touched[:0]
		for _, p := range g.members {
			es, fs := pop.entsOf(p)
			for i, e := range es {
				if c[e] == (counts{}) {
					touched = append(touched, e)
				}
				c[e].has++
				if fs[i]&flagGranted != 0 {
					c[e].granted++
				} else {
					c[e].adopt++
				}
			}
		}
		m := len(g.members)
		if gi == 0 {
			for _, e := range touched {
				popShare[e] = float64(c[e].has) / float64(m)
			}
		}
		if g.rank <= 1 {
			for _, e := range touched {
				wide[gi*ne+int(e)] = c[e].has
			}
		}
		parents := parentsOf(g, single)
		for _, e := range touched {
			ce := c[e]
			conf := float64(ce.has) / float64(m)
			if int(ce.has) < o.MinSupport || conf < o.MinConfidence || (int(ce.granted) == m && !o.IncludeGranted) {
				continue
			}
			if !slices.ContainsFunc(parents, func(pi int) bool {
				return !evident(int(ce.has), m, float64(wide[pi*ne+int(e)])/float64(len(groups[pi].members)), o.Significance)
			}) {
				cands = append(cands, candidate{g: gi, e: e, c: ce})
			}
		}
		if o.OutlierShare > 0 && m > 1 {
			for _, p := range g.members {
				lo := pop.off[p]
				es, fs := pop.entsOf(p)
				for i, e := range es {
					if fs[i] != flagHeld {
						continue
					}
					x := &expl[int(lo)+i]
					share := float64(c[e].has-1) / float64(m-1)
					if share >= o.MinConfidence || share >= o.OutlierShare && share >= 2*popShare[e] {
						x.explained = true
					}
					if x.group < 0 || float32(share) > x.share {
						x.share, x.group = float32(share), int32(gi)
					}
				}
			}
		}
		for _, e := range touched {
			c[e] = counts{}
		}
	}
	return cands, expl, popShare, nil
}

// parentsOf lists the wider groups g lies inside: everyone and each
// single-value group holding all of g's members, g itself excepted.
func parentsOf(g *group, single map[cond]int) []int {
	if g.rank == 0 {
		return nil
	}
	out := []int{0}
	for a, v := range g.within {
		if v == 0 || g.rank == 1 && g.conds[0] == (cond{a, v}) {
			continue
		}
		if pi, ok := single[cond{a, v}]; ok {
			out = append(out, pi)
		}
	}
	return out
}

// evident reports whether k holders among n are evidence that the group
// holds more than a wider group's share p0: the chance of that many
// holders in a random draw from the wider group is below chance. By the
// Chernoff bound, P(X ≥ k) ≤ exp(−n·KL(k/n ‖ p0)) for X binomial(n, p0),
// so the test errs towards no rule. Without it, small groups inside a
// group where half hold something (5 of 6, by chance) would make rules.
func evident(k, n int, p0, chance float64) bool {
	q := float64(k) / float64(n)
	if q <= p0 {
		return false
	}
	if p0 <= 0 {
		return true
	}
	kl := q * math.Log(q/p0)
	if q < 1 {
		kl += (1 - q) * math.Log((1-q)/(1-p0))
	}
	return float64(n)*kl >= -math.Log(chance)
}

// general keeps, of the candidates for one entitlement, the most general:
// a candidate whose group lies inside another candidate's group (or is the
// same people, described with more conditions or a later attribute) says
// nothing the other does not.
func general(cands []candidate, groups []group) []candidate {
	slices.SortStableFunc(cands, func(a, b candidate) int {
		ga, gb := &groups[a.g], &groups[b.g]
		return cmp.Or(cmp.Compare(a.e, b.e), -cmp.Compare(len(ga.members), len(gb.members)),
			cmp.Compare(ga.rank, gb.rank), cmp.Compare(a.g, b.g))
	})
	var kept []candidate
	start := 0
	for i, c := range cands {
		if i > 0 && cands[i-1].e != c.e {
			start = len(kept)
		}
		h := &groups[c.g]
		if !slices.ContainsFunc(kept[start:], func(k candidate) bool { return inside(h, &groups[k.g]) }) {
			kept = append(kept, c)
		}
	}
	return kept
}

// inside reports whether every member of h is a member of g (g comes
// first in general's order, so equal groups keep g).
func inside(h, g *group) bool {
	for _, c := range g.conds {
		if h.within[c.attr] != c.val {
			return false
		}
	}
	return true
}

// label describes g's conditions.
func label(pop *population, attrs []attr, g *group) []Condition {
	out := make([]Condition, 0, len(g.conds))
	for _, c := range g.conds {
		out = append(out, Condition{Attribute: attrs[c.attr].name, Value: pop.dict[c.attr][c.val].display})
	}
	return out
}

// when is g's selection as a CEL expression.
func when(pop *population, attrs []attr, g *group) string {
	if len(g.conds) == 0 {
		return "true"
	}
	parts := make([]string, len(g.conds))
	for i, c := range g.conds {
		parts[i] = attrs[c.attr].condition(pop.dict[c.attr][c.val].literal)
	}
	return strings.Join(parts, " && ")
}

// flagOf is person p's flags for entitlement e (0: neither).
func (pop *population) flagOf(p int32, e int32) uint8 {
	es, fs := pop.entsOf(p)
	if i, ok := slices.BinarySearch(es, e); ok {
		return fs[i]
	}
	return 0
}

// outliers lists each person's held, not granted entitlements that no
// peer group explains.
func outliers(pop *population, in *Input, attrs []attr, groups []group, expl []explanation) []Outlier {
	out := []Outlier{}
	for p := range pop.n {
		per := &in.People[p]
		lo := pop.off[p]
		es, fs := pop.entsOf(int32(p))
		for i, e := range es {
			x := expl[int(lo)+i]
			if fs[i] != flagHeld || x.explained {
				continue
			}
			ent := pop.ents[e]
			o := Outlier{
				Person: per.ID, Name: per.Name, Target: ent.Target, Entitlement: in.name(ent), Ref: ent.Ref,
				Moved: slices.Contains(per.Kept, ent), Peers: []Condition{},
			}
			if x.group >= 0 {
				o.PeerShare = round(float64(x.share))
				o.Peers = label(pop, attrs, &groups[x.group])
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Outlier) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Person, b.Person),
			strings.Compare(a.Target, b.Target), strings.Compare(a.Entitlement, b.Entitlement))
	})
	return out
}

// name is how a rule grants ent.
func (in *Input) name(ent Entitlement) string {
	if n, ok := in.Names[ent]; ok && n != "" {
		return n
	}
	return ent.Ref
}

// round keeps three decimals: the reports' figures, stable across runs.
func round(f float64) float64 {
	return float64(int64(f*1000+0.5)) / 1000
}
