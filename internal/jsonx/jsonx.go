// Package jsonx copies JSON-shaped values (what encoding/json decodes into
// an any: maps, slices, scalars), which the SCIM server, its query and
// patch engines and the outbound SCIM client all edit without touching the
// caller's copy.
package jsonx

// DeepCopy copies the containers of v so that the copy shares nothing
// mutable with it: map[string]any, []any, []map[string]any and []string,
// recursively. A nil container stays nil; scalars and values of other
// types are shared as they are.
func DeepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return map[string]any(nil)
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = DeepCopy(e)
		}
		return out
	case []any:
		if v == nil {
			return []any(nil)
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = DeepCopy(e)
		}
		return out
	case []map[string]any:
		if v == nil {
			return []map[string]any(nil)
		}
		out := make([]map[string]any, len(v))
		for i, e := range v {
			out[i], _ = DeepCopy(e).(map[string]any)
		}
		return out
	case []string:
		if v == nil {
			return []string(nil)
		}
		return append([]string{}, v...)
	}
	return v
}

// CloneMap is a shallow copy of m that the caller may write to: unlike
// maps.Clone, a nil m gives an empty map.
func CloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
