package patch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/scim/patch"
)

// BenchmarkFilteredOps applies the costliest PATCHes the SCIM server's
// limits allow (1,000 operations) to a user with 1,000 e-mail addresses
// (each operation selects by a value filter, so each scans every address)
// and to a group of 20,000 members: 1,000 one-member removals (Okta's
// shape), additions and filtered replaces.
//
//	go test -run '^$' -bench FilteredOps -benchtime 3x ./scim/patch
func BenchmarkFilteredOps(b *testing.B) {
	const ops = 1000
	b.Run("user-emails=1000", func(b *testing.B) {
		doc := map[string]any{"userName": "bench"}
		var emails []any
		for i := range 1000 {
			emails = append(emails, map[string]any{"type": fmt.Sprintf("t%d", i), "value": fmt.Sprintf("e%d@example.com", i)})
		}
		doc["emails"] = emails
		var list []string
		for i := range ops {
			list = append(list, fmt.Sprintf(`{"op":"replace","path":"emails[value co \"e%d@\"].display","value":"d%d"}`, i, i))
		}
		benchApply(b, user, doc, list)
	})
	g := map[string]any{"displayName": "bench"}
	var members []any
	for i := range 20000 {
		members = append(members, map[string]any{"value": fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), "type": "User"})
	}
	g["members"] = members
	for _, shape := range []struct{ name, op string }{
		{"remove", `{"op":"remove","path":"members[value eq \"%08d-0000-4000-8000-000000000000\"]"}`},
		{"add", `{"op":"add","path":"members","value":[{"value":"%08d-0000-4000-8000-000000000001"}]}`},
		{"replace", `{"op":"replace","path":"members[value eq \"%08d-0000-4000-8000-000000000000\"].display","value":"x"}`},
	} {
		b.Run("group-members=20000/"+shape.name, func(b *testing.B) {
			var list []string
			for i := range ops {
				list = append(list, fmt.Sprintf(shape.op, i*20))
			}
			benchApply(b, group, g, list)
		})
	}
}

func benchApply(b *testing.B, k kind, doc map[string]any, list []string) {
	body := `{"schemas":["` + patchOp + `"],"Operations":[` + strings.Join(list, ",") + `]}`
	parsed, err := parseOps(k, []byte(body))
	if err != nil {
		b.Fatal(err)
	}
	s, exts := k.schemas()
	for b.Loop() {
		if _, _, err := patch.Apply(doc, parsed, s, exts...); err != nil {
			b.Fatal(err)
		}
	}
}
