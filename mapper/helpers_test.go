package mapper

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests name, whatever the machine has

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
)

func TestMain(m *testing.M) {
	// config.Parse resolves the source and admin tokens of every config the
	// tests compile, including the examples in docs/policy.md.
	os.Setenv("TENURE_SCIM_TOKEN", "test-scim-token")
	os.Setenv("TENURE_ADMIN_TOKEN", "test-admin-token")
	os.Setenv("TENURE_LDAP_PASSWORD", "test-ldap-password")
	os.Setenv("TENURE_APP_TOKEN", "test-app-token")
	os.Setenv("TENURE_CHAT_TOKEN", "test-chat-token")
	os.Setenv("TENURE_PORTAL_SECRET", "test-portal-secret")
	os.Exit(m.Run())
}

// preamble is the non-policy part every test config needs.
const preamble = `
sources:
  - name: hr
    token: {env: TENURE_SCIM_TOKEN}
admin:
  token: {env: TENURE_ADMIN_TOKEN}
`

// compilePolicy parses preamble+policyYAML and compiles it.
func compilePolicy(t testing.TB, policyYAML string) *Policy {
	t.Helper()
	return compileFull(t, preamble+policyYAML)
}

// compileFull parses a whole config file and compiles it.
func compileFull(t testing.TB, file string) *Policy {
	t.Helper()
	cfg, err := config.Parse([]byte(file))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	p, err := Compile("test.yaml", cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// compileErr parses preamble+policyYAML and returns Compile's error.
func compileErr(t testing.TB, policyYAML string) error {
	t.Helper()
	_, err := Compile("policy.yaml", mustConfig(t, policyYAML))
	return err
}

// stdPolicy is the policy most tests share: an AD-like directory that
// disables, moves and deletes after 30 days; an app for employees that
// deletes at once (kind test: it maps active, which a scim target may
// not); a SCIM wiki that only disables; a VPN directory for members of
// the vpn-users group.
const stdPolicy = `
lifecycle:
  timezone: Europe/Berlin
  prehire_lead: 72h
  mover_grace: 72h
  correlation: 'tenure.?employeeNumber.orValue("")'
  position_attributes: [title, userType, enterprise.department, enterprise.manager, tenure.location, name.familyName]
birthright:
  - name: everyone
    when: "true"
    grants: {ad: ["CN=Staff"], app: [users], wiki: [readers], vpn: [vpn]}
  - name: engineering
    when: 'enterprise.?department.orValue("") == "Engineering"'
    grants: {ad: ["CN=Engineering"], wiki: [editors]}
  - name: sales
    when: 'enterprise.?department.orValue("") == "Sales"'
    grants: {ad: ["CN=Sales"]}
  - name: contractors
    when: 'user.?userType.orValue("") == "Contractor"'
    grants: {ad: ["CN=Contractors"]}
  - name: onboarding
    when: "true"
    for: 720h
    grants: {ad: ["CN=Onboarding"]}
  - name: project
    when: has(tenure.projectEnd)
    until: tenure.projectEnd
    grants: {ad: ["CN=Project X"]}
targets:
  - name: ad
    kind: test
    container: '"ou=" + enterprise.?department.orValue("Staff") + ",dc=example,dc=com"'
    attributes:
      sAMAccountName: user.userName
      title: user.title
      department: enterprise.department
      sn: user.name.familyName
      employeeNumber: tenure.employeeNumber
    references:
      manager: manager
    leaver:
      mode: disable
      move_to: ou=disabled,dc=example,dc=com
      delete_after: 720h
  - name: app
    kind: test
    scope: 'user.?userType.orValue("Employee") == "Employee"'
    attributes:
      userName: user.userName
      active: lifecycle.state == "active"
    leaver:
      mode: delete
  - name: wiki
    kind: scim
    scim: {base_url: https://wiki.example.com/scim/v2, auth: {bearer: {token: {env: TENURE_APP_TOKEN}}}}
    attributes:
      userName: user.userName
  - name: vpn
    kind: test
    scope: '"vpn-users" in groups'
    leaver:
      move_to: ou=disabled-vpn
      delete_after: 240h
`

// stdWith is stdPolicy with more lifecycle keys, e.g. "source_delete: purge".
func stdWith(lifecycleKeys ...string) string {
	extra := ""
	for _, k := range lifecycleKeys {
		extra += "  " + k + "\n"
	}
	return strings.Replace(stdPolicy, "lifecycle:\n", "lifecycle:\n"+extra, 1)
}

const (
	adOU       = "ou=Staff,dc=example,dc=com"
	engOU      = "ou=Engineering,dc=example,dc=com"
	salesOU    = "ou=Sales,dc=example,dc=com"
	disabledOU = "ou=disabled,dc=example,dc=com"
	day        = 24 * time.Hour
)

// t0 is the tests' "now" unless they say otherwise: midday in Berlin.
var t0 = time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// ada is an active engineer with no dates.
func ada() *Identity {
	return &Identity{User: map[string]any{
		"userName": "ada",
		"active":   true,
		"title":    "Engineer",
		"name":     map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		EnterpriseURN: map[string]any{
			"department": "Engineering",
			"manager":    map[string]any{"value": "mgr-1", "displayName": "Grace"},
		},
		TenureURN: map[string]any{"employeeNumber": "E100"},
	}}
}

// with returns a copy of id with path set to v (nil deletes it). Paths are
// "title", "name.familyName", "enterprise.department", "tenure.startDate".
func (id *Identity) with(path string, v any) *Identity {
	c := &Identity{User: plainCopy(id.User), Groups: append([]string(nil), id.Groups...)}
	cur := c.User
	switch {
	case strings.HasPrefix(path, "enterprise."):
		cur, path = sub(cur, EnterpriseURN), strings.TrimPrefix(path, "enterprise.")
	case strings.HasPrefix(path, "tenure."):
		cur, path = sub(cur, TenureURN), strings.TrimPrefix(path, "tenure.")
	}
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		cur = sub(cur, p)
	}
	if v == nil {
		delete(cur, parts[len(parts)-1])
	} else {
		cur[parts[len(parts)-1]] = v
	}
	return c
}

func sub(m map[string]any, k string) map[string]any {
	s, ok := m[k].(map[string]any)
	if !ok {
		s = map[string]any{}
		m[k] = s
	}
	return s
}

// withGroups returns a copy of id in groups.
func (id *Identity) withGroups(groups ...string) *Identity {
	c := id.with("userName", id.User["userName"])
	c.Groups = groups
	return c
}

// observe runs p.Observe and fails the test on error.
func observe(t testing.TB, p *Policy, rec *Record, userID string, after *Identity, now time.Time) (*Record, Change) {
	t.Helper()
	next, ch, err := p.Observe(rec, userID, "hr", after, now)
	if err != nil {
		t.Fatalf("Observe at %s: %v", now, err)
	}
	return next, ch
}

// desired runs p.Desired and fails the test on error.
func desired(t testing.TB, p *Policy, rec *Record, target string, linked bool, now time.Time) *Desired {
	t.Helper()
	d, err := p.Desired(rec, target, linked, now)
	if err != nil {
		t.Fatalf("Desired(%s) at %s: %v", target, now, err)
	}
	return d
}

// want is the part of a desired state a timeline step checks.
type wantAcct struct {
	exists, enabled bool
	container       string
	ents            []string
	next            time.Time
}

func (w wantAcct) check(t testing.TB, label string, d *Desired) {
	t.Helper()
	got := wantAcct{d.Exists, d.Enabled, d.Container, d.Entitlements, d.Next}
	if got.exists != w.exists || got.enabled != w.enabled || got.container != w.container ||
		!reflect.DeepEqual(got.ents, w.ents) || !got.next.Equal(w.next) {
		t.Errorf("%s:\n got exists=%v enabled=%v container=%q ents=%v next=%s (%s)\nwant exists=%v enabled=%v container=%q ents=%v next=%s",
			label, got.exists, got.enabled, got.container, got.ents, fmtT(got.next), d.Reason,
			w.exists, w.enabled, w.container, w.ents, fmtT(w.next))
	}
	if !d.Exists && (d.Enabled || d.Container != "" || len(d.Entitlements) > 0 || len(d.Attributes) > 0) {
		t.Errorf("%s: an absent account carries state: %+v", label, d.Account)
	}
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format(time.RFC3339)
}

// planOps renders targets.Plan as strings.
func planOps(applied, want *targets.Account) []string {
	var out []string
	for _, op := range targets.Plan(applied, want) {
		out = append(out, op.String())
	}
	return out
}

// roundTrip stores and loads rec the way the engine does (encoding/json
// without UseNumber), so tests see what a second write sees.
func roundTrip(t testing.TB, rec *Record) *Record {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var out Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// mustConfig parses preamble+policyYAML.
func mustConfig(t testing.TB, policyYAML string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(preamble + policyYAML))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return cfg
}
