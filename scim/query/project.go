package query

import (
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/tenurehq/tenure/internal/jsonx"
)

// Project returns the representation of doc that a response carries, given
// the attributes and excludedAttributes request parameters (RFC 7644
// §3.4.2.5, §3.9) and each attribute's "returned" characteristic (RFC 7643
// §7):
//
//   - "never" attributes (password) are always removed;
//   - "always" attributes (id, schemas) are always kept, whatever the
//     parameters say;
//   - "request" attributes are kept only when attributes names them;
//   - "default" attributes are kept unless attributes is non-empty and does
//     not name them, or excluded names them.
//
// Paths are in standard attribute notation: "userName", "name.givenName",
// URN-qualified ("urn:ietf:params:scim:schemas:core:2.0:User:userName",
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
// or a bare extension URN for the whole extension. An entry may also hold
// several comma-separated paths, as the query parameter does. Paths that
// name no attribute are ignored. RFC 7644 makes the two parameters mutually
// exclusive; if both are given, excluded is applied to what attributes
// selected.
//
// Naming a complex attribute selects its default sub-attributes; a
// "request" sub-attribute must be named itself. Keys that no schema
// describes are treated as "default". Complex values and list elements that
// projection leaves empty are dropped.
//
// The result is a new map that shares nothing mutable with doc, which is
// never modified.
func Project(doc map[string]any, attributes, excluded []string, s schema.Schema, exts ...schema.Schema) map[string]any {
	return NewProjection(attributes, excluded, s, exts...).Apply(doc)
}

// Projection is an attributes/excludedAttributes pair resolved against the
// schemas once, for a response of many resources: resolving the paths is
// most of Project's cost. It is immutable and safe for concurrent use.
type Projection struct {
	r        *resolver
	sel, exc *pick
}

// NewProjection resolves the parameters as Project does.
func NewProjection(attributes, excluded []string, s schema.Schema, exts ...schema.Schema) *Projection {
	r := &resolver{core: s, exts: exts}
	return &Projection{r: r, sel: r.picks(attributes), exc: r.picks(excluded)}
}

// Apply returns doc projected, as Project does.
func (p *Projection) Apply(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if pv, ok := projectAttr(k, v, p.r.rootDef(k), p.sel, p.exc); ok {
			out[k] = pv
		}
	}
	return out
}

// pick is the set of attributes a list of paths names, as a tree: the root
// holds top-level attributes and extension URNs, keyed in lower case; a node
// with all set was named itself rather than only through its children.
type pick struct {
	all  bool
	kids map[string]*pick
}

// child returns the node for name, or nil; p may be nil.
func (p *pick) child(name string) *pick {
	if p == nil {
		return nil
	}
	return p.kids[strings.ToLower(name)]
}

// add records the path of names, marking its last node as named itself.
func (p *pick) add(names []string) {
	for _, name := range names {
		key := strings.ToLower(name)
		if p.kids == nil {
			p.kids = make(map[string]*pick)
		}
		next := p.kids[key]
		if next == nil {
			next = &pick{}
			p.kids[key] = next
		}
		p = next
	}
	p.all = true
}

// picks builds the pick for a parameter's paths, or nil when it names none,
// meaning "no such parameter".
func (r *resolver) picks(paths []string) *pick {
	var root *pick
	for _, list := range paths {
		for p := range strings.SplitSeq(list, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if root == nil {
				root = &pick{}
			}
			if ref, err := r.path(p); err == nil {
				root.add(ref.names())
			}
		}
	}
	return root
}

// names lists the document keys that lead to the attribute ref names.
func (r attrRef) names() []string {
	var names []string
	if r.ext != "" {
		names = append(names, r.ext)
	}
	if !r.wholeExt() {
		names = append(names, r.attr.Name())
	}
	if r.sub != nil {
		names = append(names, r.sub.Name())
	}
	return names
}

// attrDef is what projection needs to know about a document key.
type attrDef struct {
	returned string
	complex  bool
	subs     schema.Attributes // of a complex attribute, or an extension's attributes
}

// defOf describes a schema attribute.
func defOf(a schema.CoreAttribute) attrDef {
	return attrDef{returned: a.Returned(), complex: a.AttributeType() == typeComplex, subs: a.SubAttributes()}
}

// unknownDef describes a key no schema knows.
var unknownDef = attrDef{returned: returnedDefault}

// rootDef describes a top-level document key: an attribute, or an extension
// URN, which projects like a complex attribute whose sub-attributes are the
// extension's attributes.
func (r *resolver) rootDef(key string) attrDef {
	if ext, ok := r.extension(key); ok {
		return attrDef{returned: returnedDefault, complex: true, subs: ext.Attributes}
	}
	if a, ok := r.coreAttr(key); ok {
		return defOf(a)
	}
	return unknownDef
}

// subDef describes a key inside a complex value.
func subDef(subs schema.Attributes, key string) attrDef {
	if a, ok := subs.ContainsAttribute(key); ok {
		return defOf(a)
	}
	return unknownDef
}

// projectAttr decides whether the attribute key, described by def, stays
// given the picks of its parent (sel from attributes, exc from
// excludedAttributes; nil when the parameter is absent), and projects its
// value if so.
func projectAttr(key string, v any, def attrDef, sel, exc *pick) (any, bool) {
	selKid, excKid := sel.child(key), exc.child(key)
	switch {
	case def.returned == returnedNever:
		return nil, false
	case def.returned == returnedAlways:
		selKid, excKid = nil, nil
	case hidden(def, sel, selKid, excKid):
		if !def.complex {
			return nil, false
		}
		// "always" sub-attributes are returned even when their parent is
		// not: keep those alone, by selecting nothing.
		pv := projectValue(v, def, &pick{}, nil)
		return pv, !isEmpty(pv)
	}
	pv := projectValue(v, def, selKid, excKid)
	if isEmpty(pv) && !isEmpty(v) {
		return nil, false
	}
	return pv, true
}

// hidden reports whether the parameters leave out an attribute: selKid and
// excKid are its nodes in the picks, sel is its parent's.
func hidden(def attrDef, sel, selKid, excKid *pick) bool {
	if def.returned == returnedRequest {
		return selKid == nil
	}
	return sel != nil && !sel.all && selKid == nil || excKid != nil && excKid.all
}

// projectValue projects the sub-attributes of a complex value, or of each
// element of a multi-valued one, and copies anything else. When sel names
// only some sub-attributes, anything in a complex attribute that is not an
// object has none of them and is left out.
func projectValue(v any, def attrDef, sel, exc *pick) any {
	if !def.complex {
		return jsonx.DeepCopy(v)
	}
	partial := sel != nil && !sel.all
	switch v := v.(type) {
	case map[string]any:
		return projectObject(v, def.subs, sel, exc)
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			switch {
			case !ok && !partial:
				out = append(out, jsonx.DeepCopy(e))
			case ok:
				if pm := projectObject(m, def.subs, sel, exc); len(pm) > 0 || len(m) == 0 && !partial {
					out = append(out, pm)
				}
			}
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, 0, len(v))
		for _, m := range v {
			if pm := projectObject(m, def.subs, sel, exc); len(pm) > 0 || len(m) == 0 && !partial {
				out = append(out, pm)
			}
		}
		return out
	}
	if partial {
		return nil
	}
	return jsonx.DeepCopy(v)
}

// isEmpty reports a value with nothing in it: nil, or an empty complex or
// multi-valued value.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	case []map[string]any:
		return len(v) == 0
	}
	return false
}

// projectObject projects the keys of one complex value.
func projectObject(m map[string]any, subs schema.Attributes, sel, exc *pick) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if pv, ok := projectAttr(k, v, subDef(subs, k), sel, exc); ok {
			out[k] = pv
		}
	}
	return out
}
