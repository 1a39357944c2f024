package patch

import (
	"fmt"
	"slices"
	"strings"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// applier holds the schemas one Apply call resolves paths against.
type applier struct {
	core schema.Schema
	exts []schema.Schema
	// indexes holds, per multi-valued attribute, the index of its values
	// in the document when addValues can reuse it.
	indexes map[string]*index
	opts    Options
}

func newApplier(s schema.Schema, exts []schema.Schema) *applier {
	core := s
	if _, ok := s.Attributes.ContainsAttribute(schema.CommonAttributeExternalID); !ok {
		// The library validates PATCH against the core schema plus
		// externalId, and Entra ID replaces externalId by path.
		for _, c := range schema.CommonAttributes() {
			if c.Name() == schema.CommonAttributeExternalID {
				core.Attributes = append(slices.Clip(s.Attributes), c)
			}
		}
	}
	return &applier{core: core, exts: exts}
}

// attrRef names a top-level attribute and where its value lives: in the
// document for core attributes, in the object under ext otherwise.
type attrRef struct {
	ext  string // canonical extension URN; "" for core attributes
	attr schema.CoreAttribute
}

// target is a resolved PATCH path.
type target struct {
	attrRef
	filter filter.Expression     // value selection filter; multi-valued attributes only
	sub    *schema.CoreAttribute // addressed sub-attribute, if any
	path   string                // as the client wrote it, for error details
}

// extension returns the extension schema whose URN is name.
func (a *applier) extension(name string) (schema.Schema, bool) {
	for _, e := range a.exts {
		if strings.EqualFold(e.ID, name) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// wholeExtension reports whether p names an extension as a whole: a path
// such as urn:…:enterprise:2.0:User parses as the attribute "User" of the
// schema urn:…:enterprise:2.0.
func (a *applier) wholeExtension(p filter.Path) (schema.Schema, bool) {
	ap := p.AttributePath
	if ap.URIPrefix == nil || ap.SubAttribute != nil || p.ValueExpression != nil || p.SubAttribute != nil {
		return schema.Schema{}, false
	}
	return a.extension(*ap.URIPrefix + ":" + ap.AttributeName)
}

// serverManaged reports whether p names id, meta or schemas, which are not
// part of the stored document.
func (a *applier) serverManaged(p filter.Path) bool {
	uri := p.AttributePath.URI()
	if uri != "" && !strings.EqualFold(uri, a.core.ID) {
		return false
	}
	switch strings.ToLower(p.AttributePath.AttributeName) {
	case schema.CommonAttributeID, schema.CommonAttributeMeta, "schemas":
		return true
	}
	return false
}

// resolve maps a parsed path onto the schemas. Names match case-insensitively
// (RFC 7643 §2.1); the target carries the canonical definitions, so values
// are written under canonical names.
func (a *applier) resolve(p filter.Path) (target, error) {
	ap := p.AttributePath
	t := target{path: p.String()}
	if a.serverManaged(p) {
		return t, newError(scimerrors.ScimErrorMutability, "%s is assigned by the server", t.path)
	}
	s := a.core
	if uri := ap.URI(); uri != "" && !strings.EqualFold(uri, a.core.ID) {
		e, ok := a.extension(uri)
		if !ok {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: unknown schema %q", t.path, uri)
		}
		s, t.ext = e, e.ID
	}
	attr, ok := s.Attributes.ContainsAttribute(ap.AttributeName)
	if !ok {
		return t, newError(scimerrors.ScimErrorInvalidPath, "%s: %q is not an attribute of %s", t.path, ap.AttributeName, s.ID)
	}
	t.attr = attr

	sub := ap.SubAttributeName()
	if p.ValueExpression != nil {
		if sub != "" {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: a value filter cannot follow a sub-attribute", t.path)
		}
		if !attr.MultiValued() {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: value filters select elements of multi-valued attributes; %s is single-valued", t.path, attr.Name())
		}
		if err := validateFilter(attr, p.ValueExpression); err != nil {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: %v", t.path, err)
		}
		t.filter = p.ValueExpression
		sub = p.SubAttributeName()
	}
	if sub != "" {
		if !isComplex(attr) {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: %s has no sub-attributes", t.path, attr.Name())
		}
		sa, ok := attr.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return t, newError(scimerrors.ScimErrorInvalidPath, "%s: %q is not a sub-attribute of %s", t.path, sub, attr.Name())
		}
		t.sub = &sa
	}
	return t, nil
}

// lookup returns r's value and whether it is assigned; null and empty values
// are unassigned (RFC 7643 §2.5).
func (a *applier) lookup(doc map[string]any, r attrRef) (any, bool) {
	c := doc
	if r.ext != "" {
		c, _ = doc[r.ext].(map[string]any)
	}
	v := c[r.attr.Name()]
	return v, !isEmpty(v)
}

// store sets r's value, or removes it when v is nil. An extension object that
// loses its last attribute is removed with it.
func (a *applier) store(doc map[string]any, r attrRef, v any) {
	name := r.attr.Name()
	if r.ext == "" {
		if v == nil {
			delete(doc, name)
		} else {
			doc[name] = v
		}
		return
	}
	c, _ := doc[r.ext].(map[string]any)
	if v == nil {
		if c == nil {
			return
		}
		delete(c, name)
		if len(c) == 0 {
			delete(doc, r.ext)
		}
		return
	}
	if c == nil {
		c = map[string]any{}
		doc[r.ext] = c
	}
	c[name] = v
}

// write stores next as t's attribute value, provided the change is
// compatible with the attribute's mutability and requiredness. An empty next
// unassigns the attribute.
func (a *applier) write(doc map[string]any, t target, old any, exists bool, next any) error {
	if isEmpty(next) {
		if !exists {
			return nil
		}
		next = nil
	} else if exists && equal(old, next) {
		return nil
	}
	return a.commit(doc, t, exists, next)
}

// commit stores next, a value that differs from the attribute's, after
// the checks write makes.
func (a *applier) commit(doc map[string]any, t target, exists bool, next any) error {
	// RFC 7644 §3.5.2: an immutable attribute may only be given a value
	// when it has none.
	if exists && t.attr.Mutability() == "immutable" {
		return newError(scimerrors.ScimErrorMutability, "%s is immutable", t.path)
	}
	if next == nil && t.attr.Required() {
		return newError(scimerrors.ScimErrorInvalidValue, "%s is required and cannot be removed", t.path)
	}
	a.store(doc, t.attrRef, next)
	return nil
}

// newError returns a copy of base with the given detail. The library's
// predefined errors are package variables, so they are never returned or
// modified in place.
func newError(base scimerrors.ScimError, format string, args ...any) error {
	base.Detail = fmt.Sprintf(format, args...)
	return &base
}
