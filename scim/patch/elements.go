package patch

import (
	"slices"

	scimerrors "github.com/elimity-com/scim/errors"
)

// onElements handles paths into the elements of a multi-valued attribute:
// attr[filter], attr[filter].sub, and attr.sub, which addresses every
// element.
func (a *applier) onElements(doc map[string]any, m mode, t target, value any) error {
	old, exists := a.lookup(doc, t.attrRef)
	// base is the attribute's list in doc, which belongs to this Apply (a
	// deep copy, or a list an operation built): an operation that changes
	// only a sub-attribute outside the elements' identity and primary
	// replaces its elements in place, without copying a large list.
	base := asList(old)
	complex := isComplex(t.attr)
	match := func(any) bool { return true }
	if t.filter != nil {
		match = compileMatcher(t.attr, t.filter)
	}
	var matched []int
	for i, e := range base {
		if _, isMap := e.(map[string]any); complex && !isMap {
			continue
		}
		if match(e) {
			matched = append(matched, i)
		}
	}
	if m == modeRemove {
		return a.removeElements(doc, t, old, slices.Clone(base), matched)
	}

	var nv any
	var err error
	if t.sub != nil {
		nv, err = normalize(*t.sub, value, t.path)
	} else {
		nv, err = element(t, value)
	}
	if err != nil {
		return err
	}

	s := shapeOf(t.attr)
	// The elements' identity or primary may change: collapse the result.
	collapsing := t.sub == nil || t.sub.Name() == s.value || t.sub.Name() == s.typ || t.sub.Name() == s.primary
	list := base
	if collapsing {
		list = slices.Clone(base)
	}
	touched := make([]bool, len(list), len(list)+1)
	fresh := false
	if len(matched) == 0 {
		// RFC 7644 §3.5.2.3 wants noTarget when a replace's filter matches
		// nothing. Entra ID, however, replaces emails[type eq "work"].value
		// (and phoneNumbers[type eq "mobile"].value, addresses[type eq
		// "work"].locality, …) on users who have no such element, and treats
		// noTarget as a failed export that it retries and eventually
		// quarantines. With Options.CreateOnFilteredReplace, and for an add
		// (which the RFC lets add where nothing is), a filter that names
		// exactly one element shape, as type eq "work" does, creates that
		// element: the resource ends in the state the client asked for.
		// Any other filter gets noTarget. A path without a filter
		// (emails.value) on an attribute with no elements adds one, as
		// §3.5.2.3 treats a replace of an unassigned attribute as an add.
		el, ok := map[string]any{}, t.filter == nil && complex
		if t.filter != nil && (m == modeAdd || a.opts.CreateOnFilteredReplace) {
			el, ok = synthesize(t.attr, t.filter)
		}
		if !ok {
			return newError(scimerrors.ScimErrorNoTarget, "%s matches no value", t.path)
		}
		list = append(slices.Clip(list), el)
		touched = append(touched, false)
		matched = []int{len(list) - 1}
		fresh, collapsing = true, true
	}
	changed := false
	for _, i := range matched {
		next, err := setElement(t, list[i], nv, fresh)
		if err != nil {
			return err
		}
		changed = changed || !equal(list[i], next)
		list[i], touched[i] = next, true
	}
	if collapsing {
		return a.write(doc, t, old, exists, collapse(s, list, touched).list)
	}
	if !changed {
		return nil
	}
	// Only the matched elements can differ, and one does: no need to
	// compare every element with the stored ones.
	return a.commit(doc, t, exists, list)
}

// element normalizes the value for attr[filter]: one element, which the
// library hands over as a list when the client sent one.
func element(t target, value any) (any, error) {
	if list, ok := value.([]any); ok {
		if len(list) != 1 {
			return nil, newError(scimerrors.ScimErrorInvalidValue, "%s selects values; give one value, not %d", t.path, len(list))
		}
		value = list[0]
	}
	if value == nil {
		return nil, newError(scimerrors.ScimErrorInvalidValue, "%s requires a value", t.path)
	}
	return validate(t.attr, value, t.path)
}

// setElement writes nv into one selected element: the sub-attribute when the
// path names one, else the whole element, merged for complex attributes.
// Immutable sub-attributes may be set on a fresh element only.
func setElement(t target, e, nv any, fresh bool) (any, error) {
	if !isComplex(t.attr) {
		return nv, nil
	}
	m, _ := e.(map[string]any)
	if t.sub == nil {
		if fresh {
			out := copyMap(m)
			for k, v := range nv.(map[string]any) {
				out[k] = v
			}
			return out, nil
		}
		return mergeComplex(t.attr, m, nv.(map[string]any), t.path)
	}
	name := t.sub.Name()
	cur := m[name]
	if equal(cur, nv) {
		return e, nil
	}
	if cur != nil && !fresh && t.sub.Mutability() == "immutable" {
		return nil, newError(scimerrors.ScimErrorMutability, "%s is immutable", t.path)
	}
	out := copyMap(m)
	out[name] = nv
	return out, nil
}

// removeElements removes the selected elements, or the named sub-attribute
// from each of them. Removing what is not there succeeds (RFC 7644
// §3.5.2.2). An element left empty is dropped, and an attribute left without
// elements is unassigned.
func (a *applier) removeElements(doc map[string]any, t target, old any, list []any, matched []int) error {
	if len(matched) == 0 {
		return nil
	}
	drop := make([]bool, len(list))
	for _, i := range matched {
		if t.sub == nil {
			drop[i] = true
			continue
		}
		m := list[i].(map[string]any)
		name := t.sub.Name()
		if m[name] == nil {
			continue
		}
		if t.sub.Mutability() == "immutable" {
			return newError(scimerrors.ScimErrorMutability, "%s is immutable", t.path)
		}
		if t.sub.Required() {
			return newError(scimerrors.ScimErrorInvalidValue, "%s is required and cannot be removed", t.path)
		}
		out := copyMap(m)
		delete(out, name)
		list[i] = out
		drop[i] = len(out) == 0
	}
	kept := make([]any, 0, len(list))
	for i, e := range list {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	return a.write(doc, t, old, true, kept)
}
