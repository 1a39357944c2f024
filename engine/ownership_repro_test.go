package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// Issue 13's reproductions, end to end: the real SCIM server and intake,
// the engine, and real slapd and Samba AD directories (and, where it
// applies, a downstream SCIM app). Every account is read from the
// directory or the app itself; "unchanged" is every attribute of the
// entry, operational ones included (OpenLDAP's entryCSN and
// modifyTimestamp, AD's uSNChanged and whenChanged), before and after.

// reproDirectories are the directories every reproduction runs against.
func reproDirectories() []struct {
	name  string
	start func(*testing.T) *directory
} {
	return []struct {
		name  string
		start func(*testing.T) *directory
	}{{"openldap", slapdDirectory}, {"ad", sambaDirectory}}
}

// reproCorrelation is the shipped configs' lifecycle.correlation line.
const reproCorrelation = "  correlation: 'enterprise.?employeeNumber.orValue(\"\")'\n"

// reproEnv is Tenure over one fresh directory (and optionally an app).
type reproEnv struct {
	*env
	f     *dirFixture
	users string // the users OU, where accounts are made
	app   scimtest.Server
}

// reproOptions choose a reproEnv's policy and targets.
type reproOptions struct {
	backend     int    // index into backends(t)
	collision   string // DirectoryOptions.Collision ("" is the default)
	correlation bool   // lifecycle.correlation on employeeNumber
	app         string // a downstream SCIM app as target "app": "baseline" (scimtest), "tenure" (Tenure's own server), "" none
}

// reproStart starts a directory of its own, prepares its OUs and groups and
// starts Tenure on it with the shipped-style mapping: the account's naming
// value is the part of userName before "@".
func reproStart(t *testing.T, start func(*testing.T) *directory, o reproOptions) *reproEnv {
	t.Helper()
	d := start(t)
	f := d.fixture(t)
	users := ldapsync.JoinDN(ldapsync.RDN("ou", "Engineering"), f.base)
	attrs := `
      uid: 'user.userName.split("@")[0]'
      cn: 'user.name.givenName + " " + user.name.familyName'
      sn: 'user.name.familyName'
      employeeNumber: 'enterprise.employeeNumber'`
	if d.name == "ad" {
		attrs = `
      cn: 'user.userName.split("@")[0]'
      sAMAccountName: 'user.userName.split("@")[0]'
      givenName: 'user.name.givenName'
      sn: 'user.name.familyName'
      employeeNumber: 'enterprise.employeeNumber'`
	}
	corr, appGrant, appTarget := "", "", ""
	if o.correlation {
		corr = reproCorrelation
	}
	if o.app != "" {
		appGrant = ", app: [Staff]"
		appTarget = `
  - name: app
    kind: test-scim
    attributes:
      userName: 'user.userName.split("@")[0]'
      externalId: 'enterprise.employeeNumber'
      name.givenName: 'user.name.givenName'
      name.familyName: 'user.name.familyName'
    leaver: {mode: disable, delete_after: 720h}
`
	}
	policy := fmt.Sprintf(`
lifecycle:
  timezone: UTC
  prehire_lead: 0s
  mover_grace: 72h
%sbirthright:
  - {name: staff, when: 'true', grants: {dir: [staff]%s}}
targets:
  - name: dir
    kind: test-directory
    container: 'rdn("ou", "Engineering") + "," + r"%s"'
    attributes:%s
    leaver: {mode: disable, move_to: '%s', delete_after: 720h}
%s`, corr, appGrant, f.base, attrs, f.disabled, appTarget)
	dir, err := ldapsync.NewDirectory(f.p, f.dialect, ldapsync.DirectoryOptions{
		BaseDN: f.base, UsersDN: users, GroupsDN: f.groups,
		CorrelationAttribute: "employeeNumber", ManagedDNs: []string{users, f.disabled},
		Collision: o.collision,
	})
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]targets.Target{"dir": dir}
	r := &reproEnv{f: f, users: users}
	if o.app != "" {
		if o.app == "tenure" {
			r.app = scimtest.NewTenure(t)
		} else {
			r.app = scimtest.NewBaseline(t)
		}
		real["app"] = scimTarget(t, r.app, scimclient.Options{}, 1000, 100)
	}
	r.env = newEnvWith(t, backends(t)[o.backend], policy, real)
	return r
}

// reproBody is a SCIM user with an employee number.
func reproBody(userName, empNo string) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    userName,
		"active":      true,
		"name":        map[string]any{"givenName": strings.Split(userName, "@")[0], "familyName": "Repro"},
		enterpriseURN: map[string]any{"employeeNumber": empNo},
	}
}

// reproSend sends a SCIM request and returns the status and JSON answer.
func (r *reproEnv) reproSend(method, path string, body any) (int, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.http.URL+"/scim/v2"+path, rd)
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out
}

// reproPost creates a user and returns its SCIM id.
func (r *reproEnv) reproPost(userName, empNo string) string {
	r.t.Helper()
	return r.do("POST", "/Users", reproBody(userName, empNo), http.StatusCreated)["id"].(string)
}

// reproUserCount counts the source's users named userName.
func (r *reproEnv) reproUserCount(userName string) int {
	r.t.Helper()
	out := r.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil, http.StatusOK)
	n, _ := out["totalResults"].(float64)
	return int(n)
}

// reproView is the engine's identity view of a person (by SCIM id).
func (r *reproEnv) reproView(id string) *engine.IdentityView {
	r.t.Helper()
	v, err := r.eng.Identity(context.Background(), id)
	if err != nil {
		r.t.Fatalf("identity %s: %v", id, err)
	}
	return v
}

// reproLink is a person's link state on target (never nil).
func (r *reproEnv) reproLink(id, target string) *engine.LinkState {
	r.t.Helper()
	ls := r.reproView(id).Targets[target].Link
	if ls == nil {
		return &engine.LinkState{}
	}
	return ls
}

// reproPerson is the person id of a SCIM user.
func (r *reproEnv) reproPerson(id string) string {
	r.t.Helper()
	return r.reproView(id).Record.ID
}

// reproWantConflict checks that the person is parked on target with a
// conflict of reason, and that it is audited; it returns the conflict.
func (r *reproEnv) reproWantConflict(id, target string, reason targets.ConflictReason) *engine.ConflictState {
	r.t.Helper()
	v := r.reproView(id)
	ls := v.Targets[target].Link
	if ls == nil || ls.Conflict == nil {
		r.t.Fatalf("%s on %s: link %+v, want a parked %s conflict", id, target, ls, reason)
	}
	if ls.Conflict.Reason != reason {
		r.t.Errorf("%s on %s: conflict %+v, want reason %s", id, target, ls.Conflict.Conflict, reason)
	}
	if !strings.Contains(ls.Result, "ownership conflict") {
		r.t.Errorf("%s on %s: result %q, want the conflict", id, target, ls.Result)
	}
	if !slices.ContainsFunc(v.Events, func(ev engine.Event) bool { return ev.Kind == engine.EventConflict && ev.Target == target }) {
		r.t.Errorf("%s on %s: no conflict event in %+v", id, target, v.Events)
	}
	r.reproNotDead(id, target)
	return ls.Conflict
}

// reproWantOK checks that the person's link on target converged and is
// not parked.
func (r *reproEnv) reproWantOK(id, target string) *engine.LinkState {
	r.t.Helper()
	ls := r.reproLink(id, target)
	if ls.Conflict != nil || ls.Result != "ok" || ls.ID == "" {
		r.t.Errorf("%s on %s: link %+v (conflict %+v), want converged", id, target, ls, ls.Conflict)
	}
	r.reproNotDead(id, target)
	return ls
}

// reproNotDead checks the person's key on target is not a dead letter.
func (r *reproEnv) reproNotDead(id, target string) {
	r.t.Helper()
	key := engine.Key(target, r.reproPerson(id))
	ent, err := r.q.Get(context.Background(), key)
	if err == nil && ent.State == queue.Dead {
		r.t.Errorf("%s is a dead letter: %s", key, ent.LastError)
	} else if err != nil && !errors.Is(err, queue.ErrNotFound) {
		r.t.Fatal(err)
	}
}

// reproSweep runs the sweep (which sets the parked-conflicts gauge).
func (r *reproEnv) reproSweep() {
	r.t.Helper()
	if _, err := r.eng.Sweep(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// reproReconverge schedules everyone on every target and converges.
func (r *reproEnv) reproReconverge() {
	r.t.Helper()
	for _, tg := range r.pol.TargetNames {
		if _, err := r.eng.Reconcile(context.Background(), tg); err != nil {
			r.t.Fatal(err)
		}
	}
	r.run()
}

// reproSnap is every attribute of the entry at dn, operational ones
// included, values sorted; nil when there is no such entry.
func reproSnap(t *testing.T, f *dirFixture, dn string) map[string][]string {
	t.Helper()
	attrs := []string{"*", "+"}
	if f.name == "ad" {
		attrs = append(attrs, "uSNChanged", "uSNCreated", "whenChanged", "memberOf", "objectGUID",
			"userAccountControl", "pwdLastSet", "replPropertyMetaData", "msDS-ReplAttributeMetaData")
	} else {
		attrs = append(attrs, "memberOf", "entryCSN", "modifyTimestamp", "pwdAccountLockedTime")
	}
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil)
	es, err := f.p.SearchAll(t.Context(), req, 0)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dn, err)
	}
	if len(es) != 1 {
		t.Fatalf("read %s: %d entries", dn, len(es))
	}
	out := map[string][]string{"dn": {es[0].DN}}
	for _, a := range es[0].Attributes {
		v := slices.Clone(a.Values)
		slices.Sort(v)
		out[strings.ToLower(a.Name)] = v
	}
	return out
}

// reproSame reports every difference between two snapshots of one entry.
func reproSame(t *testing.T, what string, before, after map[string][]string) {
	t.Helper()
	if before == nil {
		t.Fatalf("%s: no snapshot before", what)
	}
	if after == nil {
		t.Errorf("%s: the entry %s is gone", what, before["dn"])
		return
	}
	if maps.EqualFunc(before, after, slices.Equal[[]string]) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[k]; !ok {
			t.Errorf("%s: %s removed (was %q)", what, k, before[k])
		} else if !slices.Equal(before[k], a) {
			t.Errorf("%s: %s changed: %q -> %q", what, k, before[k], a)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s added: %q", what, k, after[k])
		}
	}
}

// reproStamp is the attribute that changes on every write to an entry.
func reproStamp(f *dirFixture) string {
	if f.name == "ad" {
		return "usnchanged"
	}
	return "entrycsn"
}

// reproEntry reads the entry with the anchor (entryUUID, objectGUID) under
// the fixture's base; nil if there is none.
func reproEntry(t *testing.T, f *dirFixture, anchor string) *entry {
	t.Helper()
	flt, err := f.dialect.AnchorFilter(anchor)
	if err != nil {
		t.Fatal(err)
	}
	attrs := append([]string{"*", "memberOf", f.dialect.AnchorAttribute()}, f.dialect.StatusAttributes()...)
	req := ldap.NewSearchRequest(f.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, flt.String(), attrs, nil)
	es, err := f.p.SearchAll(t.Context(), req, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return nil
	}
	e := es[0]
	return &entry{dn: e.DN, anchor: f.dialect.Anchor(e), attrs: e,
		enabled: !f.dialect.SetEnabled(ldap.NewModifyRequest(e.DN, nil), e, true)}
}

// reproRDN is the naming value of dn.
func reproRDN(t *testing.T, dn string) string {
	t.Helper()
	_, v, err := ldapsync.RDNValue(dn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// reproIn checks that dn's parent is parent.
func reproIn(t *testing.T, dn, parent string) {
	t.Helper()
	if p, _ := ldapsync.Parent(dn); !ldapsync.EqualDN(p, parent) {
		t.Errorf("%s is in %s, want %s", dn, p, parent)
	}
}

// reproMembers are the DNs the group cn lists.
func reproMembers(t *testing.T, f *dirFixture, cn string) []string {
	t.Helper()
	s := reproSnap(t, f, ldapsync.JoinDN(ldapsync.RDN("cn", cn), f.groups))
	if s == nil {
		t.Fatalf("no group %s", cn)
	}
	return s["member"]
}

// reproHasMember reports whether the group cn lists dn.
func reproHasMember(t *testing.T, f *dirFixture, cn, dn string) bool {
	t.Helper()
	return slices.ContainsFunc(reproMembers(t, f, cn), func(m string) bool { return ldapsync.EqualDN(m, dn) })
}

// reproHandMade adds an account by hand (not Tenure's) named name under
// parent, with the extra attributes.
func reproHandMade(f *dirFixture, parent, name string, extra map[string][]string) string {
	f.t.Helper()
	attrs := map[string][]string{"description": {"made by hand"}, "sn": {"Hand"}}
	var dn string
	if f.name == "ad" {
		dn = ldapsync.JoinDN(ldapsync.RDN("cn", name), parent)
		attrs["objectClass"] = []string{"top", "person", "organizationalPerson", "user"}
		attrs["sAMAccountName"] = []string{name}
		attrs["userAccountControl"] = []string{"514"}
	} else {
		dn = ldapsync.JoinDN(ldapsync.RDN("uid", name), parent)
		attrs["objectClass"] = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
		attrs["uid"], attrs["cn"] = []string{name}, []string{"Hand Made"}
	}
	maps.Copy(attrs, extra)
	f.add(dn, attrs)
	return dn
}

// reproAppState is one app user as the app stores it, with the groups
// listing it.
type reproAppState struct {
	res    scimtest.Resource
	groups []string
}

// reproAppUser reads the app user named name (ignoring case); nil if none.
func reproAppUser(t *testing.T, app scimtest.Server, name string) *reproAppState {
	t.Helper()
	var found []scimtest.Resource
	for _, u := range app.Users() {
		if strings.EqualFold(u.Name, name) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
	default:
		t.Fatalf("%d app users named %s", len(found), name)
	}
	s := &reproAppState{res: found[0]}
	for _, g := range app.Groups() {
		if slices.Contains(g.Members, found[0].ID) {
			s.groups = append(s.groups, g.Name)
		}
	}
	slices.Sort(s.groups)
	return s
}

// reproAppUntouched checks that the app user is as before and that no
// write request named it since mark.
func reproAppUntouched(t *testing.T, app scimtest.Server, what string, before *reproAppState, mark int) {
	t.Helper()
	if before == nil {
		t.Fatalf("%s: no app user before", what)
	}
	now := reproAppUser(t, app, before.res.Name)
	if now == nil || !reflect.DeepEqual(now, before) {
		t.Errorf("%s: app user %+v, was %+v", what, now, before)
	}
	for _, w := range app.Log().Writes(mark) {
		if strings.Contains(w, "/Users/"+before.res.ID+" ") {
			t.Errorf("%s: the app saw %s", what, w)
		}
	}
}

// reproAppHandMade creates a user on the app directly (not through Tenure).
func reproAppHandMade(t *testing.T, app scimtest.Server, userName, externalID string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "externalId": externalID, "active": true,
		"name": map[string]any{"givenName": "Hand", "familyName": "Made"},
	})
	req, _ := http.NewRequest("POST", app.URL()+"/Users", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+app.Token())
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("X-Test", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("hand-made app user: %d", resp.StatusCode)
	}
}

// TestReproDuplicateActiveKey (issue 13, reproduction 1): bob (E200,
// active) is linked to his entry; HR posts a second active record bob2
// with E200. The intake may refuse it (409 uniqueness); if it does not
// (no lifecycle correlation, or the intake without the check), bob2 must
// end parked on a conflict naming bob, and neither bob2's converges nor
// its deactivation, deletion and delete delay change bob's entry or his
// app user.
func TestReproDuplicateActiveKey(t *testing.T) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			for _, v := range []struct {
				name        string
				backend     int
				correlation bool
				app         string
			}{
				{"correlated/embedded/baseline-app", 0, true, "baseline"},
				{"uncorrelated/embedded/tenure-app", 0, false, "tenure"},
				{"uncorrelated/redis/baseline-app", 1, false, "baseline"},
			} {
				t.Run(v.name, func(t *testing.T) {
					reproDuplicateActiveKey(t, reproStart(t, d.start, reproOptions{backend: v.backend, correlation: v.correlation, app: v.app}), v.correlation)
				})
			}
		})
	}
}

func reproDuplicateActiveKey(t *testing.T, r *reproEnv, correlated bool) {
	f := r.f
	bob := r.reproPost("bob@x.com", "E200")
	r.run()
	bobLink := r.reproWantOK(bob, "dir")
	bobEntry := f.want("E200", "Engineering", true, "staff")
	if reproRDN(t, bobEntry.dn) != "bob" || bobEntry.anchor != bobLink.ID {
		t.Fatalf("bob's entry %s (%s), link %s", bobEntry.dn, bobEntry.anchor, bobLink.ID)
	}
	before := reproSnap(t, f, bobEntry.dn)
	bobApp := reproAppUser(t, r.app, "bob")
	if bobApp == nil || bobApp.res.Attrs["active"] != true {
		t.Fatalf("bob's app user: %+v", bobApp)
	}
	mark := r.app.Log().Mark()
	bobPerson := r.reproPerson(bob)
	check := func(when string) {
		t.Helper()
		reproSame(t, "bob's entry "+when, before, reproSnap(t, f, bobEntry.dn))
		reproAppUntouched(t, r.app, "bob's app user "+when, bobApp, mark)
		if ls := r.reproWantOK(bob, "dir"); ls.ID != bobLink.ID {
			t.Errorf("%s: bob's link names %s, want %s", when, ls.ID, bobLink.ID)
		}
		r.reproWantOK(bob, "app")
	}

	// Two duplicates of bob (E200): bob2@x.com, another name (the issue's
	// case: found by the correlation attribute), and bob@y.com, whose
	// names on the directory and the app are bob's too (and whose
	// externalId on the app is bob's E200).
	type dup struct {
		userName string
		sameName bool
		id       string
	}
	var dups []*dup
	for _, d := range []*dup{{userName: "bob2@x.com"}, {userName: "bob@y.com", sameName: true}} {
		body := reproBody(d.userName, "E200")
		body["name"] = map[string]any{"givenName": "Robert", "familyName": "Duplicate"} // writes that would show
		status, out := r.reproSend("POST", "/Users", body)
		switch {
		case status == http.StatusConflict:
			if !correlated {
				t.Fatalf("%s refused %v without a lifecycle correlation", d.userName, out)
			}
			if out["scimType"] != "uniqueness" {
				t.Errorf("%s: 409 with scimType %v, want uniqueness: %v", d.userName, out["scimType"], out)
			}
			if detail, _ := out["detail"].(string); !strings.Contains(detail, bob) {
				t.Errorf("%s: 409 detail %q does not name bob's SCIM id %s", d.userName, detail, bob)
			}
			if n := r.reproUserCount(d.userName); n != 0 {
				t.Errorf("the refused %s is stored (%d)", d.userName, n)
			}
		case status == http.StatusCreated:
			if correlated {
				t.Logf("the intake accepted the duplicate %s (201): checking the targets", d.userName)
			}
			d.id, _ = out["id"].(string)
			dups = append(dups, d)
		default:
			t.Fatalf("POST %s: %d %v, want 201 or 409 uniqueness", d.userName, status, out)
		}
	}
	r.run()
	check("after the duplicates converged")

	appDups := 0
	for _, d := range dups {
		c := r.reproWantConflict(d.id, "dir", targets.ConflictOwned)
		if c.Owner != bobPerson || c.ID != bobLink.ID {
			t.Errorf("%s's conflict %+v, want bob's account %s owned by %s", d.userName, c.Conflict, bobLink.ID, bobPerson)
		}
		if ls := r.reproLink(d.id, "dir"); ls.ID == bobLink.ID {
			t.Errorf("%s's link names bob's account %s", d.userName, ls.ID)
		}
		if d.sameName {
			appDups++
			c := r.reproWantConflict(d.id, "app", targets.ConflictOwned)
			if c.Owner != bobPerson || c.ID != bobApp.res.ID {
				t.Errorf("%s's app conflict %+v, want bob's app user %s owned by %s", d.userName, c.Conflict, bobApp.res.ID, bobPerson)
			}
		} else if u := reproAppUser(t, r.app, "bob2"); u == nil || u.res.ID == bobApp.res.ID {
			t.Errorf("bob2's app user: %+v", u)
		}
	}
	if len(dups) == 0 {
		r.at(T0.Add(722 * time.Hour))
		check("a month later")
		return
	}
	if got := r.metric("tenure_engine_conflicts_total", "target", "dir", "reason", "owned"); got < float64(len(dups)) {
		t.Errorf("conflicts_total{dir,owned} = %v, want ≥ %d", got, len(dups))
	}
	r.reproSweep()
	if got := r.metric("tenure_engine_account_conflicts", "target", "dir"); got != float64(len(dups)) {
		t.Errorf("account_conflicts{dir} = %v, want %d", got, len(dups))
	}
	if got := r.metric("tenure_engine_account_conflicts", "target", "app"); got != float64(appDups) {
		t.Errorf("account_conflicts{app} = %v, want %d", got, appDups)
	}
	// The owner's side shows who contests the account.
	bobView := r.reproView(bob)
	for _, d := range dups {
		p := r.reproPerson(d.id)
		if !slices.ContainsFunc(bobView.Events, func(ev engine.Event) bool {
			return ev.Kind == engine.EventConflict && ev.Target == "dir" && strings.Contains(ev.Detail, p)
		}) {
			t.Errorf("bob's audit log does not show %s's conflict", d.userName)
		}
		if !slices.Contains(bobView.Contests, engine.Contest{Target: "dir", Person: p}) {
			t.Errorf("bob's contests %v do not name %s on dir", bobView.Contests, d.userName)
		}
	}

	// The hourly recheck finds the same conflicts and writes nothing.
	r.at(T0.Add(2 * time.Hour))
	for _, d := range dups {
		r.reproWantConflict(d.id, "dir", targets.ConflictOwned)
	}
	check("after the recheck")

	// HR deactivates, then deletes, the duplicates; the delay passes.
	r.clock.Set(T0.Add(3 * time.Hour))
	for _, d := range dups {
		r.patch(d.id, replace("active", false))
	}
	r.run()
	check("after the duplicates' deactivation")
	r.clock.Set(T0.Add(4 * time.Hour))
	for _, d := range dups {
		r.do("DELETE", "/Users/"+d.id, nil, http.StatusNoContent)
	}
	r.run()
	check("after the duplicates' deletion")
	r.at(T0.Add(4*time.Hour + 721*time.Hour))
	check("after the duplicates' delete delay")
	f.want("E200", "Engineering", true, "staff")
	if v := r.reproView(bob); v.State != "active" {
		t.Errorf("bob is %s", v.State)
	}
}

// TestReproNamingCollision (issue 13, reproduction 2): coll@a.com and
// coll@b.com map to the same name, so do Kase@a.com and kase@b.com. With
// collision: suffix the second of each gets a numbered account (coll2,
// kase2; on AD the sAMAccountName too), stable across re-converges; with
// fail it is parked on a visible conflict. The app (no suffix rule) parks
// the second either way. Deactivating and deleting the second never
// changes the first's account.
func TestReproNamingCollision(t *testing.T) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			for _, collision := range []string{ldapsync.CollisionFail, ldapsync.CollisionSuffix} {
				t.Run(collision, func(t *testing.T) {
					app := map[string]string{ldapsync.CollisionFail: "tenure", ldapsync.CollisionSuffix: "baseline"}[collision]
					reproNamingCollision(t, reproStart(t, d.start, reproOptions{collision: collision, correlation: true, app: app}), collision)
				})
			}
		})
	}
}

func reproNamingCollision(t *testing.T, r *reproEnv, collision string) {
	f := r.f
	ad := f.name == "ad"
	suffix := collision == ldapsync.CollisionSuffix
	type first struct {
		id, name, num, dn, anchor string
		snap                      map[string][]string
		app                       *reproAppState
	}
	firsts := []*first{{name: "coll", num: "E301"}, {name: "Kase", num: "E303"}, {name: "lead2", num: "E305"}}
	for _, p := range firsts {
		p.id = r.reproPost(p.name+"@a.com", p.num)
	}
	r.run()
	for _, p := range firsts {
		p.anchor = r.reproWantOK(p.id, "dir").ID
		e := f.want(p.num, "Engineering", true, "staff")
		if got := reproRDN(t, e.dn); got != p.name {
			t.Errorf("%s's entry is %s", p.name, e.dn)
		}
		p.dn, p.snap = e.dn, reproSnap(t, f, e.dn)
		if p.app = reproAppUser(t, r.app, p.name); p.app == nil {
			t.Fatalf("no app user %s", p.name)
		}
	}
	mark := r.app.Log().Mark()
	check := func(when string) {
		t.Helper()
		for _, p := range firsts {
			reproSame(t, p.name+"'s entry "+when, p.snap, reproSnap(t, f, p.dn))
			reproAppUntouched(t, r.app, p.name+"'s app user "+when, p.app, mark)
			r.reproWantOK(p.id, "dir")
			r.reproWantOK(p.id, "app")
		}
	}

	type second struct {
		userName, num, want string
		first               *first
		id, anchor          string
	}
	seconds := []*second{{"coll@b.com", "E302", "coll2", firsts[0], "", ""}, {"kase@b.com", "E304", "kase2", firsts[1], "", ""}}
	for _, s := range seconds {
		s.id = r.reproPost(s.userName, s.num)
	}
	// ' lead2': the intake refuses a userName with leading whitespace
	// (400 invalidValue); if it did not, its converges must still leave
	// lead2's account alone (checked with the firsts).
	status, out := r.reproSend("POST", "/Users", reproBody(" lead2@b.com", "E306"))
	switch status {
	case http.StatusBadRequest:
		if detail, _ := out["detail"].(string); out["scimType"] != "invalidValue" || !strings.Contains(detail, "userName") {
			t.Errorf("' lead2@b.com' refused with %v, want invalidValue naming userName", out)
		}
	case http.StatusCreated:
		t.Logf("the intake accepted ' lead2@b.com'")
	default:
		t.Fatalf("POST ' lead2@b.com': %d %v", status, out)
	}
	r.run()
	check("after the seconds converged")
	if status == http.StatusCreated {
		if e := f.find("E306"); e != nil && e.anchor == firsts[2].anchor {
			t.Errorf("' lead2' took lead2's account")
		}
	}
	var snaps []map[string][]string // the seconds' entries (suffix)
	for _, s := range seconds {
		// The app has no collision rule: its user of that name is the
		// first person's, whose externalId is not the second's.
		ac := r.reproWantConflict(s.id, "app", targets.ConflictCollision)
		if ac.ID != s.first.app.res.ID {
			t.Errorf("%s's app conflict names %q, want %s", s.userName, ac.ID, s.first.app.res.ID)
		}
		if !suffix {
			c := r.reproWantConflict(s.id, "dir", targets.ConflictCollision)
			if !ldapsync.EqualDN(c.Ref, s.first.dn) || c.ID != s.first.anchor {
				t.Errorf("%s's conflict %+v does not name %s", s.userName, c.Conflict, s.first.dn)
			}
			if e := f.find(s.num); e != nil {
				t.Errorf("%s got an account %s", s.userName, e.dn)
			}
			continue
		}
		ls := r.reproWantOK(s.id, "dir")
		e := f.want(s.num, "Engineering", true, "staff")
		if got := reproRDN(t, e.dn); got != s.want {
			t.Errorf("%s's entry is %s, want %s", s.userName, e.dn, s.want)
		}
		if ls.Name != s.want || !strings.EqualFold(ls.Wanted, s.first.name) || ls.ID != e.anchor || e.anchor == s.first.anchor {
			t.Errorf("%s's link name %q for %q, anchor %s; want %s for %s, anchor %s", s.userName, ls.Name, ls.Wanted, ls.ID, s.want, s.first.name, e.anchor)
		}
		if ad {
			if sam := e.attrs.GetAttributeValue("sAMAccountName"); sam != s.want {
				t.Errorf("%s's sAMAccountName %q, want %s", s.userName, sam, s.want)
			}
		}
		s.anchor = e.anchor
		snaps = append(snaps, reproSnap(t, f, e.dn))
	}
	// Visible: counted, in the gauge, in the conflicts list.
	if !suffix {
		if got := r.metric("tenure_engine_conflicts_total", "target", "dir", "reason", "collision"); got < 2 {
			t.Errorf("conflicts_total{dir,collision} = %v, want ≥ 2", got)
		}
	}
	if got := r.metric("tenure_engine_conflicts_total", "target", "app", "reason", "collision"); got < 2 {
		t.Errorf("conflicts_total{app,collision} = %v, want ≥ 2", got)
	}
	r.reproSweep()
	wantParked := 2.0
	if suffix {
		wantParked = 0
	}
	if got := r.metric("tenure_engine_account_conflicts", "target", "dir"); got != wantParked {
		t.Errorf("account_conflicts{dir} = %v, want %v", got, wantParked)
	}
	if got := r.metric("tenure_engine_account_conflicts", "target", "app"); got != 2 {
		t.Errorf("account_conflicts{app} = %v, want 2", got)
	}
	list, err := r.eng.Conflicts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seconds {
		for _, tg := range []string{"dir", "app"} {
			listed := slices.ContainsFunc(list, func(c engine.ConflictView) bool {
				return c.Target == tg && c.Person == r.reproPerson(s.id)
			})
			if want := tg == "app" || !suffix; listed != want {
				t.Errorf("%s on %s listed among the conflicts: %v, want %v", s.userName, tg, listed, want)
			}
		}
	}

	// Stable: every account re-converged changes nothing, the numbered
	// ones included.
	r.reproReconverge()
	check("after a reconcile")
	for i, s := range snaps {
		reproSame(t, seconds[i].want+" after a reconcile", s, reproSnap(t, f, s["dn"][0]))
	}

	// coll@b.com becomes Coll@b.com: the mapped name differs from coll
	// only in case; the account stays the second's own.
	r.clock.Set(T0.Add(30 * time.Minute))
	r.patch(seconds[0].id, replace("userName", "Coll@b.com"))
	r.run()
	check("after the second's case change")
	if suffix {
		ls := r.reproWantOK(seconds[0].id, "dir")
		e := reproEntry(t, f, ls.ID)
		if e == nil || !strings.EqualFold(reproRDN(t, e.dn), "coll2") || ls.ID != seconds[0].anchor {
			t.Errorf("after Coll@b.com the second's account is %+v (link %s)", e, ls.ID)
		} else {
			t.Logf("Coll@b.com's account is %s", e.dn)
		}
	} else {
		r.reproWantConflict(seconds[0].id, "dir", targets.ConflictCollision)
	}

	// The seconds leave while the firsts are active.
	left := T0.Add(time.Hour)
	r.clock.Set(left)
	for _, s := range seconds {
		r.patch(s.id, replace("active", false))
	}
	r.run()
	check("after the seconds' deactivation")
	if suffix {
		for _, s := range seconds {
			f.want(s.num, "Disabled", false)
		}
	}
	// The first of them comes back inside the delete delay.
	r.clock.Set(left.Add(10 * 24 * time.Hour))
	r.patch(seconds[0].id, replace("active", true))
	r.run()
	check("after the second's rehire")
	if suffix {
		e := f.want(seconds[0].num, "Engineering", true, "staff")
		if !strings.EqualFold(reproRDN(t, e.dn), "coll2") || e.anchor != seconds[0].anchor {
			t.Errorf("the rehired second's account is %s", e.dn)
		}
		if l := r.reproLink(seconds[0].id, "dir"); !strings.EqualFold(l.Name, "coll2") {
			t.Errorf("the rehired second's link name %q, want coll2 kept", l.Name)
		}
	} else {
		r.reproWantConflict(seconds[0].id, "dir", targets.ConflictCollision)
	}
	r.at(left.Add(720 * time.Hour))
	check("after the delete delay")
	if e := f.find(seconds[1].num); e != nil {
		t.Errorf("%s's account %s is still there", seconds[1].userName, e.dn)
	}
	if suffix {
		f.want(seconds[0].num, "Engineering", true, "staff")
	} else if e := f.find(seconds[0].num); e != nil {
		t.Errorf("%s got an account %s", seconds[0].userName, e.dn)
	}
}

// TestReproHandMadeEntry (issue 13, reproduction 3): an entry made by hand
// under the users OU, uid/cn victim2, is not Tenure's. A person whose
// mapping yields victim2 must never adopt it: it stays byte for byte the
// same through every converge, the person's leaver and the delete after
// delete_after, and no group lists it. With fail the person is parked;
// with suffix the people get victim22 and victim23. A hand-made app user
// victim2 (another externalId) is likewise left alone.
func TestReproHandMadeEntry(t *testing.T) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			for _, collision := range []string{ldapsync.CollisionFail, ldapsync.CollisionSuffix} {
				t.Run(collision, func(t *testing.T) {
					app := map[string]string{ldapsync.CollisionFail: "baseline", ldapsync.CollisionSuffix: "tenure"}[collision]
					reproHandMadeEntry(t, reproStart(t, d.start, reproOptions{collision: collision, correlation: true, app: app}), collision)
				})
			}
		})
	}
}

func reproHandMadeEntry(t *testing.T, r *reproEnv, collision string) {
	f := r.f
	victim := reproHandMade(f, r.users, "victim2", nil)
	before := reproSnap(t, f, victim)
	staffBefore := reproSnap(t, f, ldapsync.JoinDN(ldapsync.RDN("cn", "staff"), f.groups))
	reproAppHandMade(t, r.app, "victim2", "HAND-1")
	appBefore := reproAppUser(t, r.app, "victim2")
	mark := r.app.Log().Mark()
	check := func(when string) {
		t.Helper()
		reproSame(t, "victim2 "+when, before, reproSnap(t, f, victim))
		for _, g := range []string{"staff", "engineering"} {
			if reproHasMember(t, f, g, victim) {
				t.Errorf("%s: group %s lists victim2", when, g)
			}
		}
		if collision == ldapsync.CollisionFail {
			reproSame(t, "group staff "+when, staffBefore, reproSnap(t, f, ldapsync.JoinDN(ldapsync.RDN("cn", "staff"), f.groups)))
		}
		reproAppUntouched(t, r.app, "the hand-made app user "+when, appBefore, mark)
	}

	people := []struct{ userName, num, want string }{{"victim2@x.com", "E310", "victim22"}}
	if collision == ldapsync.CollisionSuffix {
		people = append(people, struct{ userName, num, want string }{"victim2@y.com", "E311", "victim23"})
	}
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = r.reproPost(p.userName, p.num)
		r.run() // one at a time: victim22 is the first's
	}
	check("after the joiners")
	for i, p := range people {
		r.reproWantConflict(ids[i], "app", targets.ConflictCollision)
		switch collision {
		case ldapsync.CollisionFail:
			c := r.reproWantConflict(ids[i], "dir", targets.ConflictCollision)
			if !ldapsync.EqualDN(c.Ref, victim) || c.ID == "" {
				t.Errorf("conflict %+v does not name %s", c.Conflict, victim)
			}
			if e := f.find(p.num); e != nil {
				t.Errorf("%s got an account %s", p.userName, e.dn)
			}
		case ldapsync.CollisionSuffix:
			ls := r.reproWantOK(ids[i], "dir")
			e := f.want(p.num, "Engineering", true, "staff")
			if got := reproRDN(t, e.dn); got != p.want || ls.Name != p.want || ls.ID != e.anchor {
				t.Errorf("%s's entry %s, link name %q; want %s", p.userName, e.dn, ls.Name, p.want)
			}
			if f.name == "ad" {
				if sam := e.attrs.GetAttributeValue("sAMAccountName"); sam != p.want {
					t.Errorf("%s's sAMAccountName %q, want %s", p.userName, sam, p.want)
				}
			}
		}
	}
	if collision == ldapsync.CollisionFail {
		r.reproSweep()
		if got := r.metric("tenure_engine_account_conflicts", "target", "dir"); got != 1 {
			t.Errorf("account_conflicts{dir} = %v, want 1", got)
		}
	}
	r.reproReconverge()
	check("after a reconcile")
	r.at(T0.Add(2 * time.Hour)) // the parked conflicts' recheck
	check("after the recheck")

	left := T0.Add(3 * time.Hour)
	r.clock.Set(left)
	for _, id := range ids {
		r.patch(id, replace("active", false))
	}
	r.run()
	check("after the leavers")
	if collision == ldapsync.CollisionSuffix {
		for _, p := range people {
			f.want(p.num, "Disabled", false)
		}
	}
	r.at(left.Add(720*time.Hour - time.Second))
	check("just before the delete")
	r.at(left.Add(720 * time.Hour))
	check("after the delete")
	for _, p := range people {
		if e := f.find(p.num); e != nil {
			t.Errorf("%s's account %s is still there", p.userName, e.dn)
		}
	}
	r.at(left.Add(800 * time.Hour))
	check("long after")
}

// TestReproCaseOnlyRename (issue 13, reproduction 4): userName Bob@x.com
// becomes bob@x.com and then BOB@x.com: the entry is renamed by ModifyDN
// (same entryUUID/objectGUID, the DN in the new case), no dead letter.
func TestReproCaseOnlyRename(t *testing.T) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			r := reproStart(t, d.start, reproOptions{correlation: true})
			f := r.f
			id := r.reproPost("Bob@x.com", "E320")
			r.run()
			first := f.want("E320", "Engineering", true, "staff")
			if got := reproRDN(t, first.dn); got != "Bob" {
				t.Fatalf("entry %s, want Bob", first.dn)
			}
			sam := first.attrs.GetAttributeValue("sAMAccountName")
			for i, name := range []string{"bob", "BOB"} {
				r.clock.Set(T0.Add(time.Duration(i+1) * time.Hour))
				r.patch(id, replace("userName", name+"@x.com"))
				r.run()
				ls := r.reproWantOK(id, "dir")
				e := reproEntry(t, f, first.anchor)
				if e == nil {
					t.Fatalf("rename to %s: the entry %s is gone", name, first.anchor)
				}
				if got := reproRDN(t, e.dn); got != name {
					t.Errorf("rename to %s: entry %s", name, e.dn)
				}
				if !ldapsync.EqualDN(ls.Ref, e.dn) || ls.ID != first.anchor {
					t.Errorf("rename to %s: link %s %s, entry %s %s", name, ls.ID, ls.Ref, first.anchor, e.dn)
				}
				if f.name == "ad" {
					if got := e.attrs.GetAttributeValues("cn"); !slices.Equal(got, []string{name}) {
						t.Errorf("rename to %s: cn %q", name, got)
					}
					// sAMAccountName is set once, at creation.
					if got := e.attrs.GetAttributeValue("sAMAccountName"); got != sam {
						t.Errorf("rename to %s: sAMAccountName %q, was %q", name, got, sam)
					}
				} else if got := e.attrs.GetAttributeValues("uid"); !slices.Equal(got, []string{name}) {
					t.Errorf("rename to %s: uid %q", name, got)
				}
				if !e.enabled || !reproHasMember(t, f, "staff", e.dn) {
					t.Errorf("rename to %s: enabled %v, staff member %v", name, e.enabled, reproHasMember(t, f, "staff", e.dn))
				}
				if n := f.find("E320"); n == nil || n.anchor != first.anchor {
					t.Errorf("rename to %s: a second account: %+v", name, n)
				}
			}
			if got := r.metric("tenure_engine_dead_letters_total", "target", "dir"); got != 0 {
				t.Errorf("%v dead letters", got)
			}
		})
	}
}

// TestReproDestructiveRecheck (issue 13, reproduction 5): destructive
// steps re-check ownership and the person when they run.
//
//   - p1 leaves; before the delayed delete, its account's owner record is
//     rewritten to another person: at delete time nothing is deleted (the
//     entry is byte for byte as it was) and p1 is parked on a conflict.
//   - p2's account is given to another person before p2 leaves: the
//     disable and move never happen.
//   - p3 leaves and is rehired before the delete: the delete is a no-op.
//   - p4 leaves and comes back through a new SCIM record with the same
//     key (a rehire by correlation) before the delete: likewise.
func TestReproDestructiveRecheck(t *testing.T) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			for bi, name := range []string{"embedded", "redis"} {
				t.Run(name, func(t *testing.T) {
					reproDestructiveRecheck(t, reproStart(t, d.start, reproOptions{backend: bi, correlation: true}))
				})
			}
		})
	}
}

func reproDestructiveRecheck(t *testing.T, r *reproEnv) {
	f := r.f
	ctx := context.Background()
	q := r.reproPost("quinn@x.com", "E339")
	ids := map[string]string{}
	for i, n := range []string{"p1", "p2", "p3", "p4"} {
		ids[n] = r.reproPost(n+"@x.com", fmt.Sprintf("E33%d", i+1))
	}
	r.run()
	anchors := map[string]string{}
	for n, id := range ids {
		anchors[n] = r.reproWantOK(id, "dir").ID
	}
	qPerson := r.reproPerson(q)
	giveAway := func(n string) {
		t.Helper()
		err := r.st.Update(ctx, func(tx store.Tx) error {
			return tx.PutDoc("owner", "dir/"+anchors[n], []byte(qPerson))
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// p2's account becomes quinn's, then p2 leaves: no disable, no move.
	giveAway("p2")
	p2 := reproSnap(t, f, f.want("E332", "Engineering", true, "staff").dn)
	left := T0.Add(time.Hour)
	r.clock.Set(left)
	for _, n := range []string{"p1", "p2", "p3", "p4"} {
		r.patch(ids[n], replace("active", false))
	}
	r.run()
	c := r.reproWantConflict(ids["p2"], "dir", targets.ConflictOwned)
	if c.Owner != qPerson || c.ID != anchors["p2"] {
		t.Errorf("p2's conflict %+v, want its account owned by %s", c.Conflict, qPerson)
	}
	reproSame(t, "p2's account after its leaver", p2, reproSnap(t, f, p2["dn"][0]))
	for _, n := range []string{"p1", "p3", "p4"} {
		f.want(map[string]string{"p1": "E331", "p3": "E333", "p4": "E334"}[n], "Disabled", false)
	}
	p1e := f.find("E331")
	p1 := reproSnap(t, f, p1e.dn)

	// p1's account becomes quinn's before its delete.
	giveAway("p1")

	// p3 is rehired, p4 comes back through a new record, both inside the
	// delete delay.
	back := left.Add(10 * 24 * time.Hour)
	r.clock.Set(back)
	r.patch(ids["p3"], replace("active", true))
	p4new := r.reproPost("p4.again@x.com", "E334")
	r.run()
	if got := r.reproPerson(p4new); got != r.reproPerson(ids["p4"]) {
		t.Fatalf("the new record with p4's key is person %s, want p4's %s (a rehire)", got, r.reproPerson(ids["p4"]))
	}
	rehired := map[string]map[string][]string{}
	for n, num := range map[string]string{"p3": "E333", "p4": "E334"} {
		e := f.want(num, "Engineering", true, "staff")
		if e.anchor != anchors[n] {
			t.Errorf("%s is back on account %s, want its own %s", n, e.anchor, anchors[n])
		}
		rehired[n] = reproSnap(t, f, e.dn)
	}
	conflictsBefore := r.metric("tenure_engine_conflicts_total", "target", "dir", "reason", "owned")

	// The delete delay ends.
	r.at(left.Add(720 * time.Hour))
	reproSame(t, "p1's account at its delete", p1, reproSnap(t, f, p1e.dn))
	c = r.reproWantConflict(ids["p1"], "dir", targets.ConflictOwned)
	if c.Owner != qPerson || c.ID != anchors["p1"] {
		t.Errorf("p1's conflict %+v, want its account owned by %s", c.Conflict, qPerson)
	}
	if got := r.metric("tenure_engine_conflicts_total", "target", "dir", "reason", "owned"); got <= conflictsBefore {
		t.Errorf("conflicts_total{dir,owned} %v -> %v at the delete", conflictsBefore, got)
	}
	if ls := r.reproLink(ids["p1"], "dir"); ls.Applied == nil || !ls.Applied.Exists {
		t.Errorf("p1's link %+v records the account as deleted", ls)
	}
	reproSame(t, "p2's account at the delete time", p2, reproSnap(t, f, p2["dn"][0]))
	for n, s := range rehired {
		reproSame(t, n+"'s rehired account at the old delete time", s, reproSnap(t, f, s["dn"][0]))
		r.reproWantOK(ids[n], "dir")
	}
	if st := r.reproView(ids["p3"]).State; st != "active" {
		t.Errorf("p3 is %s", st)
	}
	quinn := r.reproView(q)
	for _, n := range []string{"p1", "p2"} {
		p := r.reproPerson(ids[n])
		if !slices.ContainsFunc(quinn.Events, func(ev engine.Event) bool {
			return ev.Kind == engine.EventConflict && strings.Contains(ev.Detail, p)
		}) {
			t.Errorf("quinn's audit log does not show %s's conflict", n)
		}
		if !slices.Contains(quinn.Contests, engine.Contest{Target: "dir", Person: p}) {
			t.Errorf("quinn's contests %v do not name %s", quinn.Contests, n)
		}
	}
	r.reproSweep()
	if got := r.metric("tenure_engine_account_conflicts", "target", "dir"); got != 2 {
		t.Errorf("account_conflicts{dir} = %v, want 2 (p1, p2)", got)
	}
	// Later rechecks change nothing either.
	r.at(left.Add(800 * time.Hour))
	reproSame(t, "p1's account later", p1, reproSnap(t, f, p1e.dn))
	reproSame(t, "p2's account later", p2, reproSnap(t, f, p2["dn"][0]))
}

// TestReproLeaverMoveCollision: a name is reused after its first holder
// left. coll@a.com leaves (its account, coll, moves to the disabled OU);
// coll@b.com joins and gets coll in the users OU, which is free again; then
// coll@b.com leaves, and the disabled OU already holds coll. The first
// person's disabled entry must stay byte for byte the same, and the
// leaver's own account must still be disabled and lose its groups (a
// leaver left enabled is the one outcome worse than a parked move). With
// suffix it moves as coll2; with fail (TestReproLeaverMoveCollisionFail)
// it may be parked on the move, and moves once the name is free (the
// first's delete).
func TestReproLeaverMoveCollision(t *testing.T) {
	reproLeaverMoveCollisions(t, ldapsync.CollisionSuffix)
}

func reproLeaverMoveCollisions(t *testing.T, collision string) {
	for _, d := range reproDirectories() {
		t.Run(d.name, func(t *testing.T) {
			reproLeaverMoveCollision(t, reproStart(t, d.start, reproOptions{collision: collision, correlation: true}), collision)
		})
	}
}

func reproLeaverMoveCollision(t *testing.T, r *reproEnv, collision string) {
	f := r.f
	a := r.reproPost("coll@a.com", "E351")
	r.run()
	aLeft := T0.Add(time.Hour)
	r.clock.Set(aLeft)
	r.patch(a, replace("active", false))
	r.run()
	ae := f.want("E351", "Disabled", false)
	if got := reproRDN(t, ae.dn); got != "coll" {
		t.Fatalf("the first's disabled entry is %s", ae.dn)
	}
	aSnap := reproSnap(t, f, ae.dn)

	r.clock.Set(T0.Add(2 * time.Hour))
	b := r.reproPost("coll@b.com", "E352")
	r.run()
	be := f.want("E352", "Engineering", true, "staff")
	if got := reproRDN(t, be.dn); got != "coll" {
		t.Errorf("the second joined as %s, want coll (free in the users OU)", be.dn)
	}
	reproSame(t, "the first's disabled entry after the second joined", aSnap, reproSnap(t, f, ae.dn))

	bLeft := T0.Add(3 * time.Hour)
	r.clock.Set(bLeft)
	r.patch(b, replace("active", false))
	r.run()
	reproSame(t, "the first's disabled entry after the second left", aSnap, reproSnap(t, f, ae.dn))
	got := reproEntry(t, f, be.anchor)
	if got == nil {
		t.Fatalf("the second's account is gone")
	}
	if got.enabled || reproHasMember(t, f, "staff", got.dn) {
		t.Errorf("the leaver's account %s: enabled %v, in staff %v; want disabled and out of its groups",
			got.dn, got.enabled, reproHasMember(t, f, "staff", got.dn))
	}
	parent, _ := ldapsync.Parent(got.dn)
	switch {
	case collision == ldapsync.CollisionSuffix:
		reproIn(t, got.dn, f.disabled)
		if n := reproRDN(t, got.dn); n != "coll2" {
			t.Errorf("the leaver moved as %s, want coll2", got.dn)
		}
		r.reproWantOK(b, "dir")
	case !ldapsync.EqualDN(parent, f.disabled):
		r.reproWantConflict(b, "dir", targets.ConflictCollision)
	}

	// The first's delete frees the name; the second's parked move (fail)
	// goes through on its recheck; then the second's own delete.
	r.at(aLeft.Add(720 * time.Hour))
	r.at(aLeft.Add(721*time.Hour + 30*time.Minute))
	if e := f.find("E351"); e != nil {
		t.Errorf("the first's account %s outlived its delete", e.dn)
	}
	got = reproEntry(t, f, be.anchor)
	if got == nil {
		t.Fatalf("the second's account is gone before its delete")
	}
	reproIn(t, got.dn, f.disabled)
	if got.enabled {
		t.Errorf("the leaver's account %s is enabled", got.dn)
	}
	r.reproWantOK(b, "dir")
	r.at(bLeft.Add(720 * time.Hour))
	if e := f.find("E352"); e != nil {
		t.Errorf("the second's account %s outlived its delete", e.dn)
	}
}

// TestReproLeaverMoveCollisionFail is TestReproLeaverMoveCollision with the
// default collision rule, fail.
func TestReproLeaverMoveCollisionFail(t *testing.T) {
	reproLeaverMoveCollisions(t, ldapsync.CollisionFail)
}
