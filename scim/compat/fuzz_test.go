package compat_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/elimity-com/scim/schema"

	"github.com/tenurehq/tenure/scim/compat"
)

// FuzzNormalize feeds arbitrary bodies to both functions with the user and
// the group schemas. They must not panic; they must fail, with ErrMalformed,
// exactly when the body is not JSON; their output must be JSON; and a second
// pass must find nothing left to rewrite.
func FuzzNormalize(f *testing.F) {
	funcs := map[string]func([]byte, schema.Schema, ...schema.Schema) ([]byte, error){
		"NormalizePatch":    compat.NormalizePatch,
		"NormalizeResource": compat.NormalizeResource,
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		valid := json.Valid(body)
		for name, normalize := range funcs {
			for _, k := range []kind{user, group} {
				s, exts := k.schemas()
				out, err := normalize(body, s, exts...)
				if err != nil {
					if valid || !errors.Is(err, compat.ErrMalformed) {
						t.Fatalf("%s(%q) failed: %v", name, body, err)
					}
					continue
				}
				if !valid {
					t.Fatalf("%s(%q) accepted invalid JSON", name, body)
				}
				if !json.Valid(out) {
					t.Fatalf("%s(%q) = %q, not JSON", name, body, out)
				}
				again, err := normalize(out, s, exts...)
				if err != nil || !sameSlice(again, out) {
					t.Fatalf("%s is not idempotent on %q: %q, %v", name, out, again, err)
				}
			}
		}
	})
}
