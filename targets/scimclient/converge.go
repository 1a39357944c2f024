package scimclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/internal/jsonx"
	"github.com/tenurehq/tenure/internal/scimpath"
	"github.com/tenurehq/tenure/targets"
)

// Converge brings the user to req.Desired: see the package doc.
func (c *Client) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	if req == nil || req.Desired == nil {
		return nil, targets.Permanent("scim converge", errors.New("no desired state"))
	}
	cv := &converge{c: c, req: req, desired: req.Desired}
	if req.Link != nil {
		cv.linkID, cv.applied = req.Link.ID, req.Link.Applied
	}
	if err := cv.prepare(); err != nil {
		return nil, targets.Permanent("scim converge", err)
	}
	return cv.run(ctx)
}

// converge is one Converge call.
type converge struct {
	c        *Client
	req      *targets.Request
	desired  *targets.Account
	applied  *targets.Account // nil: never converged, or unknown
	linkID   string
	mapped   []mapped // sorted by key
	userName string
	ops      []targets.Op
}

// mapped is one attribute or reference Tenure manages on the user: desired
// now, or applied last time.
type mapped struct {
	p       attrPath
	want    any // wire value; nil: no value
	applied any // the value applied last; nil: none
}

// user is a user as the app answered it.
type user struct {
	id      string
	doc     map[string]any
	version string
}

// change is one mapped attribute whose value must change.
type change struct {
	p    attrPath
	want any
}

// prepare parses the mapping keys and checks the desired account.
func (cv *converge) prepare() error {
	byKey := map[string]*mapped{}
	add := func(key string, ref bool, v any, applied bool) error {
		var p attrPath
		var err error
		if ref {
			p, err = refPath(key)
		} else {
			p, err = parsePath(key)
		}
		if err != nil {
			if applied {
				return nil // a key an older policy used: nothing to manage
			}
			return err
		}
		id := "a" + key
		if ref {
			id = "r" + key
		}
		m := byKey[id]
		if m == nil {
			m = &mapped{p: p}
			byKey[id] = m
		}
		if applied {
			m.applied = v
			return nil
		}
		w, err := wire(v)
		if err != nil {
			return fmt.Errorf("attribute %q: %w", key, err)
		}
		m.want = w
		return nil
	}
	if cv.desired.Exists {
		for k, v := range cv.desired.Attributes {
			if err := add(k, false, v, false); err != nil {
				return err
			}
		}
		for k, v := range cv.desired.References {
			if err := add(k, true, v, false); err != nil {
				return err
			}
		}
	}
	if cv.applied != nil {
		for k, v := range cv.applied.Attributes {
			_ = add(k, false, v, true)
		}
		for k, v := range cv.applied.References {
			_ = add(k, true, v, true)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		cv.mapped = append(cv.mapped, *byKey[k])
	}
	name, _ := cv.desired.Attributes["userName"].(string)
	cv.userName = name
	if cv.desired.Exists && strings.TrimSpace(name) == "" {
		return errors.New("the account has no userName (a string), which SCIM requires")
	}
	if cv.desired.Exists && len(cv.desired.Entitlements) > 0 && cv.c.opts.GroupMode == GroupsNone {
		return fmt.Errorf("the app has no groups (group mode none) but the account has entitlements %v", cv.desired.Entitlements)
	}
	return nil
}

func (cv *converge) run(ctx context.Context) (*targets.Result, error) {
	u, err := cv.locate(ctx)
	if err != nil {
		return nil, err
	}
	if !cv.desired.Exists {
		if u != nil {
			if err := cv.delete(ctx, u); err != nil {
				return nil, err
			}
		}
		return &targets.Result{Ops: cv.ops}, nil
	}
	created := false
	if u == nil {
		if u, created, err = cv.create(ctx); err != nil {
			return nil, err
		}
	}
	if !created {
		if err := cv.update(ctx, u); err != nil {
			return nil, err
		}
	}
	if err := cv.memberships(ctx, u, created); err != nil {
		return nil, err
	}
	return &targets.Result{
		Link: targets.Link{ID: u.id, Ref: u.id, Applied: cv.desired.Clone()},
		Ops:  cv.ops,
	}, nil
}

func usersPath(id string) string { return "/Users/" + url.PathEscape(id) }

// getUser reads the user id; nil when the app has none.
func (c *Client) getUser(ctx context.Context, id string) (*user, error) {
	const op = "scim read user"
	r, err := c.do(ctx, call{op: op, method: http.MethodGet, path: usersPath(id)})
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotFound {
		return nil, nil
	}
	if !r.ok() {
		return nil, c.fail(op, r)
	}
	return c.userOf(op, r, id)
}

// userOf decodes a user answer; id is the one asked for, if any.
func (c *Client) userOf(op string, r *response, id string) (*user, error) {
	var doc map[string]any
	if len(r.body) > 0 {
		if err := r.json(&doc); err != nil {
			return nil, targets.Permanent(op, err)
		}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if got, _ := getCI(doc, "id").(string); got != "" {
		id = got
	}
	if id == "" {
		// Some apps answer a create with only a Location.
		if loc := r.header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				id = path.Base(u.Path)
			}
		}
	}
	if id == "" || id == "." || id == "/" {
		return nil, targets.Permanent(op, fmt.Errorf("%s %s: HTTP %d without the user's id", r.method, r.path, r.status))
	}
	return &user{id: id, doc: doc, version: version(r, doc)}, nil
}

// listResponse is a SCIM ListResponse (RFC 7644 §3.4.2).
type listResponse struct {
	TotalResults int              `json:"totalResults"`
	StartIndex   int              `json:"startIndex"`
	ItemsPerPage int              `json:"itemsPerPage"`
	Resources    []map[string]any `json:"Resources"`
}

// list runs a filtered GET on endpoint (Users, Groups) and returns the
// first page.
func (c *Client) list(ctx context.Context, op, endpoint string, q url.Values) (*listResponse, error) {
	r, err := c.doOK(ctx, call{op: op, method: http.MethodGet, path: "/" + endpoint, query: q})
	if err != nil {
		return nil, err
	}
	return parseList(op, r)
}

func parseList(op string, r *response) (*listResponse, error) {
	var l listResponse
	if err := r.json(&l); err != nil {
		return nil, targets.Permanent(op, err)
	}
	return &l, nil
}

// pick chooses the resource whose attr is name: the one equal exactly, else
// the one equal ignoring case; more than one is an error, since linking
// the wrong one would hand someone else's account over.
func pick(resources []map[string]any, attr, name string) (map[string]any, error) {
	var exact, folded []map[string]any
	for _, res := range resources {
		v, ok := getCI(res, attr).(string)
		switch {
		case !ok && len(resources) == 1:
			folded = append(folded, res) // not returned: trust the filter
		case v == name:
			exact = append(exact, res)
		case strings.EqualFold(v, name):
			folded = append(folded, res)
		}
	}
	switch {
	case len(exact) == 1:
		return exact[0], nil
	case len(exact) == 0 && len(folded) == 1:
		return folded[0], nil
	case len(exact)+len(folded) == 0:
		return nil, nil
	}
	return nil, fmt.Errorf("%d resources have %s %q: cannot tell which to link", len(exact)+len(folded), attr, name)
}

// findUser finds the user by userName (case-insensitively, as SCIM
// compares it); nil when there is none.
func (c *Client) findUser(ctx context.Context, name string) (*user, error) {
	const op = "scim find user"
	l, err := c.list(ctx, op, "Users", url.Values{
		"filter": {"userName eq " + scimpath.Quote(name)}, "startIndex": {"1"}, "count": {"10"},
	})
	if err != nil {
		return nil, err
	}
	res, err := pick(l.Resources, "userName", name)
	if err != nil || res == nil {
		if err != nil {
			err = targets.Permanent(op, err)
		}
		return nil, err
	}
	id, _ := getCI(res, "id").(string)
	if id == "" {
		return nil, targets.Permanent(op, errors.New("the app listed a user without an id"))
	}
	// The list may hold a partial user without its version: read it.
	return c.getUser(ctx, id)
}

// locate finds the user by its link, else by userName (adopted: see
// adopt); nil when there is none.
func (cv *converge) locate(ctx context.Context) (*user, error) {
	if cv.linkID != "" {
		u, err := cv.c.getUser(ctx, cv.linkID)
		if err != nil || u != nil {
			return u, err
		}
	}
	if cv.userName == "" {
		return nil, nil
	}
	u, err := cv.c.findUser(ctx, cv.userName)
	if err != nil || u == nil {
		return u, err
	}
	return u, cv.adopt(ctx, u)
}

// adopt decides whether u, an app user found by the mapped userName that
// the link does not name, is this person's, and claims it before anything
// is written to it. The rule: its userName equals the mapped one (how it
// was found) and, when the mapping writes externalId, the user has none or
// the same; another person's link, or another externalId, is a conflict.
func (cv *converge) adopt(ctx context.Context, u *user) error {
	if cv.req.Owned(u.id) {
		return nil
	}
	if err := cv.foreign(u); err != nil {
		return err
	}
	return targets.ClaimAccount(ctx, cv.req, u.id, u.id)
}

// foreign is the collision of an app user whose externalId is not the one
// the mapping writes for this person.
func (cv *converge) foreign(u *user) error {
	if want, ok := cv.desired.Attributes["externalId"].(string); ok && want != "" {
		if have, _ := getCI(u.doc, "externalId").(string); have != "" && have != want {
			return targets.Collision(u.id, u.id, "the app's user %q has externalId %q, not this person's %q", cv.userName, have, want)
		}
	}
	return nil
}

// schemas lists the core schema and the extensions the mapping uses.
func (cv *converge) schemas(have any) []any {
	out := []any{schemaUser}
	seen := map[string]bool{strings.ToLower(schemaUser): true}
	addS := func(s string) {
		if s != "" && !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	if l, ok := have.([]any); ok {
		for _, s := range l {
			if s, ok := s.(string); ok {
				addS(s)
			}
		}
	}
	for _, m := range cv.mapped {
		if m.want != nil {
			addS(m.p.Schema)
		}
	}
	return out
}

// create POSTs the user, or links the one the app says exists (409).
func (cv *converge) create(ctx context.Context) (*user, bool, error) {
	const op = "scim create user"
	doc := map[string]any{"active": cv.desired.Enabled}
	for _, m := range cv.mapped {
		if m.want != nil {
			m.p.set(doc, m.want)
		}
	}
	markPrimary(doc)
	doc["schemas"] = cv.schemas(nil)
	r, err := cv.c.do(ctx, call{op: op, method: http.MethodPost, path: "/Users", body: doc})
	if err != nil {
		return nil, false, err
	}
	switch {
	case r.ok():
		u, err := cv.c.userOf(op, r, "")
		if err != nil {
			return nil, false, err
		}
		cv.ops = append(cv.ops, targets.Op{Kind: targets.OpCreate})
		if !cv.desired.Enabled {
			cv.ops = append(cv.ops, targets.Op{Kind: targets.OpDisable})
		}
		return u, true, nil
	case r.status == http.StatusConflict:
		u, err := cv.c.findAfterConflict(ctx, op, func(ctx context.Context) (*user, error) { return cv.c.findUser(ctx, cv.userName) })
		if err == nil {
			err = cv.adopt(ctx, u)
		}
		if err != nil {
			return nil, false, err
		}
		return u, false, nil
	}
	return nil, false, cv.c.fail(op, r)
}

// findAfterConflict looks again for what a 409 says exists, a few times
// with growing pauses: an app's filters may lag behind its writes.
func (c *Client) findAfterConflict(ctx context.Context, op string, find func(context.Context) (*user, error)) (*user, error) {
	wait := c.lookupBackoff
	for attempt := 0; ; attempt++ {
		u, err := find(ctx)
		if err != nil || u != nil {
			return u, err
		}
		if attempt == 4 {
			return nil, targets.Retryable(op, errors.New("the app answered 409 (exists) but a lookup finds nothing yet"), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, targets.Retryable(op, fmt.Errorf("looking up after a 409: %w", ctx.Err()), 0)
		case <-t.C:
		}
		wait *= 2
	}
}

// diff lists the mapped attributes whose value on the app is not the
// desired one, and the desired active flag if it differs.
func (cv *converge) diff(doc map[string]any) ([]change, *bool) {
	var changes []change
	for _, m := range cv.mapped {
		if !same(m.p.read(doc), m.want, m.applied) {
			changes = append(changes, change{p: m.p, want: m.want})
		}
	}
	// An app that does not return active is taken as active: SCIM's
	// usual default, and the only reading that does not rewrite it forever.
	active := getCI(doc, "active")
	if (active == nil || truthy(active)) != cv.desired.Enabled {
		e := cv.desired.Enabled
		return changes, &e
	}
	return changes, nil
}

// update writes the differences between u and the desired account; a 412
// (someone changed the user in between) re-reads it and tries once more.
func (cv *converge) update(ctx context.Context, u *user) error {
	for attempt := 0; ; attempt++ {
		changes, active := cv.diff(u.doc)
		if len(changes) == 0 && active == nil {
			return nil
		}
		var r *response
		var err error
		put := cv.c.opts.UpdateMode == UpdatePut || cv.c.userPut.Load()
		if !put {
			r, err = cv.patch(ctx, u, changes, active)
			if err == nil && (r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotImplemented) {
				cv.c.userPut.Store(true)
				cv.c.log.Warn("scimclient: the app refuses PATCH on users; using PUT from now on", "status", r.status)
				put = true
			}
		}
		if put {
			r, err = cv.put(ctx, u, changes)
		}
		if err != nil {
			return err
		}
		if r.status == http.StatusPreconditionFailed && attempt == 0 {
			fresh, err := cv.c.getUser(ctx, u.id)
			if err != nil {
				return err
			}
			if fresh == nil {
				return targets.Retryable("scim update user", fmt.Errorf("user %s vanished during the update", u.id), 0)
			}
			*u = *fresh
			continue
		}
		if !r.ok() {
			return cv.c.fail("scim update user", r)
		}
		var names []string
		for _, ch := range changes {
			names = append(names, ch.p.key)
		}
		cv.ops = append(cv.ops, targets.ChangeOps(names, active != nil, active != nil && *active)...)
		return nil
	}
}

// patch sends the changes as one PATCH (RFC 7644 §3.5.2).
func (cv *converge) patch(ctx context.Context, u *user, changes []change, active *bool) (*response, error) {
	ops := patchOps(u.doc, changes)
	if active != nil {
		ops = append(ops, map[string]any{"op": "replace", "path": "active", "value": *active})
	}
	ifm, err := cv.c.ifMatch(ctx, u.version)
	if err != nil {
		return nil, err
	}
	return cv.c.do(ctx, call{op: "scim update user", method: http.MethodPatch, path: usersPath(u.id), ifMatch: ifm,
		body: map[string]any{"schemas": []string{schemaOp}, "Operations": ops}})
}

// patchOps turns changes into PATCH operations on doc, the user as read:
// replace and remove by path; an element of a multi-valued attribute is
// added whole when the user has none, and removed whole when nothing but
// its selector would be left.
func patchOps(doc map[string]any, changes []change) []map[string]any {
	var ops []map[string]any
	elements := map[string][]change{}
	var order []string
	for _, ch := range changes {
		p := ch.p
		switch {
		case p.FilterAttr != "":
			k := strings.ToLower(strings.Join([]string{p.Schema, p.Attr, p.FilterAttr, p.FilterValue}, "\x00"))
			if _, ok := elements[k]; !ok {
				order = append(order, k)
			}
			elements[k] = append(elements[k], ch)
		case ch.want == nil:
			ops = append(ops, map[string]any{"op": "remove", "path": p.String()})
		case p.ref:
			ops = append(ops, map[string]any{"op": "replace", "path": p.String(), "value": map[string]any{"value": ch.want}})
		default:
			ops = append(ops, map[string]any{"op": "replace", "path": p.String(), "value": ch.want})
		}
	}
	for _, k := range order {
		chs := elements[k]
		p := chs[0].p
		list, _ := getCI(p.container(doc, false), p.Attr).([]any)
		_, el := p.element(list)
		if el == nil {
			nel := map[string]any{p.FilterAttr: p.FilterValue}
			for _, ch := range chs {
				if ch.want != nil {
					nel[ch.p.Sub] = ch.want
				}
			}
			if len(nel) == 1 {
				continue // only removals, of what is not there
			}
			if p.Schema == "" && strings.EqualFold(p.Attr, "emails") && !hasPrimary(list) {
				nel["primary"] = true
			}
			ops = append(ops, map[string]any{"op": "add", "path": p.Prefix() + p.Attr, "value": []any{nel}})
			continue
		}
		after := jsonx.CloneMap(el)
		for _, ch := range chs {
			if ch.want == nil {
				delete(after, keyCI(after, ch.p.Sub))
			} else {
				after[keyCI(after, ch.p.Sub)] = ch.want
			}
		}
		if bare(after) {
			ops = append(ops, map[string]any{"op": "remove", "path": p.Element()})
			continue
		}
		for _, ch := range chs {
			if ch.want == nil {
				ops = append(ops, map[string]any{"op": "remove", "path": ch.p.String()})
			} else {
				ops = append(ops, map[string]any{"op": "replace", "path": ch.p.String(), "value": ch.want})
			}
		}
	}
	return ops
}

// put writes the user as read with the changes and the desired active
// flag merged in, so attributes Tenure does not map are kept.
func (cv *converge) put(ctx context.Context, u *user, changes []change) (*response, error) {
	doc := jsonx.DeepCopy(u.doc).(map[string]any)
	for _, k := range []string{"meta", "groups"} {
		delete(doc, keyCI(doc, k))
	}
	for _, ch := range changes {
		ch.p.set(doc, ch.want)
	}
	delete(doc, keyCI(doc, "active"))
	doc["active"] = cv.desired.Enabled
	markPrimary(doc)
	schemasKey := keyCI(doc, "schemas")
	doc[schemasKey] = cv.schemas(doc[schemasKey])
	ifm, err := cv.c.ifMatch(ctx, u.version)
	if err != nil {
		return nil, err
	}
	return cv.c.do(ctx, call{op: "scim update user", method: http.MethodPut, path: usersPath(u.id), body: doc, ifMatch: ifm})
}

// delete deletes the user; one already gone is success.
func (cv *converge) delete(ctx context.Context, u *user) error {
	const op = "scim delete user"
	for attempt := 0; ; attempt++ {
		ifm, err := cv.c.ifMatch(ctx, u.version)
		if err != nil {
			return err
		}
		r, err := cv.c.do(ctx, call{op: op, method: http.MethodDelete, path: usersPath(u.id), ifMatch: ifm})
		if err != nil {
			return err
		}
		switch {
		case r.ok():
			cv.ops = append(cv.ops, targets.Op{Kind: targets.OpDelete})
			return nil
		case r.status == http.StatusNotFound:
			return nil
		case r.status == http.StatusPreconditionFailed && attempt == 0:
			fresh, err := cv.c.getUser(ctx, u.id)
			if err != nil || fresh == nil {
				return err
			}
			u = fresh
			continue
		}
		return cv.c.fail(op, r)
	}
}

var _ targets.Finder = (*Client)(nil)

// Find reports, reading only, the app's user a Converge of req would link:
// by its link, or by the mapped userName when adoptable (targets.Finder,
// for the dry run).
func (c *Client) Find(ctx context.Context, req *targets.Request) (*targets.Match, error) {
	if req == nil || req.Desired == nil {
		return nil, targets.Permanent("scim find", errors.New("no desired state"))
	}
	cv := &converge{c: c, req: req, desired: req.Desired}
	if req.Link != nil {
		cv.linkID, cv.applied = req.Link.ID, req.Link.Applied
	}
	if err := cv.prepare(); err != nil {
		return nil, targets.Permanent("scim find", err)
	}
	if cv.linkID != "" {
		u, err := c.getUser(ctx, cv.linkID)
		if err != nil {
			return nil, err
		}
		if u != nil {
			return &targets.Match{ID: u.id, Ref: u.id, By: "link"}, nil
		}
	}
	if cv.userName == "" {
		return nil, nil
	}
	u, err := c.findUser(ctx, cv.userName)
	if err != nil || u == nil {
		return nil, err
	}
	if !req.Owned(u.id) {
		if err := cv.foreign(u); err != nil {
			return nil, err
		}
	}
	return &targets.Match{ID: u.id, Ref: u.id, By: "userName"}, nil
}
