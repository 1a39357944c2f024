package recommend_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/recommend"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

// source is a recommend.Source in memory.
type source struct {
	pol     *mapper.Policy
	people  []engine.PersonState
	targets map[string]targets.Target
}

func (s *source) Policy() *mapper.Policy { return s.pol }
func (s *source) Target(n string) (targets.Target, bool) {
	t, ok := s.targets[n]
	return t, ok
}
func (s *source) Snapshot(ctx context.Context, fn func(engine.PersonState) error) error {
	for _, p := range s.people {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// lister is a target whose memberships are given; groups are named
// "cn=<name>,ou=groups" and a name resolves to that.
type lister struct {
	*targettest.Recording
	accounts []targets.Membership
}

func (l *lister) GroupRef(ent string) (string, error) {
	if strings.Contains(ent, "=") {
		return strings.ToLower(ent), nil
	}
	return "cn=" + strings.ToLower(ent) + ",ou=groups", nil
}

func (l *lister) Memberships(ctx context.Context, fn func(targets.Membership) error) error {
	for _, m := range l.accounts {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// TestGather: what the policy grants (by the policy's spelling, compared
// by GroupRef), memberships of linked accounts only, what was applied on a
// target that cannot list memberships, approved requests in force as held
// and not granted, a mover's old grants as kept; leavers and pre-hires
// left out; people ordered by name; unknown targets refused.
func TestGather(t *testing.T) {
	now := at
	var cfg config.Config
	err := yaml.Unmarshal([]byte(`
birthright:
  - {name: staff, when: 'true', grants: {dir: [Staff], app: [users]}}
targets:
  - {name: dir, kind: x}
  - {name: app, kind: x}
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := mapper.Compile("t.yaml", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id, name string, start, end time.Time) *mapper.Record {
		return &mapper.Record{ID: id, Start: start, End: end, Identity: mapper.Identity{User: map[string]any{"id": id, "userName": name}}}
	}
	past := now.Add(-time.Hour)
	zoe := rec("1", "zoe", past, time.Time{})
	zoe.Requested = []mapper.RequestedGrant{
		{Request: "r1", Item: "vpn", Target: "dir", Entitlements: []string{"VPN"}, Start: past},
		{Request: "r0", Item: "old", Target: "dir", Entitlements: []string{"expired"}, Start: past.Add(-time.Hour), Until: past},
	}
	zoe.OldGrants = []mapper.OldGrant{{Target: "dir", Entitlement: "sales", Until: past}}
	ann := rec("2", "ann", past, time.Time{})
	gone := rec("3", "gone", past.Add(-time.Hour), past)
	soon := rec("4", "soon", now.Add(time.Hour), time.Time{})
	link := func(id string, applied ...string) map[string]*engine.LinkState {
		return map[string]*engine.LinkState{
			"dir": {Link: targets.Link{ID: "a-" + id}},
			"app": {Link: targets.Link{ID: "x-" + id, Applied: &targets.Account{Exists: true, Entitlements: applied}}},
		}
	}
	dir := &lister{Recording: targettest.New(), accounts: []targets.Membership{
		{Account: targets.Found{ID: "a-1"}, Groups: []string{"cn=staff,ou=groups", "cn=sales,ou=groups", "cn=deep,ou=x"}},
		{Account: targets.Found{ID: "a-2"}, Groups: []string{"cn=staff,ou=groups"}},
		{Account: targets.Found{ID: "a-9"}, Groups: []string{"cn=staff,ou=groups"}},
	}}
	src := &source{pol: pol, targets: map[string]targets.Target{"dir": dir, "app": targettest.New()}, people: []engine.PersonState{
		{Record: zoe, Links: link("1", "users", "wiki")}, {Record: ann, Links: link("2", "users")},
		{Record: gone, Links: link("3")}, {Record: soon, Links: link("4")},
	}}
	in, err := recommend.NewGatherer(src, nil).Gather(context.Background(), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{in.People[0].Name, in.People[1].Name}; len(in.People) != 2 || !slices.Equal(got, []string{"ann", "zoe"}) {
		t.Fatalf("people %v", in.People)
	}
	e := func(target, ref string) recommend.Entitlement { return recommend.Entitlement{Target: target, Ref: ref} }
	z := in.People[1]
	wantHeld := []recommend.Entitlement{e("dir", "cn=vpn,ou=groups"), e("app", "users"), e("app", "wiki"),
		e("dir", "cn=staff,ou=groups"), e("dir", "cn=sales,ou=groups"), e("dir", "cn=deep,ou=x")}
	if !slices.Equal(z.Held, wantHeld) {
		t.Errorf("held %v\nwant %v", z.Held, wantHeld)
	}
	if want := []recommend.Entitlement{e("dir", "cn=staff,ou=groups"), e("app", "users")}; !slices.Equal(z.Granted, want) {
		t.Errorf("granted %v, want %v", z.Granted, want)
	}
	if want := []recommend.Entitlement{e("dir", "cn=sales,ou=groups")}; !slices.Equal(z.Kept, want) {
		t.Errorf("kept %v, want %v", z.Kept, want)
	}
	for ent, want := range map[recommend.Entitlement]string{
		e("dir", "cn=staff,ou=groups"): "Staff", // the policy's spelling
		e("dir", "cn=vpn,ou=groups"):   "VPN",   // the request's
		e("dir", "cn=deep,ou=x"):       "cn=deep,ou=x",
	} {
		if in.Names[ent] != want {
			t.Errorf("name of %v %q, want %q", ent, in.Names[ent], want)
		}
	}
	if in.Unlinked["dir"] != 1 || !slices.Equal(in.Targets, []string{"dir", "app"}) {
		t.Errorf("unlinked %v, targets %v", in.Unlinked, in.Targets)
	}
	if _, err := recommend.NewGatherer(src, nil).Gather(context.Background(), []string{"nope"}, now); err == nil || !strings.Contains(err.Error(), "no such target") {
		t.Errorf("unknown target: %v", err)
	}
}
