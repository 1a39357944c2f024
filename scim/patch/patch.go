// Package patch applies SCIM PATCH operations (RFC 7644 §3.5.2) to a stored
// resource document.
//
// It exists because github.com/elimity-com/scim parses and validates PATCH
// requests but its ApplyPatch does not apply them the way provisioning clients
// expect: pathless keys such as "name.givenName" or
// "urn:…:enterprise:2.0:User:employeeNumber" are stored literally as top-level
// attributes, group members are appended twice, and a work e-mail that Entra
// ID "replaces" on a user who has none is refused. Tenure receives PATCH
// almost only from Okta and Microsoft Entra ID, so the semantics live here,
// written against the RFC and checked against the bodies those clients send.
//
// Documents are in canonical SCIM form: core attributes at the top level under
// their schema names, extension attributes nested under the extension's URN,
// and no "id", "meta" or "schemas" (the server owns those). Values are
// JSON-shaped: string, bool, json.Number, float64, int64, []any and
// map[string]any. Apply keeps documents in that form: names are resolved
// case-insensitively and written canonically; a multi-valued attribute never
// holds two elements with the same identity (the same "value", and the same
// "type" where both have one) or two primary elements; and attributes that
// become empty are removed, since RFC 7643 §2.5 makes unassigned, null and
// empty equivalent.
//
// Where the RFC and the clients disagree, Apply sides with the clients where
// that harms no one: a remove with a value removes only the values given
// (Entra ID's member removal), and a path that is a whole extension URN
// applies the sub-attributes of its object value. One deviation is switched
// on per caller (Options): a replace whose value filter matches nothing but
// names one element, such as emails[type eq "work"], creates that element
// instead of failing with noTarget, as Entra ID expects.
package patch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
	"github.com/tenurehq/tenure/internal/jsonx"
)

// Apply applies ops in order to a deep copy of doc and returns the new
// document. It never mutates doc, and values in ops are copied, not shared.
//
// changed reports whether the result differs from doc, so the server can skip
// the write (and keep the modify timestamp, RFC 7644 §3.5.2.1) for PATCHes
// that change nothing, such as adding a member who is already in the group.
//
// Operations are atomic as a whole (RFC 7644 §3.5.2): the first failing
// operation aborts and err is a *errors.ScimError from
// github.com/elimity-com/scim/errors whose Detail names the operation, with
// scimType noTarget, invalidPath, mutability, invalidValue or invalidSyntax.
//
// s is the resource's core schema and exts its extensions. The common
// attribute externalId is writable even when s does not declare it, because
// the library's validator accepts it; id, meta and schemas are refused when a
// path names them and ignored when a pathless value echoes them, as Okta does
// with id.
func Apply(doc map[string]any, ops []scim.PatchOperation, s schema.Schema, exts ...schema.Schema) (out map[string]any, changed bool, err error) {
	return Options{}.Apply(doc, ops, s, exts...)
}

// Options are the deviations from RFC 7644 a caller may switch on for the
// clients that need them; the zero value follows the RFC.
type Options struct {
	// CreateOnFilteredReplace makes a replace whose value filter matches
	// no element create the element the filter describes, when it
	// describes one (a conjunction of eq terms, such as type eq "work"),
	// instead of failing with noTarget (RFC 7644 §3.5.2.3). Entra ID
	// replaces emails[type eq "work"].value on users who have no work
	// email and counts noTarget as a failed export.
	CreateOnFilteredReplace bool
}

// Apply is the package's Apply with the deviations o switches on.
func (o Options) Apply(doc map[string]any, ops []scim.PatchOperation, s schema.Schema, exts ...schema.Schema) (out map[string]any, changed bool, err error) {
	a := newApplier(s, exts)
	a.opts = o
	out = jsonx.DeepCopy(doc).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for i := 0; i < len(ops); i++ {
		n, err := a.removeRun(out, ops[i:])
		if n > 0 {
			i += n - 1
		} else {
			err = a.apply(out, ops[i])
		}
		if err != nil {
			var se *scimerrors.ScimError
			if errors.As(err, &se) {
				e := *se
				e.Detail = fmt.Sprintf("Operations[%d]: %s", i, e.Detail)
				return nil, false, &e
			}
			return nil, false, err
		}
	}
	return out, !equal(doc, out), nil
}

// mode is a lower-cased PATCH operation.
type mode string

const (
	modeAdd     mode = scim.PatchOperationAdd
	modeReplace mode = scim.PatchOperationReplace
	modeRemove  mode = scim.PatchOperationRemove
)

func (a *applier) apply(doc map[string]any, op scim.PatchOperation) error {
	m := mode(strings.ToLower(op.Op))
	switch m {
	case modeAdd, modeReplace, modeRemove:
	default:
		return newError(scimerrors.ScimErrorInvalidSyntax, "unknown op %q; expected add, replace or remove", op.Op)
	}
	if op.Path == nil {
		if m == modeRemove {
			// RFC 7644 §3.5.2.2.
			return newError(scimerrors.ScimErrorNoTarget, "remove requires a path")
		}
		v, ok := op.Value.(map[string]any)
		if !ok {
			return newError(scimerrors.ScimErrorInvalidValue, "an %s without a path needs an object of attributes as its value", m)
		}
		return a.applyPathless(doc, m, "", v)
	}
	if ext, ok := a.wholeExtension(*op.Path); ok {
		return a.applyExtensionPath(doc, m, ext, op.Value)
	}
	t, err := a.resolve(*op.Path)
	if err != nil {
		return err
	}
	return a.applyTarget(doc, m, t, op.Value)
}

// applyExtensionPath applies an operation whose path is a whole extension
// URN, such as urn:…:enterprise:2.0:User, which clients send with an object
// of the extension's attributes as value. An add or replace sets the
// attributes given and keeps the others, as for a complex attribute (RFC
// 7644 §3.5.2.1, §3.5.2.3); a remove unassigns the whole extension, or with
// an object value only the attributes whose values it names, as a remove
// with a value does elsewhere.
func (a *applier) applyExtensionPath(doc map[string]any, m mode, ext schema.Schema, value any) error {
	if m == modeRemove {
		if value == nil {
			return a.applyExtensionObject(doc, modeReplace, ext, nil)
		}
		v, ok := value.(map[string]any)
		if !ok {
			return newError(scimerrors.ScimErrorInvalidValue, "remove %s: a value must be an object of its attributes", ext.ID)
		}
		return a.applyPathless(doc, modeRemove, ext.ID, v)
	}
	if _, ok := value.(map[string]any); !ok {
		return newError(scimerrors.ScimErrorInvalidValue, "%s %s needs an object of the extension's attributes as its value", m, ext.ID)
	}
	return a.applyExtensionObject(doc, m, ext, value)
}

// applyPathless applies an add or replace whose target is the resource itself
// (ext == "") or, for a nested extension object, the extension. Every key is
// an attribute path relative to that target.
//
// Keys are applied whole attributes first, then paths into them, each group in
// name order: a map has no order, and "specific overrides general" is the
// only order a client could mean by sending both "name" and "name.givenName".
func (a *applier) applyPathless(doc map[string]any, m mode, ext string, value map[string]any) error {
	type entry struct {
		key  string
		path filter.Path
		ext  *schema.Schema // set for a nested extension object
		deep bool
	}
	entries := make([]entry, 0, len(value))
	for k := range value {
		if ext == "" {
			if e, ok := a.extension(k); ok {
				// The resource representation nests extension attributes
				// under the URN (RFC 7643 §3.3); a pathless value is a
				// partial resource, so that shape is accepted too.
				entries = append(entries, entry{key: k, ext: &e})
				continue
			}
		}
		p, err := filter.ParsePath([]byte(k))
		if err != nil {
			return newError(scimerrors.ScimErrorInvalidPath, "%q is not an attribute path", k)
		}
		if ext != "" {
			if p.AttributePath.URIPrefix != nil {
				return newError(scimerrors.ScimErrorInvalidPath, "%q inside %s must not carry a schema URN", k, ext)
			}
			p.AttributePath.URIPrefix = &ext
		}
		if a.serverManaged(p) {
			// Okta echoes the group id in pathless replaces; that is not an
			// attempt to change it.
			continue
		}
		deep := p.ValueExpression != nil || p.SubAttribute != nil || p.AttributePath.SubAttribute != nil
		entries = append(entries, entry{key: k, path: p, deep: deep})
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if x.deep != y.deep {
			if x.deep {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(strings.ToLower(x.key), strings.ToLower(y.key)), cmp.Compare(x.key, y.key))
	})
	for _, e := range entries {
		v := value[e.key]
		if e.ext != nil {
			if err := a.applyExtensionObject(doc, m, *e.ext, v); err != nil {
				return err
			}
			continue
		}
		t, err := a.resolve(e.path)
		if err != nil {
			return err
		}
		if v == nil {
			// RFC 7643 §2.5: null means unassigned.
			if m == modeAdd {
				continue
			}
			err = a.applyTarget(doc, modeRemove, t, nil)
		} else {
			err = a.applyTarget(doc, m, t, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyExtensionObject applies a pathless value's nested extension object.
func (a *applier) applyExtensionObject(doc map[string]any, m mode, ext schema.Schema, v any) error {
	switch v := v.(type) {
	case map[string]any:
		return a.applyPathless(doc, m, ext.ID, v)
	case nil:
		if m == modeAdd {
			return nil
		}
		// Replacing the extension with null unassigns all of it.
		for _, attr := range ext.Attributes {
			t := target{attrRef: attrRef{ext: ext.ID, attr: attr}, path: ext.ID + ":" + attr.Name()}
			if _, ok := a.lookup(doc, t.attrRef); !ok {
				continue
			}
			if err := a.applyTarget(doc, modeRemove, t, nil); err != nil {
				return err
			}
		}
		return nil
	default:
		return newError(scimerrors.ScimErrorInvalidValue, "%s must be an object of its attributes", ext.ID)
	}
}

// applyTarget dispatches an operation on a resolved path.
func (a *applier) applyTarget(doc map[string]any, m mode, t target, value any) error {
	if m != modeRemove && value == nil {
		// RFC 7644 §3.5.2.1 and §3.5.2.3 require a value.
		return newError(scimerrors.ScimErrorInvalidValue, "%s %s requires a value", m, t.path)
	}
	if t.attr.Mutability() == "readOnly" || (t.sub != nil && t.sub.Mutability() == "readOnly") {
		return newError(scimerrors.ScimErrorMutability, "%s is readOnly", t.path)
	}
	switch {
	case t.filter == nil && t.sub == nil:
		return a.onAttribute(doc, m, t, value)
	case !t.attr.MultiValued():
		return a.onSubAttribute(doc, m, t, value)
	default:
		return a.onElements(doc, m, t, value)
	}
}

// onAttribute handles a path naming a whole attribute.
func (a *applier) onAttribute(doc map[string]any, m mode, t target, value any) error {
	old, exists := a.lookup(doc, t.attrRef)
	if m == modeRemove {
		if !exists {
			return nil // RFC 7644 §3.5.2.2: removing nothing succeeds.
		}
		if value != nil {
			return a.removeValues(doc, t, old, value)
		}
		return a.write(doc, t, old, exists, nil)
	}

	nv, err := normalize(t.attr, value, t.path)
	if err != nil {
		return err
	}
	var next any
	switch {
	case t.attr.MultiValued():
		s := shapeOf(t.attr)
		incoming := nv.([]any)
		if countPrimary(s, incoming) > 1 {
			// RFC 7643 §2.4: "primary" true MUST appear no more than once.
			return newError(scimerrors.ScimErrorInvalidValue, "%s: more than one value is primary", t.path)
		}
		if m == modeAdd {
			// RFC 7644 §3.5.2.1: add appends to a multi-valued attribute,
			// and a value that is already present changes nothing.
			return a.addValues(doc, t, s, old, exists, incoming)
		}
		touched := make([]bool, len(incoming))
		for i := range touched {
			touched[i] = true
		}
		next = collapse(s, incoming, touched).list
	case isComplex(t.attr):
		// RFC 7644 §3.5.2.1 and §3.5.2.3: add and replace of a complex
		// attribute both set the given sub-attributes and keep the others.
		oldMap, _ := old.(map[string]any)
		if next, err = mergeComplex(t.attr, oldMap, nv.(map[string]any), t.path); err != nil {
			return err
		}
	default:
		next = nv
	}
	return a.write(doc, t, old, exists, next)
}

// removeValues implements remove with a value, which RFC 7644 leaves
// undefined but Entra ID sends to remove group members
// ({"op":"Remove","path":"members","value":[{"value":"id"}]}): only the given
// values are removed, and values that are not present are ignored.
func (a *applier) removeValues(doc map[string]any, t target, old, value any) error {
	nv, err := normalize(t.attr, value, t.path)
	if err != nil {
		return err
	}
	s := shapeOf(t.attr)
	if !t.attr.MultiValued() {
		if !s.same(old, nv) {
			return nil
		}
		return a.write(doc, t, old, true, nil)
	}
	drop := newIndex(s, 0)
	for _, d := range nv.([]any) {
		drop.append(d)
	}
	list := asList(old)
	kept := make([]any, 0, len(list))
	for _, e := range list {
		if drop.find(e) < 0 {
			kept = append(kept, e)
		}
	}
	return a.write(doc, t, old, true, kept)
}

// onSubAttribute handles attr.sub on a single-valued complex attribute, such
// as name.givenName or urn:…:enterprise:2.0:User:manager.value.
func (a *applier) onSubAttribute(doc map[string]any, m mode, t target, value any) error {
	old, exists := a.lookup(doc, t.attrRef)
	oldMap, _ := old.(map[string]any)
	name := t.sub.Name()
	cur, has := oldMap[name]
	has = has && cur != nil

	if m == modeRemove {
		if !has {
			return nil
		}
		if value != nil {
			nv, err := normalize(*t.sub, value, t.path)
			if err != nil {
				return err
			}
			if !shapeOf(*t.sub).same(cur, nv) {
				return nil
			}
		}
		if t.sub.Mutability() == "immutable" {
			return newError(scimerrors.ScimErrorMutability, "%s is immutable", t.path)
		}
		if t.sub.Required() {
			return newError(scimerrors.ScimErrorInvalidValue, "%s is required and cannot be removed", t.path)
		}
		next := copyMap(oldMap)
		delete(next, name)
		return a.write(doc, t, old, exists, next)
	}

	nv, err := normalize(*t.sub, value, t.path)
	if err != nil {
		return err
	}
	if has && equal(cur, nv) {
		return nil
	}
	if t.sub.Mutability() == "immutable" && has {
		return newError(scimerrors.ScimErrorMutability, "%s is immutable", t.path)
	}
	next := copyMap(oldMap)
	next[name] = nv
	return a.write(doc, t, old, exists, next)
}
