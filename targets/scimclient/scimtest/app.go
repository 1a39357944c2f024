// Package scimtest holds test apps reproducing real SCIM apps' behaviours;
// for tests only.
//
// An App is a small in-memory SCIM 2.0 app on an httptest server with
// switches for the quirks real apps show (PUT only, no group PATCH, filters
// lagging behind writes, required ETags, userName case folding, 429
// storms). It is written independently of scimclient (its own path parsing
// and PATCH), so the client and the app cannot share a misreading of the
// RFC. Tenure starts Tenure's own SCIM server as a downstream app. Both
// record the requests they answer (Log) and show what they store (Users,
// Groups).
package scimtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/jsonx"
)

// SCIM schema URNs.
const (
	SchemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// Behaviour switches an App's quirks. Every app keeps userName and group
// displayName unique, ignoring case, and answers a duplicate with 409
// (scimType uniqueness).
type Behaviour struct {
	PutOnly      bool          // PATCH on users and groups: 405
	NoGroupPatch bool          // PATCH on groups: 501
	Lag          time.Duration // new resources are invisible to filters this long
	ETag         bool          // advertises etags and requires If-Match on every write (412)
	FoldCase     bool          // stores userName in lower case
	NoGroupsAttr bool          // never returns a user's groups attribute
	// LostCreate: the first POST /Users of each userName creates the user
	// but is answered 502, as a gateway timing out in front of the app
	// would; the client's next attempt meets a user it does not know.
	LostCreate bool
}

// Resource is a user or group as an app stores it.
type Resource struct {
	ID      string
	Name    string         // userName (users), displayName (groups)
	Attrs   map[string]any // the attributes, without id, meta, groups and members
	Members []string       // groups only: the member ids
}

// Server is what tests need of a downstream app: an App or Tenure.
type Server interface {
	URL() string   // the SCIM base URL
	Token() string // the bearer token the app accepts
	Log() *Log     // the requests the app answered
	Users() []Resource
	Groups() []Resource
}

// Token is the bearer token every App accepts.
const Token = "fake-app-bearer-token-s3cr3t"

type res struct {
	doc     map[string]any // without id, meta, groups and members
	members []string       // groups only
	version int
	created time.Time
}

// App is an in-memory SCIM app on an httptest server, serving under
// URL() (…/scim) with the bearer token Token.
type App struct {
	b      Behaviour
	srv    *httptest.Server
	log    *Log
	mu     sync.Mutex
	users  map[string]*res
	groups map[string]*res
	seq    int
	lost   map[string]bool // LostCreate: userNames (folded) whose create was lost
	// intercept, if set, may answer a request before the app does.
	intercept func(w http.ResponseWriter, r *http.Request) (handled bool)
	authOK    func(*http.Request) bool
}

var _ Server = (*App)(nil)

// New starts an app with behaviour b; it stops when the test ends.
func New(t testing.TB, b Behaviour) *App {
	a := &App{b: b, users: map[string]*res{}, groups: map[string]*res{}, lost: map[string]bool{}}
	a.log = Record(http.HandlerFunc(a.serve))
	a.srv = httptest.NewServer(a.log)
	t.Cleanup(a.srv.Close)
	return a
}

// NewBaseline is an app without quirks: PATCH, group PATCH, filters that
// see every write, no ETags.
func NewBaseline(t testing.TB) *App { return New(t, Behaviour{}) }

// NewPutOnly refuses PATCH (405) and, like the apps that only take PUT,
// never returns a user's groups.
func NewPutOnly(t testing.TB) *App { return New(t, Behaviour{PutOnly: true, NoGroupsAttr: true}) }

// NewNoGroupPatch takes PATCH on users but answers 501 to PATCH on groups.
func NewNoGroupPatch(t testing.TB) *App { return New(t, Behaviour{NoGroupPatch: true}) }

// NewConflicting loses the response to each user's first create (502,
// the user stored) and its filters lag a second behind its writes, so the
// client's retry looks the user up, misses it, POSTs again and meets the
// app's 409: a client that does not link the existing user then duplicates
// it or fails.
func NewConflicting(t testing.TB) *App {
	return New(t, Behaviour{LostCreate: true, Lag: time.Second})
}

// NewEventual is eventually consistent: new resources are invisible to
// filters for 200 ms, so a lookup right after a create misses and a second
// create meets a 409.
func NewEventual(t testing.TB) *App { return New(t, Behaviour{Lag: 200 * time.Millisecond}) }

// NewETag advertises ETags and refuses a write without the current version
// in If-Match (412).
func NewETag(t testing.TB) *App { return New(t, Behaviour{ETag: true}) }

// NewFoldCase stores userName in lower case.
func NewFoldCase(t testing.TB) *App { return New(t, Behaviour{FoldCase: true}) }

// Storm is a 429 storm: after the first After requests, for For, every
// Every-th request (0 or 1: every request) is answered 429 with
// Retry-After: 1.
type Storm struct {
	After int
	For   time.Duration
	Every int
}

// NewStorm is a baseline app that goes through storm s.
func NewStorm(t testing.TB, s Storm) *App {
	a := NewBaseline(t)
	var mu sync.Mutex
	n, inStorm := 0, 0
	var start time.Time
	a.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		n++
		if n == s.After+1 {
			start = time.Now()
		}
		throttle := false
		if !start.IsZero() && time.Since(start) < s.For {
			inStorm++
			throttle = s.Every <= 1 || inStorm%s.Every == 0
		}
		mu.Unlock()
		if throttle {
			w.Header().Set("Retry-After", "1")
			Error(w, http.StatusTooManyRequests, "", "slow down")
		}
		return throttle
	})
	return a
}

// URL is the app's SCIM base URL.
func (a *App) URL() string { return a.srv.URL + "/scim" }

// Token is the bearer token the app accepts (unless SetAuth replaced the
// check).
func (a *App) Token() string { return Token }

// Log holds the requests the app answered.
func (a *App) Log() *Log { return a.log }

// Behaviour is the app's behaviour.
func (a *App) Behaviour() Behaviour { return a.b }

// SetIntercept installs f, which sees every authenticated request before
// the app and may answer it (handled true): errors, throttling.
func (a *App) SetIntercept(f func(w http.ResponseWriter, r *http.Request) (handled bool)) {
	a.mu.Lock()
	a.intercept = f
	a.mu.Unlock()
}

// SetAuth replaces the bearer token check with f.
func (a *App) SetAuth(f func(*http.Request) bool) {
	a.mu.Lock()
	a.authOK = f
	a.mu.Unlock()
}

// Users returns the stored users in creation order.
func (a *App) Users() []Resource { return a.snapshot(false) }

// Groups returns the stored groups in creation order.
func (a *App) Groups() []Resource { return a.snapshot(true) }

func (a *App) snapshot(group bool) []Resource {
	a.mu.Lock()
	defer a.mu.Unlock()
	store, attr := a.users, "userName"
	if group {
		store, attr = a.groups, "displayName"
	}
	var out []Resource
	for id, r := range store {
		name, _ := r.doc[attr].(string)
		out = append(out, Resource{ID: id, Name: name, Attrs: jsonx.DeepCopy(r.doc).(map[string]any), Members: slices.Clone(r.members)})
	}
	slices.SortFunc(out, func(x, y Resource) int { return store[x.ID].created.Compare(store[y.ID].created) })
	return out
}

// WriteJSON answers v as application/scim+json.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers a SCIM error (RFC 7644 §3.12); scimType may be empty.
func Error(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{"schemas": []string{SchemaError}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	WriteJSON(w, status, body)
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	authOK, intercept := a.authOK, a.intercept
	a.mu.Unlock()
	if authOK == nil {
		authOK = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+Token }
	}
	if !authOK(r) {
		Error(w, http.StatusUnauthorized, "", "bad token")
		return
	}
	if intercept != nil && intercept(w, r) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/scim")
	var body map[string]any
	if r.Body != nil {
		raw, _ := io.ReadAll(r.Body)
		if len(raw) > 0 {
			d := json.NewDecoder(strings.NewReader(string(raw)))
			d.UseNumber()
			if err := d.Decode(&body); err != nil {
				Error(w, http.StatusBadRequest, "invalidSyntax", "bad JSON")
				return
			}
		}
	}
	switch {
	case p == "/ServiceProviderConfig" && r.Method == http.MethodGet:
		WriteJSON(w, http.StatusOK, map[string]any{"patch": map[string]any{"supported": !a.b.PutOnly}, "etag": map[string]any{"supported": a.b.ETag}})
	case p == "/Users" || p == "/Groups":
		group := p == "/Groups"
		switch r.Method {
		case http.MethodGet:
			a.list(w, r, group)
		case http.MethodPost:
			a.create(w, body, group)
		default:
			Error(w, http.StatusMethodNotAllowed, "", "no")
		}
	case strings.HasPrefix(p, "/Users/") || strings.HasPrefix(p, "/Groups/"):
		group := strings.HasPrefix(p, "/Groups/")
		id := p[strings.Index(p[1:], "/")+2:]
		store := a.users
		if group {
			store = a.groups
		}
		rs := store[id]
		if rs == nil {
			Error(w, http.StatusNotFound, "", "Resource "+id+" not found.")
			return
		}
		if r.Method != http.MethodGet && a.b.ETag && r.Header.Get("If-Match") != etagOf(rs) {
			Error(w, http.StatusPreconditionFailed, "", "If-Match does not match "+etagOf(rs))
			return
		}
		switch r.Method {
		case http.MethodGet:
			a.answer(w, http.StatusOK, id, rs, group)
		case http.MethodDelete:
			delete(store, id)
			if !group {
				for _, g := range a.groups {
					g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
				}
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPut:
			a.put(w, id, rs, body, group)
		case http.MethodPatch:
			if a.b.PutOnly {
				Error(w, http.StatusMethodNotAllowed, "", "PATCH is not supported")
				return
			}
			if group && a.b.NoGroupPatch {
				Error(w, http.StatusNotImplemented, "", "group PATCH is not implemented")
				return
			}
			a.patch(w, id, rs, body, group)
		default:
			Error(w, http.StatusMethodNotAllowed, "", "no")
		}
	default:
		Error(w, http.StatusNotFound, "", "no such endpoint")
	}
}

func etagOf(rs *res) string { return fmt.Sprintf(`W/"%d"`, rs.version) }

// render is a resource as the app answers it.
func (a *App) render(id string, rs *res, group bool) map[string]any {
	out := jsonx.DeepCopy(rs.doc).(map[string]any)
	out["id"] = id
	out["meta"] = map[string]any{"version": etagOf(rs), "resourceType": map[bool]string{true: "Group", false: "User"}[group]}
	if group {
		var ms []any
		for _, m := range rs.members {
			ms = append(ms, map[string]any{"value": m})
		}
		out["members"] = ms
	} else if !a.b.NoGroupsAttr {
		gs := []any{}
		for gid, g := range a.groups {
			if slices.Contains(g.members, id) {
				gs = append(gs, map[string]any{"value": gid, "display": g.doc["displayName"]})
			}
		}
		out["groups"] = gs
	}
	return out
}

func (a *App) answer(w http.ResponseWriter, status int, id string, rs *res, group bool) {
	w.Header().Set("ETag", etagOf(rs))
	WriteJSON(w, status, a.render(id, rs, group))
}

var filterRE = regexp.MustCompile(`^(\w+) eq ("(?:[^"\\]|\\.)*")$`)

func (a *App) list(w http.ResponseWriter, r *http.Request, group bool) {
	q := r.URL.Query()
	store, attr := a.users, "userName"
	if group {
		store, attr = a.groups, "displayName"
	}
	var want *string
	if f := q.Get("filter"); f != "" {
		m := filterRE.FindStringSubmatch(f)
		var v string
		if m == nil || !strings.EqualFold(m[1], attr) || json.Unmarshal([]byte(m[2]), &v) != nil {
			Error(w, http.StatusBadRequest, "invalidFilter", "unsupported filter "+f)
			return
		}
		want = &v
	}
	var ids []string
	for id, rs := range store {
		if want != nil {
			if time.Since(rs.created) < a.b.Lag || !strings.EqualFold(rs.doc[attr].(string), *want) {
				continue
			}
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int { return store[x].created.Compare(store[y].created) })
	start, _ := strconv.Atoi(q.Get("startIndex"))
	count, err := strconv.Atoi(q.Get("count"))
	if err != nil {
		count = 50
	}
	start = max(start, 1)
	page := []any{}
	for i := start - 1; i < len(ids) && len(page) < count; i++ {
		page = append(page, a.render(ids[i], store[ids[i]], group))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"schemas": []string{SchemaList}, "totalResults": len(ids),
		"startIndex": start, "itemsPerPage": len(page), "Resources": page})
}

// clean strips what the server owns from a request body.
func (a *App) clean(body map[string]any, group bool) (map[string]any, []string, bool) {
	doc := jsonx.DeepCopy(body).(map[string]any)
	var members []string
	for _, k := range []string{"id", "meta", "groups"} {
		delete(doc, k)
	}
	if group {
		ms, _ := doc["members"].([]any)
		for _, m := range ms {
			v, _ := m.(map[string]any)["value"].(string)
			members = append(members, v)
		}
		delete(doc, "members")
		_, ok := doc["displayName"].(string)
		return doc, members, ok
	}
	name, ok := doc["userName"].(string)
	if ok && a.b.FoldCase {
		doc["userName"] = strings.ToLower(name)
	}
	return doc, members, ok && name != ""
}

// conflict reports whether doc's userName (displayName) is taken, ignoring
// case.
func (a *App) conflict(id string, doc map[string]any, group bool) bool {
	store, attr := a.users, "userName"
	if group {
		store, attr = a.groups, "displayName"
	}
	for oid, u := range store {
		if oid != id && strings.EqualFold(u.doc[attr].(string), doc[attr].(string)) {
			return true
		}
	}
	return false
}

func (a *App) create(w http.ResponseWriter, body map[string]any, group bool) {
	doc, members, ok := a.clean(body, group)
	if !ok {
		Error(w, http.StatusBadRequest, "invalidValue", "userName/displayName is required")
		return
	}
	if a.conflict("", doc, group) {
		Error(w, http.StatusConflict, "uniqueness", "the name is taken")
		return
	}
	a.seq++
	// Ids with a space, a plus and a non-ASCII letter: the client must
	// escape them in paths and filters.
	id := fmt.Sprintf("u+%d ü", a.seq)
	store := a.users
	if group {
		id, store = fmt.Sprintf("g+%d ü", a.seq), a.groups
	}
	rs := &res{doc: doc, members: members, version: 1, created: time.Now()}
	store[id] = rs
	if name := strings.ToLower(fmt.Sprint(doc["userName"])); !group && a.b.LostCreate && !a.lost[name] {
		a.lost[name] = true
		Error(w, http.StatusBadGateway, "", "upstream timed out")
		return
	}
	a.answer(w, http.StatusCreated, id, rs, group)
}

func (a *App) put(w http.ResponseWriter, id string, rs *res, body map[string]any, group bool) {
	doc, members, ok := a.clean(body, group)
	if !ok {
		Error(w, http.StatusBadRequest, "invalidValue", "userName/displayName is required")
		return
	}
	if a.conflict(id, doc, group) {
		Error(w, http.StatusConflict, "uniqueness", "userName is taken")
		return
	}
	rs.doc, rs.version = doc, rs.version+1
	if group {
		rs.members = members
	}
	a.answer(w, http.StatusOK, id, rs, group)
}

// pathRE parses the PATCH paths the app supports:
// [urn:…:]attr[sub eq "v"][.sub].
var pathRE = regexp.MustCompile(`^(?:(urn:[^\[]+):)?([A-Za-z$][\w$-]*)(?:\[(\w+) eq ("(?:[^"\\]|\\.)*")\])?(?:\.([A-Za-z$][\w$-]*))?$`)

func (a *App) patch(w http.ResponseWriter, id string, rs *res, body map[string]any, group bool) {
	ops, _ := body["Operations"].([]any)
	doc := jsonx.DeepCopy(rs.doc).(map[string]any)
	members := slices.Clone(rs.members)
	for _, o := range ops {
		op, _ := o.(map[string]any)
		kind := strings.ToLower(op["op"].(string))
		pathStr, _ := op["path"].(string)
		m := pathRE.FindStringSubmatch(pathStr)
		if m == nil {
			Error(w, http.StatusBadRequest, "invalidPath", "bad path "+pathStr)
			return
		}
		urn, attr, fAttr, fQuoted, sub := m[1], m[2], m[3], m[4], m[5]
		var fVal string
		if fQuoted != "" {
			_ = json.Unmarshal([]byte(fQuoted), &fVal)
		}
		value := op["value"]
		if group && attr == "members" {
			switch {
			case kind == "add":
				for _, v := range value.([]any) {
					mv := v.(map[string]any)["value"].(string)
					if _, ok := a.users[mv]; !ok {
						Error(w, http.StatusBadRequest, "invalidValue", "no member "+mv)
						return
					}
					if !slices.Contains(members, mv) {
						members = append(members, mv)
					}
				}
			case kind == "remove" && fAttr == "value":
				members = slices.DeleteFunc(members, func(x string) bool { return x == fVal })
			default:
				Error(w, http.StatusBadRequest, "invalidPath", "unsupported member op")
				return
			}
			continue
		}
		c := doc
		if urn != "" {
			ext, _ := doc[urn].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				doc[urn] = ext
			}
			c = ext
		}
		switch {
		case fAttr != "":
			list, _ := c[attr].([]any)
			idx := slices.IndexFunc(list, func(e any) bool { return e.(map[string]any)[fAttr] == fVal })
			if idx < 0 {
				// RFC 7644 §3.5.2.3: a filter matching nothing is noTarget.
				Error(w, http.StatusBadRequest, "noTarget", pathStr+" matches nothing")
				return
			}
			list = slices.Clone(list)
			el := jsonx.CloneMap(list[idx].(map[string]any))
			switch {
			case kind == "remove" && sub == "":
				list = slices.Delete(list, idx, idx+1)
			case kind == "remove":
				delete(el, sub)
				list[idx] = el
			case sub == "":
				Error(w, http.StatusBadRequest, "invalidPath", "replace a whole element: unsupported")
				return
			default:
				el[sub] = value
				list[idx] = el
			}
			if len(list) == 0 {
				delete(c, attr)
			} else {
				c[attr] = list
			}
		case sub != "":
			cm, _ := c[attr].(map[string]any)
			cm = jsonx.CloneMap(cm)
			if kind == "remove" {
				delete(cm, sub)
			} else {
				cm[sub] = value
			}
			c[attr] = cm
		case kind == "remove":
			delete(c, attr)
		case kind == "add":
			if add, ok := value.([]any); ok {
				list, _ := c[attr].([]any)
				c[attr] = append(slices.Clone(list), add...)
			} else {
				c[attr] = value
			}
		default:
			c[attr] = value
		}
		if urn != "" && len(c) == 0 {
			delete(doc, urn)
		}
	}
	if !group && a.b.FoldCase {
		doc["userName"] = strings.ToLower(doc["userName"].(string))
	}
	if a.conflict(id, doc, group) {
		Error(w, http.StatusConflict, "uniqueness", "userName is taken")
		return
	}
	rs.doc, rs.members, rs.version = doc, members, rs.version+1
	if group {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a.answer(w, http.StatusOK, id, rs, group)
}
