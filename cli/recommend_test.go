package cli

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/recommend"
)

// tenure recommend sends its flags as the API's query and prints the
// answer as text, JSON, or a birthright section that loads.
func TestRecommend(t *testing.T) {
	block, err := recommend.Block("engineering-vpn", `enterprise.department == "Engineering"`, "dir", "vpn")
	if err != nil {
		t.Fatal(err)
	}
	rep := admin.Recommendations{
		People: 24, Targets: []string{"dir"}, Entitlements: 5, Groups: 3,
		Suggestions: []recommend.Suggestion{{
			Rule: "engineering-vpn", Block: block, When: `enterprise.department == "Engineering"`, Target: "dir", Entitlement: "vpn",
			Group: []admin.RecommendCondition{{Attribute: "enterprise.department", Value: "Engineering"}}, Members: 12, Holders: 10,
			Confidence: 0.833, Support: 0.417, Lift: 2, Gain: recommend.Impact{Count: 2, People: []string{"eng10", "eng11"}},
			Adopt: recommend.Impact{Count: 10, People: []string{"eng0"}},
		}},
		Outliers: []recommend.Outlier{{Person: "p1", Name: "sales0", Target: "dir", Entitlement: "jira", Peers: []admin.RecommendCondition{}, Moved: true}},
	}
	f := newFakeAPI(t, map[string]any{"/admin/v1/recommendations": rep})
	for _, tc := range []struct {
		args    []string
		request string
		want    []string
	}{
		{[]string{"recommend"}, "GET /admin/v1/recommendations actor= token=Bearer tok", []string{
			"24 people, 5 entitlements, 3 peer groups; targets dir",
			"engineering-vpn: dir vpn to enterprise.department = Engineering",
			"10 of 12 members hold it (83%), support 42%, lift 2.00, granted 0",
			"would gain it (2): eng10, eng11", "hold it outside the policy (10): eng0, … (9 more)",
			`      when: enterprise.department == "Engineering"`,
			"sales0: dir jira (closest peers: everyone, 0% hold it, held under a previous position)",
		}},
		{[]string{"recommend", "--target", "dir", "--min-support", "3", "--min-confidence", "0.7", "--attribute", "title",
			"--attribute", `level=user.title.split(" ").last().orValue("")`, "--no-pairs", "-o", "json"},
			"GET /admin/v1/recommendations?attribute=title&attribute=level%3Duser.title.split%28%22+%22%29.last%28%29.orValue%28%22%22%29&min-confidence=0.7&min-support=3&no-pairs=true&target=dir actor= token=Bearer tok",
			[]string{`"rule": "engineering-vpn"`, `"holders": 10`}},
		{[]string{"recommend", "-o", "yaml"}, "GET /admin/v1/recommendations actor= token=Bearer tok", []string{
			"birthright:\n  # 10 of 12 hold it (83%), lift 2.00; gains 2, adopts 10\n  - name: engineering-vpn\n",
			"1 outliers (see -o text)",
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := tenure(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.last(); got != tc.request {
				t.Errorf("request %q\nwant    %q", got, tc.request)
			}
			wantContains(t, "output", out, tc.want...)
			if tc.args[len(tc.args)-1] == "yaml" {
				var cfg config.Config
				if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
					t.Fatal(err)
				}
				if pol, err := mapper.Compile("out.yaml", &cfg); err != nil || len(pol.Rules) != 1 {
					t.Errorf("the yaml output does not load as a birthright section: %v", err)
				}
			}
		})
	}
	if _, _, err := tenure(t, "recommend", "-o", "xml"); ExitCode(err) != 2 {
		t.Errorf("-o xml: %v (exit %d), want a usage error", err, ExitCode(err))
	}
}
