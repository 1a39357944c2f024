package admin

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
)

// fill sets every exported field of v, recursively, to a value that is not
// zero: every field reaches the JSON, omitempty or not, so a field the API
// type lacks (or names differently) shows in a comparison.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint64:
		v.SetUint(9)
	case reflect.Interface:
		v.Set(reflect.ValueOf("any"))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0))
		fill(v.Index(1))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 23, 10, 0, 0, 5, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

func filled[T any]() *T {
	v := new(T)
	fill(reflect.ValueOf(v).Elem())
	return v
}

// value is a filled T, or a zero one.
func value[T any](full bool) *T {
	if full {
		return filled[T]()
	}
	return new(T)
}

// sameJSON checks that the API's value encodes byte for byte as the value
// the API served before it had types of its own.
func sameJSON(t *testing.T, what string, old, api any) {
	t.Helper()
	a, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("%s: the API's JSON changed\nwas %s\nnow %s", what, a, b)
	}
}

// The API's types answer what the API answered when it served the
// engine's types (embedded, with the queue entries and the change
// shadowed by fields of the same JSON name): every field, every name,
// in the same order, for full values and for empty ones.
func TestViewsKeepTheJSON(t *testing.T) {
	type oldTarget struct {
		Link *engine.LinkState `json:"link,omitempty"`
		Job  *Job              `json:"job,omitempty"`
	}
	type oldIdentity struct {
		*engine.IdentityView
		Targets map[string]oldTarget `json:"targets"`
	}
	type oldPlan struct {
		*engine.Plan
		Change Change `json:"change"`
	}
	for _, full := range []bool{true, false} {
		iv := value[engine.IdentityView](full)
		old := oldIdentity{IdentityView: iv}
		if iv.Targets != nil {
			old.Targets = map[string]oldTarget{}
			for k, tv := range iv.Targets {
				old.Targets[k] = oldTarget{Link: tv.Link, Job: convertPtr(tv.Job, jobOf)}
			}
		}
		sameJSON(t, "identity", old, identityOf(iv))

		p := value[engine.Plan](full)
		sameJSON(t, "plan", oldPlan{Plan: p, Change: Change{Transition: string(p.Change.Transition),
			Changed: p.Change.Changed, Effective: p.Change.Effective}}, planOf(*p))

		g := value[engine.GuardState](full)
		sameJSON(t, "guard", g, guardOf(*g))

		c := value[engine.ConflictView](full)
		sameJSON(t, "conflict", c, parkedConflictOf(*c))

		l := value[engine.LinkState](full)
		sameJSON(t, "link", l, linkOf(*l))

		d := value[engine.DriftView](full)
		sameJSON(t, "drift", d, driftOf(*d))

		o := value[engine.OrphanReport](full)
		sameJSON(t, "orphans", o, orphanReportOf(*o))
	}
	// The request goes the other way.
	req := filled[PlanRequest]()
	sameJSON(t, "plan request", req, planRequestOf(*req))
}

// The drift classes are the engine's, in its order.
func TestDriftClasses(t *testing.T) {
	if got := DriftClasses(); !slices.Equal(got, engine.DriftClasses) {
		t.Errorf("DriftClasses() = %v, engine's %v", got, engine.DriftClasses)
	}
}
