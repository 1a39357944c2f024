package patch_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/elimity-com/scim"

	"github.com/tenurehq/tenure/scim/patch"
)

// TestOperationsAtOnceAsOneByOne: a PATCH of many operations gives what
// applying them one PATCH at a time gives. Within one Apply, runs of
// member removals are applied in one pass and additions look values up in
// an index kept across operations; random sequences of additions, removals
// (in other letter case too) and filtered replaces on group members and on
// a user's e-mail addresses (which have primary) check that this changes
// nothing but the cost.
func TestOperationsAtOnceAsOneByOne(t *testing.T) {
	members := func(r *rand.Rand) string {
		n := 1 + r.IntN(2)
		var vs []string
		for range n {
			vs = append(vs, fmt.Sprintf(`{"value":"M%d","display":"d%d"}`, r.IntN(12), r.IntN(3)))
		}
		return "[" + strings.Join(vs, ",") + "]"
	}
	kinds := []struct {
		name string
		kind kind
		doc  string
		ops  []func(r *rand.Rand) string
	}{
		{"group members", group, `{"displayName":"g","members":[{"value":"M1","type":"User"},{"value":"M2","type":"User"},{"value":"M3"}]}`,
			[]func(r *rand.Rand) string{
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s%d\"]"}`, []string{"M", "m"}[r.IntN(2)], r.IntN(12))
				},
				func(r *rand.Rand) string { return `{"op":"add","path":"members","value":` + members(r) + `}` },
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"replace","path":"members[value eq \"M%d\"].display","value":"r%d"}`, r.IntN(12), r.IntN(3))
				},
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"Remove","path":"members","value":[{"value":"M%d"}]}`, r.IntN(12))
				},
			}},
		{"user emails", user, `{"userName":"u","emails":[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home"}]}`,
			[]func(r *rand.Rand) string{
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"remove","path":"emails[value eq \"%c@X\"]"}`, 'a'+r.IntN(4))
				},
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"add","path":"emails","value":[{"value":"%c@x","type":"%s","primary":%v}]}`,
						'a'+r.IntN(4), []string{"work", "home"}[r.IntN(2)], r.IntN(3) == 0)
				},
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"replace","path":"emails[type eq \"work\"].display","value":"w%d"}`, r.IntN(3))
				},
				func(r *rand.Rand) string {
					return fmt.Sprintf(`{"op":"replace","path":"emails[value eq \"%c@x\"].primary","value":true}`, 'a'+r.IntN(4))
				},
			}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s, exts := k.kind.schemas()
			parsed := map[string][]scim.PatchOperation{}
			for seed := range uint64(200) {
				r := rand.New(rand.NewPCG(seed, 15))
				var ops []scim.PatchOperation
				var texts []string
				for range 1 + r.IntN(25) {
					text := k.ops[r.IntN(len(k.ops))](r)
					if parsed[text] == nil {
						p, err := parseOps(k.kind, body("["+text+"]"))
						if err != nil {
							t.Fatalf("%s: %v", text, err)
						}
						parsed[text] = p
					}
					ops, texts = append(ops, parsed[text]...), append(texts, text)
				}
				doc := mustJSON(t, k.doc)
				atOnce, changed, errAtOnce := patch.Apply(doc, ops, s, exts...)
				oneByOne, errOneByOne := doc, error(nil)
				for _, op := range ops {
					if oneByOne, _, errOneByOne = patch.Apply(oneByOne, []scim.PatchOperation{op}, s, exts...); errOneByOne != nil {
						break
					}
				}
				if (errAtOnce == nil) != (errOneByOne == nil) {
					t.Fatalf("seed %d: at once: %v, one by one: %v\n%s", seed, errAtOnce, errOneByOne, strings.Join(texts, "\n"))
				}
				if errAtOnce != nil {
					continue
				}
				if a, b := canonical(t, atOnce), canonical(t, oneByOne); a != b {
					t.Fatalf("seed %d:\nat once    %s\none by one %s\n%s", seed, a, b, strings.Join(texts, "\n"))
				}
				if changed != (canonical(t, atOnce) != canonical(t, doc)) {
					t.Errorf("seed %d: changed = %v\n%s", seed, changed, strings.Join(texts, "\n"))
				}
			}
		})
	}
}
