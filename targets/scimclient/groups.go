package scimclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tenurehq/tenure/internal/scimpath"
	"github.com/tenurehq/tenure/targets"
)

// groupCache maps group displayNames to the app's ids (under Client.mu).
type groupCache map[string]string

// errGroupGone: a cached group id the app no longer knows.
var errGroupGone = errors.New("group gone")

func groupsPath(id string) string { return "/Groups/" + url.PathEscape(id) }

func (c *Client) cachedGroup(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[name]
}

func (c *Client) cacheGroup(name, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		delete(c.groups, name)
	} else {
		c.groups[name] = id
	}
}

// groupID returns the id of the group named name: cached, found by
// displayName, or (create, with CreateGroups) created; "" when there is
// none and create is false.
func (c *Client) groupID(ctx context.Context, name string, create bool) (string, error) {
	if id := c.cachedGroup(name); id != "" {
		return id, nil
	}
	id, err := c.findGroup(ctx, name)
	if err != nil || id != "" || !create {
		if id != "" {
			c.cacheGroup(name, id)
		}
		return id, err
	}
	if !c.opts.CreateGroups {
		return "", targets.Permanent("scim find group", fmt.Errorf("the app has no group %q, and creating groups is off", name))
	}
	// One creation at a time per target, so two converges granting a new
	// group do not make two (apps without displayName uniqueness would).
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if id := c.cachedGroup(name); id != "" {
		return id, nil
	}
	if id, err = c.findGroup(ctx, name); err != nil || id != "" {
		if id != "" {
			c.cacheGroup(name, id)
		}
		return id, err
	}
	if id, err = c.createGroup(ctx, name); err != nil {
		return "", err
	}
	c.cacheGroup(name, id)
	return id, nil
}

// findGroup finds a group by displayName; "" when there is none.
func (c *Client) findGroup(ctx context.Context, name string) (string, error) {
	const op = "scim find group"
	l, err := c.list(ctx, op, "Groups", url.Values{
		"filter": {"displayName eq " + scimpath.Quote(name)}, "excludedAttributes": {"members"},
		"startIndex": {"1"}, "count": {"10"},
	})
	if err != nil {
		return "", err
	}
	res, err := pick(l.Resources, "displayName", name)
	if err != nil {
		return "", targets.Permanent(op, err)
	}
	if res == nil {
		return "", nil
	}
	id, _ := getCI(res, "id").(string)
	if id == "" {
		return "", targets.Permanent(op, errors.New("the app listed a group without an id"))
	}
	return id, nil
}

// createGroup POSTs an empty group, or finds the one a 409 says exists.
func (c *Client) createGroup(ctx context.Context, name string) (string, error) {
	const op = "scim create group"
	r, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/Groups",
		body: map[string]any{"schemas": []string{schemaGrp}, "displayName": name}})
	if err != nil {
		return "", err
	}
	switch {
	case r.ok():
		g, err := c.userOf(op, r, "")
		if err != nil {
			return "", err
		}
		c.log.Info("scimclient: created a group", "group", name, "id", g.id)
		return g.id, nil
	case r.status == http.StatusConflict:
		g, err := c.findAfterConflict(ctx, op, func(ctx context.Context) (*user, error) {
			id, err := c.findGroup(ctx, name)
			if err != nil || id == "" {
				return nil, err
			}
			return &user{id: id}, nil
		})
		if err != nil {
			return "", err
		}
		return g.id, nil
	}
	return "", c.fail(op, r)
}

// memberships adds the user to the desired groups and removes it from those
// granted before and no longer desired (see the package doc).
func (cv *converge) memberships(ctx context.Context, u *user, created bool) error {
	c := cv.c
	var before []string
	if cv.applied != nil && cv.applied.Exists {
		before = cv.applied.Entitlements
	}
	if c.opts.GroupMode == GroupsNone || (len(cv.desired.Entitlements) == 0 && len(before) == 0) {
		return nil
	}
	current, known := map[string]bool{}, created
	if gs, ok := getCI(u.doc, "groups").([]any); ok {
		c.groupsSeen.Store(true)
		known = true
		for _, g := range gs {
			if m, ok := g.(map[string]any); ok {
				if id, ok := getCI(m, "value").(string); ok {
					current[id] = true
				}
			}
		}
	} else if c.groupsSeen.Load() {
		known = true
	}
	for _, name := range cv.desired.Entitlements {
		if !known && slices.Contains(before, name) {
			continue // nothing to read: trust the last applied state
		}
		id, err := c.groupID(ctx, name, true)
		if err != nil {
			return err
		}
		if current[id] {
			continue
		}
		done, err := c.member(ctx, name, id, u.id, true)
		if err != nil {
			return err
		}
		if done {
			cv.ops = append(cv.ops, targets.Op{Kind: targets.OpGrant, Detail: name})
		}
	}
	for _, name := range before {
		if slices.Contains(cv.desired.Entitlements, name) {
			continue
		}
		id, err := c.groupID(ctx, name, false)
		if err != nil {
			return err
		}
		if id == "" || (known && !current[id]) {
			continue // no such group, or not a member: nothing to revoke
		}
		done, err := c.member(ctx, name, id, u.id, false)
		if err != nil {
			return err
		}
		if done {
			cv.ops = append(cv.ops, targets.Op{Kind: targets.OpRevoke, Detail: name})
		}
	}
	return nil
}

// member adds the user uid to group gid (named name) or removes it; done
// is false when it already was (was not) a member. A group gone from the
// app is looked up again once (a grant may create it); a revoke from a
// group that is gone is done.
func (c *Client) member(ctx context.Context, name, gid, uid string, add bool) (bool, error) {
	for attempt := 0; ; attempt++ {
		var done bool
		var err error
		if c.opts.GroupMode == GroupsPut || c.groupPut.Load() {
			done, err = c.memberPut(ctx, gid, uid, add)
		} else {
			done, err = c.memberPatch(ctx, gid, uid, add)
		}
		if !errors.Is(err, errGroupGone) {
			return done, err
		}
		c.cacheGroup(name, "")
		if !add {
			return false, nil
		}
		if attempt == 1 {
			return false, targets.Retryable("scim grant", fmt.Errorf("group %q keeps vanishing", name), 0)
		}
		if gid, err = c.groupID(ctx, name, true); err != nil {
			return false, err
		}
	}
}

// groupVersion reads a group's version, for If-Match, when the app
// supports etags; "" otherwise.
func (c *Client) groupVersion(ctx context.Context, gid string) (string, error) {
	ok, err := c.etagSupported(ctx)
	if err != nil || !ok {
		return "", err
	}
	const op = "scim read group"
	r, err := c.do(ctx, call{op: op, method: http.MethodGet, path: groupsPath(gid), query: url.Values{"excludedAttributes": {"members"}}})
	if err != nil {
		return "", err
	}
	if r.status == http.StatusNotFound {
		return "", errGroupGone
	}
	if !r.ok() {
		return "", c.fail(op, r)
	}
	var doc map[string]any
	_ = r.json(&doc)
	return version(r, doc), nil
}

// memberPatch changes one membership with a PATCH: add members [{value}],
// or remove members[value eq "uid"]. It sends no If-Match even where the
// app supports ETags: adding or removing one member commutes with every
// other such change, and with the group's version as a precondition, the
// concurrent grants of a busy group (every joiner gets "staff") failed
// each other with 412 for nothing. An app that insists (412 or 428 without
// one) gets the version read just before, a few times.
func (c *Client) memberPatch(ctx context.Context, gid, uid string, add bool) (bool, error) {
	op, patchOp := "scim grant", map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}}
	if !add {
		op, patchOp = "scim revoke", map[string]any{"op": "remove", "path": "members[value eq " + scimpath.Quote(uid) + "]"}
	}
	var r *response
	for attempt, ifm := 0, ""; ; attempt++ {
		var err error
		r, err = c.do(ctx, call{op: op, method: http.MethodPatch, path: groupsPath(gid), ifMatch: ifm,
			body: map[string]any{"schemas": []string{schemaOp}, "Operations": []any{patchOp}}})
		if err != nil {
			return false, err
		}
		if (r.status != http.StatusPreconditionFailed && r.status != http.StatusPreconditionRequired) || attempt == 3 {
			break
		}
		if ifm, err = c.groupVersion(ctx, gid); err != nil {
			return false, err
		}
	}
	typ, _ := parseSCIMError(r.body)
	switch {
	case r.ok():
		return true, nil
	case r.status == http.StatusNotFound:
		return false, errGroupGone
	case r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotImplemented:
		c.groupPut.Store(true)
		c.log.Warn("scimclient: the app refuses PATCH on groups; using PUT from now on", "status", r.status)
		return c.memberPut(ctx, gid, uid, add)
	case add && r.status == http.StatusConflict:
		return false, nil // already a member
	case !add && r.status == http.StatusBadRequest && strings.EqualFold(typ, "noTarget"):
		return false, nil // not a member
	}
	return false, c.fail(op, r)
}

// memberPut changes one membership by reading the group and writing it
// back whole with the member added or removed.
func (c *Client) memberPut(ctx context.Context, gid, uid string, add bool) (bool, error) {
	op := "scim grant"
	if !add {
		op = "scim revoke"
	}
	for attempt := 0; ; attempt++ {
		r, err := c.do(ctx, call{op: op, method: http.MethodGet, path: groupsPath(gid)})
		if err != nil {
			return false, err
		}
		if r.status == http.StatusNotFound {
			return false, errGroupGone
		}
		if !r.ok() {
			return false, c.fail(op, r)
		}
		var doc map[string]any
		if err := r.json(&doc); err != nil {
			return false, targets.Permanent(op, err)
		}
		ver := version(r, doc)
		mk := keyCI(doc, "members")
		members, _ := doc[mk].([]any)
		i := slices.IndexFunc(members, func(m any) bool {
			mm, _ := m.(map[string]any)
			v, _ := getCI(mm, "value").(string)
			return v == uid
		})
		switch {
		case add && i >= 0, !add && i < 0:
			return false, nil
		case add:
			members = append(slices.Clone(members), map[string]any{"value": uid})
		default:
			members = slices.Delete(slices.Clone(members), i, i+1)
		}
		// Members as values only: $ref, display and type are the server's.
		out := make([]any, 0, len(members))
		for _, m := range members {
			mm, _ := m.(map[string]any)
			if v, ok := getCI(mm, "value").(string); ok {
				out = append(out, map[string]any{"value": v})
			}
		}
		delete(doc, keyCI(doc, "meta"))
		doc[mk] = out
		if _, ok := doc[keyCI(doc, "schemas")]; !ok {
			doc["schemas"] = []string{schemaGrp}
		}
		ifm, err := c.ifMatch(ctx, ver)
		if err != nil {
			return false, err
		}
		r, err = c.do(ctx, call{op: op, method: http.MethodPut, path: groupsPath(gid), body: doc, ifMatch: ifm})
		if err != nil {
			return false, err
		}
		switch {
		case r.ok():
			return true, nil
		case r.status == http.StatusNotFound:
			return false, errGroupGone
		case r.status == http.StatusPreconditionFailed && attempt == 0:
			continue
		}
		return false, c.fail(op, r)
	}
}
