package mapper

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const requestPolicy = `
lifecycle: {timezone: UTC, prehire_lead: 0s, mover_grace: 24h}
birthright:
  - {name: staff, when: "true", grants: {dir: [staff]}}
targets:
  - {name: dir, kind: test}
requests:
  catalog:
    - name: vpn
      target: dir
      entitlements: [vpn, vpn-logs]
      max_duration: 240h
    - name: staff-again
      target: dir
      entitlements: [staff]
    - name: ops
      target: dir
      entitlements: [ops]
      allow: '"ops" in requester.groups && subject.?title.orValue("") == "Engineer"'
`

// TestRequestedGrantInDesired: an approved request's grant is in the
// desired state like a birthright, from its start until its end, and its
// start and end are boundaries; a rehire drops it.
func TestRequestedGrantInDesired(t *testing.T) {
	p := compilePolicy(t, requestPolicy)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rec, _ := observe(t, p, nil, "u1", ada(), t0)
	start, end := t0.Add(time.Hour), t0.Add(241*time.Hour)
	rec.Requested = []RequestedGrant{{Request: "r1", Item: "vpn", Target: "dir", Entitlements: []string{"vpn", "vpn-logs"}, Start: start, Until: end}}
	rec = roundTrip(t, rec)
	for _, c := range []struct {
		at   time.Time
		ents []string
		next time.Time
	}{
		{t0, []string{"staff"}, start},
		{start, []string{"staff", "vpn", "vpn-logs"}, end},
		{end.Add(-time.Second), []string{"staff", "vpn", "vpn-logs"}, end},
		{end, []string{"staff"}, time.Time{}},
	} {
		d := desired(t, p, rec, "dir", true, c.at)
		if !slices.Equal(d.Entitlements, c.ents) || !d.Next.Equal(c.next) {
			t.Errorf("at %s: entitlements %v next %s, want %v next %s", fmtT(c.at), d.Entitlements, fmtT(d.Next), c.ents, fmtT(c.next))
		}
		if c.at.Equal(start) {
			i := slices.IndexFunc(d.Grants, func(g Grant) bool { return g.Entitlement == "vpn" })
			if i < 0 || d.Grants[i].Rule != "request vpn r1" || !d.Grants[i].Until.Equal(end) {
				t.Errorf("the vpn grant: %+v", d.Grants)
			}
		}
	}
	left, _ := observe(t, p, rec, "u1", ada().with("active", false), t0.Add(2*time.Hour))
	if d := desired(t, p, left, "dir", true, t0.Add(2*time.Hour)); len(d.Entitlements) != 0 {
		t.Errorf("a leaver keeps %v", d.Entitlements)
	}
	back, ch := observe(t, p, left, "u1", ada(), t0.Add(3*time.Hour))
	if ch.Transition != Rehire || len(back.Requested) != 0 {
		t.Errorf("rehire (%s) keeps requested grants %v", ch.Transition, back.Requested)
	}
}

func TestMayRequest(t *testing.T) {
	p := compilePolicy(t, requestPolicy)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rec := func(id *Identity) *Record { return &Record{Identity: *id} }
	subject := Party{Person: "s", Record: rec(ada()), Manager: "m"}
	for _, c := range []struct {
		item      string
		requester Party
		want      bool
	}{
		{"vpn", Party{Person: "s", Record: rec(ada())}, true},                                     // the subject
		{"vpn", Party{Person: "m", Record: rec(ada())}, true},                                     // their manager
		{"vpn", Party{Person: "x", Record: rec(ada())}, false},                                    // anyone else
		{"ops", Party{Person: "x", Record: rec(ada().withGroups("ops"))}, true},                   // the item's own rule
		{"ops", Party{Person: "m", Record: rec(ada())}, false},                                    // … which replaces the default
		{"ops", Party{Person: "x", Record: rec(ada().withGroups("ops", "other"))}, true},          // groups are a list
		{"ops", Party{Person: "x", Record: rec(ada().withGroups("other"))}, false},                // not in ops
		{"ops", Party{Person: "x", Record: rec(ada().with("title", "Chef").withGroups())}, false}, // wrong requester
	} {
		got, err := p.Catalog[c.item].MayRequest(c.requester, subject, now)
		if err != nil || got != c.want {
			t.Errorf("%s by %s: %v, %v; want %v", c.item, c.requester.Person, got, err, c.want)
		}
	}
	sub := Party{Person: "s", Record: rec(ada().with("title", "Chef"))}
	if ok, _ := p.Catalog["ops"].MayRequest(Party{Person: "x", Record: rec(ada().withGroups("ops"))}, sub, now); ok {
		t.Error("ops for a subject who is no engineer was allowed")
	}
}

func TestBirthrightAnswersAtOnce(t *testing.T) {
	p := compilePolicy(t, requestPolicy)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rec, _ := observe(t, p, nil, "u1", ada(), now)
	if rules, err := p.Birthright(rec, "dir", p.Catalog["staff-again"].Entitlements, now); err != nil || !slices.Equal(rules, []string{"staff"}) {
		t.Errorf("staff-again: %v, %v; want the staff rule", rules, err)
	}
	if rules, err := p.Birthright(rec, "dir", p.Catalog["vpn"].Entitlements, now); err != nil || rules != nil {
		t.Errorf("vpn: %v, %v; want nil", rules, err)
	}
}

func TestRequestAllowCompileErrors(t *testing.T) {
	err := compileErr(t, `
targets: [{name: dir, kind: test}]
requests:
  catalog:
    - {name: a, target: dir, entitlements: [x], allow: 'user.title == "x"'}
    - {name: b, target: dir, entitlements: [x], allow: '"yes"'}
`)
	for _, want := range []string{
		`requests.catalog[0].allow: "user.title == \"x\"": ERROR`, "undeclared reference to 'user'",
		`requests.catalog[1].allow: "\"yes\"": result type string is not bool`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %s", err, want)
		}
	}
}
