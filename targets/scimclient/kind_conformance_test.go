package scimclient

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/scimpath"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/conformance"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// TestKindConformance runs the suite every target kind passes
// (targets/conformance) against Tenure's own SCIM server as a downstream
// and the fake apps, each fixture with names of its own on the app.
func TestKindConformance(t *testing.T) {
	t.Parallel()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			conformance.RunTests(t, f.kind())
		})
	}
}

// kind is the app as a conformance.Kind: userName names the user,
// externalId correlates (a user found by userName with another one is a
// collision; SCIM has no suffix rule), title is the plain attribute and
// nickName the one Tenure does not map. SCIM has no containers.
func (f *appFixture) kind() conformance.Kind {
	return conformance.Kind{
		New:               f.kindFixture,
		At:                f.kindAt,
		Collisions:        []string{conformance.CollisionFail},
		NoMembershipDrift: f.groupsUnknown,
	}
}

// kindAt is a client like a fixture's for an app at addr.
func (f *appFixture) kindAt(t *testing.T, addr string) targets.Target {
	o := f.opts
	o.BaseURL, o.Auth, o.CreateGroups, o.Name = "http://"+addr+"/scim/v2", Bearer{Token: f.token}, true, f.name
	c, err := New(o, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scimFixture is a client on the app and a prefix that makes the
// fixture's userNames, externalIds and group names its own.
type scimFixture struct {
	*appFixture
	c      *Client
	prefix string
	groups []string
}

func (f *appFixture) kindFixture(t *testing.T, _ conformance.Options) conformance.Fixture {
	prefix := f.uniq("k") + "-"
	var groups []string
	for _, g := range []string{"eng", "ops", "other", "sales"} {
		groups = append(groups, prefix+g)
	}
	return &scimFixture{appFixture: f, c: f.client(t), prefix: prefix, groups: groups}
}

func (f *scimFixture) Target() targets.Target { return f.c }
func (f *scimFixture) Container() string      { return "" }
func (f *scimFixture) Groups() []string       { return f.groups }

func (f *scimFixture) mine(s string) string {
	if s == "" {
		return ""
	}
	return f.prefix + s
}

func (f *scimFixture) Account(p conformance.Person) *targets.Account {
	q := p
	q.Name, q.Key = f.mine(p.Name), f.mine(p.Key)
	return q.Account(person("", nil).Attributes, "userName", "externalId", "title")
}

// unmine strips the fixture's prefix (the app may have folded its case).
func (f *scimFixture) unmine(s string) string {
	if len(s) >= len(f.prefix) && strings.EqualFold(s[:len(f.prefix)], f.prefix) {
		return s[len(f.prefix):]
	}
	return s
}

func (f *scimFixture) Read(t *testing.T, id string) *conformance.State {
	t.Helper()
	if id == "" {
		return nil
	}
	u := f.user(t, id)
	if u == nil {
		return nil
	}
	str := func(v any) string { s, _ := v.(string); return s }
	s := &conformance.State{
		Ref: id, Name: f.unmine(str(u["userName"])), Key: f.unmine(str(u["externalId"])), Title: str(u["title"]),
		Enabled: u["active"] == nil || u["active"] == true, Extra: str(u["nickName"]),
	}
	if e, ok := u[ent].(map[string]any); ok {
		if m, ok := e["manager"].(map[string]any); ok {
			s.Manager = str(m["value"])
		}
	}
	for _, g := range f.groups {
		if slices.Contains(f.members(t, g), id) {
			s.Groups = append(s.Groups, g)
		}
	}
	return s
}

// Raw is the user as the app answers it, meta (version) included, its
// groups in order.
func (f *scimFixture) Raw(t *testing.T, id string) string {
	t.Helper()
	u := f.user(t, id)
	if u == nil {
		return ""
	}
	if gs, ok := u["groups"].([]any); ok {
		slices.SortFunc(gs, func(a, b any) int {
			return strings.Compare(a.(map[string]any)["value"].(string), b.(map[string]any)["value"].(string))
		})
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Writes counts the app's non-GET requests from clients (the tests' own
// carry X-Test and are not logged).
func (f *scimFixture) Writes(t *testing.T) int { return len(f.rec.Writes(0)) }

// Plant creates the user Account(p) describes, active, and waits until the
// app's filters see it.
func (f *scimFixture) Plant(t *testing.T, p conformance.Person) (string, *targets.Account) {
	t.Helper()
	doc := map[string]any{
		"userName": f.mine(p.Name), "displayName": "Jane Doe", "active": true,
		"name":   map[string]any{"givenName": "Jane", "familyName": "Doe"},
		"emails": []any{map[string]any{"type": "work", "value": "jane@example.com", "primary": true}},
		ent:      map[string]any{"department": "Engineering"},
	}
	if p.Key != "" {
		doc["externalId"] = f.mine(p.Key)
	}
	if p.Title != "" {
		doc["title"] = p.Title
	}
	id := f.createUser(t, doc)
	for deadline := time.Now().Add(10 * time.Second); ; {
		q := url.Values{"filter": {"userName eq " + scimpath.Quote(f.mine(p.Name))}}
		l := f.mustReq(t, http.StatusOK, http.MethodGet, "/Users?"+q.Encode(), nil, "")
		if n, _ := l["totalResults"].(float64); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app's filters never saw user %s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	made := f.Account(p)
	made.Entitlements, made.Enabled, made.References = nil, true, nil
	return id, made
}

// Drift changes title, removes the e-mail, sets nickName and deactivates
// the user as another admin of the app would, and takes it out of group.
func (f *scimFixture) Drift(t *testing.T, id, group string) []string {
	t.Helper()
	f.edit(t, "Users", id, func(u map[string]any) {
		u["title"], u["active"], u["nickName"] = "Drifted", false, "JJ"
		delete(u, "emails")
	})
	f.edit(t, "Groups", f.groupNamed(t, group), func(g map[string]any) {
		ms, _ := g["members"].([]any)
		g["members"] = slices.DeleteFunc(ms, func(m any) bool { return m.(map[string]any)["value"] == id })
	})
	return []string{`emails[type eq "work"].value`, "title"}
}

func (f *scimFixture) Join(t *testing.T, id, group string) {
	t.Helper()
	if !slices.ContainsFunc(f.all(t, "Groups"), func(g map[string]any) bool { return g["displayName"] == group }) {
		f.createGroup(t, group, id)
		return
	}
	f.edit(t, "Groups", f.groupNamed(t, group), func(g map[string]any) {
		ms, _ := g["members"].([]any)
		g["members"] = append(ms, map[string]any{"value": id})
	})
}

func (f *scimFixture) Remove(t *testing.T, id string) {
	t.Helper()
	_, _, etag := f.req(t, http.MethodGet, usersPath(id), nil, "")
	f.mustReq(t, http.StatusNoContent, http.MethodDelete, usersPath(id), nil, etag)
}

// TestFindBy: the dry run says how it found the user, by its link or by
// userName (the suite checks only that it says something).
func TestFindBy(t *testing.T) {
	t.Parallel()
	f := fakeFixture("baseline", scimtest.NewBaseline(t), Options{})
	c := f.client(t)
	name := f.uniq("findby.")
	id := f.createUser(t, map[string]any{"userName": name})
	for _, tc := range []struct {
		link *targets.Link
		by   string
	}{{nil, "userName"}, {&targets.Link{ID: id, Ref: id}, "link"}} {
		m, err := c.Find(t.Context(), &targets.Request{Desired: person(name, nil), Link: tc.link})
		if err != nil || m == nil || m.ID != id || m.By != tc.by {
			t.Errorf("find with link %+v: %+v %v, want %s by %s", tc.link, m, err, id, tc.by)
		}
	}
}
