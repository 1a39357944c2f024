package scimclient

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

// conformOwnership: an app user found by userName is adopted only after
// the engine's claim succeeds, and never when its externalId names
// someone else; the dry run (Find) sees the same.
func conformOwnership(t *testing.T, f *appFixture) {
	c := f.client(t)
	ctx := t.Context()
	name := f.uniq("owned.")
	id := f.createUser(t, map[string]any{"userName": name, "externalId": "HR-1", "title": "Kept"})
	before := f.user(t, id)

	// Another person links it: the claim refuses, nothing is written.
	mark := f.rec.Mark()
	claim := func(owner string) targets.ClaimFunc {
		return func(_ context.Context, aid, ref string) error {
			if aid == id && owner != "" {
				return &targets.Conflict{Reason: targets.ConflictOwned, ID: aid, Ref: ref, Owner: owner}
			}
			return nil
		}
	}
	for _, desired := range []*targets.Account{
		person(name, map[string]any{"title": "Taken"}),
		{Exists: false, Attributes: map[string]any{"userName": name}},
	} {
		_, err := c.Converge(ctx, &targets.Request{Identity: "p2", Desired: desired, Claim: claim("p1")})
		var cf *targets.Conflict
		if !errors.As(err, &cf) || cf.Reason != targets.ConflictOwned || cf.Owner != "p1" || targets.IsRetryable(err) {
			t.Errorf("converge onto p1's user: %v, want an owned conflict", err)
		}
	}
	// Its externalId names another person: a collision, claimed or not.
	_, err := c.Converge(ctx, &targets.Request{Identity: "p3", Desired: person(name, map[string]any{"externalId": "HR-2"}), Claim: claim("")})
	var cf *targets.Conflict
	if !errors.As(err, &cf) || cf.Reason != targets.ConflictCollision || cf.ID != id {
		t.Errorf("converge with another externalId: %v, want a collision", err)
	}
	if m, err := c.Find(ctx, &targets.Request{Desired: person(name, map[string]any{"externalId": "HR-2"})}); m != nil || !errors.As(err, &cf) {
		t.Errorf("find with another externalId: %+v %v, want a collision", m, err)
	}
	for _, r := range f.rec.Since(mark) {
		if r.Method != http.MethodGet && r.Status != http.StatusConflict { // a lagging app's lookup misses, its POST is refused
			t.Errorf("%s %s written to a user that is not the person's", r.Method, r.Path)
		}
	}
	if after := f.user(t, id); !reflect.DeepEqual(before["title"], after["title"]) || !reflect.DeepEqual(before["meta"], after["meta"]) {
		t.Errorf("the user changed: %v -> %v", before, after)
	}
	// The matching person adopts it, and Find says so first.
	m, err := c.Find(ctx, &targets.Request{Desired: person(name, map[string]any{"externalId": "HR-1"})})
	if err != nil || m == nil || m.ID != id || m.By != "userName" {
		t.Errorf("find: %+v %v", m, err)
	}
	claimed := ""
	res, err := c.Converge(ctx, &targets.Request{Identity: "p1", Desired: person(name, map[string]any{"externalId": "HR-1"}),
		Claim: func(_ context.Context, aid, _ string) error { claimed = aid; return nil }})
	if err != nil || res.Link.ID != id || claimed != id {
		t.Errorf("adopt: %+v %v (claimed %q)", res, err, claimed)
	}
}
