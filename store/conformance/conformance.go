// Package conformance is the test suite every store backend passes. A
// backend's tests call RunTests with a Backend that opens fresh stores:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunTests(t, conformance.Backend{New: ..., Reopen: ...})
//	}
//
// Beyond the rules store.go states, the suite pins down these, which the
// SCIM layer relies on:
//
//   - Names collide case-insensitively exactly when strings.EqualFold says
//     so (Unicode simple case folding, no normalization).
//   - List treats offset < 0 as 0 and returns nothing for limit <= 0, as
//     SCIM does for startIndex and count. Offsets count the resources that
//     exist at the time of the call, so a resource deleted after it was
//     listed shifts the later pages up by one; deletions further on, Puts
//     and Creates never make a page skip or repeat a resource.
//   - A Create, Put or Delete that fails leaves no trace in its
//     transaction, so an update function may handle the error and go on.
//   - Resources returned by reads are the caller's: changing them does not
//     change the store.
//   - Membership lives on the group: deleting a member leaves the groups
//     that list it (and GroupsOf) unchanged.
//   - MemberOf agrees with GroupsOf and the groups' Names at every point,
//     inside an Update too: renames, member changes, deletes and aborted
//     transactions included.
//   - Names agrees with the resources' Names at every point, inside an
//     Update too, for users and groups alike.
//   - Close may be called twice; the second call returns nil or ErrClosed.
//   - Documents are opaque bytes: an empty one is a document, and GetDoc
//     returns it as a non-nil empty slice. Keys are compared as bytes, not
//     as runes. Slices given to PutDoc and returned by GetDoc and ScanDocs
//     are the caller's, in and outside Update.
//   - An invalid namespace or key makes GetDoc, PutDoc and DeleteDoc (and
//     an invalid namespace, ScanDocs) fail with an error that does not wrap
//     ErrNotFound; a failed PutDoc or DeleteDoc leaves no trace.
package conformance

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tenurehq/tenure/store"
)

// Backend opens the stores under test.
type Backend struct {
	// New returns a new, empty store. The suite closes it when the test ends.
	New func(t *testing.T) store.Store
	// Reopen closes s and opens the same data again, as a restarted process
	// would. The suite closes the store it returns. nil skips the tests of
	// durability across restarts.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// RunTests runs the suite against b, each test on a store of its own.
func RunTests(t *testing.T, b Backend) {
	if b.New == nil {
		t.Fatal("conformance: Backend.New is nil")
	}
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"CreateGet", testCreateGet},
		{"Put", testPut},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"DuplicateID", testDuplicateID},
		{"UserNameUnique", testUserNameUnique},
		{"CaseFolding", testCaseFolding},
		{"LookupName", testLookupName},
		{"LookupExternalID", testLookupExternalID},
		{"GroupsOf", testGroupsOf},
		{"MemberOf", testMemberOf},
		{"MemberOfInUpdate", testMemberOfInUpdate},
		{"MemberOfRandom", testMemberOfRandom},
		{"Names", testNames},
		{"NamesRandom", testNamesRandom},
		{"CountListEach", testCountListEach},
		{"Seq", testSeq},
		{"ListPagingUnderChange", testListPagingUnderChange},
		{"EachStops", testEachStops},
		{"ReadOwnWrites", testReadOwnWrites},
		{"UpdateErrorAborts", testUpdateErrorAborts},
		{"FailedWriteLeavesNoTrace", testFailedWriteLeavesNoTrace},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentSameUserName", testConcurrentSameUserName},
		{"ConcurrentFailuresIsolated", testConcurrentFailuresIsolated},
		{"ViewSnapshot", testViewSnapshot},
		{"ContextDone", testContextDone},
		{"Closed", testClosed},
		{"Reopen", testReopen},
		{"HelperGet", testHelperGet},
		{"HelperModify", testHelperModify},
		{"Docs", testDocs},
		{"DocNamespaces", testDocNamespaces},
		{"DocInvalid", testDocInvalid},
		{"DocScan", testDocScan},
		{"DocScanStops", testDocScanStops},
		{"DocReadOwnWrites", testDocReadOwnWrites},
		{"DocScanWritesElsewhere", testDocScanWritesElsewhere},
		{"DocUpdateErrorAborts", testDocUpdateErrorAborts},
		{"DocCopies", testDocCopies},
		{"DocReopen", testDocReopen},
		{"DocConcurrentCounter", testDocConcurrentCounter},
		{"DocConcurrentDistinct", testDocConcurrentDistinct},
		{"DocUniqueClaim", testDocUniqueClaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

var errBoom = errors.New("conformance: boom")

// open returns a new store that is closed when t ends.
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s := b.New(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Reader) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// create stores each resource in a transaction of its own.
func create(t *testing.T, s store.Store, rs ...*store.Resource) {
	t.Helper()
	for _, r := range rs {
		if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Create(r) }); err != nil {
			t.Fatalf("Create %s %s: %v", r.Kind, r.ID, err)
		}
	}
}

func get(t *testing.T, s store.Store, kind store.Kind, id string) *store.Resource {
	t.Helper()
	r, err := store.Get(t.Context(), s, kind, id)
	if err != nil {
		t.Fatalf("Get %s %s: %v", kind, id, err)
	}
	return r
}

func user(id, source, name string) *store.Resource {
	return &store.Resource{Kind: store.KindUser, ID: id, Source: source, Name: name}
}

func group(id, source, name string, memberIDs ...string) *store.Resource {
	g := &store.Resource{Kind: store.KindGroup, ID: id, Source: source, Name: name}
	for _, m := range memberIDs {
		g.Members = append(g.Members, store.Member{Value: m})
	}
	return g
}

// fullUser sets every field and attribute shape a user can have.
func fullUser(id, source, name string) *store.Resource {
	created := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("UTC+5:30", 5*3600+30*60))
	return &store.Resource{
		Kind:       store.KindUser,
		ID:         id,
		Source:     source,
		ExternalID: "Ext-" + id,
		Name:       name,
		Attributes: map[string]any{
			"active":      true,
			"displayName": "Ä. Lice 🦊",
			"name":        map[string]any{"givenName": "Älice", "familyName": "Liddell"},
			"emails": []any{
				map[string]any{"value": "alice@example.com", "type": "work", "primary": true},
				map[string]any{"value": "al@example.org"},
			},
			"x-int":        json.Number("42"),
			"x-big":        json.Number("123456789012345678901234567890"),
			"x-float":      json.Number("-1.5e-7"),
			"x-null":       nil,
			"x-empty-list": []any{},
			"x-empty-map":  map[string]any{},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
				"employeeNumber": "701984",
				"manager":        map[string]any{"value": "boss", "displayName": "Boss"},
			},
		},
		Created:  created,
		Modified: created.Add(90*time.Minute + time.Nanosecond),
	}
}

// fullGroup sets every field a group can have.
func fullGroup(id, source, name string) *store.Resource {
	created := time.Date(2025, 7, 1, 8, 0, 0, 1, time.UTC)
	return &store.Resource{
		Kind:       store.KindGroup,
		ID:         id,
		Source:     source,
		ExternalID: "Ext-" + id,
		Name:       name,
		Members: []store.Member{
			{Value: "u1", Display: "Älice", Type: "User"},
			{Value: "g-nested", Type: "Group"},
			{Value: "u3"},
		},
		Attributes: map[string]any{"x-tags": []any{"a", json.Number("1"), false, nil}},
		Created:    created,
		Modified:   created,
	}
}

// checkResource compares all fields; times compare as instants, since a
// backend need not keep their location, and an empty Members or Attributes
// equals a nil one.
func checkResource(t *testing.T, got, want *store.Resource) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no resource, want %s %s", want.Kind, want.ID)
	}
	if !got.Created.Equal(want.Created) || !got.Modified.Equal(want.Modified) {
		t.Errorf("%s %s: Created, Modified = %v, %v; want %v, %v",
			want.Kind, want.ID, got.Created, got.Modified, want.Created, want.Modified)
	}
	g, w := normalize(*got), normalize(*want)
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s %s differs\n got: %s\nwant: %s\n(%#v)", want.Kind, want.ID, gj, wj, g.Attributes)
	}
}

func normalize(r store.Resource) store.Resource {
	r.Created, r.Modified = time.Time{}, time.Time{}
	r.Seq = 0 // backend-assigned; testSeq checks it
	if len(r.Members) == 0 {
		r.Members = nil
	}
	if len(r.Attributes) == 0 {
		r.Attributes = nil
	}
	return r
}

// checkIDs compares id lists; nil and empty are equal.
func checkIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func idsOf(rs []*store.Resource) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func checkErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one wrapping %v", what, err, target)
	}
}
