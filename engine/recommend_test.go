package engine_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/recommend"
	"github.com/tenurehq/tenure/targets"
)

// TestRecommendFromDirectory: recommendations read a real slapd's
// memberships, access Tenure never granted included. Twelve engineers (and twelve in Sales) are
// converged by the policy (staff, engineering); ten of them are then put
// in a vpn group by hand, and one salesperson in jira. The analysis
// suggests vpn for Engineering (ten holders, two gains), never what the
// policy grants already, and flags jira as rare among peers; an account
// no person links is counted, not analysed.
func TestRecommendFromDirectory(t *testing.T) {
	f := slapdDirectory(t).fixture(t)
	for _, g := range []string{"vpn", "jira"} {
		f.add(ldapsync.JoinDN(ldapsync.RDN("cn", g), f.groups), f.group(g))
	}
	dir, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
		BaseDN: f.base, UsersDN: ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base), GroupsDN: f.groups,
		CorrelationAttribute: "employeeNumber", ManagedDNs: []string{f.base},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, backends(t)[0], f.policy, map[string]targets.Target{"dir": dir})
	for i := range 12 {
		e.user(fmt.Sprintf("eng%d.test", i), map[string]any{enterpriseURN: map[string]any{"employeeNumber": fmt.Sprintf("E%d", i), "department": "Engineering"}})
	}
	for i := range 12 {
		e.user(fmt.Sprintf("sales%d.test", i), map[string]any{enterpriseURN: map[string]any{"employeeNumber": fmt.Sprintf("S%d", i), "department": "Sales"}})
	}
	e.run()
	member := func(group, num string) {
		t.Helper()
		acct := f.find(num)
		err := f.p.Do(t.Context(), "modify", func(c *ldap.Conn) error {
			m := ldap.NewModifyRequest(ldapsync.JoinDN(ldapsync.RDN("cn", group), f.groups), nil)
			m.Add("member", []string{acct.dn})
			return c.Modify(m)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		member("vpn", fmt.Sprintf("E%d", i))
	}
	member("jira", "S0")
	f.add(ldapsync.JoinDN(ldapsync.RDN("uid", "stranger"), ldapsync.JoinDN(ldapsync.RDN("ou", "Sales"), f.base)),
		map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"stranger"}, "cn": {"S"}, "sn": {"S"}})

	rep, err := recommend.NewGatherer(e.eng, testLogger()).Run(t.Context(), recommend.Options{
		Attributes: []recommend.Attribute{{Name: "department", Expr: `enterprise.?department.orValue("")`}},
		MinSupport: 3, MinGroupSize: 3, Significance: 0.05,
	}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.People != 24 || rep.Unlinked["dir"] != 1 {
		t.Errorf("people %d, unlinked %v; want 24 and 1", rep.People, rep.Unlinked)
	}
	if len(rep.Suggestions) != 1 {
		t.Fatalf("suggestions %+v, want vpn only", rep.Suggestions)
	}
	s := rep.Suggestions[0]
	if s.Entitlement != "vpn" || s.When != `(enterprise.?department.orValue("")) == "Engineering"` ||
		s.Members != 12 || s.Holders != 10 || s.Gain.Count != 2 || s.Adopt.Count != 10 || !slices.Equal(s.Gain.People, []string{"eng10.test", "eng11.test"}) {
		t.Errorf("suggestion %+v", s)
	}
	i := slices.IndexFunc(rep.Outliers, func(o recommend.Outlier) bool { return o.Entitlement == "jira" })
	if i < 0 || rep.Outliers[i].Name != "sales0.test" || len(rep.Outliers) != 1 {
		t.Errorf("outliers %+v, want sales0.test's jira", rep.Outliers)
	}
}
