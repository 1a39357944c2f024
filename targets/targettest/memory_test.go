package targettest

import (
	"fmt"
	"testing"

	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/conformance"
)

// TestMemoryConformance: the in-memory kind passes the suite every kind
// passes, which shows the suite asks nothing of a kind but the contract.
func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	conformance.RunTests(t, conformance.Kind{
		New:        newMemoryFixture,
		Collisions: []string{conformance.CollisionFail, conformance.CollisionSuffix},
	})
}

// memoryFixture: a Memory correlating by key, with title the plain
// attribute and note one Tenure does not map.
type memoryFixture struct{ m *Memory }

var memoryGroups = []string{"eng", "ops", "other", "sales"}

func newMemoryFixture(_ *testing.T, o conformance.Options) conformance.Fixture {
	m := &Memory{KeyAttr: "key", Collision: o.Collision}
	for _, g := range memoryGroups {
		m.AddGroup(g)
	}
	return &memoryFixture{m: m}
}

func (f *memoryFixture) Target() targets.Target { return f.m }
func (f *memoryFixture) Container() string      { return "disabled" }
func (f *memoryFixture) Groups() []string       { return memoryGroups }
func (f *memoryFixture) Writes(*testing.T) int  { return f.m.Writes() }

func (f *memoryFixture) Account(p conformance.Person) *targets.Account {
	return p.Account(map[string]any{"sn": "Doe"}, "name", "key", "title")
}

func (f *memoryFixture) Read(_ *testing.T, id string) *conformance.State {
	a := f.m.Get(id)
	if a == nil {
		return nil
	}
	str := func(k string) string { s, _ := a.Attributes[k].(string); return s }
	return &conformance.State{
		Ref: a.Ref(), Name: a.Name, Key: str("key"), Title: str("title"), Enabled: a.Enabled,
		Container: a.Container, Groups: f.m.GroupsOf(id), Manager: a.References["manager"], Extra: str("note"),
	}
}

func (f *memoryFixture) Raw(_ *testing.T, id string) string {
	a := f.m.Get(id)
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%+v %q", *a, f.m.GroupsOf(id))
}

func (f *memoryFixture) Plant(_ *testing.T, p conformance.Person) (string, *targets.Account) {
	made := f.Account(p)
	made.Entitlements, made.References, made.Enabled = nil, nil, true
	a := MemoryAccount{Container: p.Container, Name: p.Name, Enabled: true, Attributes: map[string]any{}}
	for k, v := range made.Attributes {
		if k != "name" {
			a.Attributes[k] = v
		}
	}
	return f.m.Put(a), made
}

func (f *memoryFixture) Drift(_ *testing.T, id, group string) []string {
	f.m.Edit(id, func(a *MemoryAccount) {
		a.Attributes["title"], a.Attributes["note"], a.Enabled = "Drifted", "by hand", false
	})
	f.m.SetMember(group, id, false)
	return []string{"title"}
}

func (f *memoryFixture) Join(_ *testing.T, id, group string) { f.m.SetMember(group, id, true) }
func (f *memoryFixture) Remove(_ *testing.T, id string)      { f.m.Delete(id) }
