package query

import (
	"fmt"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// Attribute types as schema.CoreAttribute.AttributeType spells them.
const (
	typeBinary    = "binary"
	typeBoolean   = "boolean"
	typeComplex   = "complex"
	typeDateTime  = "dateTime"
	typeDecimal   = "decimal"
	typeInteger   = "integer"
	typeReference = "reference"
	typeString    = "string"
)

// Returned characteristics as schema.CoreAttribute.Returned spells them.
const (
	returnedAlways  = "always"
	returnedDefault = "default"
	returnedNever   = "never"
	returnedRequest = "request"
)

// commonAttrs are the attributes every resource has (RFC 7643 §3.1). The
// library declares "schemas" as returned by default, but a representation
// without it cannot be parsed by a client, so it is "always" here.
var commonAttrs = func() schema.Attributes {
	attrs := schema.CommonAttributes()
	for i, a := range attrs {
		if a.Name() == "schemas" {
			attrs[i] = a.WithReturned(schema.AttributeReturnedAlways())
		}
	}
	return attrs
}()

// resolver finds attributes by name in one resource type: its core schema,
// the common attributes and its schema extensions.
type resolver struct {
	core schema.Schema
	exts []schema.Schema
	// absent, when set, collects the paths a filter names that the type
	// lacks, which then never match (CompileEach).
	absent *[]string
}

// attrRef is a resolved attribute path.
type attrRef struct {
	ext  string                // URN the attribute nests under in documents; "" for core and common attributes
	attr schema.CoreAttribute  // the top-level attribute (or, inside a value filter, the sub-attribute)
	sub  *schema.CoreAttribute // the sub-attribute the path continues with, if any
}

// wholeExt reports whether the path is a bare extension URN, naming the
// whole extension rather than one of its attributes.
func (r attrRef) wholeExt() bool { return r.ext != "" && r.attr.Name() == "" }

// leaf is the attribute whose values the path yields.
func (r attrRef) leaf() schema.CoreAttribute {
	if r.sub != nil {
		return *r.sub
	}
	return r.attr
}

// String renders the path in canonical case, for error messages.
func (r attrRef) String() string {
	s := r.attr.Name()
	if r.ext != "" {
		s = r.ext + ":" + s
	}
	if r.sub != nil {
		s += "." + r.sub.Name()
	}
	return s
}

// unknownAttrError is a path that names no attribute of the resource type,
// or a schema it does not have. CompileEach tells it from other errors.
type unknownAttrError struct {
	what, path string // "attribute" or "schema"
}

func (e *unknownAttrError) Error() string { return fmt.Sprintf("unknown %s %q", e.what, clip(e.path)) }

// errUnknownAttr reports a path that names no attribute.
func errUnknownAttr(path string) error {
	return &unknownAttrError{what: "attribute", path: path}
}

// attribute resolves name within the schema whose URN is uri, or, when uri is
// empty, within the core and common attributes and then the extensions in
// order. RFC 7644 §3.10 wants extension attributes URN-qualified, but clients
// commonly leave the URN off and the names rarely collide.
func (r *resolver) attribute(uri, name string) (attrRef, error) {
	if uri == "" {
		if a, ok := r.coreAttr(name); ok {
			return attrRef{attr: a}, nil
		}
		for _, ext := range r.exts {
			if a, ok := ext.Attributes.ContainsAttribute(name); ok {
				return attrRef{ext: ext.ID, attr: a}, nil
			}
		}
		return attrRef{}, errUnknownAttr(name)
	}
	if strings.EqualFold(uri, r.core.ID) {
		if a, ok := r.coreAttr(name); ok {
			return attrRef{attr: a}, nil
		}
		return attrRef{}, errUnknownAttr(uri + ":" + name)
	}
	ext, ok := r.extension(uri)
	if !ok {
		return attrRef{}, &unknownAttrError{what: "schema", path: uri}
	}
	if a, ok := ext.Attributes.ContainsAttribute(name); ok {
		return attrRef{ext: ext.ID, attr: a}, nil
	}
	return attrRef{}, errUnknownAttr(uri + ":" + name)
}

// coreAttr finds a core or common attribute; the core schema wins a clash.
func (r *resolver) coreAttr(name string) (schema.CoreAttribute, bool) {
	if a, ok := r.core.Attributes.ContainsAttribute(name); ok {
		return a, true
	}
	return commonAttrs.ContainsAttribute(name)
}

// extension finds an extension schema by URN, case-insensitively.
func (r *resolver) extension(uri string) (schema.Schema, bool) {
	for _, ext := range r.exts {
		if strings.EqualFold(ext.ID, uri) {
			return ext, true
		}
	}
	return schema.Schema{}, false
}

// withSub extends ref with a sub-attribute of its (complex) attribute.
func withSub(ref attrRef, name string) (attrRef, error) {
	if ref.attr.AttributeType() != typeComplex {
		return attrRef{}, fmt.Errorf("attribute %q has no sub-attributes", ref)
	}
	sub, ok := ref.attr.SubAttributes().ContainsAttribute(name)
	if !ok {
		return attrRef{}, errUnknownAttr(ref.String() + "." + name)
	}
	ref.sub = &sub
	return ref, nil
}

// splitURN splits a path in standard attribute notation (RFC 7644 §3.10)
// into the schema URN it starts with, if any, and the rest. A path that is
// only a URN returns an empty rest. Matching against the known schema IDs,
// rather than cutting at the last colon, keeps URNs such as Microsoft's
// "http://schemas.microsoft.com/..." intact.
func (r *resolver) splitURN(path string) (uri, rest string) {
	rest = path
	try := func(id string) {
		if len(id) <= len(uri) || len(path) < len(id) || !strings.EqualFold(path[:len(id)], id) {
			return
		}
		switch {
		case len(path) == len(id):
			uri, rest = id, ""
		case path[len(id)] == ':':
			uri, rest = id, path[len(id)+1:]
		}
	}
	try(r.core.ID)
	for _, ext := range r.exts {
		try(ext.ID)
	}
	return uri, rest
}

// path resolves a path in standard attribute notation such as "name.givenName"
// or "urn:ietf:params:scim:schemas:core:2.0:User:emails.value". A bare
// extension URN resolves to an attrRef with only ext set.
func (r *resolver) path(p string) (attrRef, error) {
	uri, rest := r.splitURN(p)
	if uri == "" && strings.Contains(rest, ":") {
		return attrRef{}, errUnknownAttr(p) // a URN of no schema here
	}
	if rest == "" {
		if uri == "" || strings.EqualFold(uri, r.core.ID) {
			return attrRef{}, errUnknownAttr(p)
		}
		ext, _ := r.extension(uri)
		return attrRef{ext: ext.ID}, nil
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	ref, err := r.attribute(uri, name)
	if err != nil || !hasSub {
		return ref, err
	}
	if strings.Contains(sub, ".") {
		return attrRef{}, fmt.Errorf("attribute path %q is nested too deeply", clip(p))
	}
	return withSub(ref, sub)
}
