package scimclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// The target conformance suite: every case runs against Tenure's own SCIM
// server (in-process, on a bbolt store) and against fake apps reproducing
// real apps' behaviours, and applies every converge twice (apply) to prove
// the second does nothing: no ops and no write request.

const ent = schemaEnt

// appFixture is one app the suite runs against.
type appFixture struct {
	name  string
	url   string // SCIM base
	token string
	rec   *scimtest.Log
	opts  Options // modes; BaseURL and Auth are filled in
	// lag: the app's filters lag behind its writes, so a lookup right
	// after a create misses and the client meets a 409.
	lag bool
	// groupsUnknown: the app never returns a user's groups, so drift in
	// memberships cannot be seen.
	groupsUnknown bool
	// foldCase: the app stores userName in lower case.
	foldCase bool
	seq      atomic.Int64
}

func testLogger() *slog.Logger {
	if os.Getenv("TENURE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// tenureApp is Tenure's own SCIM server as the downstream app.
func tenureApp(t *testing.T) *appFixture {
	d := scimtest.NewTenure(t)
	return &appFixture{name: "tenure", url: d.URL(), token: d.Token(), rec: d.Log()}
}

func fakeFixture(name string, a *scimtest.App, o Options) *appFixture {
	b := a.Behaviour()
	return &appFixture{name: name, url: a.URL(), token: a.Token(), rec: a.Log(), opts: o, lag: b.Lag > 0, groupsUnknown: b.NoGroupsAttr, foldCase: b.FoldCase}
}

func fixtures(t *testing.T) []*appFixture {
	return []*appFixture{
		tenureApp(t),
		fakeFixture("baseline", scimtest.NewBaseline(t), Options{}),
		fakeFixture("put-only", scimtest.NewPutOnly(t), Options{UpdateMode: UpdatePut, GroupMode: GroupsPut}),
		// The client is not told: it learns from the 501 and falls back.
		fakeFixture("no-group-patch", scimtest.NewNoGroupPatch(t), Options{}),
		fakeFixture("eventual", scimtest.NewEventual(t), Options{}),
		fakeFixture("etag", scimtest.NewETag(t), Options{}),
		fakeFixture("fold-case", scimtest.NewFoldCase(t), Options{}),
	}
}

// client is a new Client on the fixture's app (fresh caches).
func (f *appFixture) client(t *testing.T) *Client {
	o := f.opts
	o.BaseURL, o.Auth, o.CreateGroups, o.Name = f.url, Bearer{Token: f.token}, true, f.name
	o.RateLimit, o.Burst = 1000, 100
	c, err := New(o, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// uniq makes a name unique on the fixture's app.
func (f *appFixture) uniq(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, f.seq.Add(1))
}

// req sends a request to the app as someone other than Tenure (X-Test keeps
// it out of the request log).
func (f *appFixture) req(t *testing.T, method, path string, body any, ifMatch string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r, _ := http.NewRequest(method, f.url+path, rd)
	r.Header.Set("Authorization", "Bearer "+f.token)
	r.Header.Set("Content-Type", "application/scim+json")
	r.Header.Set("X-Test", "1")
	if ifMatch != "" {
		r.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	etag := resp.Header.Get("ETag")
	if meta, ok := doc["meta"].(map[string]any); ok && etag == "" {
		etag, _ = meta["version"].(string)
	}
	return resp.StatusCode, doc, etag
}

func (f *appFixture) mustReq(t *testing.T, want int, method, path string, body any, ifMatch string) map[string]any {
	t.Helper()
	s, doc, _ := f.req(t, method, path, body, ifMatch)
	if s != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %v", method, path, s, want, doc)
	}
	return doc
}

// user reads a user; nil when there is none.
func (f *appFixture) user(t *testing.T, id string) map[string]any {
	t.Helper()
	s, doc, _ := f.req(t, http.MethodGet, usersPath(id), nil, "")
	switch s {
	case http.StatusOK:
		return doc
	case http.StatusNotFound:
		return nil
	}
	t.Fatalf("GET user %s: HTTP %d", id, s)
	return nil
}

func (f *appFixture) createUser(t *testing.T, doc map[string]any) string {
	t.Helper()
	doc["schemas"] = []string{schemaUser, ent}
	out := f.mustReq(t, http.StatusCreated, http.MethodPost, "/Users", doc, "")
	return out["id"].(string)
}

func (f *appFixture) createGroup(t *testing.T, name string, members ...string) string {
	t.Helper()
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	out := f.mustReq(t, http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"schemas": []string{schemaGrp}, "displayName": name, "members": ms}, "")
	return out["id"].(string)
}

// all lists every resource of an endpoint, without a filter (so no lag).
func (f *appFixture) all(t *testing.T, endpoint string) []map[string]any {
	t.Helper()
	doc := f.mustReq(t, http.StatusOK, http.MethodGet, "/"+endpoint+"?count=1000", nil, "")
	var out []map[string]any
	list, _ := doc["Resources"].([]any)
	for _, r := range list {
		out = append(out, r.(map[string]any))
	}
	return out
}

// members lists the member ids of the group named name (nil: no group).
func (f *appFixture) members(t *testing.T, name string) []string {
	t.Helper()
	for _, g := range f.all(t, "Groups") {
		if g["displayName"] == name {
			doc := f.mustReq(t, http.StatusOK, http.MethodGet, groupsPath(g["id"].(string)), nil, "")
			var out []string
			ms, _ := doc["members"].([]any)
			for _, m := range ms {
				out = append(out, m.(map[string]any)["value"].(string))
			}
			return out
		}
	}
	return nil
}

func (f *appFixture) groupNamed(t *testing.T, name string) string {
	t.Helper()
	for _, g := range f.all(t, "Groups") {
		if g["displayName"] == name {
			return g["id"].(string)
		}
	}
	t.Fatalf("no group %q", name)
	return ""
}

// edit changes a resource the way another admin of the app would: read
// it, change it, PUT it back (every app here takes PUT).
func (f *appFixture) edit(t *testing.T, endpoint, id string, fn func(doc map[string]any)) {
	t.Helper()
	p := "/" + endpoint + "/" + url.PathEscape(id)
	s, doc, etag := f.req(t, http.MethodGet, p, nil, "")
	if s != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", p, s)
	}
	delete(doc, "meta")
	delete(doc, "groups")
	if ms, ok := doc["members"].([]any); ok {
		var clean []any
		for _, m := range ms {
			clean = append(clean, map[string]any{"value": m.(map[string]any)["value"]})
		}
		doc["members"] = clean
	}
	fn(doc)
	f.mustReq(t, http.StatusOK, http.MethodPut, p, doc, etag)
}

func person(userName string, extra map[string]any, groups ...string) *targets.Account {
	attrs := map[string]any{
		"userName": userName, "displayName": "Jane Doe", "name.givenName": "Jane", "name.familyName": "Doe",
		`emails[type eq "work"].value`: "jane@example.com",
		ent + ":department":            "Engineering",
	}
	for k, v := range extra {
		if v == nil {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
	}
	slices.Sort(groups)
	return &targets.Account{Exists: true, Enabled: true, Attributes: attrs, Entitlements: groups}
}

// apply converges desired from link, checks the ops, converges again from
// the returned link and checks that the second did nothing: no ops, the
// same link, and not one write request to the app.
func (f *appFixture) apply(t *testing.T, c *Client, link *targets.Link, desired *targets.Account, want []targets.Op) *targets.Link {
	t.Helper()
	res, err := c.Converge(t.Context(), &targets.Request{Identity: "p1", Desired: desired, Link: link})
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if !slices.Equal(res.Ops, want) {
		t.Errorf("ops = %v, want %v", res.Ops, want)
	}
	if desired.Exists && (res.Link.ID == "" || res.Link.Ref != res.Link.ID || res.Link.Applied == nil) {
		t.Errorf("link %+v is incomplete", res.Link)
	}
	if !desired.Exists && (res.Link.ID != "" || res.Link.Applied != nil) {
		t.Errorf("link after delete = %+v, want zero", res.Link)
	}
	mark := f.rec.Mark()
	again, err := c.Converge(t.Context(), &targets.Request{Identity: "p1", Desired: desired, Link: &res.Link})
	if err != nil {
		t.Fatalf("second converge: %v", err)
	}
	if len(again.Ops) != 0 {
		t.Errorf("second converge did %v", again.Ops)
	}
	if w := f.rec.Writes(mark); len(w) > 0 {
		t.Errorf("second converge wrote: %v", w)
	}
	if again.Link.ID != res.Link.ID {
		t.Errorf("second converge link %+v, first %+v", again.Link, res.Link)
	}
	return &res.Link
}

func ops(list ...string) []targets.Op {
	var out []targets.Op
	for _, s := range list {
		kind, detail, _ := strings.Cut(s, " ")
		out = append(out, targets.Op{Kind: targets.OpKind(kind), Detail: detail})
	}
	return out
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				run  func(*testing.T, *appFixture)
			}{
				{"Lifecycle", conformLifecycle},
				{"Relink", conformRelink},
				{"ConflictThenLink", conformConflict},
				{"HostileValues", conformHostile},
				{"Permanent", conformPermanent},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
			}
		})
	}
}

func conformLifecycle(t *testing.T, f *appFixture) {
	c := f.client(t)
	eng, opsG, sales, other := f.uniq("eng-"), f.uniq("ops-"), f.uniq("sales-"), f.uniq("other-")
	// eng exists with a member Tenure never added; ops and sales do not
	// exist and are created.
	placeholder := f.createUser(t, map[string]any{"userName": f.uniq("placeholder.")})
	f.createGroup(t, eng, placeholder)
	otherID := f.createGroup(t, other)
	name := f.uniq("Jane.Doe.")
	changed := map[string]any{
		"title": "Engineer", "name.givenName": "Janet", `emails[type eq "work"].value`: "janet@example.com",
		`phoneNumbers[type eq "mobile"].value`: "+1 555 0100", ent + ":department": nil,
	}
	var link *targets.Link
	var id string
	steps := []struct {
		name    string
		desired *targets.Account
		ops     []targets.Op
		before  func(t *testing.T)
		check   func(t *testing.T, u map[string]any)
	}{
		{name: "joiner with groups", desired: person(name, nil, eng, opsG), ops: ops("create", "grant "+eng, "grant "+opsG),
			check: func(t *testing.T, u map[string]any) {
				emails, _ := u["emails"].([]any)
				if !strings.EqualFold(u["userName"].(string), name) || u["active"] != true || len(emails) != 1 {
					t.Fatalf("created %v", u)
				}
				e := emails[0].(map[string]any)
				if e["value"] != "jane@example.com" || e["type"] != "work" || e["primary"] != true {
					t.Errorf("email %v", e)
				}
				if u["name"].(map[string]any)["givenName"] != "Jane" || u[ent].(map[string]any)["department"] != "Engineering" {
					t.Errorf("name %v, enterprise %v", u["name"], u[ent])
				}
				if !slices.Contains(f.members(t, eng), id) || !slices.Contains(f.members(t, opsG), id) || !slices.Contains(f.members(t, eng), placeholder) {
					t.Errorf("members: eng %v, ops %v", f.members(t, eng), f.members(t, opsG))
				}
			}},
		{name: "attribute change", desired: person(name, changed, eng, opsG),
			ops: ops(`update [emails[type eq "work"].value name.givenName phoneNumbers[type eq "mobile"].value title ` + ent + `:department]`),
			check: func(t *testing.T, u map[string]any) {
				emails, _ := u["emails"].([]any)
				phones, _ := u["phoneNumbers"].([]any)
				if u["title"] != "Engineer" || u["name"].(map[string]any)["givenName"] != "Janet" || u["name"].(map[string]any)["familyName"] != "Doe" {
					t.Errorf("title %v, name %v", u["title"], u["name"])
				}
				if len(emails) != 1 || emails[0].(map[string]any)["value"] != "janet@example.com" || len(phones) != 1 || phones[0].(map[string]any)["value"] != "+1 555 0100" {
					t.Errorf("emails %v, phones %v", emails, phones)
				}
				if d, _ := u[ent].(map[string]any); d["department"] != nil {
					t.Errorf("department still %v", d["department"])
				}
			}},
		{name: "group swap", desired: person(name, changed, opsG, sales), ops: ops("grant "+sales, "revoke "+eng),
			before: func(t *testing.T) {
				// Someone else puts the user in another group: Tenure must leave it.
				f.edit(t, "Groups", otherID, func(doc map[string]any) { doc["members"] = []any{map[string]any{"value": id}} })
			},
			check: func(t *testing.T, u map[string]any) {
				if slices.Contains(f.members(t, eng), id) || !slices.Contains(f.members(t, sales), id) || !slices.Contains(f.members(t, opsG), id) {
					t.Errorf("members: eng %v, sales %v, ops %v", f.members(t, eng), f.members(t, sales), f.members(t, opsG))
				}
				if !slices.Contains(f.members(t, eng), placeholder) || !slices.Contains(f.members(t, other), id) {
					t.Error("a membership Tenure never granted was removed")
				}
			}},
		{name: "disable", desired: func() *targets.Account { a := person(name, changed, opsG, sales); a.Enabled = false; return a }(),
			ops: ops("disable"),
			check: func(t *testing.T, u map[string]any) {
				if u["active"] != false {
					t.Errorf("active %v", u["active"])
				}
			}},
		{name: "enable", desired: person(name, changed, opsG, sales), ops: ops("enable"),
			check: func(t *testing.T, u map[string]any) {
				if u["active"] != true {
					t.Errorf("active %v", u["active"])
				}
			}},
		{name: "delete", desired: &targets.Account{}, ops: ops("delete")},
		{name: "delete again", desired: &targets.Account{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			link = f.apply(t, c, link, st.desired, st.ops)
			if link.ID != "" {
				id = link.ID
			}
			u := f.user(t, id)
			if !st.desired.Exists {
				if u != nil {
					t.Errorf("user %s still exists", id)
				}
				return
			}
			if st.check != nil {
				st.check(t, u)
			}
		})
	}
}

// conformRelink: a link lost (or naming a user that is gone) finds the user
// by userName, ignoring case, and never creates a second one.
func conformRelink(t *testing.T, f *appFixture) {
	c := f.client(t)
	grp := f.uniq("relink-")
	name := f.uniq("rl.user.")
	link := f.apply(t, c, nil, person(name, nil, grp), ops("create", "grant "+grp))
	mark := f.rec.Mark()
	upper := strings.ToUpper(name)
	relinked := f.apply(t, c, nil, person(upper, nil, grp), ops("update [userName]"))
	if relinked.ID != link.ID {
		t.Errorf("relinked to %s, want %s", relinked.ID, link.ID)
	}
	stale := &targets.Link{ID: "no-such-user", Ref: "no-such-user", Applied: person(upper, nil, grp)}
	if again := f.apply(t, c, stale, person(upper, nil, grp), nil); again.ID != link.ID {
		t.Errorf("relinked a stale link to %s, want %s", again.ID, link.ID)
	}
	n := 0
	for _, u := range f.all(t, "Users") {
		if strings.EqualFold(u["userName"].(string), name) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d users named %s", n, name)
	}
	for _, r := range f.rec.Since(mark) {
		if r.Method == http.MethodPost && r.Path != "" && !f.lag {
			t.Errorf("relink sent %s %s -> %d", r.Method, r.Path, r.Status)
		}
	}
}

// conformConflict: a user that exists before Tenure converges it is linked,
// not duplicated; where the app's filters lag, the create meets a 409 and
// the lookup is retried until the user shows.
func conformConflict(t *testing.T, f *appFixture) {
	c := f.client(t)
	grp := f.uniq("pre-")
	name := f.uniq("pre.existing.")
	id := f.createUser(t, map[string]any{
		"userName": name, "displayName": "Jane Doe", "name": map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails": []any{map[string]any{"type": "work", "value": "jane@example.com", "primary": true}},
		"title":  "Old", ent: map[string]any{"department": "Engineering"},
	})
	mark := f.rec.Mark()
	link := f.apply(t, c, nil, person(name, map[string]any{"title": "New"}, grp), ops("update [title]", "grant "+grp))
	if link.ID != id {
		t.Errorf("linked %s, want the existing %s", link.ID, id)
	}
	conflicts := 0
	for _, r := range f.rec.Since(mark) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Users") {
			if r.Status != http.StatusConflict {
				t.Errorf("POST /Users -> %d: a duplicate", r.Status)
			}
			conflicts++
		}
	}
	if f.lag && conflicts == 0 {
		t.Error("the lagging app never answered 409: the case did not test the retry")
	}
}

// conformHostile: quotes, backslashes, filter syntax and non-ASCII in
// userName and group names travel as data, never as filter syntax.
func conformHostile(t *testing.T, f *appFixture) {
	c := f.client(t)
	n := f.seq.Add(1)
	name := fmt.Sprintf(`o'Brien "the \ hacker" %d " or userName pr or " Jörg`, n)
	groups := []string{
		fmt.Sprintf(`sales "EMEA" \ west %d`, n),
		fmt.Sprintf(`" or displayName pr or "%d`, n),
		fmt.Sprintf(`Ünïcødé-группа-%d`, n),
	}
	slices.Sort(groups)
	// Decoys an injected filter would match.
	f.createUser(t, map[string]any{"userName": f.uniq("decoy.")})
	f.createGroup(t, f.uniq("decoy-"))
	want := ops("create")
	for _, g := range groups {
		want = append(want, targets.Op{Kind: targets.OpGrant, Detail: g})
	}
	link := f.apply(t, c, nil, person(name, nil, groups...), want)
	if u := f.user(t, link.ID); u["userName"] != name && !strings.EqualFold(u["userName"].(string), name) {
		t.Errorf("userName %q, want %q", u["userName"], name)
	}
	for _, g := range groups {
		if !slices.Contains(f.members(t, g), link.ID) {
			t.Errorf("not a member of %q", g)
		}
	}
	// A new client (empty group cache) and no link: everything is found
	// by filters on the hostile values.
	c2 := f.client(t)
	var relinkOps []targets.Op
	if f.foldCase {
		// Without a last applied state, the folded name cannot be told
		// from drift: it is written once, and the app folds it again.
		relinkOps = ops("update [userName]")
	}
	if again := f.apply(t, c2, nil, person(name, nil, groups...), relinkOps); again.ID != link.ID {
		t.Errorf("relinked to %s, want %s", again.ID, link.ID)
	}
	f.apply(t, c2, link, &targets.Account{}, ops("delete"))
}

// conformPermanent: what cannot succeed fails permanently, and before any
// request where the client can tell.
func conformPermanent(t *testing.T, f *appFixture) {
	c := f.client(t)
	mark := f.rec.Mark()
	for _, tc := range []struct {
		name    string
		desired *targets.Account
	}{
		{"no userName", person("", nil)},
		{"active mapped", person("x", map[string]any{"active": true})},
		{"bad path", person("x", map[string]any{"emails[type eq work].value": "x"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Converge(t.Context(), &targets.Request{Identity: "p1", Desired: tc.desired})
			if err == nil || targets.IsRetryable(err) {
				t.Errorf("err = %v, want permanent", err)
			}
		})
	}
	if r := f.rec.Since(mark); len(r) != 0 {
		t.Errorf("sent %d requests", len(r))
	}
	// A group that does not exist, with creation off.
	o := f.opts
	o.BaseURL, o.Auth = f.url, Bearer{Token: f.token}
	strict, err := New(o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	missing := f.uniq("missing-")
	_, err = strict.Converge(t.Context(), &targets.Request{Identity: "p1", Desired: person(f.uniq("nogroup."), nil, missing)})
	if err == nil || targets.IsRetryable(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want permanent naming %s", err, missing)
	}
}
