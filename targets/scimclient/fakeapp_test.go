package scimclient

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
)

// This file is a small SCIM app written for the tests, with switches for
// the behaviours real apps show. It is deliberately independent of the
// client's code (its own path parsing and PATCH), so the two cannot share
// a misreading of the RFC.

// behaviour switches a fakeApp's quirks.
type behaviour struct {
	putOnly      bool          // PATCH on users and groups: 405
	noGroupPatch bool          // PATCH on groups: 501
	lag          time.Duration // new resources are invisible to filters this long
	etag         bool          // advertises etags and requires If-Match on every write (412)
	foldCase     bool          // stores userName in lower case
	noGroupsAttr bool          // never returns a user's groups attribute
}

// fakeRes is a stored user or group.
type fakeRes struct {
	doc     map[string]any // without id, meta, groups and members
	members []string       // groups only
	version int
	created time.Time
}

// fakeApp is an in-memory SCIM app on an httptest server.
type fakeApp struct {
	b      behaviour
	token  string
	srv    *httptest.Server
	mu     sync.Mutex
	users  map[string]*fakeRes
	groups map[string]*fakeRes
	seq    int
	// intercept, if set, may answer a request before the app does (429
	// storms, errors); handled reports whether it did.
	intercept func(w http.ResponseWriter, r *http.Request) (handled bool)
	rec       *recorder
	// authOK, if set, replaces the bearer token check.
	authOK func(*http.Request) bool
}

const fakeToken = "fake-app-bearer-token-s3cr3t"

func newFakeApp(t testing.TB, b behaviour) *fakeApp {
	a := &fakeApp{b: b, token: fakeToken, users: map[string]*fakeRes{}, groups: map[string]*fakeRes{}}
	a.rec = newRecorder(http.HandlerFunc(a.serve))
	a.srv = httptest.NewServer(a.rec)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeApp) baseURL() string { return a.srv.URL + "/scim" }

// reqRecord is one request an app answered.
type reqRecord struct {
	method, path, query string
	at                  time.Time
	status              int
	auth                string
}

// recorder logs the requests a handler answers, except those the tests
// send themselves (X-Test), with their arrival times.
type recorder struct {
	h   http.Handler
	mu  sync.Mutex
	log []reqRecord
}

func newRecorder(h http.Handler) *recorder { return &recorder{h: h} }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	rc.h.ServeHTTP(sw, r)
	if r.Header.Get("X-Test") != "" {
		return
	}
	rc.mu.Lock()
	rc.log = append(rc.log, reqRecord{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, at: at, status: sw.status, auth: r.Header.Get("Authorization")})
	rc.mu.Unlock()
}

// mark is the log's length now; since returns what came after a mark.
func (rc *recorder) mark() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.log) }

func (rc *recorder) since(m int) []reqRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.log[m:])
}

// writes lists the non-GET requests after mark m.
func (rc *recorder) writes(m int) []string {
	var out []string
	for _, r := range rc.since(m) {
		if r.method != http.MethodGet {
			out = append(out, fmt.Sprintf("%s %s -> %d", r.method, r.path, r.status))
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func scimErr(w http.ResponseWriter, status int, typ, detail string) {
	body := map[string]any{"schemas": []string{schemaErr}, "status": strconv.Itoa(status), "detail": detail}
	if typ != "" {
		body["scimType"] = typ
	}
	writeJSON(w, status, body)
}

func (a *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	authOK := a.authOK
	a.mu.Unlock()
	if authOK == nil {
		authOK = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+a.token }
	}
	if !authOK(r) {
		scimErr(w, http.StatusUnauthorized, "", "bad token")
		return
	}
	if a.intercept != nil && a.intercept(w, r) {
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
				scimErr(w, http.StatusBadRequest, "invalidSyntax", "bad JSON")
				return
			}
		}
	}
	switch {
	case p == "/ServiceProviderConfig" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"patch": map[string]any{"supported": !a.b.putOnly}, "etag": map[string]any{"supported": a.b.etag}})
	case p == "/Users" || p == "/Groups":
		group := p == "/Groups"
		switch r.Method {
		case http.MethodGet:
			a.list(w, r, group)
		case http.MethodPost:
			a.create(w, body, group)
		default:
			scimErr(w, http.StatusMethodNotAllowed, "", "no")
		}
	case strings.HasPrefix(p, "/Users/") || strings.HasPrefix(p, "/Groups/"):
		group := strings.HasPrefix(p, "/Groups/")
		id := p[strings.Index(p[1:], "/")+2:]
		store := a.users
		if group {
			store = a.groups
		}
		res := store[id]
		if res == nil {
			scimErr(w, http.StatusNotFound, "", "Resource "+id+" not found.")
			return
		}
		if r.Method != http.MethodGet && a.b.etag && r.Header.Get("If-Match") != etagOf(res) {
			scimErr(w, http.StatusPreconditionFailed, "", "If-Match does not match "+etagOf(res))
			return
		}
		switch r.Method {
		case http.MethodGet:
			a.answer(w, http.StatusOK, id, res, group)
		case http.MethodDelete:
			delete(store, id)
			if !group {
				for _, g := range a.groups {
					g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
				}
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPut:
			a.put(w, id, res, body, group)
		case http.MethodPatch:
			if a.b.putOnly {
				scimErr(w, http.StatusMethodNotAllowed, "", "PATCH is not supported")
				return
			}
			if group && a.b.noGroupPatch {
				scimErr(w, http.StatusNotImplemented, "", "group PATCH is not implemented")
				return
			}
			a.patch(w, id, res, body, group)
		default:
			scimErr(w, http.StatusMethodNotAllowed, "", "no")
		}
	default:
		scimErr(w, http.StatusNotFound, "", "no such endpoint")
	}
}

func etagOf(res *fakeRes) string { return fmt.Sprintf(`W/"%d"`, res.version) }

// render is a resource as the app answers it.
func (a *fakeApp) render(id string, res *fakeRes, group bool) map[string]any {
	out := deepCopy(res.doc).(map[string]any)
	out["id"] = id
	out["meta"] = map[string]any{"version": etagOf(res), "resourceType": map[bool]string{true: "Group", false: "User"}[group]}
	if group {
		var ms []any
		for _, m := range res.members {
			ms = append(ms, map[string]any{"value": m})
		}
		out["members"] = ms
	} else if !a.b.noGroupsAttr {
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

func (a *fakeApp) answer(w http.ResponseWriter, status int, id string, res *fakeRes, group bool) {
	w.Header().Set("ETag", etagOf(res))
	writeJSON(w, status, a.render(id, res, group))
}

var fakeFilter = regexp.MustCompile(`^(\w+) eq ("(?:[^"\\]|\\.)*")$`)

func (a *fakeApp) list(w http.ResponseWriter, r *http.Request, group bool) {
	q := r.URL.Query()
	store, attr := a.users, "userName"
	if group {
		store, attr = a.groups, "displayName"
	}
	var want *string
	if f := q.Get("filter"); f != "" {
		m := fakeFilter.FindStringSubmatch(f)
		var v string
		if m == nil || !strings.EqualFold(m[1], attr) || json.Unmarshal([]byte(m[2]), &v) != nil {
			scimErr(w, http.StatusBadRequest, "invalidFilter", "unsupported filter "+f)
			return
		}
		want = &v
	}
	var ids []string
	for id, res := range store {
		if want != nil {
			if time.Since(res.created) < a.b.lag || !strings.EqualFold(res.doc[attr].(string), *want) {
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
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{schemaList}, "totalResults": len(ids),
		"startIndex": start, "itemsPerPage": len(page), "Resources": page})
}

// clean strips what the server owns from a request body.
func (a *fakeApp) clean(body map[string]any, group bool) (map[string]any, []string, bool) {
	doc := deepCopy(body).(map[string]any)
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
	if ok && a.b.foldCase {
		doc["userName"] = strings.ToLower(name)
	}
	return doc, members, ok && name != ""
}

// conflict reports whether doc's userName (displayName) is taken, ignoring
// case: like most apps, this one keeps both unique.
func (a *fakeApp) conflict(id string, doc map[string]any, group bool) bool {
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

func (a *fakeApp) create(w http.ResponseWriter, body map[string]any, group bool) {
	doc, members, ok := a.clean(body, group)
	if !ok {
		scimErr(w, http.StatusBadRequest, "invalidValue", "userName/displayName is required")
		return
	}
	if a.conflict("", doc, group) {
		scimErr(w, http.StatusConflict, "uniqueness", "the name is taken")
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
	res := &fakeRes{doc: doc, members: members, version: 1, created: time.Now()}
	store[id] = res
	a.answer(w, http.StatusCreated, id, res, group)
}

func (a *fakeApp) put(w http.ResponseWriter, id string, res *fakeRes, body map[string]any, group bool) {
	doc, members, ok := a.clean(body, group)
	if !ok {
		scimErr(w, http.StatusBadRequest, "invalidValue", "userName/displayName is required")
		return
	}
	if a.conflict(id, doc, group) {
		scimErr(w, http.StatusConflict, "uniqueness", "userName is taken")
		return
	}
	res.doc, res.version = doc, res.version+1
	if group {
		res.members = members
	}
	a.answer(w, http.StatusOK, id, res, group)
}

// fakePath parses the PATCH paths the app supports:
// [urn:…:]attr[sub eq "v"][.sub].
var fakePath = regexp.MustCompile(`^(?:(urn:[^\[]+):)?([A-Za-z$][\w$-]*)(?:\[(\w+) eq ("(?:[^"\\]|\\.)*")\])?(?:\.([A-Za-z$][\w$-]*))?$`)

func (a *fakeApp) patch(w http.ResponseWriter, id string, res *fakeRes, body map[string]any, group bool) {
	ops, _ := body["Operations"].([]any)
	doc := deepCopy(res.doc).(map[string]any)
	members := slices.Clone(res.members)
	for _, o := range ops {
		op, _ := o.(map[string]any)
		kind := strings.ToLower(op["op"].(string))
		pathStr, _ := op["path"].(string)
		m := fakePath.FindStringSubmatch(pathStr)
		if m == nil {
			scimErr(w, http.StatusBadRequest, "invalidPath", "bad path "+pathStr)
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
						scimErr(w, http.StatusBadRequest, "invalidValue", "no member "+mv)
						return
					}
					if !slices.Contains(members, mv) {
						members = append(members, mv)
					}
				}
			case kind == "remove" && fAttr == "value":
				members = slices.DeleteFunc(members, func(x string) bool { return x == fVal })
			default:
				scimErr(w, http.StatusBadRequest, "invalidPath", "unsupported member op")
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
				scimErr(w, http.StatusBadRequest, "noTarget", pathStr+" matches nothing")
				return
			}
			list = slices.Clone(list)
			el := cloneMap(list[idx].(map[string]any))
			switch {
			case kind == "remove" && sub == "":
				list = slices.Delete(list, idx, idx+1)
			case kind == "remove":
				delete(el, sub)
				list[idx] = el
			case sub == "":
				scimErr(w, http.StatusBadRequest, "invalidPath", "replace a whole element: unsupported")
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
			cm = cloneMap(cm)
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
	if !group && a.b.foldCase {
		doc["userName"] = strings.ToLower(doc["userName"].(string))
	}
	if a.conflict(id, doc, group) {
		scimErr(w, http.StatusConflict, "uniqueness", "userName is taken")
		return
	}
	res.doc, res.members, res.version = doc, members, res.version+1
	if group {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a.answer(w, http.StatusOK, id, res, group)
}
