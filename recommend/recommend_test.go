package recommend_test

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/recommend"
	"github.com/tenurehq/tenure/recommend/recommendtest"
)

func TestPathExpr(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"title", "user.title"},
		{"name.familyName", "user.name.familyName"},
		{"enterprise.department", "enterprise.department"},
		{"enterprise.manager", "manager"},
		{"tenure.location", "tenure.location"},
		{"urn:ietf:params:scim:schemas:extension:acme:2.0:User:grade", `user["urn:ietf:params:scim:schemas:extension:acme:2.0:User"].grade`},
		{"x-y", `user["x-y"]`},
	} {
		got, err := recommend.PathExpr(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("PathExpr(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
		if _, err := mapper.CompileValue("x", got); err != nil {
			t.Errorf("%q does not compile: %v", got, err)
		}
	}
	for _, bad := range []string{"a..b", "urn:x:"} {
		if got, err := recommend.PathExpr(bad); err == nil {
			t.Errorf("PathExpr(%q) = %q, want an error", bad, got)
		}
	}
}

// TestAttributesCheckedAtLoad: a broken or mistyped expression is refused
// before anything is read, each named.
func TestAttributesCheckedAtLoad(t *testing.T) {
	in := &recommend.Input{}
	for _, tc := range []struct {
		attrs []recommend.Attribute
		want  string
	}{
		{[]recommend.Attribute{{Name: "t", Expr: "user.title +"}}, "Syntax error"},
		{[]recommend.Attribute{{Name: "t", Expr: "{'a': 1}"}}, "result type"},
		{[]recommend.Attribute{{Name: "t", Expr: "nosuchvar"}}, "undeclared reference"},
		{[]recommend.Attribute{{Name: "title"}, {Name: "title"}}, "twice"},
		{[]recommend.Attribute{{Expr: "user.title"}}, "no name"},
	} {
		_, err := recommend.Analyze(context.Background(), in, recommend.Options{Attributes: tc.attrs}, at)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.attrs, err, tc.want)
		}
	}
}

// TestWhenSelectsGroup: every suggestion's block loads as configuration,
// compiles with the policy compiler, and its when selects in the whole
// population exactly the group the numbers are about, so the gain is the
// dry run of the rule.
func TestWhenSelectsGroup(t *testing.T) {
	org := recommendtest.Generate(recommendtest.Options{Seed: 7, People: 1500})
	attrs := append(org.Attributes, recommend.Attribute{Name: "level", Expr: `user.title.split(" ").last().orValue("")`})
	rep, err := recommend.Analyze(context.Background(), org.Input, recommend.Options{Attributes: attrs}, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Suggestions) == 0 {
		t.Fatal("no suggestions")
	}
	var file strings.Builder
	file.WriteString("birthright:\n")
	for _, s := range rep.Suggestions {
		for _, l := range strings.SplitAfter(strings.TrimRight(s.Block, "\n"), "\n") {
			file.WriteString("  " + l)
		}
		file.WriteString("\n")
	}
	var cfg config.Config
	if err := yaml.Unmarshal([]byte(file.String()), &cfg); err != nil {
		t.Fatalf("pasted blocks: %v\n%s", err, file.String())
	}
	pol, err := mapper.Compile("pasted.yaml", &cfg)
	if err != nil {
		t.Fatalf("pasted blocks do not compile: %v\n%s", err, file.String())
	}
	if len(pol.Rules) != len(rep.Suggestions) {
		t.Fatalf("%d rules from %d suggestions", len(pol.Rules), len(rep.Suggestions))
	}
	for i, s := range rep.Suggestions {
		r := pol.Rules[i]
		if r.Name != s.Rule || r.When.Text != s.When || strings.Join(r.Grants[s.Target], ",") != s.Entitlement {
			t.Errorf("rule %d: %s %q %v, suggestion %s %q %s", i, r.Name, r.When.Text, r.Grants, s.Rule, s.When, s.Entitlement)
		}
		selected, gain := 0, 0
		for _, p := range org.Input.People {
			ok, err := r.When.Bool(p.Identity.Vars(nil, at))
			if err != nil {
				t.Fatalf("%s: %v", s.Rule, err)
			}
			if !ok {
				continue
			}
			selected++
			held := false
			for _, e := range p.Held {
				held = held || e.Target == s.Target && e.Ref == s.Ref
			}
			if !held {
				gain++
			}
		}
		if selected != s.Members || gain != s.Gain.Count || s.Holders+s.Gain.Count != s.Members {
			t.Errorf("%s (%s): selects %d, gains %d; suggestion says members %d, holders %d, gain %d",
				s.Rule, s.When, selected, gain, s.Members, s.Holders, s.Gain.Count)
		}
	}
}

// TestPolicyAlreadyGrants: a rule the policy has is not suggested again
// (IncludeGranted lists it, covered); access the policy grants is never
// an outlier.
func TestPolicyAlreadyGrants(t *testing.T) {
	org := recommendtest.Generate(recommendtest.Options{Seed: 8})
	eng := recommend.Entitlement{Target: recommendtest.Target, Ref: "engineering-app"}
	for i, p := range org.Input.People {
		if p.Identity.User[mapper.EnterpriseURN].(map[string]any)["department"] == "Engineering" {
			org.Input.People[i].Granted = append(org.Input.People[i].Granted, eng)
		}
	}
	find := func(rep *recommend.Report) *recommend.Suggestion {
		for i, s := range rep.Suggestions {
			if s.Ref == eng.Ref {
				return &rep.Suggestions[i]
			}
		}
		return nil
	}
	for _, tc := range []struct {
		include bool
		want    bool
	}{{false, false}, {true, true}} {
		rep, err := recommend.Analyze(context.Background(), org.Input, recommend.Options{Attributes: org.Attributes, IncludeGranted: tc.include}, at)
		if err != nil {
			t.Fatal(err)
		}
		s := find(rep)
		if (s != nil) != tc.want || s != nil && (!s.Covered || s.Gain.Count != 0 || s.Adopt.Count != 0) {
			t.Errorf("IncludeGranted %v: suggestion %+v", tc.include, s)
		}
		if len(rep.Suggestions) != 22+btoi(tc.include) {
			t.Errorf("IncludeGranted %v: %d suggestions, want %d", tc.include, len(rep.Suggestions), 22+btoi(tc.include))
		}
		for _, o := range rep.Outliers {
			if o.Ref == eng.Ref && o.Peers[0].Value == "Engineering" {
				t.Errorf("granted access flagged: %+v", o)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOutlierMoved: a mover's leftover is an outlier marked as such,
// with the peer group that came closest to explaining it.
func TestOutlierMoved(t *testing.T) {
	org := recommendtest.Generate(recommendtest.Options{Seed: 9, Noise: -1, Movers: 0.02})
	rep, err := recommend.Analyze(context.Background(), org.Input, recommend.Options{Attributes: org.Attributes}, at)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, o := range rep.Outliers {
		if o.Moved {
			moved++
		}
		if o.PeerShare >= recommend.DefaultMinConfidence || o.Peers == nil {
			t.Errorf("outlier with an explaining group: %+v", o)
		}
	}
	if moved == 0 || moved < len(rep.Outliers)-4 { // the four Chiefs of Staff's board-portal
		t.Errorf("%d of %d outliers moved: %+v", moved, len(rep.Outliers), rep.Outliers)
	}
}

// TestNobody: an empty population is an empty report, not a failure.
func TestNobody(t *testing.T) {
	rep, err := recommend.Analyze(context.Background(), &recommend.Input{Targets: []string{"dir"}},
		recommend.Options{Attributes: []recommend.Attribute{{Name: "title"}}}, at)
	if err != nil || rep.People != 0 || rep.Groups != 0 || rep.Suggestions == nil || rep.Outliers == nil || len(rep.Targets) != 1 {
		t.Errorf("%+v, %v", rep, err)
	}
}
