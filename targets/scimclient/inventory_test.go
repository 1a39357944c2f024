package scimclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient/scimtest"
)

// TestInventory lists every user once across pages, and Remove deletes
// one (twice: the second finds it gone), on Tenure's server and the fakes.
func TestInventory(t *testing.T) {
	t.Parallel()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			var want []string
			for i := range 230 {
				want = append(want, f.createUser(t, map[string]any{"userName": fmt.Sprintf("inv.%d", i)}))
			}
			c := f.client(t)
			var got []string
			err := c.Accounts(t.Context(), func(a targets.Found) error {
				if a.Ref != a.ID || !strings.HasPrefix(a.Name, "inv.") {
					t.Errorf("found %+v", a)
				}
				got = append(got, a.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("listed %d users, want %d", len(got), len(want))
			}
			stop := fmt.Errorf("stop")
			if err := c.Accounts(t.Context(), func(targets.Found) error { return stop }); err != stop {
				t.Errorf("fn's error: %v", err)
			}
			for range 2 {
				if err := c.Remove(t.Context(), want[0]); err != nil {
					t.Fatal(err)
				}
			}
			if f.user(t, want[0]) != nil {
				t.Error("removed user still exists")
			}
		})
	}
}

// TestGroupPatchFallback: a client in PATCH mode that meets an app without
// group PATCH switches to PUT for good after one 501.
func TestGroupPatchFallback(t *testing.T) {
	a := scimtest.NewNoGroupPatch(t)
	c := newTestClient(t, Options{BaseURL: a.URL(), Auth: Bearer{Token: a.Token()}, CreateGroups: true}, nil, nil)
	for i := range 3 {
		if _, err := c.Converge(t.Context(), &targets.Request{Identity: "p", Desired: person(fmt.Sprintf("fb.%d", i), nil, "g")}); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for _, r := range a.Log().Since(0) {
		if r.Method == http.MethodPatch {
			refused++
		}
	}
	if !c.groupPut.Load() || refused != 1 {
		t.Errorf("fallback %v after %d refused PATCHes, want 1", c.groupPut.Load(), refused)
	}
	groups := a.Groups()
	if len(groups) != 1 {
		t.Fatalf("%d groups, want 1", len(groups))
	}
	for _, g := range groups {
		if len(g.Members) != 3 {
			t.Errorf("%d members, want 3", len(g.Members))
		}
	}
}

// TestPatchBody pins the PATCH operations sent for each kind of path.
func TestPatchBody(t *testing.T) {
	doc := map[string]any{
		"userName": "j", "emails": []any{map[string]any{"type": "work", "value": "old@x", "primary": true}},
		"addresses":    []any{map[string]any{"type": "work", "locality": "Paris", "country": "FR"}},
		"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "1"}},
	}
	mk := func(key string, want any) change {
		p, err := parsePath(key)
		if err != nil {
			t.Fatal(err)
		}
		return change{p: p, want: want}
	}
	mgr, _ := refPath("manager")
	got := patchOps(doc, []change{
		mk("title", "CTO"),
		mk("name.givenName", nil),
		mk(`emails[type eq "work"].value`, "new@x"),
		mk(`emails[type eq "home"].value`, "home@x"),
		mk(`addresses[type eq "work"].locality`, nil),
		mk(`phoneNumbers[type eq "mobile"].value`, nil),
		mk(ent+":department", "RnD"),
		{p: mgr, want: "m1"},
	})
	b, _ := json.Marshal(got)
	want := `[{"op":"replace","path":"title","value":"CTO"},` +
		`{"op":"remove","path":"name.givenName"},` +
		`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"RnD"},` +
		`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m1"}},` +
		`{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@x"},` +
		`{"op":"add","path":"emails","value":[{"type":"home","value":"home@x"}]},` +
		`{"op":"remove","path":"addresses[type eq \"work\"].locality"},` +
		`{"op":"remove","path":"phoneNumbers[type eq \"mobile\"]"}]`
	if string(b) != want {
		t.Errorf("ops\n%s\nwant\n%s", b, want)
	}
}

func TestSame(t *testing.T) {
	for _, tc := range []struct {
		have, want, applied any
		same                bool
	}{
		{json.Number("42"), int64(42), nil, true},
		{"42", int64(42), nil, true},
		{json.Number("1.50"), 1.5, nil, true},
		{true, true, nil, true},
		{"true", true, nil, true},
		{nil, "", nil, true},
		{[]any{}, nil, nil, true},
		{[]any{"b", "a"}, []any{"a", "b"}, nil, true},
		{[]any{"a"}, []any{"a", "b"}, nil, false},
		{"jdoe", "JDoe", "JDoe", true},  // the app folds case
		{"jdoe", "JDoe", nil, false},    // unknown: write it
		{"jdoe", "JDoe", "jdoe", false}, // a rename in case only
		{"x", nil, nil, false},
	} {
		if got := same(tc.have, tc.want, tc.applied); got != tc.same {
			t.Errorf("same(%#v, %#v, %#v) = %v", tc.have, tc.want, tc.applied, got)
		}
	}
}
