package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// TestOwnershipModel is issue 13's acceptance test for account ownership: a
// seeded, reproducible random walk of SCIM writes (joiners with colliding
// names, renames, moves, leavers, rehires by activation and by a new record
// with the leaver's employee number, duplicate posts, refused names,
// DELETEs), hand-made entries added to the directory behind Tenure's back
// and clock jumps past the mover grace, the conflict recheck and the leaver
// delete, over ~50 people on a real slapd, on both backends and with both
// collision rules. After every step it converges what is due and checks,
// reading the store and the directory directly:
//
//  1. no anchor is linked to two people, and the owner index agrees with
//     the links; every linked anchor exists and carries its person's
//     employee number, and every entry carrying a person's number is
//     linked to that person;
//  2. every hand-made entry is byte for byte as it was made (operational
//     attributes included): not modified, moved, deleted or made a group
//     member;
//  3. no active person's account is disabled, moved to the disabled OU or
//     deleted; an active person without a parked conflict has an enabled
//     account of their own in their department's OU with their groups; a
//     leaver without one has a disabled account in the disabled OU, or none
//     after delete_after.
//
// The model also fixes the answer to every request (201/200/204/409/400),
// who is active, which person each SCIM record speaks for and who holds
// each employee number (the correlation key), by the intake's rules (see
// modelWorld.intake), and checks the store agrees: its people, their
// records' user and key, the user → person and correlation indexes.
//
// TENURE_MODEL_SEED (comma-separated) replaces the default seeds and
// TENURE_MODEL_STEPS the number of steps (default 500 per collision rule
// and backend, 2,000 in all: under two minutes with -race on two idle
// CPUs; 1500 steps take about two minutes without -race and over five
// with it); a failure prints the seed, the command that replays it and the
// last steps. TestOwnershipModelKeyTakenBack and
// TestOwnershipModelParkedGrants are the first failures it found, shrunk.

// modelSeeds are the seeds CI runs; each runs every collision rule on every
// backend.
var modelSeeds = []uint64{1306}

const (
	modelDefaultSteps = 500
	modelShortSteps   = 150
	modelPeople       = 50 // employee numbers; a few more people (records kept apart)
	modelLogTail      = 40 // steps printed on failure
)

// modelLocals are the local parts userNames draw from: fewer than people,
// so names collide across domains (coll@a.com, coll@b.com) and in case
// (Kase@a.com, kase@b.com), both one uid.
var modelLocals = []string{
	"ada", "grace", "alan", "coll", "kase", "linus", "barbara", "ken", "dennis", "margaret",
	"edsger", "donald", "frances", "john", "radia", "tim", "vint", "hedy", "katherine", "niklaus",
	"leslie", "shafi", "sophie", "guido", "rob", "ivan", "jean", "anita", "fran", "mary",
}

var modelDomains = []string{"a.com", "b.com", "c.org"}

// modelBadNames are refused by the SCIM layer (400) whatever else holds.
var modelBadNames = []string{
	" ada@a.com", "ada@a.com ", "ada\t@a.com", "ada\u200b@a.com", "\u202eada@a.com", "ada@a.com\n", "a\u00adda@b.com",
}

var modelDepts = []string{"Engineering", "Sales"}

var modelDeptGroup = map[string]string{"Engineering": "engineering", "Sales": "sales, EMEA"}

func TestOwnershipModel(t *testing.T) {
	seeds := modelSeeds
	if s := os.Getenv("TENURE_MODEL_SEED"); s != "" {
		seeds = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("TENURE_MODEL_SEED: %v", err)
			}
			seeds = append(seeds, n)
		}
	}
	steps := modelDefaultSteps
	if testing.Short() {
		steps = modelShortSteps
	}
	if s := os.Getenv("TENURE_MODEL_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TENURE_MODEL_STEPS: %q", s)
		}
		steps = n
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			for _, mode := range []string{ldapsync.CollisionFail, ldapsync.CollisionSuffix} {
				t.Run(mode, func(t *testing.T) {
					forEachBackend(t, func(t *testing.T, b backend) {
						modelRun(t, b, mode, seed, steps)
					})
				})
			}
		})
	}
}

// modelUser is one SCIM user as the model knows it.
type modelUser struct {
	label    string // u<n>, stable across runs (SCIM ids are not)
	id       string
	userName string
	emp      string // employee number: the correlation key; never changes
	dept     string
	given    string
	active   bool
}

// modelPerson is one person (lifecycle record).
type modelPerson struct {
	label   string // the employee number; a second person with it adds ~<user>
	emp     string
	id      string // the SCIM id of their first record
	corr    string // the key their record names ("": none)
	active  bool
	speaker *modelUser // the record that is this person now; nil once deleted
}

// modelHand is an entry made by hand in a managed OU.
type modelHand struct {
	label, dn, uuid string
	snap            map[string][]string
}

// modelSeen is an active person's account at the last check.
type modelSeen struct {
	anchor string
	good   bool // enabled, not in the disabled OU
}

type modelWorld struct {
	t     *testing.T
	rng   *rand.Rand
	e     *env
	f     *dirFixture
	mode  string
	seed  uint64
	steps int

	users   []*modelUser // existing SCIM users, in creation order
	nUsers  int
	persons []*modelPerson          // in order of appearance
	emps    []string                // employee numbers in use, in order
	holders map[string]*modelPerson // employee number → who holds it (the correlation index)
	hand    []*modelHand
	nHand   int

	step      int
	log       []string
	prev      map[string]modelSeen // by person label
	conflicts map[string]time.Time // parked people: since when
	// prevEnabledLeaver: leavers whose parked conflict keeps their
	// account enabled, at the last check.
	prevEnabledLeaver map[string]bool
	notes             []string // leavers a parked conflict left enabled (logged)
	stats             map[string]int
}

func modelRun(t *testing.T, b backend, mode string, seed uint64, steps int) {
	began := time.Now()
	f := slapdDirectory(t).fixture(t)
	d, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
		BaseDN: f.base, UsersDN: ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base), GroupsDN: f.groups,
		CorrelationAttribute: "employeeNumber", Collision: mode,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, b, modelPolicy(f), map[string]targets.Target{"dir": d})
	w := &modelWorld{
		// Each collision rule walks its own sequence (the stream is the
		// rule name's length); both backends walk the same one.
		t: t, rng: rand.New(rand.NewPCG(seed, uint64(len(mode)))), e: e, f: f, mode: mode, seed: seed, steps: steps,
		holders: map[string]*modelPerson{}, prev: map[string]modelSeen{}, conflicts: map[string]time.Time{}, stats: map[string]int{},
	}
	t.Logf("seed %d, %d steps, collision %s, backend %s", seed, steps, mode, b.name)
	defer w.dump()
	for w.step = 1; w.step <= steps; w.step++ {
		e.clock.Add(time.Minute) // distinct times keep the queue's order deterministic
		w.op()
		e.run()
		w.check()
		if t.Failed() {
			t.FailNow()
		}
	}
	active := 0
	for _, p := range w.persons {
		if p.active {
			active++
		}
	}
	parked := 0.0
	for _, r := range []targets.ConflictReason{targets.ConflictOwned, targets.ConflictCollision, targets.ConflictAmbiguous} {
		parked += e.metric("tenure_engine_conflicts_total", "target", "dir", "reason", string(r))
	}
	if parked < float64(w.stats["conflict"]) {
		t.Errorf("tenure_engine_conflicts_total is %v after %d conflicts", parked, w.stats["conflict"])
	}
	t.Logf("%d steps in %v: %d people (%d active), %d SCIM users, %d hand-made entries; %v",
		steps, time.Since(began).Round(time.Millisecond), len(w.persons), active, len(w.users), len(w.hand), w.statLine())
	for _, n := range w.notes {
		t.Logf("note: %s", n)
	}
}

func modelPolicy(f *dirFixture) string {
	return fmt.Sprintf(`
lifecycle:
  timezone: UTC
  prehire_lead: 0s
  mover_grace: 72h
  correlation: 'enterprise.?employeeNumber.orValue("")'
  guard: {threshold: -1}
birthright:
  - {name: staff, when: 'true', grants: {dir: [staff]}}
  - {name: engineering, when: 'enterprise.?department.orValue("") == "Engineering"', grants: {dir: [engineering]}}
  - {name: sales, when: 'enterprise.?department.orValue("") == "Sales"', grants: {dir: ["sales, EMEA"]}}
targets:
  - name: dir
    kind: test-directory # built by the test
    container: 'rdn("ou", enterprise.?department.orValue("Engineering")) + "," + r"%s"'
    attributes:
      uid: 'user.userName.split("@")[0]'
      cn: 'user.name.givenName + " " + user.name.familyName'
      sn: 'user.name.familyName'
      employeeNumber: 'enterprise.employeeNumber'
      departmentNumber: 'enterprise.?department'
      userPassword: '"%s"'
    leaver: {mode: disable, move_to: '%s', delete_after: 48h}
`, f.base, dirPassword, f.disabled)
}

// --- the log ---

func (w *modelWorld) logf(format string, args ...any) {
	line := fmt.Sprintf("step %4d %s  ", w.step, w.e.clock.Now().Format("01-02 15:04"))
	w.log = append(w.log, line+fmt.Sprintf(format, args...))
}

func (w *modelWorld) dump() {
	if !w.t.Failed() {
		return
	}
	from := max(0, len(w.log)-modelLogTail)
	w.t.Logf("replay: TENURE_MODEL_SEED=%d TENURE_MODEL_STEPS=%d CI=true go test ./engine -run 'TestOwnershipModel/seed=%d/%s/%s'\nlast steps:\n%s",
		w.seed, min(w.step, w.steps), w.seed, w.mode, w.e.b.name, strings.Join(w.log[from:], "\n"))
}

func (w *modelWorld) statLine() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w.stats)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, w.stats[k]))
	}
	return strings.Join(parts, " ")
}

// --- requests ---

func (w *modelWorld) send(method, path string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, w.e.http.URL+"/scim/v2"+path, rd)
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out
}

// expect checks a request's answer; scimType, when set, too.
func (w *modelWorld) expect(what string, got int, out map[string]any, want int, scimType string) {
	w.t.Helper()
	w.stats[fmt.Sprintf("http%d", got)]++
	if got != want {
		w.t.Fatalf("step %d: %s: status %d, want %d: %v", w.step, what, got, want, out)
	}
	if scimType != "" && out["scimType"] != scimType {
		w.t.Fatalf("step %d: %s: scimType %v, want %s: %v", w.step, what, out["scimType"], scimType, out)
	}
}

func (w *modelWorld) userBody(u *modelUser) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    u.userName,
		"active":      u.active,
		"name":        map[string]any{"givenName": u.given, "familyName": "Model"},
		enterpriseURN: map[string]any{"employeeNumber": u.emp, "department": u.dept},
	}
}

func (w *modelWorld) patch(u *modelUser, ops ...map[string]any) (int, map[string]any) {
	return w.send("PATCH", "/Users/"+u.id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	})
}

// --- choices ---

func (w *modelWorld) pick(n int) int { return w.rng.IntN(n) }

func (w *modelWorld) chance(p float64) bool { return w.rng.Float64() < p }

func (w *modelWorld) caseVariant(s string) string {
	switch w.pick(6) {
	case 0:
		return strings.ToUpper(s[:1]) + s[1:]
	case 1:
		return strings.ToUpper(s)
	}
	return s
}

func (w *modelWorld) randomName() string {
	return w.caseVariant(modelLocals[w.pick(len(modelLocals))]) + "@" + modelDomains[w.pick(len(modelDomains))]
}

// taken reports whether a user other than self holds name (userName is
// unique per source, case-insensitively).
func (w *modelWorld) taken(name string, self *modelUser) *modelUser {
	for _, u := range w.users {
		if u != self && strings.EqualFold(u.userName, name) {
			return u
		}
	}
	return nil
}

// speakerOf is the person u is the record of now (nil: none).
func (w *modelWorld) speakerOf(u *modelUser) *modelPerson {
	for _, p := range w.persons {
		if p.speaker == u {
			return p
		}
	}
	return nil
}

func (w *modelWorld) speaks(u *modelUser) bool { return w.speakerOf(u) != nil }

func (w *modelWorld) personByID(id string) *modelPerson {
	for _, p := range w.persons {
		if p.id == id {
			return p
		}
	}
	return nil
}

// modelIntake is what the engine's intake makes of a user write.
type modelIntake struct {
	refused bool         // 409 uniqueness
	person  *modelPerson // the person the record is after the write; nil: nobody (no lifecycle change)
	fresh   bool         // a new person, whose id is the record's
	take    bool         // the person takes the record's correlation key
	why     string
}

// intake predicts the engine's intake for a write leaving u active or not
// (u.id is "" for a POST). The record is its person's if it speaks for
// one; else, if the key's holder has left, theirs (someone coming back
// through it); else, if it is a person's superseded first record, nobody's
// (refused if it would become active); else a new person's. A person
// must claim the key when their record does not name it or someone else
// holds it: free when nobody holds it, they hold it or its holder left;
// held by an active person, an inactive write is stored without it and an
// active one refused.
func (w *modelWorld) intake(u *modelUser, active bool) modelIntake {
	key, h, r := u.emp, w.holders[u.emp], w.speakerOf(u)
	var in modelIntake
	if r == nil {
		switch first := w.personByID(u.id); {
		case h != nil && !h.active:
			r, in.why = h, "the record of "+h.label+", who left"
		case first != nil && active:
			return modelIntake{refused: true, why: "superseded first record of " + first.label}
		case first != nil:
			return modelIntake{why: "superseded first record of " + first.label + ": nobody's"}
		default:
			in.fresh, in.why = true, "a new person"
		}
	}
	if in.fresh || r.corr != key || h != r {
		switch {
		case h == nil || h == r || !h.active:
			in.take = true
		case !active:
			in.why += ", without " + key + " (" + h.label + "'s)"
		default:
			return modelIntake{refused: true, why: key + " belongs to active " + h.label}
		}
	}
	in.person = r
	return in
}

// apply records a write the intake accepted (u as written).
func (w *modelWorld) apply(u *modelUser, in modelIntake) {
	p := in.person
	if in.fresh {
		p = &modelPerson{label: u.emp, emp: u.emp, id: u.id}
		if slices.ContainsFunc(w.persons, func(o *modelPerson) bool { return o.emp == u.emp }) {
			p.label = u.emp + "~" + u.label
			w.stats["secondPerson"]++
		}
		w.persons = append(w.persons, p)
	}
	if p == nil {
		return
	}
	if p.active != u.active {
		w.stats[map[bool]string{true: "started", false: "left"}[u.active]]++
	}
	p.speaker, p.active = u, u.active
	if in.take {
		if h := w.holders[u.emp]; h == nil {
			w.emps = append(w.emps, u.emp)
		} else if h != p {
			w.stats["keyMoved"]++
		}
		w.holders[u.emp], p.corr = p, u.emp
	}
}

// usersWhere lists the users matching keep, in creation order.
func (w *modelWorld) usersWhere(keep func(*modelUser) bool) []*modelUser {
	var out []*modelUser
	for _, u := range w.users {
		if keep(u) {
			out = append(out, u)
		}
	}
	return out
}

func (w *modelWorld) describe(u *modelUser) string {
	state := "inactive"
	if u.active {
		state = "active"
	}
	role := "superseded"
	if p := w.speakerOf(u); p != nil {
		role = "of " + p.label
	}
	return fmt.Sprintf("%s(%s %s %s %s %s)", u.label, u.userName, u.emp, u.dept, state, role)
}

// --- operations ---

func (w *modelWorld) op() {
	ops := []struct {
		weight int
		run    func() bool // false: not possible now, pick again
	}{
		{22, w.opCreate},
		{10, w.opRename},
		{8, w.opMove},
		{10, w.opLeave},
		{7, w.opActivate},
		{6, w.opDelete},
		{5, w.opTouchSuperseded},
		{2, w.opBadName},
		{6, w.opHandMade},
		{1, w.opRemoveHandMade},
		{8, w.opAdvance},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for {
		n := w.pick(total)
		for _, o := range ops {
			if n < o.weight {
				if o.run() {
					return
				}
				break
			}
			n -= o.weight
		}
	}
}

// opCreate posts a new user: a new person, a duplicate of a user's name
// (409), an active person's employee number (409) or a leaver's (rehire).
func (w *modelWorld) opCreate() bool {
	name := w.randomName()
	if len(w.users) > 0 && w.chance(0.12) {
		// The same POST again, or the name in another case.
		name = w.users[w.pick(len(w.users))].userName
		if w.chance(0.5) {
			name = w.caseVariant(strings.ToLower(name))
		}
	}
	var active, left []string
	for _, emp := range w.emps {
		if w.holders[emp].active {
			active = append(active, emp)
		} else {
			left = append(left, emp)
		}
	}
	var emp string
	switch r := w.rng.Float64(); {
	case len(w.emps) < modelPeople && (r < 0.65 || len(w.emps) < 5):
		emp = fmt.Sprintf("E%02d", len(w.emps)+1)
	case len(left) > 0 && (r < 0.85 || len(active) == 0):
		emp = left[w.pick(len(left))]
	case len(active) > 0:
		emp = active[w.pick(len(active))]
	default:
		return false
	}
	u := &modelUser{userName: name, emp: emp, dept: modelDepts[w.pick(len(modelDepts))], active: true}
	u.given = strings.ToLower(strings.Split(name, "@")[0])
	status, out := w.send("POST", "/Users", w.userBody(u))
	if o := w.taken(name, nil); o != nil {
		w.logf("POST %s %s %s: userName taken by %s → %d", name, emp, u.dept, o.label, status)
		w.expect("duplicate userName", status, out, http.StatusConflict, "uniqueness")
		w.stats["dupName"]++
		return true
	}
	in := w.intake(u, true)
	if in.refused {
		w.logf("POST %s %s %s: %s → %d", name, emp, u.dept, in.why, status)
		w.expect("POST: "+in.why, status, out, http.StatusConflict, "uniqueness")
		w.stats["dupEmp"]++
		return true
	}
	w.expect("POST "+name, status, out, http.StatusCreated, "")
	w.nUsers++
	u.label, u.id = fmt.Sprintf("u%d", w.nUsers), out["id"].(string)
	w.users = append(w.users, u)
	w.apply(u, in)
	w.logf("POST %s: %s → %d", w.describe(u), in.why, status)
	return true
}

// write PATCHes u into next (its userName, department or active) and
// checks the answer against the model.
func (w *modelWorld) write(u *modelUser, what string, next modelUser, ops ...map[string]any) bool {
	status, out := w.patch(u, ops...)
	desc := w.describe(u)
	if o := w.taken(next.userName, u); o != nil {
		w.logf("%s %s: userName taken by %s → %d", what, desc, o.label, status)
		w.expect(what+": the userName is taken", status, out, http.StatusConflict, "uniqueness")
		return false
	}
	in := w.intake(u, next.active)
	if in.refused {
		w.logf("%s %s: %s → %d", what, desc, in.why, status)
		w.expect(what+": "+in.why, status, out, http.StatusConflict, "uniqueness")
		w.stats["refused"]++
		return false
	}
	w.logf("%s %s: %s → %d", what, desc, in.why, status)
	w.expect(what, status, out, http.StatusOK, "")
	u.userName, u.dept, u.active = next.userName, next.dept, next.active
	w.apply(u, in)
	return true
}

// opRename changes a speaking record's userName: to a case variant of its
// own, to a name another user holds (409) or to another name.
func (w *modelWorld) opRename() bool {
	us := w.usersWhere(w.speaks)
	if len(us) == 0 {
		return false
	}
	u := us[w.pick(len(us))]
	name := w.randomName()
	if w.chance(0.2) {
		local, domain, _ := strings.Cut(u.userName, "@")
		name = w.caseVariant(strings.ToLower(local)) + "@" + domain
	}
	if name == u.userName {
		return false
	}
	w.rename(u, name)
	return true
}

func (w *modelWorld) rename(u *modelUser, name string) {
	next := *u
	next.userName = name
	if w.write(u, "rename → "+name, next, replace("userName", name)) {
		w.stats["rename"]++
	}
}

// opMove changes a speaking record's department.
func (w *modelWorld) opMove() bool {
	us := w.usersWhere(w.speaks)
	if len(us) == 0 {
		return false
	}
	w.move(us[w.pick(len(us))])
	return true
}

func (w *modelWorld) move(u *modelUser) {
	next := *u
	next.dept = "Sales"
	if u.dept == "Sales" {
		next.dept = "Engineering"
	}
	if w.write(u, "move → "+next.dept, next, replace(enterpriseURN+":department", next.dept)) {
		w.stats["move"]++
	}
}

// opLeave deactivates an active record.
func (w *modelWorld) opLeave() bool {
	us := w.usersWhere(func(u *modelUser) bool { return u.active })
	if len(us) == 0 {
		return false
	}
	u := us[w.pick(len(us))]
	next := *u
	next.active = false
	w.write(u, "leave", next, replace("active", false))
	return true
}

// opActivate activates an inactive record: a rehire when its person has
// left, 409 when its key belongs to an active person.
func (w *modelWorld) opActivate() bool {
	us := w.usersWhere(func(u *modelUser) bool { return !u.active })
	if len(us) == 0 {
		return false
	}
	u := us[w.pick(len(us))]
	next := *u
	next.active = true
	w.write(u, "activate", next, replace("active", true))
	return true
}

// opDelete deletes a SCIM user: its person's leaver if it speaks for an
// active person; nothing for a superseded record.
func (w *modelWorld) opDelete() bool {
	if len(w.users) == 0 {
		return false
	}
	i := w.pick(len(w.users))
	u := w.users[i]
	status, out := w.send("DELETE", "/Users/"+u.id, nil)
	w.logf("DELETE %s → %d", w.describe(u), status)
	w.expect("DELETE", status, out, http.StatusNoContent, "")
	if p := w.speakerOf(u); p != nil {
		if p.active {
			w.stats["left"]++
		}
		p.speaker, p.active = nil, false
	}
	w.users = slices.Delete(w.users, i, i+1)
	w.stats["delete"]++
	return true
}

// opTouchSuperseded renames or moves a record that no longer speaks for
// anyone (always inactive): see intake.
func (w *modelWorld) opTouchSuperseded() bool {
	us := w.usersWhere(func(u *modelUser) bool { return !w.speaks(u) })
	if len(us) == 0 {
		return false
	}
	u := us[w.pick(len(us))]
	if w.chance(0.5) {
		w.move(u)
	} else if name := w.randomName(); name != u.userName {
		w.rename(u, name)
	} else {
		return false
	}
	w.stats["touchSuperseded"]++
	return true
}

// opBadName posts or renames to a userName the SCIM layer refuses.
func (w *modelWorld) opBadName() bool {
	name := modelBadNames[w.pick(len(modelBadNames))]
	us := w.usersWhere(w.speaks)
	if len(us) > 0 && w.chance(0.5) {
		u := us[w.pick(len(us))]
		status, out := w.patch(u, replace("userName", name))
		w.logf("rename %s → %q → %d", w.describe(u), name, status)
		w.expect("rename to a refused userName", status, out, http.StatusBadRequest, "invalidValue")
	} else {
		u := &modelUser{userName: name, emp: fmt.Sprintf("E%02d", len(w.emps)+1), dept: "Engineering", given: "bad", active: true}
		status, out := w.send("POST", "/Users", w.userBody(u))
		w.logf("POST %q → %d", name, status)
		w.expect("POST with a refused userName", status, out, http.StatusBadRequest, "invalidValue")
	}
	w.stats["badName"]++
	return true
}

// opHandMade adds an entry by hand in a managed OU: at a random name or at
// a name people have or may get, sometimes with an employee number that is
// nobody's (H…), never one a person has.
func (w *modelWorld) opHandMade() bool {
	if len(w.hand) >= 25 {
		return false
	}
	ou := "Engineering"
	switch r := w.pick(20); {
	case r < 7:
		ou = "Sales"
	case r < 10:
		ou = "Disabled"
	}
	w.nHand++
	uid := fmt.Sprintf("hm%d", w.nHand)
	if w.chance(0.7) {
		uid = w.caseVariant(modelLocals[w.pick(len(modelLocals))])
	}
	parent := ldapsync.JoinDN(ldapsync.RDN("ou", ou), w.f.base)
	dn := ldapsync.JoinDN(ldapsync.RDN("uid", uid), parent)
	attrs := map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":         {uid}, "cn": {"Hand " + uid}, "sn": {"Hand"}, "description": {"made by hand"},
	}
	if w.chance(0.5) {
		attrs["employeeNumber"] = []string{fmt.Sprintf("H%d", w.nHand)}
	}
	req := ldap.NewAddRequest(dn, nil)
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		req.Attribute(k, attrs[k])
	}
	err := w.f.p.Do(w.t.Context(), "add", func(c *ldap.Conn) error { return c.Add(req) })
	if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		w.logf("hand-made %s: the name is in use", dn)
		w.stats["handTaken"]++
		return true
	}
	if err != nil {
		w.t.Fatalf("add %s: %v", dn, err)
	}
	h := &modelHand{label: fmt.Sprintf("h%d", w.nHand), dn: dn}
	es := w.search(dn, ldap.ScopeBaseObject)
	if len(es) != 1 {
		w.t.Fatalf("hand-made %s: read back %d entries", dn, len(es))
	}
	h.snap, h.uuid = modelSnapshot(es[0]), es[0].GetAttributeValue("entryUUID")
	w.hand = append(w.hand, h)
	w.logf("hand-made %s %s %v", h.label, dn, attrs["employeeNumber"])
	w.stats["hand"]++
	return true
}

// opRemoveHandMade is an operator deleting a hand-made entry (resolving a
// collision by hand).
func (w *modelWorld) opRemoveHandMade() bool {
	if len(w.hand) == 0 {
		return false
	}
	i := w.pick(len(w.hand))
	h := w.hand[i]
	err := w.f.p.Do(w.t.Context(), "delete", func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(h.dn, nil)) })
	if err != nil {
		w.t.Fatalf("delete %s: %v", h.dn, err)
	}
	w.hand = slices.Delete(w.hand, i, i+1)
	w.logf("hand-made %s %s removed by hand", h.label, h.dn)
	w.stats["handRemoved"]++
	return true
}

// opAdvance moves the clock: minutes, past the conflict recheck, past
// delete_after (48h) or the mover grace (72h).
func (w *modelWorld) opAdvance() bool {
	d := []time.Duration{10 * time.Minute, time.Hour + time.Minute, 6 * time.Hour, 25 * time.Hour, 49 * time.Hour, 73 * time.Hour}[w.pick(6)]
	w.e.clock.Add(d)
	w.logf("advance %v", d)
	w.stats["advance"]++
	return true
}

// --- reading the world ---

func (w *modelWorld) search(base string, scope int) []*ldap.Entry {
	w.t.Helper()
	return w.searchFor(base, scope, "(objectClass=*)", "*", "+")
}

func (w *modelWorld) searchFor(base string, scope int, filter string, attrs ...string) []*ldap.Entry {
	w.t.Helper()
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	es, err := w.f.p.SearchAll(w.t.Context(), req, 0)
	if err != nil {
		w.t.Fatalf("search %s: %v", base, err)
	}
	return es
}

// modelSnapshot is every attribute of e, operational ones included.
func modelSnapshot(e *ldap.Entry) map[string][]string {
	out := map[string][]string{"dn": {e.DN}}
	for _, a := range e.Attributes {
		v := slices.Clone(a.Values)
		slices.Sort(v)
		out[strings.ToLower(a.Name)] = v
	}
	return out
}

// modelDNKey is dn in a form that compares as ldapsync.EqualDN does, for
// map keys.
func modelDNKey(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return "unparsable:" + dn
	}
	var b strings.Builder
	for _, rdn := range d.RDNs {
		for i, a := range rdn.Attributes {
			if i > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type) + "=" + strings.ToLower(a.Value))
		}
		b.WriteByte(0)
	}
	return b.String()
}

// modelStore is what the check reads of the engine's documents.
type modelStore struct {
	persons map[string]*mapper.Record
	users   map[string]string // SCIM id → person
	corr    map[string]string // source/"key" → person
	links   map[string]*engine.LinkState
	owners  map[string]string // anchor → person
}

func (w *modelWorld) readStore() *modelStore {
	w.t.Helper()
	s := &modelStore{persons: map[string]*mapper.Record{}, users: map[string]string{}, corr: map[string]string{},
		links: map[string]*engine.LinkState{}, owners: map[string]string{}}
	err := w.e.st.View(context.Background(), func(r store.Reader) error {
		clear(s.persons)
		clear(s.users)
		clear(s.corr)
		clear(s.links)
		clear(s.owners)
		scan := func(ns, prefix string, fn func(k string, v []byte) error) error {
			return r.ScanDocs(store.Namespace(ns), prefix, false, func(k string, v []byte) (bool, error) {
				return true, fn(strings.TrimPrefix(k, prefix), v)
			})
		}
		if err := scan("person", "", func(k string, v []byte) error {
			var rec mapper.Record
			s.persons[k] = &rec
			return json.Unmarshal(v, &rec)
		}); err != nil {
			return err
		}
		if err := scan("user", "", func(k string, v []byte) error { s.users[k] = string(v); return nil }); err != nil {
			return err
		}
		if err := scan("corr", "", func(k string, v []byte) error { s.corr[k] = string(v); return nil }); err != nil {
			return err
		}
		if err := scan("link", "dir/", func(k string, v []byte) error {
			var l engine.LinkState
			s.links[k] = &l
			return json.Unmarshal(v, &l)
		}); err != nil {
			return err
		}
		return scan("owner", "dir/", func(k string, v []byte) error { s.owners[k] = string(v); return nil })
	})
	if err != nil {
		w.t.Fatalf("reading the store: %v", err)
	}
	return s
}

// --- the invariants ---

func (w *modelWorld) errorf(format string, args ...any) {
	w.t.Helper()
	w.t.Errorf("step %d: "+format, append([]any{w.step}, args...)...)
}

func (w *modelWorld) check() {
	w.t.Helper()
	now := w.e.clock.Now()
	s := w.readStore()
	// Every entry, with what the checks read; the hand-made ones whole.
	entries := w.searchFor(w.f.base, ldap.ScopeWholeSubtree, "(objectClass=*)",
		"entryUUID", "employeeNumber", "pwdAccountLockedTime", "memberOf", "member")
	hand := map[string]*ldap.Entry{}
	if len(w.hand) > 0 {
		var f strings.Builder
		f.WriteString("(|")
		for _, h := range w.hand {
			f.WriteString(ldapsync.Eq("entryUUID", h.uuid).String())
		}
		f.WriteString(")")
		for _, e := range w.searchFor(w.f.base, ldap.ScopeWholeSubtree, f.String(), "*", "+") {
			hand[e.GetAttributeValue("entryUUID")] = e
		}
	}
	byUUID := map[string]*ldap.Entry{}
	byEmp := map[string][]*ldap.Entry{}
	for _, e := range entries {
		byUUID[e.GetAttributeValue("entryUUID")] = e
		for _, n := range e.GetEqualFoldAttributeValues("employeeNumber") {
			byEmp[n] = append(byEmp[n], e)
		}
	}
	label := func(pid string) string {
		if pid == "" {
			return ""
		}
		if p := w.personByID(pid); p != nil {
			return p.label
		}
		return "unknown person " + pid
	}

	// 1. One owner per anchor; the owner index and the links agree.
	holders := map[string][]string{} // anchor → people (labels)
	for _, pid := range slices.Sorted(maps.Keys(s.links)) {
		if l := s.links[pid]; l.ID != "" {
			holders[l.ID] = append(holders[l.ID], label(pid))
			if e, p := byUUID[l.ID], w.personByID(pid); e != nil && p != nil {
				if got := e.GetEqualFoldAttributeValues("employeeNumber"); !slices.Equal(got, []string{p.emp}) {
					w.errorf("%s, linked to %s, has employeeNumber %v", e.DN, p.label, got)
				}
			}
			if o := s.owners[l.ID]; o != pid {
				w.errorf("%s links anchor %s but the owner index names %q", label(pid), l.ID, label(o))
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(holders)) {
		if len(holders[a]) > 1 {
			w.errorf("anchor %s is linked to %v", a, holders[a])
		}
	}
	for _, a := range slices.Sorted(maps.Keys(s.owners)) {
		pid := s.owners[a]
		if l := s.links[pid]; l == nil || l.ID != a {
			w.errorf("the owner index gives anchor %s to %s, whose link names %v", a, label(pid), l)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(holders)) {
		if byUUID[a] == nil {
			w.errorf("anchor %s linked to %v is in no entry", a, holders[a])
		}
	}
	for _, emp := range slices.Sorted(maps.Keys(byEmp)) {
		if w.holders[emp] == nil {
			continue // hand-made
		}
		for _, e := range byEmp[emp] {
			uuid := e.GetAttributeValue("entryUUID")
			if !slices.ContainsFunc(w.persons, func(p *modelPerson) bool {
				l := s.links[p.id]
				return p.emp == emp && l != nil && l.ID == uuid
			}) {
				w.errorf("%s carries employee number %s but no person with it links it", e.DN, emp)
			}
		}
	}

	// 2. Hand-made entries are as they were made, and in no group.
	members := map[string]bool{}
	for _, e := range entries {
		for _, m := range e.GetEqualFoldAttributeValues("member") {
			members[modelDNKey(m)] = true
		}
	}
	for _, h := range w.hand {
		e := hand[h.uuid]
		if e == nil {
			w.errorf("hand-made %s %s was deleted", h.label, h.dn)
			continue
		}
		got := modelSnapshot(e)
		if !maps.EqualFunc(h.snap, got, slices.Equal[[]string]) {
			for _, k := range slices.Sorted(maps.Keys(got)) {
				if !slices.Equal(h.snap[k], got[k]) {
					w.errorf("hand-made %s %s: %s changed: %q → %q", h.label, h.dn, k, h.snap[k], got[k])
				}
			}
			for _, k := range slices.Sorted(maps.Keys(h.snap)) {
				if _, ok := got[k]; !ok {
					w.errorf("hand-made %s %s: %s removed: %q", h.label, h.dn, k, h.snap[k])
				}
			}
		}
		if members[modelDNKey(e.DN)] {
			w.errorf("hand-made %s %s is a group member", h.label, e.DN)
		}
	}

	// The model and the store agree on who is whom.
	wantUsers := map[string]string{}
	for _, p := range w.persons {
		rec := s.persons[p.id]
		if rec == nil {
			w.errorf("%s (%s) has no record", p.label, p.id)
			continue
		}
		st := rec.StateAt(now)
		if (st == mapper.StateActive) != p.active {
			w.errorf("%s is %s in the store, active=%v in the model", p.label, st, p.active)
		}
		if p.speaker != nil {
			wantUsers[p.speaker.id] = p.id
			if rec.UserID != p.speaker.id {
				w.errorf("%s's record speaks through user %q, the model's %s is %s", p.label, rec.UserID, w.describe(p.speaker), p.speaker.id)
			}
		} else if rec.UserID != "" {
			w.errorf("%s's record speaks through user %q, the model has none", p.label, rec.UserID)
		}
		if rec.Correlation != p.corr {
			w.errorf("%s's record names key %q, the model %q", p.label, rec.Correlation, p.corr)
		}
	}
	for _, emp := range w.emps {
		if got, want := s.corr["hr/"+strconv.Quote(emp)], w.holders[emp]; got != want.id {
			w.errorf("correlation key %s belongs to %s, not %s", emp, label(got), want.label)
		}
	}
	if len(s.corr) != len(w.emps) {
		w.errorf("%d correlation keys in the store, %d in the model: %v", len(s.corr), len(w.emps), s.corr)
	}
	userLabel := func(id string) string {
		for _, u := range w.users {
			if u.id == id {
				return w.describe(u)
			}
		}
		return "deleted user " + id
	}
	if len(s.persons) != len(w.persons) {
		for _, pid := range slices.Sorted(maps.Keys(s.persons)) {
			if rec := s.persons[pid]; label(pid) == "unknown person "+pid {
				w.errorf("the store has a person the model does not: %s, user %s, key %q, state %s",
					pid, userLabel(rec.UserID), rec.Correlation, rec.StateAt(now))
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		if got, want := s.users[id], wantUsers[id]; got != want {
			w.errorf("user %s is person %q in the store; want %q", userLabel(id), label(got), label(want))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(wantUsers)) {
		if _, ok := s.users[id]; !ok {
			w.errorf("user %s is no person in the store; want %s", userLabel(id), label(wantUsers[id]))
		}
	}

	// 3. Active people keep their accounts; leavers lose access.
	staff := ldapsync.JoinDN(ldapsync.RDN("cn", "staff"), w.f.groups)
	seen := map[string]modelSeen{}
	conflicts := map[string]time.Time{}
	enabledLeavers := map[string]bool{}
	for _, p := range w.persons {
		l := s.links[p.id]
		var e *ldap.Entry
		if l != nil && l.ID != "" {
			e = byUUID[l.ID]
		}
		parent := ""
		if e != nil {
			parent, _ = ldapsync.Parent(e.DN)
		}
		locked := e != nil && len(e.GetEqualFoldAttributeValues("pwdAccountLockedTime")) > 0
		inDisabled := e != nil && ldapsync.EqualDN(parent, w.f.disabled)
		conflict := l != nil && l.Conflict != nil
		if conflict {
			w.stats["parkedSeen"]++
			if since, ok := w.conflicts[p.label]; !ok || !since.Equal(l.Conflict.Since) {
				w.stats["conflict"]++
				w.auditedConflict(p, l.Conflict)
			}
			conflicts[p.label] = l.Conflict.Since
		}
		if l != nil && l.Name != "" {
			w.stats["suffixedSeen"]++
		}
		if !p.active {
			rec := s.persons[p.id]
			if rec == nil {
				continue // reported above
			}
			if conflict {
				if e != nil && !locked {
					w.stats["parkedLeaverEnabled"]++
					if _, ok := w.prevEnabledLeaver[p.label]; !ok && len(w.notes) < 5 {
						w.notes = append(w.notes, fmt.Sprintf("step %d: %s left at %v; %s stays enabled, parked: %v",
							w.step, p.label, rec.End.Format("01-02 15:04"), e.DN, l.Conflict.Error()))
					}
					enabledLeavers[p.label] = true
				}
				continue
			}
			if !now.Before(rec.End.Add(48 * time.Hour)) {
				if e != nil {
					w.errorf("%s left at %v and still has %s after delete_after", p.label, rec.End, e.DN)
				}
			} else if e != nil && (!locked || !inDisabled) {
				w.errorf("%s left at %v and has %s (locked %v)", p.label, rec.End, e.DN, locked)
			}
			if e != nil {
				for _, g := range e.GetEqualFoldAttributeValues("memberOf") {
					if ldapsync.UnderDN(g, w.f.groups) {
						w.errorf("%s left and %s is still in %s", p.label, e.DN, g)
					}
				}
			}
			continue
		}
		// Active: what the account was at the last check it still is.
		if was, ok := w.prev[p.label]; ok && was.good {
			cur := byUUID[was.anchor]
			switch {
			case cur == nil:
				w.errorf("active %s's account %s was deleted", p.label, was.anchor)
			case len(cur.GetEqualFoldAttributeValues("pwdAccountLockedTime")) > 0:
				w.errorf("active %s's account %s was disabled", p.label, cur.DN)
			case ldapsync.UnderDN(cur.DN, w.f.disabled):
				w.errorf("active %s's account was moved to %s", p.label, cur.DN)
			}
		}
		if e != nil {
			seen[p.label] = modelSeen{anchor: l.ID, good: !locked && !inDisabled}
		}
		if conflict {
			w.stats["parkedActive"]++
			continue
		}
		// No conflict: converged to their own account.
		u := p.speaker
		if e == nil {
			w.errorf("active %s (%s) has no account; link %+v", p.label, w.describe(u), l)
			continue
		}
		if locked || inDisabled {
			w.errorf("active %s has %s locked=%v", p.label, e.DN, locked)
		}
		if want := ldapsync.JoinDN(ldapsync.RDN("ou", u.dept), w.f.base); !ldapsync.EqualDN(parent, want) {
			w.errorf("active %s (%s) is %s, not in %s", p.label, w.describe(u), e.DN, want)
		}
		mapped := strings.Split(u.userName, "@")[0]
		wantName := mapped
		if l.Name != "" && l.Wanted == mapped {
			wantName = l.Name
			if w.mode != ldapsync.CollisionSuffix {
				w.errorf("%s has the numbered name %s under collision %s", p.label, l.Name, w.mode)
			}
		}
		if _, v, _ := ldapsync.RDNValue(e.DN); v != wantName {
			w.errorf("active %s (%s) is named %s, want uid %s", p.label, w.describe(u), e.DN, wantName)
		}
		groups := e.GetEqualFoldAttributeValues("memberOf")
		for _, g := range []string{staff, ldapsync.JoinDN(ldapsync.RDN("cn", modelDeptGroup[u.dept]), w.f.groups)} {
			if !slices.ContainsFunc(groups, func(m string) bool { return ldapsync.EqualDN(m, g) }) {
				w.errorf("active %s's %s is not in %s (groups %v)", p.label, e.DN, g, groups)
			}
		}
	}
	w.prev, w.conflicts, w.prevEnabledLeaver = seen, conflicts, enabledLeavers
}

// auditedConflict checks that a newly parked conflict was audited.
func (w *modelWorld) auditedConflict(p *modelPerson, c *engine.ConflictState) {
	w.t.Helper()
	v, err := w.e.eng.Identity(context.Background(), p.id)
	if err != nil {
		w.t.Fatalf("identity %s: %v", p.emp, err)
	}
	for _, ev := range v.Events {
		if ev.Kind == engine.EventConflict && ev.Target == "dir" && ev.At.Equal(c.Since) {
			return
		}
	}
	w.errorf("%s's conflict since %v (%v) has no conflict audit event", p.emp, c.Since, c.Error())
}

// TestOwnershipModelKeyTakenBack is TestOwnershipModel's first failure
// (seed 1306, collision fail, step 130, before ab062c6), shrunk: a record
// stored inactive with a live person's correlation key is a person of its
// own without the key; activated after the holder left, it takes the key
// (a joiner); the holder coming back through their own record must then
// claim the key again and is refused while the other is active. Before the
// fix the holder's record still named the key, the claim was skipped and
// two active people shared it (the second parked on the first's account).
func TestOwnershipModelKeyTakenBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := slapdDirectory(t).fixture(t)
		d, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
			BaseDN: f.base, UsersDN: ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base), GroupsDN: f.groups,
			CorrelationAttribute: "employeeNumber",
		})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, b, modelPolicy(f), map[string]targets.Target{"dir": d})
		w := &modelWorld{t: t, e: e, f: f, stats: map[string]int{}}
		user := func(name string, active bool) map[string]any {
			return w.userBody(&modelUser{userName: name, emp: "E1", dept: "Engineering", given: "ada", active: active})
		}
		status, out := w.send("POST", "/Users", user("ada@a.com", true))
		w.expect("POST ada@a.com", status, out, http.StatusCreated, "")
		ada := &modelUser{id: out["id"].(string)}
		e.run()
		status, out = w.send("POST", "/Users", user("ada@b.com", false))
		w.expect("POST ada@b.com inactive, with ada's key", status, out, http.StatusCreated, "")
		other := &modelUser{id: out["id"].(string)}
		e.run()

		e.clock.Add(time.Hour)
		status, out = w.patch(ada, replace("active", false))
		w.expect("ada leaves", status, out, http.StatusOK, "")
		e.run()
		e.clock.Add(time.Hour)
		status, out = w.patch(other, replace("active", true))
		w.expect("activating ada@b.com after ada left", status, out, http.StatusOK, "")
		e.run()
		e.clock.Add(time.Hour)
		status, out = w.patch(ada, replace("active", true))
		w.expect("activating ada@a.com while ada@b.com holds E1", status, out, http.StatusConflict, "uniqueness")
		e.run()

		s := w.readStore()
		var live []string
		for _, pid := range slices.Sorted(maps.Keys(s.persons)) {
			if rec := s.persons[pid]; rec.StateAt(e.clock.Now()) == mapper.StateActive {
				live = append(live, fmt.Sprintf("%s (user %s, key %q, link %+v)", pid, rec.UserID, rec.Correlation, s.links[pid]))
			}
		}
		if len(live) != 1 || s.corr[`hr/"E1"`] != other.id {
			t.Errorf("E1 is held by %q; active people:\n%s", s.corr[`hr/"E1"`], strings.Join(live, "\n"))
		}
		// ada's disabled account is still hers: ada@b.com is parked on it.
		f.want("E1", "Disabled", false)
		if l := s.links[other.id]; l == nil || l.Conflict == nil || l.Conflict.Owner != ada.id {
			t.Errorf("ada@b.com's link %+v, want parked on ada's account", l)
		}
	})
}

// TestOwnershipModelParkedGrants is TestOwnershipModel's second failure
// (seed 1306, collision fail, step 169, after c6ebbbc and before ab062c6),
// shrunk: a mover whose move collides is parked, and their groups converge
// on their own entry where it stands (the new department's group is
// granted); the link must record that state, or the leaver's revoke, which
// works from the last-applied state, leaves the group granted while parked
// on the disabled account.
func TestOwnershipModelParkedGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := slapdDirectory(t).fixture(t)
		d, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
			BaseDN: f.base, UsersDN: ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base), GroupsDN: f.groups,
			CorrelationAttribute: "employeeNumber", Collision: ldapsync.CollisionFail,
		})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, b, modelPolicy(f), map[string]targets.Target{"dir": d})
		w := &modelWorld{t: t, e: e, f: f, stats: map[string]int{}}
		post := func(name, emp, dept string) *modelUser {
			u := &modelUser{userName: name, emp: emp, dept: dept, given: "jean", active: true}
			status, out := w.send("POST", "/Users", w.userBody(u))
			w.expect("POST "+name, status, out, http.StatusCreated, "")
			u.id = out["id"].(string)
			e.run()
			return u
		}
		post("jean@b.com", "E1", "Engineering") // uid=jean,ou=Engineering
		other := post("jean@c.org", "E2", "Sales")
		f.want("E2", "Sales", true, "sales, EMEA", "staff")

		// The move to Engineering collides with E1's uid=jean: parked,
		// and granted engineering where it is.
		e.clock.Add(time.Hour)
		status, out := w.patch(other, replace(enterpriseURN+":department", "Engineering"))
		w.expect("move", status, out, http.StatusOK, "")
		e.run()
		s := w.readStore()
		if l := s.links[other.id]; l == nil || l.Conflict == nil {
			t.Fatalf("the colliding move is not parked: %+v", l)
		}
		f.want("E2", "Sales", true, "engineering", "sales, EMEA", "staff")

		// Leaves: disabled, moved to the disabled OU, no groups.
		e.clock.Add(time.Hour)
		status, out = w.patch(other, replace("active", false))
		w.expect("leaver", status, out, http.StatusOK, "")
		e.run()
		f.want("E2", "Disabled", false)
	})
}
