package jsonx

import (
	"reflect"
	"testing"
)

// TestDeepCopy: the copy equals the original and shares no container with
// it; nil containers stay nil.
func TestDeepCopy(t *testing.T) {
	orig := map[string]any{
		"name":   map[string]any{"givenName": "Ada"},
		"emails": []any{map[string]any{"value": "a@x", "primary": true}},
		"typed":  []map[string]any{{"k": "v"}},
		"tags":   []string{"a", "b"},
		"n":      1.5,
		"nilmap": map[string]any(nil),
	}
	cp := DeepCopy(orig).(map[string]any)
	if !reflect.DeepEqual(cp, orig) {
		t.Fatalf("copy %v differs from %v", cp, orig)
	}
	cp["name"].(map[string]any)["givenName"] = "Bob"
	cp["emails"].([]any)[0].(map[string]any)["value"] = "b@x"
	cp["typed"].([]map[string]any)[0]["k"] = "w"
	cp["tags"].([]string)[0] = "z"
	if orig["name"].(map[string]any)["givenName"] != "Ada" || orig["emails"].([]any)[0].(map[string]any)["value"] != "a@x" ||
		orig["typed"].([]map[string]any)[0]["k"] != "v" || orig["tags"].([]string)[0] != "a" {
		t.Errorf("writing the copy changed the original: %v", orig)
	}
	if m, ok := cp["nilmap"].(map[string]any); !ok || m != nil {
		t.Errorf("nil map copied as %#v", cp["nilmap"])
	}
}

func TestCloneMap(t *testing.T) {
	m := CloneMap(nil)
	m["a"] = 1 // writable
	orig := map[string]any{"a": 1}
	c := CloneMap(orig)
	c["a"] = 2
	if orig["a"] != 1 {
		t.Errorf("CloneMap shares its map: %v", orig)
	}
}
