package scim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	libscim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"

	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/scim/query"
	"github.com/tenurehq/tenure/store"
)

// resourceHandler implements the library's ResourceHandler for one kind on
// top of the store. Every write is one store transaction that returns only
// once durable, so the library's 2xx always follows a durable write.
type resourceHandler struct {
	srv      *Server
	kind     store.Kind
	schema   schemaT
	exts     []schemaT
	endpoint string // "Users" or "Groups"
	base     string // absolute SCIM base URL, or "" for relative refs
}

var (
	_ libscim.ResourceHandler  = (*resourceHandler)(nil)
	_ libscim.ResourceSearcher = (*resourceHandler)(nil)
)

// projection is the attributes/excludedAttributes pair of a request,
// deduplicated, with the paths resolved once for every resource of the
// response.
type projection struct {
	attrs, excluded []string
	q               *query.Projection
}

// projection reads the request's attributes and excludedAttributes query
// parameters; more than MaxAttributeNames distinct names is a 400.
func (h *resourceHandler) projection(r *http.Request) (projection, error) {
	q := r.URL.Query()
	return h.projectionOf(q["attributes"], q["excludedAttributes"])
}

// projectionOf builds the projection of attribute lists, each entry a
// comma-separated list of paths.
func (h *resourceHandler) projectionOf(attrs, excluded []string) (projection, error) {
	a, err := attributeNames("attributes", attrs...)
	if err != nil {
		return projection{}, err
	}
	x, err := attributeNames("excludedAttributes", excluded...)
	if err != nil {
		return projection{}, err
	}
	return projection{attrs: a, excluded: x, q: query.NewProjection(a, x, h.schema, h.exts...)}, nil
}

// wants reports whether the projection returns the top-level attribute name.
func (p projection) wants(name string) bool {
	match := func(list []string) bool {
		for _, a := range list {
			a = strings.ToLower(a)
			a = strings.TrimPrefix(a, strings.ToLower(SchemaUser)+":")
			a = strings.TrimPrefix(a, strings.ToLower(SchemaGroup)+":")
			if a == strings.ToLower(name) || strings.HasPrefix(a, strings.ToLower(name)+".") {
				return true
			}
		}
		return false
	}
	if len(p.attrs) > 0 {
		return match(p.attrs)
	}
	return !match(p.excluded)
}

// Create implements libscim.ResourceHandler.
func (h *resourceHandler) Create(r *http.Request, attrs libscim.ResourceAttributes) (libscim.Resource, error) {
	ctx := r.Context()
	proj, err := h.projection(r)
	if err != nil {
		return libscim.Resource{}, err
	}
	res, err := h.fromAttributes(attrs)
	if err == nil && h.kind == store.KindUser {
		err = checkUserName(res.Name)
	}
	if err == nil {
		err = h.checkResource(nil, res)
	}
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, "")
	}
	now := h.srv.now().UTC()
	res.ID = h.srv.newID()
	res.Source = sourceOf(ctx)
	res.Created, res.Modified = now, now
	var out *store.Resource
	err = h.srv.update(ctx, func(tx store.Tx) error {
		// fn may run more than once: each run writes a copy of its own.
		put := clone(res)
		if err := h.checkMembers(tx, put, nil); err != nil {
			return err
		}
		if err := tx.Create(put); err != nil {
			return err
		}
		out = put
		return h.srv.onWrite(tx, nil, put)
	})
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, res.ID)
	}
	return h.toResource(out, nil, proj), nil
}

// Get implements libscim.ResourceHandler.
func (h *resourceHandler) Get(r *http.Request, id string) (libscim.Resource, error) {
	ctx := r.Context()
	proj, err := h.projection(r)
	if err != nil {
		return libscim.Resource{}, err
	}
	var (
		res    *store.Resource
		groups []store.Member
	)
	err = h.srv.view(ctx, func(rd store.Reader) error {
		var err error
		if res, err = h.get(rd, ctx, id); err != nil {
			return err
		}
		if res, err = h.withDisplay(rd, res, proj); err != nil {
			return err
		}
		groups, err = h.groupsOf(rd, res, proj)
		return err
	})
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, id)
	}
	return h.toResource(res, groups, proj), nil
}

// get reads a resource the calling source owns; others' resources do not
// exist for it.
func (h *resourceHandler) get(rd store.Reader, ctx context.Context, id string) (*store.Resource, error) {
	res, err := rd.Get(h.kind, id)
	if err != nil {
		return nil, err
	}
	if res.Source != sourceOf(ctx) {
		return nil, fmt.Errorf("%s %s: %w", h.kind, id, store.ErrNotFound)
	}
	return res, nil
}

// groupsOf computes a user's read-only "groups" attribute from the
// membership index, when the projection returns it. The index carries the
// groups' displayNames, so no group record is read: a page of users costs
// the same whatever the size of their groups.
func (h *resourceHandler) groupsOf(rd store.Reader, res *store.Resource, proj projection) ([]store.Member, error) {
	if h.kind != store.KindUser || !proj.wants("groups") {
		return nil, nil
	}
	refs, err := rd.MemberOf(res.ID)
	if err != nil {
		return nil, err
	}
	out := make([]store.Member, 0, len(refs))
	for _, g := range refs {
		out = append(out, store.Member{Value: g.ID, Display: g.Name, Type: "direct"})
	}
	return out, nil
}

// withDisplay returns a group whose members carry their display (RFC 7643
// §4.2, readOnly): each member's current userName or displayName, from the
// store's name indexes, when the projection returns members. What a client
// sent as display is kept only where the index has no name. Reading each
// member's record instead would cost a GET of a group of 20,000 members
// 20,000 decodes; the indexes follow renames in the renaming write's own
// transaction.
func (h *resourceHandler) withDisplay(rd store.Reader, res *store.Resource, proj projection) (*store.Resource, error) {
	if h.kind != store.KindGroup || len(res.Members) == 0 || !proj.wants("members") {
		return res, nil
	}
	// checkMembers gives every member written since it existed a type;
	// one without is looked up as a user.
	byKind := map[store.Kind][]int{}
	for i, m := range res.Members {
		kind := store.KindUser
		if m.Type == string(store.KindGroup) {
			kind = store.KindGroup
		}
		byKind[kind] = append(byKind[kind], i)
	}
	out := *res
	out.Members = slices.Clone(res.Members)
	for kind, at := range byKind {
		ids := make([]string, len(at))
		for j, i := range at {
			ids[j] = res.Members[i].Value
		}
		names, err := rd.Names(kind, ids)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			if names[j] != "" {
				out.Members[i].Display = names[j]
			}
		}
	}
	return &out, nil
}

// GetAll implements libscim.ResourceHandler.
func (h *resourceHandler) GetAll(r *http.Request, p libscim.ListRequestParams) (libscim.Page, error) {
	q := r.URL.Query()
	proj, err := h.projection(r)
	if err != nil {
		return libscim.Page{}, err
	}
	return h.list(r.Context(), listQuery{
		filter: rawFilter(r.Context()), sortBy: q.Get("sortBy"), sortOrder: q.Get("sortOrder"),
		start: p.StartIndex, count: p.Count, proj: proj,
	})
}

// Search implements libscim.ResourceSearcher (POST /.search).
func (h *resourceHandler) Search(r *http.Request, p libscim.SearchParams) (libscim.Page, error) {
	proj, err := h.projectionOf(p.Attributes, p.ExcludedAttributes)
	if err != nil {
		return libscim.Page{}, err
	}
	return h.list(r.Context(), listQuery{
		filter: rawFilter(r.Context()), sortBy: p.SortBy, sortOrder: p.SortOrder,
		start: p.StartIndex, count: p.Count, proj: proj,
	})
}

type listQuery struct {
	filter, sortBy, sortOrder string
	start, count              int
	proj                      projection
}

func (h *resourceHandler) indexed(attr string) bool {
	switch attr {
	case "id", "externalId":
		return true
	case "userName":
		return h.kind == store.KindUser
	case "displayName":
		return h.kind == store.KindGroup
	}
	return false
}

// compileFilter compiles a list or search filter; blank is no filter.
func (h *resourceHandler) compileFilter(raw string) (*query.Filter, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	f, err := query.Compile(raw, h.schema, h.exts...)
	if err != nil {
		e := scimerr.ScimErrorInvalidFilter
		e.Detail = err.Error()
		return nil, e
	}
	return f, nil
}

// compileSort compiles sortBy; empty is no sorting.
func (h *resourceHandler) compileSort(sortBy string) (*query.SortKey, error) {
	if sortBy == "" {
		return nil, nil
	}
	k, err := query.CompileSort(sortBy, h.schema, h.exts...)
	if err != nil {
		e := scimerr.ScimErrorInvalidValue
		e.Detail = err.Error()
		return nil, e
	}
	return k, nil
}

// descending reads sortOrder.
func descending(sortOrder string) (bool, error) {
	switch sortOrder {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	e := scimerr.ScimErrorInvalidValue
	e.Detail = `sortOrder must be "ascending" or "descending".`
	return false, e
}

func (h *resourceHandler) list(ctx context.Context, lq listQuery) (libscim.Page, error) {
	f, err := h.compileFilter(lq.filter)
	if err != nil {
		return libscim.Page{}, err
	}
	sortKey, err := h.compileSort(lq.sortBy)
	if err != nil {
		return libscim.Page{}, err
	}
	desc, err := descending(lq.sortOrder)
	if err != nil {
		return libscim.Page{}, err
	}
	src := sourceOf(ctx)
	offset := max(lq.start, 1) - 1
	page := libscim.Page{Resources: []libscim.Resource{}}
	err = h.srv.view(ctx, func(rd store.Reader) error {
		page.Resources = page.Resources[:0]
		var window []*store.Resource
		switch {
		case f == nil && sortKey == nil:
			// Plain paging straight off the creation-order index.
			total, err := rd.Count(h.kind, src)
			if err != nil {
				return err
			}
			page.TotalResults = total
			if lq.count > 0 {
				if window, err = rd.List(h.kind, src, offset, lq.count); err != nil {
					return err
				}
			}
		default:
			matched, err := h.match(rd, src, f)
			if err != nil {
				return err
			}
			if sortKey != nil {
				docs := make(map[*store.Resource]map[string]any, len(matched))
				for _, m := range matched {
					docs[m] = h.filterDoc(m)
				}
				slices.SortStableFunc(matched, func(a, b *store.Resource) int {
					c := sortKey.Compare(docs[a], docs[b])
					if desc {
						c = -c
					}
					return c
				})
			}
			page.TotalResults = len(matched)
			if offset < len(matched) && lq.count > 0 {
				window = matched[offset:min(len(matched), offset+lq.count)]
			}
		}
		for _, res := range window {
			res, err := h.withDisplay(rd, res, lq.proj)
			if err != nil {
				return err
			}
			groups, err := h.groupsOf(rd, res, lq.proj)
			if err != nil {
				return err
			}
			page.Resources = append(page.Resources, h.toResource(res, groups, lq.proj))
		}
		return nil
	})
	if err != nil {
		return libscim.Page{}, h.scimError(ctx, err, "")
	}
	setPageLen(ctx, len(page.Resources))
	return page, nil
}

// match returns the source's resources that pass f (all when f is nil) in
// creation order. Filters on indexed attributes read only the index hits;
// anything else scans the source's resources.
func (h *resourceHandler) match(rd store.Reader, src string, f *query.Filter) ([]*store.Resource, error) {
	var out []*store.Resource
	if f != nil {
		if keys, ok := f.Candidates(h.indexed); ok {
			seen := map[string]bool{}
			for _, k := range keys {
				ids, err := h.lookup(rd, src, k)
				if err != nil {
					return nil, err
				}
				for _, id := range ids {
					if seen[id] {
						continue
					}
					seen[id] = true
					res, err := rd.Get(h.kind, id)
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					if err != nil {
						return nil, err
					}
					if res.Source == src && f.Match(h.filterDoc(res)) {
						out = append(out, res)
					}
				}
			}
			// Index hits come key by key; restore creation order.
			slices.SortFunc(out, func(a, b *store.Resource) int { return cmp.Compare(a.Seq, b.Seq) })
			return out, nil
		}
	}
	err := rd.Each(h.kind, src, func(res *store.Resource) (bool, error) {
		if f == nil || f.Match(h.filterDoc(res)) {
			out = append(out, res)
		}
		return true, nil
	})
	return out, err
}

func (h *resourceHandler) lookup(rd store.Reader, src string, k query.IndexKey) ([]string, error) {
	switch k.Attr {
	case "id":
		return []string{k.Value}, nil
	case "externalId":
		return rd.LookupExternalID(h.kind, src, k.Value)
	default: // userName or displayName
		return rd.LookupName(h.kind, src, k.Value)
	}
}

// Replace implements libscim.ResourceHandler (PUT). The resource is built
// before the store is touched; see modify.
func (h *resourceHandler) Replace(r *http.Request, id string, attrs libscim.ResourceAttributes) (libscim.Resource, error) {
	ctx := r.Context()
	proj, err := h.projection(r)
	if err != nil {
		return libscim.Resource{}, err
	}
	next, err := h.fromAttributes(attrs)
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, id)
	}
	out, err := h.modify(r, id, func(*store.Resource) (*store.Resource, error) { return next, nil })
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, id)
	}
	return h.toResource(out, nil, proj), nil
}

// sameContent compares what a client can change, through JSON so that
// json.Number from the store equals int64 from the library's validator.
func sameContent(a, b *store.Resource) bool {
	type content struct {
		Name       string
		ExternalID string
		Members    []store.Member
		Attributes map[string]any
	}
	ja, err1 := json.Marshal(content{a.Name, a.ExternalID, a.Members, a.Attributes})
	jb, err2 := json.Marshal(content{b.Name, b.ExternalID, b.Members, b.Attributes})
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Patch implements libscim.ResourceHandler. The operations are applied to
// the resource as read, outside the store's write transaction; see modify.
func (h *resourceHandler) Patch(r *http.Request, id string, ops []libscim.PatchOperation) (libscim.Resource, error) {
	ctx := r.Context()
	proj, err := h.projection(r)
	if err != nil {
		return libscim.Resource{}, err
	}
	opts := h.srv.patch[sourceOf(ctx)]
	out, err := h.modify(r, id, func(old *store.Resource) (*store.Resource, error) {
		doc, changed, err := opts.Apply(h.patchDoc(old), ops, h.schema, h.exts...)
		if err != nil || !changed {
			return nil, err
		}
		return h.fromAttributes(doc)
	})
	if err != nil {
		return libscim.Resource{}, h.scimError(ctx, err, id)
	}
	if h.kind == store.KindGroup {
		// Entra and Okta expect 204 for group PATCH, and a group's member
		// list can be large: no body (the library answers 204 for no attributes).
		return libscim.Resource{ID: out.ID}, nil
	}
	return h.toResource(out, nil, proj), nil
}

// Delete implements libscim.ResourceHandler. Deleting a member also removes
// it from every group that lists it, in the same transaction.
func (h *resourceHandler) Delete(r *http.Request, id string) error {
	ctx := r.Context()
	err := h.srv.update(ctx, func(tx store.Tx) error {
		old, err := h.getForWrite(tx, r, id)
		if err != nil {
			return err
		}
		gids, err := tx.GroupsOf(id)
		if err != nil {
			return err
		}
		for _, gid := range gids {
			g, err := tx.Get(store.KindGroup, gid)
			if err != nil {
				return err
			}
			before := *g
			g.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m store.Member) bool { return m.Value == id })
			g.Modified = h.srv.now().UTC()
			if err := tx.Put(g); err != nil {
				return err
			}
			if err := h.srv.onWrite(tx, &before, g); err != nil {
				return err
			}
		}
		if err := tx.Delete(h.kind, id); err != nil {
			return err
		}
		return h.srv.onWrite(tx, old, nil)
	})
	if err != nil {
		return h.scimError(ctx, err, id)
	}
	return nil
}

// getForWrite reads the resource a write targets and enforces If-Match
// (RFC 7644 §3.14) inside the write's transaction.
func (h *resourceHandler) getForWrite(tx store.Reader, r *http.Request, id string) (*store.Resource, error) {
	old, err := h.get(tx, r.Context(), id)
	if err != nil {
		return nil, err
	}
	return old, checkIfMatch(r, old)
}

// checkIfMatch enforces If-Match.
func checkIfMatch(r *http.Request, res *store.Resource) error {
	im := r.Header.Get("If-Match")
	if im == "" || etagMatches(im, etag(res.Version)) {
		return nil
	}
	return scimerr.ScimError{Status: http.StatusPreconditionFailed,
		Detail: fmt.Sprintf("Resource version is %s; If-Match did not match.", etag(res.Version))}
}

// checkMembers rejects members that do not exist for the group's source, so
// a group never points at another source's resources or at nothing, and
// sets each member's type. Members of stored, the group as stored in tx,
// are known to exist (deleting a resource removes it from its groups in the
// same transaction) and keep their type without a read: a PATCH that adds
// one member to a large group reads one resource, not all of them.
func (h *resourceHandler) checkMembers(tx store.Reader, res, stored *store.Resource) error {
	var known map[string]string
	if stored != nil && len(stored.Members) > 0 {
		known = make(map[string]string, len(stored.Members))
		for _, m := range stored.Members {
			if m.Type != "" {
				known[m.Value] = m.Type
			}
		}
	}
	for i, m := range res.Members {
		if m.Value == res.ID {
			return invalidValue("a group cannot be a member of itself")
		}
		if t, ok := known[m.Value]; ok {
			res.Members[i].Type = t
			continue
		}
		kind := store.KindUser
		member, err := tx.Get(kind, m.Value)
		if errors.Is(err, store.ErrNotFound) {
			kind = store.KindGroup
			member, err = tx.Get(kind, m.Value)
		}
		if errors.Is(err, store.ErrNotFound) || (err == nil && member.Source != res.Source) {
			return invalidValue(fmt.Sprintf("member %q does not exist", m.Value))
		}
		if err != nil {
			return err
		}
		res.Members[i].Type = string(kind)
	}
	return nil
}

func invalidValue(detail string) error {
	e := scimerr.ScimErrorInvalidValue
	e.Detail = detail
	return e
}

// fromAttributes turns validated SCIM attributes into a store resource.
func (h *resourceHandler) fromAttributes(attrs map[string]any) (*store.Resource, error) {
	a := make(map[string]any, len(attrs))
	for k, v := range attrs {
		switch k {
		case "id", "meta", "schemas", "groups":
			// Server-assigned or read-only; the library already drops most.
		case "password":
			// Accepted for compatibility (Okta sends one), never stored:
			// Tenure is not a credential store, and targets get their own
			// random initial passwords.
		default:
			a[k] = v
		}
	}
	listMultiValued(a, h.schema)
	for _, e := range h.exts {
		if ext, ok := a[e.ID].(map[string]any); ok {
			listMultiValued(ext, e)
		}
	}
	res := &store.Resource{Kind: h.kind, Attributes: a}
	if v, ok := a["externalId"]; ok {
		s, _ := v.(string)
		res.ExternalID = s
		delete(a, "externalId")
	}
	switch h.kind {
	case store.KindUser:
		name, _ := a["userName"].(string)
		if name == "" { // anything else about it: checkUserName
			return nil, invalidValue("userName is required")
		}
		res.Name = name
		if err := validateUser(a); err != nil {
			return nil, err
		}
	case store.KindGroup:
		name, _ := a["displayName"].(string)
		if strings.TrimSpace(name) == "" {
			return nil, invalidValue("displayName is required")
		}
		res.Name = name
		members, err := parseMembers(a["members"])
		if err != nil {
			return nil, err
		}
		res.Members = members
		delete(a, "members")
	}
	return res, nil
}

// listMultiValued stores a lone value of a multi-valued attribute, which
// the library accepts ("emails": "a@example.com" becomes {"value": …} in
// scim/compat), as the list of one value RFC 7643 §2.4 prescribes.
func listMultiValued(a map[string]any, s schemaT) {
	for _, attr := range s.Attributes {
		v, ok := a[attr.Name()]
		if _, list := v.([]any); ok && v != nil && !list && attr.MultiValued() {
			a[attr.Name()] = []any{v}
		}
	}
}

func parseMembers(v any) ([]store.Member, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, invalidValue("members must be a list")
	}
	out := make([]store.Member, 0, len(list))
	seen := map[string]bool{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		value, _ := m["value"].(string)
		if value == "" {
			return nil, invalidValue("every member needs a value")
		}
		if seen[value] {
			continue
		}
		seen[value] = true
		display, _ := m["display"].(string)
		out = append(out, store.Member{Value: value, Display: display})
	}
	return out, nil
}

// validateUser checks the values lifecycle decisions depend on, so bad HR
// data is refused at the door with a clear message instead of surfacing
// later as a failed job.
//
// timezone and addresses[].country are checked where a write sets or
// changes them (checkUserValues).
func validateUser(a map[string]any) error {
	ext, _ := a[SchemaTenure].(map[string]any)
	for _, k := range []string{"startDate", "endDate"} {
		s, ok := ext[k].(string)
		if !ok || s == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, s); err == nil {
			continue
		}
		if _, err := time.Parse(time.RFC3339, s); err == nil {
			continue
		}
		return invalidValue(fmt.Sprintf("%s:%s %q must be YYYY-MM-DD or an RFC 3339 date-time", SchemaTenure, k, s))
	}
	return nil
}

// patchDoc is the document PATCH operates on: attributes plus the fields the
// store keeps apart.
func (h *resourceHandler) patchDoc(res *store.Resource) map[string]any {
	doc := make(map[string]any, len(res.Attributes)+2)
	for k, v := range res.Attributes {
		doc[k] = v
	}
	if res.ExternalID != "" {
		doc["externalId"] = res.ExternalID
	}
	if h.kind == store.KindGroup && len(res.Members) > 0 {
		doc["members"] = h.memberList(res.Members, "Users")
	}
	return doc
}

// filterDoc is the full representation filters and sorting see.
func (h *resourceHandler) filterDoc(res *store.Resource) map[string]any {
	doc := h.patchDoc(res)
	doc["id"] = res.ID
	doc["meta"] = map[string]any{
		"resourceType": string(h.kind),
		"created":      res.Created.Format(time.RFC3339Nano),
		"lastModified": res.Modified.Format(time.RFC3339Nano),
		"version":      etag(res.Version),
	}
	return doc
}

func (h *resourceHandler) memberList(ms []store.Member, endpoint string) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		e := map[string]any{"value": m.Value}
		if m.Display != "" {
			e["display"] = m.Display
		}
		if m.Type != "" {
			e["type"] = m.Type
		}
		ep := endpoint
		if m.Type == string(store.KindGroup) {
			ep = "Groups"
		} else if m.Type == string(store.KindUser) {
			ep = "Users"
		}
		e["$ref"] = h.ref(ep, m.Value)
		out[i] = e
	}
	return out
}

func (h *resourceHandler) ref(endpoint, id string) string {
	if h.base == "" {
		return endpoint + "/" + id
	}
	return h.base + "/" + endpoint + "/" + id
}

// toResource renders a stored resource for the library. The map is new on
// every call: the library writes id, schemas and meta into it.
func (h *resourceHandler) toResource(res *store.Resource, groups []store.Member, proj projection) libscim.Resource {
	doc := h.patchDoc(res)
	if h.kind == store.KindUser && len(groups) > 0 {
		list := make([]any, len(groups))
		for i, g := range groups {
			list[i] = map[string]any{"value": g.Value, "display": g.Display, "type": g.Type, "$ref": h.ref("Groups", g.Value)}
		}
		doc["groups"] = list
	}
	if proj.q == nil {
		proj.q = query.NewProjection(proj.attrs, proj.excluded, h.schema, h.exts...)
	}
	doc = proj.q.Apply(doc)
	out := libscim.Resource{
		ID:         res.ID,
		Attributes: doc,
		Meta: libscim.Meta{
			Created:      &res.Created,
			LastModified: &res.Modified,
			Version:      etag(res.Version),
		},
	}
	if ext, ok := doc["externalId"].(string); ok {
		out.ExternalID = optional.NewString(ext)
		delete(doc, "externalId")
	}
	return out
}

// scimError maps an error to the SCIM error the library will send. Internal
// failures are logged with the request id and never echoed to the client.
func (h *resourceHandler) scimError(ctx context.Context, err error, id string) error {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	var sp *scimerr.ScimError
	if errors.As(err, &sp) && sp != nil {
		return *sp
	}
	var (
		uniq interface{ Uniqueness() string }
		rej  interface{ Rejected() string }
	)
	switch {
	case errors.As(err, &uniq):
		e := scimerr.ScimErrorUniqueness
		e.Detail = uniq.Uniqueness()
		return e
	case errors.As(err, &rej):
		return invalidValue(rej.Rejected())
	case errors.Is(err, store.ErrNotFound):
		return scimerr.ScimErrorResourceNotFound(id)
	case errors.Is(err, store.ErrConflict):
		e := scimerr.ScimErrorUniqueness
		e.Detail = fmt.Sprintf("A %s with this %s already exists.", strings.ToLower(string(h.kind)), h.uniqueAttr())
		return e
	case h.srv.unavailable(ctx, err):
		h.srv.outage.Failed(err)
		return answer(ctx, errUnavailable, RetryAfter)
	}
	rid := httpx.RequestID(ctx)
	h.srv.log.ErrorContext(ctx, "scim request failed", "request_id", rid, "kind", h.kind, "id", id, "err", err)
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "Internal error; request id " + rid + "."}
}

func (h *resourceHandler) uniqueAttr() string {
	if h.kind == store.KindUser {
		return "userName"
	}
	return "id"
}
