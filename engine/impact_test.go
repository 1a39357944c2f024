package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/engine"
)

// TestImpact: a draft's impact is the running policy's desired state
// against the draft's, person by person — entitlements gained and lost,
// accounts a new target would create, people an expression fails on — and
// computing it writes nothing and queues nothing.
func TestImpact(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, policy)
			ada := e.user("ada.lovelace", map[string]any{enterpriseURN: map[string]any{"department": "Engineering"}})
			e.user("grace.hopper", map[string]any{enterpriseURN: map[string]any{"department": "Sales"}})
			e.user("alan.turing", nil)
			e.run()

			// The draft: engineering also grants vpn, the sales rule is
			// gone, a new target gives everyone an account, and a rule
			// reads a key alan's record lacks.
			draft := strings.Replace(policy,
				`grants: {dir: [engineering]}}`, `grants: {dir: [engineering, vpn]}}`, 1)
			draft = strings.Replace(draft,
				`  - {name: sales, when: 'enterprise.?department.orValue("") == "Sales"', grants: {dir: [sales]}}`+"\n", "", 1)
			draft = strings.Replace(draft, "targets:\n", `  - {name: badges, when: 'enterprise.?department.orValue("") != ""', grants: {app: [badge]}}
  - {name: broken, when: 'user.name.givenName == "alan" && int(user.userName) > 0', grants: {app: [lab]}}
targets:
  - name: app
    kind: recording
    attributes: {login: 'user.userName'}
`, 1)
			if draft == policy || !strings.Contains(draft, "vpn") || strings.Contains(draft, "name: sales") {
				t.Fatal("the draft did not change as meant")
			}
			ctx := context.Background()
			before, err := e.q.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			im, err := e.eng.Impact(ctx, compilePolicy(t, "draft.yaml", draft), engine.ImpactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// alan, whom the draft cannot be evaluated on, is counted
			// among the failed, not the changed.
			if im.People != 3 || im.Changed != 2 || im.Truncated != "" {
				t.Errorf("people %d, changed %d, truncated %q; want 3, 2, none", im.People, im.Changed, im.Truncated)
			}
			type line struct {
				target, ent string
				gain, lose  int
				who         string
			}
			var got []line
			for _, x := range im.Entitlements {
				who := append(x.Gainers, x.Losers...)
				slices.Sort(who) // in the snapshot's order, by person id
				got = append(got, line{x.Target, x.Entitlement, x.Gain, x.Lose, strings.Join(who, ",")})
			}
			want := []line{
				{"dir", "sales", 0, 1, "grace.hopper"},
				{"dir", "vpn", 1, 0, "ada.lovelace"},
				{"app", "badge", 2, 0, "ada.lovelace,grace.hopper"},
			}
			if !slices.Equal(got, want) {
				t.Errorf("entitlements:\n got %v\nwant %v", got, want)
			}
			if len(im.Accounts) != 1 || im.Accounts[0].Target != "app" || im.Accounts[0].Change != engine.ImpactCreate || im.Accounts[0].Count != 2 {
				t.Errorf("accounts %+v, want 2 created on app", im.Accounts)
			}
			// The draft's broken rule cannot be evaluated on alan (his
			// userName is no number); the others never reach the int().
			if im.Failed != 1 || len(im.Errors) != 1 || im.Errors[0].Person != "alan.turing" || im.Errors[0].Policy != "draft" {
				t.Errorf("failed %d, errors %+v; want alan.turing on the draft", im.Failed, im.Errors)
			}
			after, err := e.q.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("the queue changed: %+v, then %+v", before, after)
			}
			if n := e.run(); n != 0 {
				t.Errorf("%d jobs ran after the impact; want none", n)
			}
			if a := e.acct("dir", ada); a != nil && slices.Contains(a.Entitlements, "vpn") {
				t.Error("the impact granted vpn")
			}

			// Bounded: the first two people only, said so.
			im, err = e.eng.Impact(ctx, compilePolicy(t, "draft.yaml", draft), engine.ImpactOptions{MaxPeople: 2, Names: 1})
			if err != nil {
				t.Fatal(err)
			}
			if im.People != 2 || !strings.Contains(im.Truncated, "first 2 people") {
				t.Errorf("bounded: people %d, truncated %q", im.People, im.Truncated)
			}
			for _, x := range im.Entitlements {
				if len(x.Gainers) > 1 || len(x.Losers) > 1 {
					t.Errorf("%s/%s names %v %v, want at most one each", x.Target, x.Entitlement, x.Gainers, x.Losers)
				}
			}
		})
	}
}
