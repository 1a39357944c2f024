package scim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/scim/query"
	"github.com/tenurehq/tenure/store"
)

// Root search (RFC 7644 §3.4.2.1, §3.4.3): GET /?filter=… and POST
// /.search query Users and Groups at once. The filter, sortBy and the
// attribute lists are resolved against each resource type; an attribute a
// type lacks is absent in its resources, as §3.4.2.1 says (userName sw "a"
// finds only users, members pr only groups), and only an attribute no
// type has is 400 invalidFilter (query.CompileEach). Results come users
// first, then groups, each in creation order, unless sortBy orders them
// all; every result carries its schemas and meta.resourceType, which tell
// the types apart.

const (
	schemaSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	schemaListResponse  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// searchParams are a root search's parameters, from the query or the body.
type searchParams struct {
	filter, sortBy, sortOrder string
	attrs, excluded           []string
	start, count              int
}

// rootParams reads the parameters of GET / from the query string.
func rootParams(r *http.Request) (searchParams, *scimerr.ScimError) {
	q := r.URL.Query()
	p := searchParams{filter: q.Get("filter"), sortBy: q.Get("sortBy"), sortOrder: q.Get("sortOrder"),
		attrs: q["attributes"], excluded: q["excludedAttributes"], start: 1, count: MaxResults}
	for _, n := range []struct {
		name string
		to   *int
	}{{"startIndex", &p.start}, {"count", &p.count}} {
		v := q.Get(n.name)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			e := scimerr.ScimErrorInvalidValue
			e.Detail = n.name + " must be an integer."
			return p, &e
		}
		*n.to = i
	}
	return p, nil
}

// searchBody reads the SearchRequest of POST /.search.
func searchBody(r *http.Request) (searchParams, *scimerr.ScimError) {
	var req struct {
		Schemas            []string `json:"schemas"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
		Filter             *string  `json:"filter"`
		SortBy             string   `json:"sortBy"`
		SortOrder          string   `json:"sortOrder"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
	}
	body, _ := io.ReadAll(r.Body) // buffered by readBody
	if err := json.Unmarshal(body, &req); err != nil {
		e := scimerr.ScimErrorInvalidSyntax
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "filter" {
			e = scimerr.ScimErrorInvalidFilter
		}
		return searchParams{}, &e
	}
	if len(req.Schemas) != 1 || req.Schemas[0] != schemaSearchRequest {
		e := scimerr.ScimErrorInvalidValue
		e.Detail = `schemas must be ["` + schemaSearchRequest + `"].`
		return searchParams{}, &e
	}
	p := searchParams{sortBy: req.SortBy, sortOrder: req.SortOrder, attrs: req.Attributes, excluded: req.ExcludedAttributes,
		start: 1, count: MaxResults}
	if req.Filter != nil {
		p.filter = *req.Filter
	}
	if req.StartIndex != nil {
		p.start = *req.StartIndex
	}
	if req.Count != nil {
		p.count = *req.Count
	}
	return p, nil
}

// serveRootSearch answers GET / and POST /.search.
func (s *Server) serveRootSearch(w http.ResponseWriter, r *http.Request) {
	read := rootParams
	if r.Method == http.MethodPost {
		read = searchBody
	}
	p, se := read(r)
	if se != nil {
		writeError(w, *se)
		return
	}
	out, err := s.rootSearch(r, p)
	if err != nil {
		writeError(w, scimerr.CheckScimError(err, r.Method))
		return
	}
	raw, err := json.Marshal(out)
	if err != nil {
		writeError(w, scimerr.ScimErrorInternal)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	_, _ = w.Write(raw)
}

// rootPart is one resource type's share of a root search.
type rootPart struct {
	h    *resourceHandler
	f    *query.Filter
	sort *query.SortKey
	proj projection
}

// rootHit is one matched resource and the type it belongs to.
type rootHit struct {
	part *rootPart
	res  *store.Resource
	doc  map[string]any // for sorting
}

func (s *Server) rootSearch(r *http.Request, p searchParams) (map[string]any, error) {
	ctx := r.Context()
	desc, err := descending(p.sortOrder)
	if err != nil {
		return nil, err
	}
	handlers := []*resourceHandler{s.users, s.groups}
	filters := make([]*query.Filter, len(handlers))
	if strings.TrimSpace(p.filter) != "" {
		types := make([]query.Schemas, len(handlers))
		for i, h := range handlers {
			types[i] = query.Schemas{Core: h.schema, Exts: h.exts}
		}
		if filters, err = query.CompileEach(p.filter, types...); err != nil {
			e := scimerr.ScimErrorInvalidFilter
			e.Detail = err.Error()
			return nil, e
		}
	}
	var parts []*rootPart
	var sortErr error
	sortable := false
	for i, h := range handlers {
		k, err := h.compileSort(p.sortBy)
		if err != nil && sortErr == nil {
			// A type without the attribute sorts as unassigned: after
			// the others, as RFC 7644 §3.4.2.3 sorts missing values.
			sortErr = err
		}
		sortable = sortable || k != nil
		proj, err := h.projectionOf(p.attrs, p.excluded)
		if err != nil {
			return nil, err
		}
		parts = append(parts, &rootPart{h: h, f: filters[i], sort: k, proj: proj})
	}
	if p.sortBy != "" && !sortable {
		return nil, sortErr
	}
	src := sourceOf(ctx)
	start, count := max(p.start, 1), min(max(p.count, 0), MaxResults)
	var resources []any
	total := 0
	err = s.view(ctx, func(rd store.Reader) error {
		var hits []rootHit
		for _, part := range parts {
			matched, err := part.h.match(rd, src, part.f)
			if err != nil {
				return err
			}
			for _, res := range matched {
				hit := rootHit{part: part, res: res}
				if sortable {
					hit.doc = part.h.filterDoc(res)
				}
				hits = append(hits, hit)
			}
		}
		if sortable {
			slices.SortStableFunc(hits, func(a, b rootHit) int {
				k := a.part.sort
				if k == nil {
					k = b.part.sort
				}
				if k == nil {
					return 0 // neither type has the attribute
				}
				c := k.Compare(a.doc, b.doc)
				if desc {
					c = -c
				}
				return c
			})
		}
		total = len(hits)
		resources = resources[:0]
		if start > len(hits) {
			return nil
		}
		for _, hit := range hits[start-1 : min(len(hits), start-1+count)] {
			h, proj := hit.part.h, hit.part.proj
			res, err := h.withDisplay(rd, hit.res, proj)
			if err != nil {
				return err
			}
			groups, err := h.groupsOf(rd, res, proj)
			if err != nil {
				return err
			}
			resources = append(resources, h.response(h.toResource(res, groups, proj)))
		}
		return nil
	})
	if err != nil {
		return nil, s.users.scimError(ctx, err, "")
	}
	if resources == nil {
		resources = []any{}
	}
	return map[string]any{
		"schemas":      []string{schemaListResponse},
		"totalResults": total,
		"itemsPerPage": len(resources),
		"startIndex":   start,
		"Resources":    resources,
	}, nil
}
