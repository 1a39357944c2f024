package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
)

// TestMonth drives a month of a company's joiners, movers and leavers
// through `tenure serve` — on the embedded backend and on Redis — into a
// private OpenLDAP, a Samba AD DC and a downstream SCIM app (a second
// Tenure), on an injected clock (serveClock). After every step it reads
// all three and compares every account with the expected-state model
// below: present, OU, enabled, title and department, groups, manager, and
// no account twice.
func TestMonth(t *testing.T) {
	if testing.Short() {
		t.Skip("the month takes a while; not in -short")
	}
	slapd := testenv.Slapd(t)
	samba := testenv.SambaAD(t)
	var redisSrv *testenv.RedisServer
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "redis" {
				redisSrv = testenv.Redis(t)
			}
			m := newMonth(t, backend, slapd, samba, redisSrv)
			m.run()
		})
	}
}

// monthT0 is day 0 of the month: Monday 2 November 2026, 09:00 UTC.
var monthT0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func day(n int) time.Time { return monthT0.Add(time.Duration(n) * 24 * time.Hour) }

// monthClock is the injected clock.
type monthClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *monthClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *monthClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *monthClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var departments = []string{"Engineering", "Sales", "Support"}
var zones = []string{"America/New_York", "Europe/Berlin", "Asia/Kolkata"}

// deptGroup is a department's group.
func deptGroup(dept string) string { return strings.ToLower(dept) }

// person is the model of one person: what HR said and when.
type person struct {
	num      string // employee number, the correlation key
	userName string
	id       string // SCIM id of the current record
	dept     string
	oldDept  string    // before the last move
	moved    time.Time // when the last move happened
	title    string
	userType string
	zone     *time.Location
	start    time.Time // the start date (a date in zone)
	manager  *person
	left     time.Time // termination (zero: employed)
}

// startAt is the start of the start date in the person's zone.
func (p *person) startAt() time.Time {
	y, mo, d := p.start.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, p.zone)
}

// want is one account as the model expects it on one target.
type want struct {
	exists, enabled bool
	ou              string // "people/<dept>" or "disabled"
	title, dept     string
	groups          []string
	manager         *person // nil: none
}

// expect is the model: what p's account must be at now.
func (p *person) expect(now time.Time) want {
	const lead, grace, keep, internFor = 72 * time.Hour, 72 * time.Hour, 720 * time.Hour, 2160 * time.Hour
	if !p.left.IsZero() && !now.Before(p.left) {
		if !now.Before(p.left.Add(keep)) {
			return want{}
		}
		return want{exists: true, ou: "disabled", title: p.title, dept: p.dept, manager: p.manager}
	}
	if now.Before(p.startAt().Add(-lead)) {
		return want{}
	}
	w := want{exists: true, enabled: !now.Before(p.startAt()), ou: "people/" + p.dept, title: p.title, dept: p.dept, manager: p.manager}
	w.groups = []string{"staff", deptGroup(p.dept)}
	if p.oldDept != "" && now.Before(p.moved.Add(grace)) {
		w.groups = append(w.groups, deptGroup(p.oldDept))
	}
	switch p.userType {
	case "Employee":
		w.groups = append(w.groups, "employees")
	case "Contractor":
		w.groups = append(w.groups, "contractors")
	case "Intern":
		if now.Before(p.startAt().Add(internFor)) {
			w.groups = append(w.groups, "interns")
		}
	}
	slices.Sort(w.groups)
	return w
}

// month is one run of the month on one backend.
type month struct {
	t       *testing.T
	backend string
	clock   *monthClock
	up      *runningServer
	down    *runningServer
	ldap    []*monthDir // openldap, ad
	people  []*person
	byNum   map[string]*person
}

// monthDir is one directory the month provisions.
type monthDir struct {
	target  string
	dialect ldapsync.AccountDialect
	p       *ldapsync.Pool
	srv     interface {
		URL() string
		CAFile() string
	}
	base string
	rdn  string
}

func (d *monthDir) ou(path string) string {
	parts := strings.Split(path, "/")
	dn := d.base
	if parts[0] == "people" {
		dn = ldapsync.JoinDN(ldapsync.RDN("ou", "People"), dn)
		if len(parts) > 1 {
			dn = ldapsync.JoinDN(ldapsync.RDN("ou", parts[1]), dn)
		}
		return dn
	}
	return ldapsync.JoinDN(ldapsync.RDN("ou", "Disabled"), dn)
}

const (
	monthSCIMToken  = "month-hr-token-0123456789"
	monthAdminToken = "month-admin-token-0123456789"
	monthDownToken  = "month-app-token-0123456789"
)

var monthGroups = []string{"staff", "engineering", "sales", "support", "employees", "contractors", "interns"}

func newMonth(t *testing.T, backend string, slapd *testenv.SlapdServer, samba *testenv.SambaServer, redisSrv *testenv.RedisServer) *month {
	m := &month{t: t, backend: backend, clock: &monthClock{t: monthT0}, byNum: map[string]*person{}}
	saved := serveClock
	serveClock = m.clock.Now
	t.Cleanup(func() { serveClock = saved })
	t.Setenv("TENURE_SCIM_TOKEN", monthSCIMToken)
	t.Setenv("TENURE_ADMIN_TOKEN", monthAdminToken)
	t.Setenv("TENURE_APP_TOKEN", monthDownToken)
	t.Setenv("TENURE_SLAPD_PASSWORD", slapd.BindPassword())
	t.Setenv("TENURE_SAMBA_PASSWORD", samba.BindPassword())
	dir := t.TempDir()

	// The downstream app: a second Tenure whose source is the upstream.
	downCfg := filepath.Join(dir, "down.yaml")
	writeFile(t, downCfg, `
store: {kind: embedded, embedded: {path: `+filepath.Join(dir, "down.db")+`}}
sources: [{name: upstream, token: {env: TENURE_APP_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
`)
	m.down = startServe(t, downCfg)

	// The directories: a subtree per backend run, with the OUs and groups.
	for _, d := range []struct {
		target  string
		dialect ldapsync.AccountDialect
		srv     interface {
			URL() string
			CAFile() string
			BindDN() string
			BindPassword() string
		}
		root, rdn string
	}{
		{"openldap", ldapsync.OpenLDAP{}, slapd, testenv.SlapdBaseDN, "uid"},
		{"ad", ldapsync.AD{}, samba, testenv.SambaBaseDN, "cn"},
	} {
		p, err := ldapsync.New(ldapsync.Config{URL: d.srv.URL(), StartTLS: true, CAFile: d.srv.CAFile(),
			BindDN: d.srv.BindDN(), BindPassword: d.srv.BindPassword(), PoolSize: 4}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		md := &monthDir{target: d.target, dialect: d.dialect, p: p, srv: d.srv, rdn: d.rdn,
			base: ldapsync.JoinDN(ldapsync.RDN("ou", "Month, "+backend), d.root)}
		m.addOU(md, md.base)
		for _, ou := range []string{"people", "disabled"} {
			m.addOU(md, md.ou(ou))
		}
		m.addOU(md, ldapsync.JoinDN(ldapsync.RDN("ou", "Groups"), md.base))
		for _, dept := range departments {
			m.addOU(md, md.ou("people/"+dept))
		}
		for i, g := range monthGroups {
			dn := ldapsync.JoinDN(ldapsync.RDN("cn", g), ldapsync.JoinDN(ldapsync.RDN("ou", "Groups"), md.base))
			attrs := map[string][]string{"objectClass": {"groupOfNames"}, "cn": {g}, "member": {testenv.SlapdBindDN}}
			if d.target == "ad" {
				attrs = map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {fmt.Sprintf("month-%s-%d", backend, i)}}
			}
			m.add(md, dn, attrs)
		}
		m.ldap = append(m.ldap, md)
	}

	store := `{kind: embedded, embedded: {path: ` + filepath.Join(dir, "up.db") + `}}`
	if backend == "redis" {
		store = `{kind: redis, redis: {url: "redis://` + redisSrv.Addr() + `/0", prefix: month}}`
	}
	grants := func(gs ...string) string {
		var b strings.Builder
		for _, tg := range []string{"openldap", "ad", "app"} {
			fmt.Fprintf(&b, "%s: [%s], ", tg, strings.Join(gs, ", "))
		}
		return "{" + strings.TrimSuffix(b.String(), ", ") + "}"
	}
	ldapTarget := func(md *monthDir, srv interface {
		URL() string
		CAFile() string
	}, dialect, bindDN, secret, attrs string) string {
		people := md.ou("people")
		return fmt.Sprintf(`
  - name: %s
    kind: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: {env: %s}
      dialect: %s
      base_dn: '%s'
      users_ou: '%s'
      groups_ou: '%s'
      correlation_attribute: employeeNumber
      pool_size: 4
    container: 'rdn("ou", enterprise.department) + "," + r"%s"'
    attributes:%s
    references: {manager: manager}
    leaver: {mode: disable, move_to: '%s', delete_after: 720h}
`, md.target, srv.URL(), srv.CAFile(), bindDN, secret, dialect, md.base, people,
			ldapsync.JoinDN(ldapsync.RDN("ou", "Groups"), md.base), people, attrs, md.ou("disabled"))
	}
	upCfg := filepath.Join(dir, "up.yaml")
	writeFile(t, upCfg, `
store: `+store+`
sources: [{name: hr, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
engine: {poll: 20ms, sweep: 1h}
lifecycle:
  prehire_lead: 72h
  mover_grace: 72h
  correlation: 'enterprise.?employeeNumber.orValue("")'
  guard: {threshold: 20, window: 1h}  # realistic: a month of leavers never trips it
birthright:
  - {name: staff, when: 'true', grants: `+grants("staff")+`}
  - {name: engineering, when: 'enterprise.department == "Engineering"', grants: `+grants("engineering")+`}
  - {name: sales, when: 'enterprise.department == "Sales"', grants: `+grants("sales")+`}
  - {name: support, when: 'enterprise.department == "Support"', grants: `+grants("support")+`}
  - {name: employees, when: 'user.?userType.orValue("Employee") == "Employee"', grants: `+grants("employees")+`}
  - {name: contractors, when: 'user.?userType.orValue("") == "Contractor"', grants: `+grants("contractors")+`}
  - {name: interns, when: 'user.?userType.orValue("") == "Intern"', for: 2160h, grants: `+grants("interns")+`}
targets:`+
		ldapTarget(m.ldap[0], slapd, "openldap", slapd.BindDN(), "TENURE_SLAPD_PASSWORD", `
      uid: user.userName
      cn: user.name.givenName + " " + user.name.familyName
      sn: user.name.familyName
      title: user.?title
      employeeNumber: enterprise.employeeNumber
      departmentNumber: enterprise.department`)+
		ldapTarget(m.ldap[1], samba, "ad", samba.BindDN(), "TENURE_SAMBA_PASSWORD", `
      cn: user.userName
      sAMAccountName: user.userName
      givenName: user.name.givenName
      sn: user.name.familyName
      title: user.?title
      employeeNumber: enterprise.employeeNumber
      department: enterprise.department`)+`
  - name: app
    kind: scim
    scim:
      base_url: `+m.down.base+`/scim/v2
      auth: {bearer: {token: {env: TENURE_APP_TOKEN}}}
      create_groups: true
      rate_limit: 500
      burst: 50
    attributes:
      userName: user.userName
      name.givenName: user.name.givenName
      name.familyName: user.name.familyName
      title: user.?title
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber': enterprise.employeeNumber
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': enterprise.department
    references: {manager: manager}
    leaver: {mode: disable, delete_after: 720h}
`)
	m.up = startServe(t, upCfg)
	return m
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (m *month) add(d *monthDir, dn string, attrs map[string][]string) {
	m.t.Helper()
	err := d.p.Do(m.t.Context(), "add", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			req.Attribute(k, attrs[k])
		}
		return c.Add(req)
	})
	if err != nil {
		m.t.Fatalf("add %s: %v", dn, err)
	}
}

func (m *month) addOU(d *monthDir, dn string) {
	m.add(d, dn, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
}

// scim sends an HR request to the upstream and decodes the answer.
func (m *month) scim(method, path string, body any, want int) map[string]any {
	m.t.Helper()
	raw, _ := json.Marshal(body)
	if body == nil {
		raw = nil
	}
	code, _, out := m.up.request(m.t, method, "/scim/v2"+path, monthSCIMToken, string(raw))
	if code != want {
		m.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, out)
	}
	var v map[string]any
	_ = json.Unmarshal([]byte(out), &v)
	return v
}

const (
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	tenureSchema     = "urn:ietf:params:scim:schemas:extension:tenure:2.0:User"
)

// hire POSTs p.
func (m *month) hire(p *person) {
	m.t.Helper()
	ent := map[string]any{"employeeNumber": p.num, "department": p.dept}
	if p.manager != nil {
		ent["manager"] = map[string]any{"value": p.manager.id}
	}
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseSchema, tenureSchema},
		"userName": p.userName, "active": true, "title": p.title, "userType": p.userType,
		"timezone":       p.zone.String(),
		"name":           map[string]any{"givenName": "Given" + p.num, "familyName": "Family" + p.num},
		enterpriseSchema: ent,
		tenureSchema:     map[string]any{"startDate": p.start.Format("2006-01-02")},
	}
	p.id = m.scim("POST", "/Users", body, http.StatusCreated)["id"].(string)
	m.people = append(m.people, p)
	m.byNum[p.num] = p
}

func (m *month) patch(p *person, ops ...map[string]any) {
	m.t.Helper()
	m.scim("PATCH", "/Users/"+p.id, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops,
	}, http.StatusOK)
}

func replaceOp(path string, v any) map[string]any {
	return map[string]any{"op": "replace", "path": path, "value": v}
}

// at moves the clock to t and waits until everything due has converged.
func (m *month) at(t time.Time) {
	m.t.Helper()
	m.clock.Set(t)
	m.settle()
}

// settle waits until no job is in flight or due; short retries (a report
// waiting for its manager, a target's Retry-After) are run by moving the
// clock forward by at most a minute in all.
func (m *month) settle() {
	m.t.Helper()
	limit := m.clock.Now().Add(time.Minute)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var c struct {
			Scheduled, Inflight, Dead int
			OldestDue                 *time.Time
		}
		code, _, out := m.up.request(m.t, "GET", "/admin/v1/jobs/counts", monthAdminToken, "")
		if code != http.StatusOK || json.Unmarshal([]byte(out), &c) != nil {
			m.t.Fatalf("jobs counts: %d %s", code, out)
		}
		if c.Dead > 0 {
			_, _, jobs := m.up.request(m.t, "GET", "/admin/v1/jobs?state=dead", monthAdminToken, "")
			m.t.Fatalf("dead letters at %s: %s", m.clock.Now(), jobs)
		}
		now := m.clock.Now()
		switch {
		case c.Inflight > 0, c.OldestDue != nil && !c.OldestDue.After(now):
		case c.OldestDue != nil && c.OldestDue.Before(limit):
			m.clock.Set(*c.OldestDue) // a short retry: let it run
		default:
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("not settled at %s: %s", now, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check compares every target with the model.
func (m *month) check(step string) {
	m.t.Helper()
	now := m.clock.Now()
	for _, d := range m.ldap {
		m.checkDir(step, d, now)
	}
	m.checkApp(step, now)
}

// got is an account as read from a target.
type got struct {
	ou, title, dept, manager string // manager: the manager's employee number
	enabled                  bool
	groups                   []string
}

func (m *month) checkDir(step string, d *monthDir, now time.Time) {
	m.t.Helper()
	attrs := append([]string{"employeeNumber", "title", "departmentNumber", "department", "manager", "memberOf", d.dialect.AnchorAttribute()}, d.dialect.StatusAttributes()...)
	es, err := d.p.SearchAll(m.t.Context(), ldap.NewSearchRequest(d.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		ldapsync.Present("employeeNumber").String(), attrs, nil), 200)
	if err != nil {
		m.t.Fatalf("%s: read %s: %v", step, d.target, err)
	}
	numByDN := map[string]string{}
	for _, e := range es {
		numByDN[strings.ToLower(e.DN)] = e.GetAttributeValue("employeeNumber")
	}
	seen := map[string]got{}
	for _, e := range es {
		num := e.GetAttributeValue("employeeNumber")
		if _, dup := seen[num]; dup {
			m.t.Errorf("%s: %s: employee %s has two accounts", step, d.target, num)
		}
		parent, _ := ldapsync.Parent(e.DN)
		g := got{title: e.GetAttributeValue("title"), enabled: !d.dialect.SetEnabled(ldap.NewModifyRequest(e.DN, nil), e, true)}
		g.dept = e.GetAttributeValue("departmentNumber") + e.GetAttributeValue("department")
		for _, ou := range []string{"people/Engineering", "people/Sales", "people/Support", "disabled"} {
			if ldapsync.EqualDN(parent, d.ou(ou)) {
				g.ou = ou
			}
		}
		if g.ou == "" {
			g.ou = parent
		}
		if mgr := e.GetAttributeValue("manager"); mgr != "" {
			g.manager = numByDN[strings.ToLower(mgr)]
			if g.manager == "" {
				g.manager = "?" + mgr
			}
		}
		for _, gdn := range e.GetEqualFoldAttributeValues("memberOf") {
			if _, cn, err := ldapsync.RDNValue(gdn); err == nil {
				g.groups = append(g.groups, cn)
			}
		}
		slices.Sort(g.groups)
		seen[num] = g
	}
	m.compare(step, d.target, now, seen, true)
}

func (m *month) checkApp(step string, now time.Time) {
	m.t.Helper()
	seen := map[string]got{}
	numByID := map[string]string{}
	type user struct {
		ID, Title string
		Active    *bool
		Ent       map[string]any `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
		Groups    []struct{ Display string }
	}
	var users []user
	for start := 1; ; start += 100 {
		var page struct {
			TotalResults int
			Resources    []user
		}
		code, _, out := m.down.request(m.t, "GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=100", start), monthDownToken, "")
		if code != http.StatusOK || json.Unmarshal([]byte(out), &page) != nil {
			m.t.Fatalf("%s: list the app's users: %d %s", step, code, out)
		}
		users = append(users, page.Resources...)
		if len(page.Resources) == 0 || start+len(page.Resources) > page.TotalResults {
			break
		}
	}
	for _, u := range users {
		num, _ := u.Ent["employeeNumber"].(string)
		numByID[u.ID] = num
	}
	for _, u := range users {
		num, _ := u.Ent["employeeNumber"].(string)
		if _, dup := seen[num]; dup {
			m.t.Errorf("%s: app: employee %s has two accounts", step, num)
		}
		g := got{title: u.Title, enabled: u.Active == nil || *u.Active}
		g.dept, _ = u.Ent["department"].(string)
		if mgr, ok := u.Ent["manager"].(map[string]any); ok {
			id, _ := mgr["value"].(string)
			g.manager = numByID[id]
		}
		for _, gr := range u.Groups {
			g.groups = append(g.groups, gr.Display)
		}
		slices.Sort(g.groups)
		seen[num] = g
	}
	m.compare(step, "app", now, seen, false)
}

// compare checks what a target holds against the model; ous says whether
// the target has OUs.
func (m *month) compare(step, target string, now time.Time, seen map[string]got, ous bool) {
	m.t.Helper()
	for _, p := range m.people {
		w := p.expect(now)
		g, ok := seen[p.num]
		delete(seen, p.num)
		if ok != w.exists {
			m.t.Errorf("%s: %s: employee %s exists %v, want %v", step, target, p.num, ok, w.exists)
			continue
		}
		if !ok {
			continue
		}
		wantMgr := ""
		if w.manager != nil && w.manager.expect(now).exists {
			wantMgr = w.manager.num
		}
		var problems []string
		if ous && g.ou != w.ou {
			problems = append(problems, fmt.Sprintf("ou %s, want %s", g.ou, w.ou))
		}
		if g.enabled != w.enabled {
			problems = append(problems, fmt.Sprintf("enabled %v, want %v", g.enabled, w.enabled))
		}
		if g.title != w.title || g.dept != w.dept {
			problems = append(problems, fmt.Sprintf("title/department %q/%q, want %q/%q", g.title, g.dept, w.title, w.dept))
		}
		if !slices.Equal(g.groups, w.groups) {
			problems = append(problems, fmt.Sprintf("groups %v, want %v", g.groups, w.groups))
		}
		if g.manager != wantMgr {
			problems = append(problems, fmt.Sprintf("manager %q, want %q", g.manager, wantMgr))
		}
		if len(problems) > 0 {
			m.t.Errorf("%s: %s: employee %s: %s", step, target, p.num, strings.Join(problems, "; "))
		}
	}
	for num := range seen {
		m.t.Errorf("%s: %s: an account for %q, whom HR never hired", step, target, num)
	}
}

// run is the month.
func (m *month) run() {
	// Day 0: 200 hires. Ten managers first; 150 start today, 50 later in
	// the month; every tenth a contractor, every tenth an intern; three
	// time zones. One manager is hired now but starts on day 12, after
	// the ten reports who already work for them.
	late := &person{num: "M9999", userName: "late.manager", dept: "Sales", title: "Head of Sales",
		userType: "Employee", zone: time.UTC, start: day(12)}
	var managers []*person
	for i := range 200 {
		p := &person{
			num: fmt.Sprintf("E%04d", i), userName: fmt.Sprintf("p%03d", i),
			dept: departments[i%3], title: []string{"Engineer", "Account Executive", "Agent"}[i%3],
			userType: "Employee", start: day(0),
		}
		p.zone, _ = time.LoadLocation(zones[i%len(zones)])
		switch i % 10 {
		case 7:
			p.userType = "Contractor"
		case 9:
			p.userType = "Intern"
		}
		if i >= 150 {
			p.start = day(5 + (i-150)/2)
		}
		if i < 10 {
			p.title = "Manager"
			managers = append(managers, p)
		} else {
			p.manager = managers[i%10]
		}
		if i == 10 {
			m.hire(late)
		}
		if i > 10 && i < 20 {
			p.manager = late
		}
		m.hire(p)
	}
	m.settle()
	m.check("day 0: hires")

	// Day 5: twenty movers change department and title; half of them
	// also get a new manager.
	m.at(day(5))
	for i, p := range m.people[21:41] {
		p.oldDept, p.moved = p.dept, m.clock.Now()
		p.dept = departments[(slices.Index(departments, p.dept)+1)%3]
		p.title = "Senior " + p.title
		ops := []map[string]any{replaceOp(enterpriseSchema+":department", p.dept), replaceOp("title", p.title)}
		if i%2 == 0 {
			p.manager = managers[(i/2)%len(managers)]
			ops = append(ops, replaceOp(enterpriseSchema+":manager", map[string]any{"value": p.manager.id}))
		}
		m.patch(p, ops...)
	}
	m.settle()
	m.check("day 5: movers in their grace")

	// Day 7: an employee becomes a contractor: employee access goes now.
	m.at(day(7))
	conv := m.byNum["E0042"]
	conv.userType = "Contractor"
	m.patch(conv, replaceOp("userType", "Contractor"))
	m.settle()
	m.check("day 7: conversion")

	// Day 8: the movers' grace has ended: old groups gone.
	m.at(day(8).Add(time.Hour))
	m.check("day 8: after the grace")

	// Day 9: the late manager's account appears (three days ahead of
	// their start); their reports are woken and get them as manager.
	m.at(day(9))
	m.check("day 9: the late manager's account")

	// Day 10: ten leave now; five have their last day on day 20.
	m.at(day(10))
	for _, p := range m.people[51:61] {
		p.left = m.clock.Now()
		m.patch(p, replaceOp("active", false))
	}
	for _, p := range m.people[61:66] {
		p.left = time.Date(2026, 11, 23, 0, 0, 0, 0, p.zone) // the end of 22 November, local
		m.patch(p, replaceOp(tenureSchema+":endDate", "2026-11-22"))
	}
	m.settle()
	m.check("day 10: leavers")

	// Day 12: the late manager starts.
	m.at(day(12).Add(time.Hour))
	m.check("day 12: the late manager starts")

	// Day 15: three leavers come back inside the delete window.
	m.at(day(15))
	for _, p := range m.people[51:54] {
		p.left = time.Time{}
		m.patch(p, replaceOp("active", true))
	}
	m.settle()
	m.check("day 15: rehires inside the window")

	// Day 21 and 24: the future-dated leavers leave, whatever their zone.
	m.at(day(21))
	m.check("day 21")
	m.at(day(24))
	m.check("day 24: future-dated leavers gone")

	// Day 40: the day-10 leavers who did not return are deleted.
	m.at(day(40).Add(time.Hour))
	m.check("day 40: deleted 30 days after leaving")

	// Day 41: one of them is hired again, as a new HR record with the same
	// employee number: the same person, a new account, no duplicate.
	m.at(day(41))
	back := m.byNum["E0057"]
	m.people = slices.DeleteFunc(m.people, func(p *person) bool { return p == back })
	again := &person{num: back.num, userName: back.userName + ".b", dept: back.dept, title: back.title,
		userType: "Employee", zone: back.zone, start: day(41), manager: back.manager}
	m.hire(again)
	m.settle()
	m.check("day 41: rehired after the delete")
	m.recommended("day 41")

	// Day 91: the interns' 90 days are over.
	m.at(day(91))
	m.check("day 91: interns' access ended")
}

// recommended checks that the recommendations, asked to count what the
// policy grants too, find the birthright rules the month's policy was
// written with, from what people hold on each target: staff for
// everyone, a group per department, one per userType (interns' 90 days
// still run on day 41).
func (m *month) recommended(step string) {
	m.t.Helper()
	q := "include-granted=true&attribute=enterprise.department&attribute=userType"
	code, _, body := m.up.request(m.t, "GET", "/admin/v1/recommendations?"+q, monthAdminToken, "")
	if code != http.StatusOK {
		m.t.Fatalf("%s: recommendations: %d %s", step, code, body)
	}
	var rep struct {
		Suggestions []struct {
			Target, Entitlement, When string
			Group                     []struct{ Attribute, Value string }
		}
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		m.t.Fatal(err)
	}
	found := map[string]bool{}
	for _, s := range rep.Suggestions {
		var conds []string
		for _, c := range s.Group {
			conds = append(conds, c.Attribute+"="+c.Value)
		}
		found[s.Target+" "+s.Entitlement+" "+strings.Join(conds, ",")] = true
	}
	want := map[string]string{"staff": ""}
	for _, d := range departments {
		want[deptGroup(d)] = "enterprise.department=" + d
	}
	for _, ut := range []string{"Employee", "Contractor", "Intern"} {
		want[strings.ToLower(ut)+"s"] = "userType=" + ut
	}
	for _, tg := range []string{"openldap", "ad", "app"} {
		for ent, cond := range want {
			if !found[tg+" "+ent+" "+cond] {
				m.t.Errorf("%s: no suggestion of %s on %s for %q; got %v", step, ent, tg, cond, slices.Sorted(maps.Keys(found)))
			}
		}
	}
}
