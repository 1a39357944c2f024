// Package compat rewrites request bodies from real provisioning clients into
// the shape RFC 7643 prescribes, before github.com/elimity-com/scim validates
// them.
//
// Microsoft Entra ID sends booleans as strings ("active": "False") and the
// enterprise manager as a bare id ("manager": "mgr-id") instead of the
// complex {"value": "mgr-id"}. The library answers both with 400, and its only
// remedy, schema.SetAllowStringValues, is a process-wide switch that would
// also accept strings for every integer and decimal from every client. The
// rewrites here are per request, driven by the schema of the attribute each
// value is for, and limited to those two quirks; anything else, including
// paths the schemas do not know, is left for the library to judge.
package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// ErrMalformed is wrapped by the errors for bodies that are not one JSON
// value.
var ErrMalformed = errors.New("malformed JSON body")

// NormalizePatch rewrites a PatchOp body. Entra's string booleans ("True",
// "False", in any case) become JSON booleans wherever the target attribute is
// boolean: the attribute a path names, each key of a pathless value, and
// sub-attributes inside complex and multi-valued values. A plain string given
// for a complex attribute that has a "value" sub-attribute becomes
// {"value": s}, as for Entra's
// {"op":"Add","path":"urn:…:enterprise:2.0:User:manager","value":"mgr-id"}.
// Operations are otherwise left intact. Unknown paths are left for the library
// to reject.
//
// When nothing needs rewriting, body itself is returned. Invalid JSON returns
// an error wrapping ErrMalformed.
func NormalizePatch(body []byte, s schema.Schema, exts ...schema.Schema) ([]byte, error) {
	b, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return b.Patch(s, exts...)
}

// NormalizeResource does the same rewrites for a POST or PUT resource body:
// core attributes at the top level and extension attributes under their
// schema URN, e.g. "active": "False" and the enterprise "manager": "id".
func NormalizeResource(body []byte, s schema.Schema, exts ...schema.Schema) ([]byte, error) {
	b, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return b.Resource(s, exts...)
}

// Body is a request body decoded once, so that a caller can look at the
// value (to check limits, say) before the rewrites, without decoding twice.
type Body struct {
	raw []byte
	v   any
}

// Decode reads exactly one JSON value, keeping numbers as json.Number so
// they are re-encoded digit for digit. Invalid JSON, or data after the
// value, returns an error wrapping ErrMalformed.
func Decode(raw []byte) (*Body, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	return &Body{raw: raw, v: v}, nil
}

// Value is the decoded body: map[string]any, []any, string, json.Number,
// bool or nil. It must not be changed before Patch or Resource, which
// rewrite it in place.
func (b *Body) Value() any { return b.v }

// Patch applies NormalizePatch's rewrites to a PatchOp body; the raw body
// comes back when nothing needed rewriting. Call it once.
func (b *Body) Patch(s schema.Schema, exts ...schema.Schema) ([]byte, error) {
	req, ok := b.v.(map[string]any)
	if !ok {
		return b.raw, nil
	}
	n := normalizer{core: s, exts: exts}
	for k, ops := range req {
		// encoding/json, which the library decodes with, matches field
		// names case-insensitively.
		if !strings.EqualFold(k, "Operations") {
			continue
		}
		list, _ := ops.([]any)
		for _, op := range list {
			if op, ok := op.(map[string]any); ok {
				n.operation(op)
			}
		}
	}
	return n.result(b.raw, req)
}

// Resource applies NormalizeResource's rewrites to a resource body; the raw
// body comes back when nothing needed rewriting. Call it once.
func (b *Body) Resource(s schema.Schema, exts ...schema.Schema) ([]byte, error) {
	res, ok := b.v.(map[string]any)
	if !ok {
		return b.raw, nil
	}
	n := normalizer{core: s, exts: exts}
	n.resource(res)
	return n.result(b.raw, res)
}

// normalizer walks one decoded body, rewriting values in place.
type normalizer struct {
	core    schema.Schema
	exts    []schema.Schema
	changed bool
}

func (n *normalizer) result(body []byte, v any) ([]byte, error) {
	if !n.changed {
		return body, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("compat: re-encoding body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// operation rewrites the value of one PATCH operation.
func (n *normalizer) operation(op map[string]any) {
	var path string
	seen := false
	for k, v := range op {
		if !strings.EqualFold(k, "path") || v == nil {
			continue // a null path decodes as none, as in the library
		}
		p, ok := v.(string)
		if !ok || seen && p != path {
			return // not a path the library could use, or ambiguous
		}
		path, seen = p, true
	}
	for k, v := range op {
		if !strings.EqualFold(k, "value") {
			continue
		}
		if path != "" {
			if !n.extensionObject(path, v) {
				op[k] = n.atPath(path, v)
			}
			continue
		}
		// Without a path the value is a set of attribute paths and values.
		if attrs, ok := v.(map[string]any); ok {
			for key, av := range attrs {
				if !n.extensionObject(key, av) {
					attrs[key] = n.atPath(key, av)
				}
			}
		}
	}
}

// extensionObject rewrites v when p is an extension's URN, which names the
// object of its attributes: as a key of a pathless value, and as a path
// (clients send {"path": "urn:…:enterprise:2.0:User", "value": {…}}).
func (n *normalizer) extensionObject(p string, v any) bool {
	ext, ok := n.extension(p)
	if !ok {
		return false
	}
	if obj, ok := v.(map[string]any); ok {
		n.object(ext, obj)
	}
	return true
}

// atPath rewrites v, the value for the attribute path p.
func (n *normalizer) atPath(p string, v any) any {
	attr, ok := n.target(p)
	if !ok {
		return v
	}
	return n.coerce(attr, v)
}

// target returns the definition of what a PATCH path's value is for: the
// attribute for attr, and for attr[filter], whose value is an element (coerce
// handles both); the sub-attribute for attr.sub and attr[filter].sub.
//
// It splits the path by the grammar of github.com/scim2/filter-parser, which
// the library parses it with, instead of calling that parser: the parser costs
// about a thousand allocations even for "active", and finding the attribute
// only needs the filter skipped, not understood. Paths it cannot split are
// left to the library.
func (n *normalizer) target(p string) (schema.CoreAttribute, bool) {
	var none schema.CoreAttribute
	s := n.core
	uri, rest := splitURI(p)
	if uri != "" && !strings.EqualFold(uri, n.core.ID) {
		ext, ok := n.extension(uri)
		if !ok {
			return none, false
		}
		s = ext
	}
	name, rest := splitName(rest)
	attr, ok := s.Attributes.ContainsAttribute(name)
	if !ok || name == "" {
		return none, false
	}
	if strings.HasPrefix(rest, "[") {
		end := filterEnd(rest)
		if end < 0 {
			return none, false
		}
		rest = rest[end+1:]
	}
	if rest == "" {
		return attr, true
	}
	if rest[0] != '.' {
		return none, false
	}
	sub, rest := splitName(rest[1:])
	if sub == "" || rest != "" {
		return none, false
	}
	return attr.SubAttributes().ContainsAttribute(sub)
}

// splitURI splits off the schema URN of an attribute path: the longest prefix
// of segments of letters, digits and dots, each followed by a colon. uri has
// no trailing colon.
func splitURI(p string) (uri, rest string) {
	end := 0
	for i := 0; i < len(p); {
		j := i
		for j < len(p) && (isAlnum(p[j]) || p[j] == '.') {
			j++
		}
		if j == i || j == len(p) || p[j] != ':' {
			break
		}
		i = j + 1
		end = i
	}
	if end == 0 {
		return "", p
	}
	return p[:end-1], p[end:]
}

// splitName splits off an attribute name: an optional "$" (for "$ref"), a
// letter, then letters, digits, "-" and "_". name is empty when p does not
// start with one.
func splitName(p string) (name, rest string) {
	i := 0
	if i < len(p) && p[i] == '$' {
		i++
	}
	if i == len(p) || !isAlpha(p[i]) {
		return "", p
	}
	for i < len(p) && (isAlnum(p[i]) || p[i] == '-' || p[i] == '_') {
		i++
	}
	return p[:i], p[i:]
}

// filterEnd returns the index of the "]" that closes the value filter p
// starts with, skipping quoted strings, or -1.
func filterEnd(p string) int {
	quoted := false
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ']' && !quoted:
			return i
		}
	}
	return -1
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isAlnum(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' }

// extension returns the extension schema whose URN is id.
func (n *normalizer) extension(id string) (schema.Schema, bool) {
	for _, e := range n.exts {
		if strings.EqualFold(e.ID, id) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// resource rewrites a resource: core attributes and extension objects.
func (n *normalizer) resource(res map[string]any) {
	for k, v := range res {
		if ext, ok := n.extension(k); ok {
			if obj, ok := v.(map[string]any); ok {
				n.object(ext, obj)
			}
			continue
		}
		if attr, ok := n.core.Attributes.ContainsAttribute(k); ok {
			res[k] = n.coerce(attr, v)
		}
	}
}

// object rewrites the attributes of one schema in obj.
func (n *normalizer) object(s schema.Schema, obj map[string]any) {
	for k, v := range obj {
		if attr, ok := s.Attributes.ContainsAttribute(k); ok {
			obj[k] = n.coerce(attr, v)
		}
	}
}

// coerce rewrites v, a value for attr: each element of a list for a
// multi-valued attribute, or v itself (the library wraps a lone value).
func (n *normalizer) coerce(attr schema.CoreAttribute, v any) any {
	if list, ok := v.([]any); ok && attr.MultiValued() {
		for i, e := range list {
			list[i] = n.single(attr, e)
		}
		return list
	}
	return n.single(attr, v)
}

// single rewrites one value of attr.
func (n *normalizer) single(attr schema.CoreAttribute, v any) any {
	switch attr.AttributeType() {
	case "boolean":
		if s, ok := v.(string); ok {
			// Only the spellings Entra uses: "1", "yes" or "t" are more
			// likely a mapping mistake than a boolean.
			switch {
			case strings.EqualFold(s, "true"):
				n.changed = true
				return true
			case strings.EqualFold(s, "false"):
				n.changed = true
				return false
			}
		}
	case "complex":
		switch x := v.(type) {
		case map[string]any:
			n.object(schema.Schema{Attributes: attr.SubAttributes()}, x)
		case string:
			if sub, ok := attr.SubAttributes().ContainsAttribute("value"); ok {
				n.changed = true
				return map[string]any{sub.Name(): x}
			}
		}
	}
	return v
}
