package scimclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// attrPath is where a mapped attribute lives in a SCIM user.
type attrPath struct {
	key    string // the mapping's key, as given: ops and errors name it
	schema string // extension URN; "" for the core schema
	attr   string // the attribute in that schema
	// A value filter attr[fAttr eq "fValue"] selects one element of a
	// multi-valued attribute; sub is the element's sub-attribute.
	fAttr, fValue string
	sub           string // sub-attribute; "" for none
	ref           bool   // a reference: {value: ref}
}

// reserved attributes cannot be mapped: the server owns them, or (active)
// they come from the account's state.
var reserved = map[string]string{
	"id": "it is the server's", "meta": "it is the server's", "schemas": "it is the server's",
	"groups": "memberships come from the entitlements", "active": "it comes from the account's enabled state",
}

// parsePath parses a mapping key (see the package doc).
func parsePath(key string) (attrPath, error) {
	p := attrPath{key: key}
	rest := key
	if len(key) > 4 && strings.EqualFold(key[:4], "urn:") {
		end := len(key)
		if i := strings.IndexByte(key, '['); i >= 0 {
			end = i
		}
		i := strings.LastIndexByte(key[:end], ':')
		p.schema, rest = key[:i], key[i+1:]
		if strings.EqualFold(p.schema, schemaUser) {
			p.schema = ""
		}
	}
	if i := strings.IndexByte(rest, '['); i >= 0 {
		j := strings.LastIndexByte(rest, ']')
		if j < i {
			return p, fmt.Errorf("attribute %q: unclosed value filter", key)
		}
		p.attr = rest[:i]
		if err := parseValueFilter(rest[i+1:j], &p); err != nil {
			return p, fmt.Errorf("attribute %q: %w", key, err)
		}
		after := rest[j+1:]
		if !strings.HasPrefix(after, ".") {
			return p, fmt.Errorf("attribute %q: a value filter must be followed by a sub-attribute, as in emails[type eq \"work\"].value", key)
		}
		p.sub = after[1:]
	} else if i := strings.IndexByte(rest, '.'); i >= 0 {
		p.attr, p.sub = rest[:i], rest[i+1:]
	} else {
		p.attr = rest
	}
	for _, n := range []string{p.attr, p.sub, p.fAttr} {
		if n != "" && !validName(n) {
			return p, fmt.Errorf("attribute %q: %q is not a SCIM attribute name", key, n)
		}
	}
	if p.attr == "" || (p.sub == "" && strings.Contains(rest, ".")) {
		return p, fmt.Errorf("attribute %q: no attribute name", key)
	}
	if why, ok := reserved[strings.ToLower(p.attr)]; ok && p.schema == "" {
		return p, fmt.Errorf("attribute %q cannot be mapped: %s", key, why)
	}
	return p, nil
}

// parseValueFilter parses `attr eq "value"`, the one filter a mapping key
// may hold; the value is a JSON string.
func parseValueFilter(f string, p *attrPath) error {
	f = strings.TrimSpace(f)
	i := strings.IndexByte(f, ' ')
	if i < 0 {
		return errors.New(`value filter: want attr eq "value"`)
	}
	p.fAttr = f[:i]
	rest := strings.TrimSpace(f[i+1:])
	if len(rest) < 3 || !strings.EqualFold(rest[:3], "eq ") {
		return errors.New(`value filter: only eq is supported`)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(rest[3:])), &p.fValue); err != nil {
		return errors.New(`value filter: the value must be a quoted string`)
	}
	return nil
}

// validName reports whether s is an ATTRNAME (RFC 7644 §3.10), with $ref.
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// refPath is where a reference lives: "manager" is the enterprise
// extension's, anything else a path like an attribute's.
func refPath(name string) (attrPath, error) {
	if name == "manager" {
		return attrPath{key: name, schema: schemaEnt, attr: "manager", ref: true}, nil
	}
	p, err := parsePath(name)
	if err != nil {
		return p, err
	}
	if p.sub != "" || p.fAttr != "" {
		return p, fmt.Errorf("reference %q: name an attribute, not a sub-attribute", name)
	}
	p.ref = true
	return p, nil
}

// quote renders s as a SCIM filter string: a JSON string (RFC 7644
// §3.4.2.2), so a quote or backslash in s cannot end it early.
func quote(s string) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// prefix is the path's schema prefix ("" or "urn:…:").
func (p attrPath) prefix() string {
	if p.schema == "" {
		return ""
	}
	return p.schema + ":"
}

// elementPath is attr[fAttr eq "fValue"], the element a filtered path selects.
func (p attrPath) elementPath() string {
	return p.prefix() + p.attr + "[" + p.fAttr + " eq " + quote(p.fValue) + "]"
}

// patchPath is the path a PATCH operation on p names.
func (p attrPath) patchPath() string {
	switch {
	case p.fAttr != "":
		return p.elementPath() + "." + p.sub
	case p.sub != "":
		return p.prefix() + p.attr + "." + p.sub
	}
	return p.prefix() + p.attr
}

// getCI returns m's value for key k compared case-insensitively, as SCIM
// attribute names are (RFC 7643 §2.1).
func getCI(m map[string]any, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v
		}
	}
	return nil
}

// keyCI is the key under which m holds k, or k.
func keyCI(m map[string]any, k string) string {
	if _, ok := m[k]; ok {
		return k
	}
	for mk := range m {
		if strings.EqualFold(mk, k) {
			return mk
		}
	}
	return k
}

// container is the map p's attribute lives in; nil if there is none and
// create is false.
func (p attrPath) container(doc map[string]any, create bool) map[string]any {
	if p.schema == "" {
		return doc
	}
	c, _ := getCI(doc, p.schema).(map[string]any)
	if c == nil && create {
		c = map[string]any{}
		doc[keyCI(doc, p.schema)] = c
	}
	return c
}

// element finds the element of list that p's filter selects.
func (p attrPath) element(list []any) (int, map[string]any) {
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if s, ok := getCI(m, p.fAttr).(string); ok && strings.EqualFold(s, p.fValue) {
			return i, m
		}
	}
	return -1, nil
}

// read returns p's value in doc; nil when absent.
func (p attrPath) read(doc map[string]any) any {
	v := getCI(p.container(doc, false), p.attr)
	switch {
	case p.ref:
		if m, ok := v.(map[string]any); ok {
			return getCI(m, "value")
		}
		return v // Entra's plain-string manager
	case p.fAttr != "":
		list, _ := v.([]any)
		_, el := p.element(list)
		return getCI(el, p.sub)
	case p.sub != "":
		m, _ := v.(map[string]any)
		return getCI(m, p.sub)
	}
	return v
}

// set writes value (nil: removes) at p in doc, creating what is missing.
// An element left with nothing but its selector goes.
func (p attrPath) set(doc map[string]any, value any) {
	c := p.container(doc, value != nil)
	if c == nil {
		return
	}
	k := keyCI(c, p.attr)
	switch {
	case p.ref:
		if value == nil {
			delete(c, k)
		} else {
			c[k] = map[string]any{"value": value}
		}
	case p.fAttr != "":
		list, _ := c[k].([]any)
		i, el := p.element(list)
		if value == nil {
			if el == nil {
				break
			}
			el = cloneMap(el)
			delete(el, keyCI(el, p.sub))
			if bare(el) {
				list = slices.Delete(slices.Clone(list), i, i+1)
			} else {
				list = slices.Clone(list)
				list[i] = el
			}
		} else {
			list = slices.Clone(list)
			if el == nil {
				el = map[string]any{p.fAttr: p.fValue}
				list = append(list, el)
			} else {
				el = cloneMap(el)
				list[i] = el
			}
			el[keyCI(el, p.sub)] = value
		}
		if len(list) == 0 {
			delete(c, k)
		} else {
			c[k] = list
		}
	case p.sub != "":
		m, _ := c[k].(map[string]any)
		m = cloneMap(m)
		if value == nil {
			delete(m, keyCI(m, p.sub))
		} else {
			m[keyCI(m, p.sub)] = value
		}
		if len(m) == 0 {
			delete(c, k)
		} else {
			c[k] = m
		}
	default:
		if value == nil {
			delete(c, k)
		} else {
			c[k] = value
		}
	}
	if p.schema != "" && len(c) == 0 {
		delete(doc, keyCI(doc, p.schema))
	}
}

// bare reports whether an element holds nothing but its selector and
// flags: what is left once Tenure's value is removed.
func bare(el map[string]any) bool {
	for k := range el {
		switch strings.ToLower(k) {
		case "type", "primary", "display":
		default:
			return false
		}
	}
	return true
}

// markPrimary makes the first e-mail primary when none is.
func markPrimary(doc map[string]any) {
	k := keyCI(doc, "emails")
	list, _ := doc[k].([]any)
	if len(list) == 0 || hasPrimary(list) {
		return
	}
	list = slices.Clone(list)
	if m, ok := list[0].(map[string]any); ok {
		m = cloneMap(m)
		m["primary"] = true
		list[0] = m
		doc[k] = list
	}
}

func hasPrimary(list []any) bool {
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && truthy(getCI(m, "primary")) {
			return true
		}
	}
	return false
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// deepCopy copies a JSON-shaped value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

// wire is a desired value as it is sent: nil for no value ("" and empty
// lists are no value, RFC 7643 §2.5).
func wire(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return v, nil
	case bool, int64, int, int32, uint64:
		return v, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %v is not a JSON number", v)
		}
		return v, nil
	case []string:
		out := make([]any, 0, len(v))
		for _, s := range v {
			if s != "" {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("attribute value of type %T is not supported", v)
}

// canon is a value's comparable form: nil when absent or empty, a string
// for a scalar (numbers and booleans in their canonical text, so 42 and
// "42" are equal, as apps that store every value as a string answer), a
// sorted []string for a list.
func canon(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		if v == "" {
			return nil
		}
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatFloat(float64(v), 'f', -1, 64)
	case int:
		return strconv.FormatFloat(float64(v), 'f', -1, 64)
	case []string:
		return canonList(len(v), func(i int) any { return v[i] })
	case []any:
		return canonList(len(v), func(i int) any { return v[i] })
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func canonList(n int, at func(int) any) any {
	var out []string
	for i := range n {
		if s, ok := canon(at(i)).(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return out
}

// same reports whether the app's value have matches want; applied is the
// value applied last. A case-only difference where want is also what was
// applied is the app's normalisation (see the package doc).
func same(have, want, applied any) bool {
	h, w := canon(have), canon(want)
	if equalCanon(h, w) {
		return true
	}
	hs, ok1 := h.(string)
	ws, ok2 := w.(string)
	return ok1 && ok2 && strings.EqualFold(hs, ws) && equalCanon(canon(applied), w)
}

func equalCanon(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		s, ok := b.(string)
		return ok && a == s
	case []string:
		l, ok := b.([]string)
		return ok && slices.Equal(a, l)
	}
	return false
}
