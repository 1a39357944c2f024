// Package scimpath parses the SCIM attribute paths a mapping writes: attr,
// attr.sub, urn:…:attr[.sub], and attr[sub eq "value"].sub (RFC 7644
// §3.10, with §3.5.2's value filter). config validates a scim target's
// mapping keys with it and targets/scimclient writes through it, so a key
// the configuration accepts is one the client can write.
package scimpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CoreUser is the URN of RFC 7643's core User schema.
const CoreUser = "urn:ietf:params:scim:schemas:core:2.0:User"

// Path is a parsed mapping key.
type Path struct {
	// Schema is an extension's URN; "" for the core User schema, also
	// when the key spells that out.
	Schema string
	Attr   string
	// Attr[FilterAttr eq "FilterValue"] selects one element of a
	// multi-valued attribute; Sub is then the element's sub-attribute.
	FilterAttr, FilterValue string
	Sub                     string // "" for none
}

// Filtered reports whether p selects an element by a value filter.
func (p Path) Filtered() bool { return p.FilterAttr != "" }

// Prefix is p's schema prefix: "" or "urn:…:".
func (p Path) Prefix() string {
	if p.Schema == "" {
		return ""
	}
	return p.Schema + ":"
}

// Element is Attr[FilterAttr eq "FilterValue"], the element a filtered
// path selects, with its schema prefix.
func (p Path) Element() string {
	return p.Prefix() + p.Attr + "[" + p.FilterAttr + " eq " + Quote(p.FilterValue) + "]"
}

// String is p in canonical form, the path a PATCH operation names; it
// parses back to p.
func (p Path) String() string {
	switch {
	case p.Filtered():
		return p.Element() + "." + p.Sub
	case p.Sub != "":
		return p.Prefix() + p.Attr + "." + p.Sub
	}
	return p.Prefix() + p.Attr
}

// Quote renders s as a SCIM filter string: a JSON string (RFC 7644
// §3.4.2.2), so a quote or backslash in s cannot end it early.
func Quote(s string) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// Parse parses a mapping key. Sub-attributes are one level deep: SCIM
// complex attributes hold no complex attributes. A value filter must be
// `sub eq "value"` with a JSON string, the one filter that names a single
// element to write, and must be followed by the sub-attribute written.
func Parse(key string) (Path, error) {
	var p Path
	rest := key
	if len(key) >= 4 && strings.EqualFold(key[:4], "urn:") {
		// The URN ends at the last colon before the value filter, whose
		// value may hold colons itself.
		head := key
		if i := strings.IndexByte(key, '['); i >= 0 {
			head = key[:i]
		}
		i := strings.LastIndexByte(head, ':')
		if !validURN(key[:i]) {
			return p, errors.New("not a schema URN followed by :attribute")
		}
		p.Schema, rest = key[:i], key[i+1:]
		if strings.EqualFold(p.Schema, CoreUser) {
			p.Schema = ""
		}
	}
	tail := ""
	p.Attr = rest
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		p.Attr, tail = rest[:i], rest[i:]
	}
	if !validName(p.Attr) {
		return p, fmt.Errorf("%q is not a SCIM attribute name", p.Attr)
	}
	if strings.HasPrefix(tail, "[") {
		end := strings.LastIndexByte(tail, ']')
		if end < 0 {
			return p, errors.New("unclosed value filter")
		}
		if err := p.parseFilter(tail[1:end]); err != nil {
			return p, err
		}
		tail = tail[end+1:]
		if tail == "" {
			return p, errors.New(`a value filter must be followed by a sub-attribute, as in emails[type eq "work"].value`)
		}
	}
	if tail != "" {
		// "$ref" is a sub-attribute name too (RFC 7643 §2.3.7).
		if tail[0] != '.' || (!validName(tail[1:]) && tail[1:] != "$ref") {
			return p, fmt.Errorf("%q is not a sub-attribute", strings.TrimPrefix(tail, "."))
		}
		p.Sub = tail[1:]
	}
	return p, nil
}

// parseFilter parses `sub eq "value"`.
func (p *Path) parseFilter(f string) error {
	name, rest, _ := strings.Cut(strings.TrimSpace(f), " ")
	op, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
	if !validName(name) {
		return fmt.Errorf(`value filter: %q is not a SCIM attribute name`, name)
	}
	if !strings.EqualFold(op, "eq") {
		return errors.New(`value filter: only eq is supported, as in [type eq "work"]`)
	}
	value = strings.TrimSpace(value)
	// Unmarshal takes null as a string too; only a quoted value is one.
	if !strings.HasPrefix(value, `"`) || json.Unmarshal([]byte(value), &p.FilterValue) != nil {
		return errors.New("value filter: the value must be a quoted string")
	}
	p.FilterAttr = name
	return nil
}

// Reserved reports why a mapping may not write p, if it may not: the app
// owns some core attributes, and others follow the account's state.
func Reserved(p Path) (why string, ok bool) {
	if p.Schema != "" {
		return "", false
	}
	switch strings.ToLower(p.Attr) {
	case "id", "meta", "schemas":
		return p.Attr + " is set by the app, not mapped", true
	case "groups":
		return "groups are read-only on a SCIM user; grant them as entitlements (birthright grants)", true
	case "active":
		return "active follows the account's state (a leaver is disabled as active: false), not a mapping", true
	}
	return "", false
}

// validName is RFC 7643's ATTRNAME: ALPHA *("-" / "_" / DIGIT / ALPHA).
func validName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validURN accepts urn:NID:NSS with colon-separated segments of letters,
// digits and "-._", the shape of every SCIM schema URN.
func validURN(s string) bool {
	segs := strings.Split(s, ":")
	if len(segs) < 3 || !strings.EqualFold(segs[0], "urn") {
		return false
	}
	for _, seg := range segs[1:] {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
				return false
			}
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
