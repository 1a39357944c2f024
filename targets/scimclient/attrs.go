package scimclient

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tenurehq/tenure/internal/jsonx"
	"github.com/tenurehq/tenure/internal/scimpath"
)

// attrPath is where a mapped attribute lives in a SCIM user.
type attrPath struct {
	scimpath.Path
	key string // the mapping's key, as given: ops and errors name it
	ref bool   // a reference: {value: ref}
}

// parsePath parses a mapping key (see the package doc).
func parsePath(key string) (attrPath, error) {
	p, err := scimpath.Parse(key)
	if err != nil {
		return attrPath{key: key}, fmt.Errorf("attribute %q: %w", key, err)
	}
	if why, reserved := scimpath.Reserved(p); reserved {
		return attrPath{key: key}, fmt.Errorf("attribute %q cannot be mapped: %s", key, why)
	}
	return attrPath{Path: p, key: key}, nil
}

// refPath is where a reference lives: "manager" is the enterprise
// extension's, anything else a path like an attribute's.
func refPath(name string) (attrPath, error) {
	if name == "manager" {
		return attrPath{Path: scimpath.Path{Schema: schemaEnt, Attr: "manager"}, key: name, ref: true}, nil
	}
	p, err := parsePath(name)
	if err != nil {
		return p, err
	}
	if p.Sub != "" || p.Filtered() {
		return p, fmt.Errorf("reference %q: name an attribute, not a sub-attribute", name)
	}
	p.ref = true
	return p, nil
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
	if p.Schema == "" {
		return doc
	}
	c, _ := getCI(doc, p.Schema).(map[string]any)
	if c == nil && create {
		c = map[string]any{}
		doc[keyCI(doc, p.Schema)] = c
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
		if s, ok := getCI(m, p.FilterAttr).(string); ok && strings.EqualFold(s, p.FilterValue) {
			return i, m
		}
	}
	return -1, nil
}

// read returns p's value in doc; nil when absent.
func (p attrPath) read(doc map[string]any) any {
	v := getCI(p.container(doc, false), p.Attr)
	switch {
	case p.ref:
		if m, ok := v.(map[string]any); ok {
			return getCI(m, "value")
		}
		return v // Entra's plain-string manager
	case p.FilterAttr != "":
		list, _ := v.([]any)
		_, el := p.element(list)
		return getCI(el, p.Sub)
	case p.Sub != "":
		m, _ := v.(map[string]any)
		return getCI(m, p.Sub)
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
	k := keyCI(c, p.Attr)
	switch {
	case p.ref:
		if value == nil {
			delete(c, k)
		} else {
			c[k] = map[string]any{"value": value}
		}
	case p.FilterAttr != "":
		list, _ := c[k].([]any)
		i, el := p.element(list)
		if value == nil {
			if el == nil {
				break
			}
			el = jsonx.CloneMap(el)
			delete(el, keyCI(el, p.Sub))
			if bare(el) {
				list = slices.Delete(slices.Clone(list), i, i+1)
			} else {
				list = slices.Clone(list)
				list[i] = el
			}
		} else {
			list = slices.Clone(list)
			if el == nil {
				el = map[string]any{p.FilterAttr: p.FilterValue}
				list = append(list, el)
			} else {
				el = jsonx.CloneMap(el)
				list[i] = el
			}
			el[keyCI(el, p.Sub)] = value
		}
		if len(list) == 0 {
			delete(c, k)
		} else {
			c[k] = list
		}
	case p.Sub != "":
		m, _ := c[k].(map[string]any)
		m = jsonx.CloneMap(m)
		if value == nil {
			delete(m, keyCI(m, p.Sub))
		} else {
			m[keyCI(m, p.Sub)] = value
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
	if p.Schema != "" && len(c) == 0 {
		delete(doc, keyCI(doc, p.Schema))
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
		m = jsonx.CloneMap(m)
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
