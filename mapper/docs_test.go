package mapper

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/config"
)

const policyDoc = "../docs/policy.md"

// yamlBlocks returns the ```yaml blocks of a Markdown file with the line
// each starts on.
func yamlBlocks(t *testing.T, path string) (blocks []string, lines []int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cur *strings.Builder
	for i, line := range strings.Split(string(raw), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = &strings.Builder{}
			lines = append(lines, i+2)
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s: unterminated yaml block", path)
	}
	return blocks, lines
}

// TestPolicyDocExamples loads every YAML example in docs/policy.md: a block
// marked "# full-config" is a whole file, one marked "# fragment" is the
// policy part of one. Both must parse, validate and compile.
func TestPolicyDocExamples(t *testing.T) {
	blocks, lines := yamlBlocks(t, policyDoc)
	full := 0
	for i, b := range blocks {
		name := filepath.Base(policyDoc) + ":" + strconv.Itoa(lines[i])
		first, _, _ := strings.Cut(b, "\n")
		var raw string
		switch strings.TrimSpace(first) {
		case "# full-config":
			raw = b
			full++
		case "# fragment":
			raw = preamble + b
		default:
			t.Errorf("%s: a yaml block must start with # full-config or # fragment", name)
			continue
		}
		cfg, err := config.Parse([]byte(raw))
		if err != nil {
			t.Errorf("%s: config.Parse: %v", name, err)
			continue
		}
		p, err := Compile(name, cfg)
		if err != nil {
			t.Errorf("%s: Compile: %v", name, err)
			continue
		}
		// Every example runs on a person without failing.
		rec, _ := observe(t, p, nil, "u1", docPerson(), t0)
		for _, target := range p.TargetNames {
			if _, err := p.Desired(rec, target, false, t0); err != nil {
				t.Errorf("%s: Desired(%s): %v", name, target, err)
			}
		}
	}
	if full < 3 {
		t.Errorf("docs/policy.md has %d full-config examples, want at least 3", full)
	}
}

func docPerson() *Identity {
	return ada().
		with("userName", "dana@example.com").
		with("userType", "Employee").
		with("emails", []any{map[string]any{"value": "dana@example.com", "primary": true}}).
		with("tenure.workerId", "W-1").
		with("tenure.location", "Berlin").
		with("enterprise.costCenter", "4100").
		withGroups("Finance Apps")
}

// TestPolicyDocDateTable checks the doc's table of dates against ParseDate.
func TestPolicyDocDateTable(t *testing.T) {
	raw, err := os.ReadFile(policyDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (\\d{4}-\\d{2}-\\d{2}) \\| ([A-Za-z_/]+)[^|]* \\| (\\S+Z)[^|]* \\| (\\S+Z)[^|]* \\|$")
	rows := row.FindAllStringSubmatch(string(raw), -1)
	if len(rows) < 5 {
		t.Fatalf("found %d rows of the date table", len(rows))
	}
	for _, r := range rows {
		loc := mustZone(t, r[2])
		for i, endOfDay := range []bool{false, true} {
			want, err := time.Parse(time.RFC3339, r[3+i])
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseDate(r[1], loc, endOfDay)
			if err != nil || !got.Equal(want) {
				t.Errorf("docs: %s in %s (end %v) is %s, ParseDate says %s (%v)", r[1], r[2], endOfDay, want, got.UTC(), err)
			}
		}
	}
}

// docExample compiles the full-config example of docs/policy.md that
// contains marker.
func docExample(t *testing.T, marker string) *Policy {
	t.Helper()
	blocks, _ := yamlBlocks(t, policyDoc)
	for _, b := range blocks {
		if strings.HasPrefix(b, "# full-config") && strings.Contains(b, marker) {
			return compileFull(t, b)
		}
	}
	t.Fatalf("docs/policy.md has no example with %q", marker)
	return nil
}

// TestPolicyDocOktaTimeline plays Dana's timeline from docs/policy.md on
// the Okta example as written there.
func TestPolicyDocOktaTimeline(t *testing.T) {
	p := docExample(t, "name: okta")
	ny := mustZone(t, "America/New_York")
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, ny) }
	const (
		people   = ",OU=People,DC=corp,DC=example,DC=com"
		groups   = ",OU=Groups,DC=corp,DC=example,DC=com"
		allStaff = "CN=All Staff" + groups
		eng      = "CN=Engineering" + groups
		vpn      = "CN=VPN Users" + groups
		onb      = "CN=Onboarding" + groups
	)
	dana := &Identity{User: map[string]any{
		"userName": "dana@example.com",
		"name":     map[string]any{"givenName": "Dana", "familyName": "Scully"},
		"emails":   []any{map[string]any{"value": "dana@example.com", "primary": true}},
		"title":    "Engineer",
		"timezone": "America/New_York",
		EnterpriseURN: map[string]any{"department": "Engineering", "employeeNumber": "1001",
			"manager": map[string]any{"value": "m-1"}},
		TenureURN: map[string]any{"startDate": "2025-09-08"},
	}}
	rec, ch := observe(t, p, nil, "d1", dana, at(2025, 8, 20, 11))
	if ch.Transition != PreHire {
		t.Fatalf("created: %s", ch.Transition)
	}
	S := at(2025, 9, 8, 0)
	runSteps(t, p, rec, []step{
		{"created", at(2025, 8, 20, 11), "ad", false, wantAcct{false, false, "", nil, at(2025, 9, 3, 0)}},
		{"start - 120h", at(2025, 9, 3, 0), "ad", false, wantAcct{true, false, "OU=Engineering" + people, []string{allStaff, eng, onb, vpn}, S}},
		{"start - 120h", at(2025, 9, 3, 0), "chat", false, wantAcct{true, false, "", []string{"eng", "everyone"}, S}},
		{"start", S, "ad", true, wantAcct{true, true, "OU=Engineering" + people, []string{allStaff, eng, onb, vpn}, S.Add(2160 * time.Hour)}},
		{"start", S, "chat", true, wantAcct{true, true, "", []string{"eng", "everyone"}, time.Time{}}},
	})
	d := desired(t, p, rec, "ad", true, S)
	wantAttrs := map[string]any{
		"cn": "dana", "sAMAccountName": "dana", "userPrincipalName": "dana@example.com", "givenName": "Dana", "sn": "Scully",
		"displayName": "Dana Scully", "mail": "dana@example.com", "title": "Engineer", "department": "Engineering",
		"employeeID": "1001", "employeeType": "Employee",
	}
	if !reflect.DeepEqual(d.Attributes, wantAttrs) || d.References["manager"] != "m-1" {
		t.Errorf("ad attributes = %v references %v", d.Attributes, d.References)
	}

	M := at(2025, 11, 1, 10)
	rec, _ = observe(t, p, rec, "d1", dana.with("enterprise.department", "Sales"), M)
	grace := M.Add(168 * time.Hour)
	onbEnd := S.Add(2160 * time.Hour)
	if onbEnd.In(ny).Day() != 6 || onbEnd.In(ny).Hour() != 23 {
		t.Errorf("onboarding ends %s, the doc says 2025-12-06 23:00", onbEnd.In(ny))
	}
	runSteps(t, p, rec, []step{
		{"moved", M, "ad", true, wantAcct{true, true, "OU=Sales" + people, []string{allStaff, eng, onb, vpn}, grace}},
		{"moved", M, "chat", true, wantAcct{true, true, "", []string{"eng", "everyone"}, grace}},
		{"grace over", grace, "ad", true, wantAcct{true, true, "OU=Sales" + people, []string{allStaff, onb}, onbEnd}},
		{"grace over", grace, "chat", true, wantAcct{true, true, "", []string{"everyone"}, time.Time{}}},
		{"onboarding over", onbEnd, "ad", true, wantAcct{true, true, "OU=Sales" + people, []string{allStaff}, time.Time{}}},
	})

	rec, ch = observe(t, p, rec, "d1", dana.with("enterprise.department", "Sales").with("tenure.endDate", "2026-03-13"), at(2026, 3, 1, 9))
	T := at(2026, 3, 14, 0)
	if ch.Transition != Leaver || !ch.Effective.Equal(T) {
		t.Fatalf("termination: %s effective %s", ch.Transition, ch.Effective)
	}
	runSteps(t, p, rec, []step{
		{"endDate arrives", at(2026, 3, 1, 9), "ad", true, wantAcct{true, true, "OU=Sales" + people, []string{allStaff}, T}},
		{"terminated", T, "ad", true, wantAcct{true, false, "OU=Disabled" + people, nil, at(2026, 4, 13, 0)}},
		{"terminated", T, "chat", true, wantAcct{true, false, "", nil, at(2026, 6, 12, 0)}},
		{"deleted", at(2026, 4, 13, 0), "ad", true, wantAcct{}},
		{"deleted", at(2026, 6, 12, 0), "chat", true, wantAcct{}},
	})
}

// TestPolicyDocHRISTimeline plays the HR example's table from
// docs/policy.md.
func TestPolicyDocHRISTimeline(t *testing.T) {
	p := docExample(t, "name: workday")
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, p.Location) }
	const (
		external, staff, leavers = "ou=external,dc=example,dc=org", "ou=staff,dc=example,dc=org", "ou=leavers,dc=example,dc=org"
		contractors, employees   = "cn=contractors,ou=groups,dc=example,dc=org", "cn=employees,ou=groups,dc=example,dc=org"
		interns                  = "cn=interns,ou=groups,dc=example,dc=org"
	)
	ana := &Identity{User: map[string]any{
		"userName": "ana", "userType": "Contractor",
		TenureURN: map[string]any{"startDate": "2025-03-03", "endDate": "2025-08-29", "workerId": "W-7"},
	}}
	rec, _ := observe(t, p, nil, "a1", ana, at(2025, 2, 10, 9))
	runSteps(t, p, rec, []step{
		{"ana window", at(2025, 2, 24, 0), "directory", false, wantAcct{true, false, external, []string{contractors}, at(2025, 3, 3, 0)}},
		{"ana start", at(2025, 3, 3, 0), "directory", true, wantAcct{true, true, external, []string{contractors}, at(2025, 8, 30, 0)}},
		{"ana start", at(2025, 3, 3, 0), "hr-portal", false, wantAcct{false, false, "", nil, at(2025, 8, 30, 0)}},
	})
	ext := ana.with("tenure.endDate", "2025-12-19")
	rec, ch := observe(t, p, rec, "a1", ext, at(2025, 8, 1, 9))
	if ch.Transition != Leaver || !ch.Effective.Equal(at(2025, 12, 20, 0)) {
		t.Errorf("extension: %s effective %s", ch.Transition, ch.Effective)
	}
	runSteps(t, p, rec, []step{
		{"ana extended", at(2025, 8, 1, 9), "directory", true, wantAcct{true, true, external, []string{contractors}, at(2025, 12, 20, 0)}},
	})
	rec, ch = observe(t, p, rec, "a1", ext.with("userType", "Employee"), at(2025, 10, 1, 9))
	if ch.Transition != Conversion {
		t.Errorf("conversion: %s", ch.Transition)
	}
	runSteps(t, p, rec, []step{
		{"ana converted", at(2025, 10, 1, 9), "directory", true, wantAcct{true, true, staff, []string{employees}, at(2025, 12, 20, 0)}},
		{"ana converted", at(2025, 10, 1, 9), "hr-portal", false, wantAcct{true, true, "", []string{"employee"}, at(2025, 12, 20, 0)}},
	})

	ben := &Identity{User: map[string]any{
		"userName": "ben", "userType": "Intern",
		TenureURN: map[string]any{"startDate": "2025-07-01", "workerId": "W-8"},
	}}
	rec, _ = observe(t, p, nil, "b1", ben, at(2025, 6, 1, 9))
	runSteps(t, p, rec, []step{
		{"ben window", at(2025, 6, 24, 0), "directory", false, wantAcct{true, false, external, []string{interns}, at(2025, 7, 1, 0)}},
		{"ben start", at(2025, 7, 1, 0), "directory", true, wantAcct{true, true, external, []string{interns}, at(2025, 9, 29, 0)}},
		{"ben intern period over", at(2025, 9, 29, 0), "directory", true, wantAcct{true, true, external, nil, time.Time{}}},
	})
	del := at(2025, 9, 30, 9)
	rec, _ = observe(t, p, rec, "b1", nil, del)
	runSteps(t, p, rec, []step{
		{"ben deleted at the source", del, "directory", true, wantAcct{true, false, leavers, nil, del.Add(2160 * time.Hour)}},
	})
	back := &Identity{User: map[string]any{
		"userName": "ben", "userType": "Employee",
		TenureURN: map[string]any{"startDate": "2026-01-05", "workerId": "W-8"},
	}}
	R := at(2025, 11, 15, 9)
	again, ch := observe(t, p, rec, "b2", back, R)
	if ch.Transition != Rehire || again.ID != "b1" {
		t.Fatalf("ben returns: %s id %s", ch.Transition, again.ID)
	}
	open := at(2025, 12, 29, 0) // 2026-01-05 − 168h
	runSteps(t, p, again, []step{
		{"ben back, account kept", R, "directory", true, wantAcct{true, false, leavers, nil, open}},
		{"ben window", open, "directory", true, wantAcct{true, false, staff, []string{employees}, at(2026, 1, 5, 0)}},
		{"ben back", R, "hr-portal", false, wantAcct{false, false, "", nil, open}},
		{"ben window", open, "hr-portal", false, wantAcct{true, false, "", []string{"employee"}, at(2026, 1, 5, 0)}},
	})
}
