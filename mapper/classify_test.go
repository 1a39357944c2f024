package mapper

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	berlin := p.Location
	now := t0 // 2024-03-01 12:00 in Berlin
	working := ada().with("tenure.startDate", "2023-01-02")
	pending := ada().with("tenure.startDate", "2024-03-20")
	inactive := working.with("active", false)
	ended := working.with("tenure.endDate", "2024-02-15")
	scheduled := working.with("tenure.endDate", "2024-03-15")
	startOf := func(d int) time.Time { return time.Date(2024, 3, d, 0, 0, 0, 0, berlin) } // local midnight, March 2024

	tests := []struct {
		name          string
		before, after *Identity
		want          Transition
		changed       []string
		effective     time.Time
	}{
		// Joiners and pre-hires.
		{"joiner: created active", nil, ada(), Joiner, nil, time.Time{}},
		{"joiner: start date today (local midnight passed)", nil, ada().with("tenure.startDate", "2024-03-01"), Joiner, nil, time.Time{}},
		{"joiner: start date in the past (an import)", nil, working, Joiner, nil, time.Time{}},
		{"pre-hire: future start date", nil, pending, PreHire, nil, startOf(20)},
		{"pre-hire: start tomorrow", nil, ada().with("tenure.startDate", "2024-03-02"), PreHire, nil, startOf(2)},
		{"joiner: tomorrow in Kiritimati (+14) has begun", nil,
			ada().with("tenure.startDate", "2024-03-02").with("timezone", "Pacific/Kiritimati"), Joiner, nil, time.Time{}},
		{"pre-hire: start date moved earlier into the past is a joiner", pending, pending.with("tenure.startDate", "2024-02-26"), Joiner, nil, time.Time{}},
		{"pre-hire: start date removed is a joiner", pending, pending.with("tenure.startDate", nil), Joiner, nil, time.Time{}},
		{"pre-hire: start date moved later", pending, pending.with("tenure.startDate", "2024-04-02"), Update, nil, time.Time{}},
		{"active: start date moved into the future is a pre-hire again", working, working.with("tenure.startDate", "2024-03-20"), PreHire, nil, startOf(20)},
		{"none: created inactive", nil, inactive, None, nil, time.Time{}},
		{"none: created with an end date already past", nil, ended, None, nil, time.Time{}},

		// Leavers.
		{"leaver: active false", working, inactive, Leaver, nil, time.Time{}},
		{"leaver: active \"False\" as Entra sends it", working, working.with("active", "False"), Leaver, nil, time.Time{}},
		{"leaver: end date reached", working, ended, Leaver, nil, time.Time{}},
		{"leaver: end date yesterday (day ended at local midnight)", working, working.with("tenure.endDate", "2024-02-29"), Leaver, nil, time.Time{}},
		{"leaver: end date today is scheduled for the end of the local day", working, working.with("tenure.endDate", "2024-03-01"), Leaver, nil, startOf(2)},
		{"leaver: future-dated termination", working, scheduled, Leaver, nil, startOf(16)},
		{"leaver: future-dated termination with a time", working, working.with("tenure.endDate", "2024-03-15T17:00:00+01:00"),
			Leaver, nil, time.Date(2024, 3, 15, 16, 0, 0, 0, time.UTC)},
		{"leaver: termination date moved", scheduled, working.with("tenure.endDate", "2024-03-22"), Leaver, nil, startOf(23)},
		{"leaver: scheduled termination brought forward to now", scheduled, scheduled.with("active", false), Leaver, nil, time.Time{}},
		{"leaver: DELETE from the source", working, nil, Leaver, nil, time.Time{}},
		{"leaver: DELETE of a pre-hire", pending, nil, Leaver, nil, time.Time{}},
		{"leaver: pre-hire set inactive (offer withdrawn)", pending, pending.with("active", false), Leaver, nil, time.Time{}},
		{"none: DELETE of someone already inactive", inactive, nil, None, nil, time.Time{}},
		{"none: nothing to nothing", nil, nil, None, nil, time.Time{}},
		{"update: termination rescinded", scheduled, working, Update, nil, time.Time{}},

		// Rehires.
		{"rehire: inactive to active", inactive, working, Rehire, nil, time.Time{}},
		{"rehire: ended, end date removed", ended, working, Rehire, nil, time.Time{}},
		{"rehire: ended, contract extended", ended, working.with("tenure.endDate", "2024-06-30"), Rehire, nil, time.Time{}},
		{"rehire: with a future start", inactive, working.with("tenure.startDate", "2024-04-02"), Rehire, nil,
			time.Date(2024, 4, 2, 0, 0, 0, 0, berlin)},

		// Movers, per position attribute.
		{"mover: title", working, working.with("title", "Staff Engineer"), Mover, []string{"title"}, time.Time{}},
		{"mover: department", working, working.with("enterprise.department", "Sales"), Mover, []string{"enterprise.department"}, time.Time{}},
		{"mover: manager {value}", working, working.with("enterprise.manager", map[string]any{"value": "mgr-2"}), Mover, []string{"enterprise.manager"}, time.Time{}},
		{"mover: manager as a plain string", working.with("enterprise.manager", "mgr-1"), working.with("enterprise.manager", "mgr-2"), Mover, []string{"enterprise.manager"}, time.Time{}},
		{"mover: manager removed", working, working.with("enterprise.manager", nil), Mover, []string{"enterprise.manager"}, time.Time{}},
		{"mover: location", working, working.with("tenure.location", "Paris"), Mover, []string{"tenure.location"}, time.Time{}},
		{"mover: name.familyName (configured)", working, working.with("name.familyName", "King"), Mover, []string{"name.familyName"}, time.Time{}},
		{"mover: several, in policy order", working, working.with("enterprise.department", "Sales").with("title", "AE"),
			Mover, []string{"title", "enterprise.department"}, time.Time{}},
		{"mover: a pre-hire changes department", pending, pending.with("enterprise.department", "Sales"), Mover, []string{"enterprise.department"}, time.Time{}},
		{"update: manager object to string, same id", working, working.with("enterprise.manager", "mgr-1"), Update, nil, time.Time{}},
		{"update: manager display name", working, working.with("enterprise.manager", map[string]any{"value": "mgr-1", "displayName": "Dr. Hopper"}), Update, nil, time.Time{}},
		{"update: name.givenName is not a position attribute", working, working.with("name.givenName", "Augusta"), Update, nil, time.Time{}},
		{"update: title of someone inactive", inactive, inactive.with("title", "Former"), Update, nil, time.Time{}},

		// Conversions.
		{"conversion: userType", working.with("userType", "Employee"), working.with("userType", "Contractor"), Conversion, []string{"userType"}, time.Time{}},
		{"conversion: userType set", working, working.with("userType", "Contractor"), Conversion, []string{"userType"}, time.Time{}},
		{"conversion: with a title change", working.with("userType", "Employee"), working.with("userType", "Contractor").with("title", "Consultant"),
			Conversion, []string{"title", "userType"}, time.Time{}},

		// Updates and nothing.
		{"update: phone number", working, working.with("phoneNumbers", []any{map[string]any{"value": "+49 30 1234"}}), Update, nil, time.Time{}},
		{"update: group added", working, working.withGroups("vpn"), Update, nil, time.Time{}},
		{"none: identical", working, working, None, nil, time.Time{}},
		{"none: groups reordered", working.withGroups("a", "b"), working.withGroups("b", "a"), None, nil, time.Time{}},
		{"update, not mover: empty title to no title", working.with("title", ""), working.with("title", nil), Update, nil, time.Time{}},
		{"none: json.Number and float64", working.with("tenure.level", json.Number("3")), working.with("tenure.level", 3.0), None, nil, time.Time{}},
		{"none: null and absent", working.with("nickName", nil), working, None, nil, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Classify(tt.before, tt.after, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Transition != tt.want || !reflect.DeepEqual(got.Changed, tt.changed) || !got.Effective.Equal(tt.effective) {
				t.Errorf("Classify = %s %v effective %s, want %s %v effective %s",
					got.Transition, got.Changed, fmtT(got.Effective), tt.want, tt.changed, fmtT(tt.effective))
			}
		})
	}
}

func TestClassifyDefaultPositionAttributes(t *testing.T) {
	p := compilePolicy(t, "")
	if !slices.Contains(p.Position, "enterprise.costCenter") || slices.Contains(p.Position, "name.familyName") {
		t.Fatalf("default position attributes = %v", p.Position)
	}
	for _, tt := range []struct {
		after *Identity
		want  Transition
	}{
		{ada().with("name.familyName", "King"), Update}, // not a default position attribute
		{ada().with("enterprise.costCenter", "CC-2"), Mover},
		{ada().with("enterprise.division", "R&D"), Mover},
		{ada().with("enterprise.organization", "Tenure GmbH"), Mover},
		{ada().with("tenure.jobCode", "ENG3"), Mover},
		{ada().with("userType", "Contractor"), Conversion},
	} {
		if got, err := p.Classify(ada(), tt.after, t0); err != nil || got.Transition != tt.want {
			t.Errorf("Classify(%v) = %v %v, want %s", Changed(ada(), tt.after, p.Position), got, err, tt.want)
		}
	}
}

func TestClassifyInvalidDates(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	for _, id := range []*Identity{
		ada().with("tenure.startDate", "next monday"),
		ada().with("tenure.endDate", "2024-02-30"),
	} {
		if _, err := p.Classify(nil, id, t0); err == nil || !strings.Contains(err.Error(), "mapper: classify") {
			t.Errorf("Classify with %v: err = %v", id.User[TenureURN], err)
		}
		if _, _, err := p.Observe(nil, "u1", "hr", id, t0); err == nil {
			t.Errorf("Observe with %v accepted it", id.User[TenureURN])
		}
		if _, err := p.Classify(id, ada(), t0); err == nil {
			t.Errorf("Classify with an invalid before accepted it")
		}
	}
}
