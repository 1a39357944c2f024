package mapper

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		in, zone string
		endOfDay bool
		want     time.Time
	}{
		// America/New_York: 2024-03-10 has 23 hours, 2024-11-03 has 25.
		{"new york spring forward, start", "2024-03-10", "America/New_York", false, utc("2024-03-10T05:00:00Z")},
		{"new york spring forward, end of day", "2024-03-10", "America/New_York", true, utc("2024-03-11T04:00:00Z")},
		{"new york fall back, start", "2024-11-03", "America/New_York", false, utc("2024-11-03T04:00:00Z")},
		{"new york fall back, end of day", "2024-11-03", "America/New_York", true, utc("2024-11-04T05:00:00Z")},
		{"new york day before spring forward ends at EST midnight", "2024-03-09", "America/New_York", true, utc("2024-03-10T05:00:00Z")},
		// Europe/Berlin: CET +1, CEST +2 (changes 2024-03-31 and 2024-10-27).
		{"berlin winter", "2024-03-01", "Europe/Berlin", false, utc("2024-02-29T23:00:00Z")},
		{"berlin spring forward, start", "2024-03-31", "Europe/Berlin", false, utc("2024-03-30T23:00:00Z")},
		{"berlin spring forward, end of day", "2024-03-31", "Europe/Berlin", true, utc("2024-03-31T22:00:00Z")},
		{"berlin fall back, start", "2024-10-27", "Europe/Berlin", false, utc("2024-10-26T22:00:00Z")},
		{"berlin fall back, end of day", "2024-10-27", "Europe/Berlin", true, utc("2024-10-27T23:00:00Z")},
		// Asia/Kolkata: +5:30, no DST.
		{"kolkata start", "2024-03-01", "Asia/Kolkata", false, utc("2024-02-29T18:30:00Z")},
		{"kolkata end of day", "2024-03-01", "Asia/Kolkata", true, utc("2024-03-01T18:30:00Z")},
		// Pacific/Auckland: NZDT +13 until 2024-04-07 03:00, NZST +12 until 2024-09-29 02:00.
		{"auckland fall back, start", "2024-04-07", "Pacific/Auckland", false, utc("2024-04-06T11:00:00Z")},
		{"auckland fall back, end of day", "2024-04-07", "Pacific/Auckland", true, utc("2024-04-07T12:00:00Z")},
		{"auckland spring forward, start", "2024-09-29", "Pacific/Auckland", false, utc("2024-09-28T12:00:00Z")},
		{"auckland spring forward, end of day", "2024-09-29", "Pacific/Auckland", true, utc("2024-09-29T11:00:00Z")},
		// Pacific/Chatham: +13:45 / +12:45, changes at 03:45 / 02:45 local.
		{"chatham fall back, start", "2024-04-07", "Pacific/Chatham", false, utc("2024-04-06T10:15:00Z")},
		{"chatham fall back, end of day", "2024-04-07", "Pacific/Chatham", true, utc("2024-04-07T11:15:00Z")},
		{"chatham spring forward, start", "2024-09-29", "Pacific/Chatham", false, utc("2024-09-28T11:15:00Z")},
		// America/Santiago skipped midnight 2022-09-11 (00:00 -04 → 01:00 -03):
		// the day starts at 01:00 -03, and the day before ends there.
		{"santiago skipped midnight, start", "2022-09-11", "America/Santiago", false, utc("2022-09-11T04:00:00Z")},
		{"santiago skipped midnight, end of the day before", "2022-09-10", "America/Santiago", true, utc("2022-09-11T04:00:00Z")},
		{"santiago day before, start", "2022-09-10", "America/Santiago", false, utc("2022-09-10T04:00:00Z")},
		// America/Havana skipped midnight 2023-03-12 (00:00 CST → 01:00 CDT),
		// repeated midnight 2023-11-05 (01:00 CDT → 00:00 CST): the first one counts.
		{"havana skipped midnight", "2023-03-12", "America/Havana", false, utc("2023-03-12T05:00:00Z")},
		{"havana repeated midnight, start", "2023-11-05", "America/Havana", false, utc("2023-11-05T04:00:00Z")},
		{"havana repeated midnight, end of day before", "2023-11-04", "America/Havana", true, utc("2023-11-05T04:00:00Z")},
		// Pacific/Apia skipped all of 2011-12-30 (-10 → +14): it starts
		// when 2011-12-31 does.
		{"apia skipped day", "2011-12-30", "Pacific/Apia", false, utc("2011-12-30T10:00:00Z")},
		{"apia day before the skipped day, end", "2011-12-29", "Pacific/Apia", true, utc("2011-12-30T10:00:00Z")},
		{"apia day after", "2011-12-31", "Pacific/Apia", false, utc("2011-12-30T10:00:00Z")},
		// Month and year ends, leap day.
		{"leap day end", "2024-02-29", "UTC", true, utc("2024-03-01T00:00:00Z")},
		{"year end", "2024-12-31", "Europe/Berlin", true, utc("2024-12-31T23:00:00Z")},
		// Times.
		{"rfc3339 ignores the zone", "2024-03-01T09:00:00+01:00", "America/New_York", false, utc("2024-03-01T08:00:00Z")},
		{"rfc3339 end of day is the instant", "2024-03-01T09:00:00Z", "Asia/Kolkata", true, utc("2024-03-01T09:00:00Z")},
		{"rfc3339 fraction", "2024-03-01T09:00:00.250Z", "UTC", false, utc("2024-03-01T09:00:00.25Z")},
		{"local date-time is wall time in the zone", "2024-03-01T09:00:00", "Europe/Berlin", false, utc("2024-03-01T08:00:00Z")},
		{"local date-time in kolkata", "2024-03-01T09:00:00", "Asia/Kolkata", false, utc("2024-03-01T03:30:00Z")},
		{"white space", " 2024-03-01\n", "UTC", false, utc("2024-03-01T00:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.in, mustZone(t, tt.zone), tt.endOfDay)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseDate(%q, %s, %v) = %s, want %s", tt.in, tt.zone, tt.endOfDay, got.UTC(), tt.want.UTC())
			}
		})
	}
}

// TestParseDateSkippedMidnightGo pins why ParseDate does not use time.Date
// alone: for a skipped midnight, Go gives an instant of the previous day.
func TestParseDateSkippedMidnightGo(t *testing.T) {
	loc := mustZone(t, "America/Santiago")
	raw := time.Date(2022, 9, 11, 0, 0, 0, 0, loc)
	if raw.Day() != 10 || raw.Hour() != 23 {
		t.Fatalf("time.Date normalisation changed: %s; revisit dayStart", raw)
	}
	got, err := ParseDate("2022-09-11", loc, false)
	if err != nil {
		t.Fatal(err)
	}
	if y, m, d := got.In(loc).Date(); y != 2022 || m != 9 || d != 11 || got.In(loc).Hour() != 1 {
		t.Errorf("start of 2022-09-11 in Santiago = %s, want 01:00 that day", got.In(loc))
	}
}

func TestParseDateInvalid(t *testing.T) {
	for _, in := range []string{
		"", "tomorrow", "2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10", "2024-3-1x", "01/03/2024",
		"2024-03-01T25:00:00Z", "2024-03-01 09:00", "2024-03-01T09:00:00+25:00", "20240301", "2024-03-01Z",
	} {
		if got, err := ParseDate(in, time.UTC, false); err == nil {
			t.Errorf("ParseDate(%q) = %s, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid") {
			t.Errorf("ParseDate(%q) error %q does not say invalid", in, err)
		}
	}
}

func TestIdentityLocationAndDates(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	tests := []struct {
		name     string
		timezone any
		want     string
	}{
		{"scim timezone", "America/New_York", "America/New_York"},
		{"trimmed", " Asia/Kolkata ", "Asia/Kolkata"},
		{"unknown zone falls back", "Mars/Olympus_Mons", "Europe/Berlin"},
		{"server local zone is not a person's", "Local", "Europe/Berlin"},
		{"empty falls back", "", "Europe/Berlin"},
		{"not a string falls back", 42, "Europe/Berlin"},
		{"path tricks fall back", "../../etc/passwd", "Europe/Berlin"},
		{"absent falls back", nil, "Europe/Berlin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ada().with("timezone", tt.timezone).with("tenure.startDate", "2024-03-10").with("tenure.endDate", "2024-03-10")
			if got := id.Location(berlin).String(); got != tt.want {
				t.Errorf("Location = %s, want %s", got, tt.want)
			}
			loc := mustZone(t, tt.want)
			start, err := id.StartDate(berlin)
			if err != nil {
				t.Fatal(err)
			}
			end, err := id.EndDate(berlin)
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Date(2024, 3, 10, 0, 0, 0, 0, loc); !start.Equal(want) {
				t.Errorf("StartDate = %s, want %s", start, want)
			}
			if want := time.Date(2024, 3, 11, 0, 0, 0, 0, loc); !end.Equal(want) {
				t.Errorf("EndDate = %s, want %s", end, want)
			}
		})
	}
	t.Run("no dates", func(t *testing.T) {
		s, err1 := ada().StartDate(berlin)
		e, err2 := ada().EndDate(berlin)
		if !s.IsZero() || !e.IsZero() || err1 != nil || err2 != nil {
			t.Errorf("dates of a person without any: %s %s %v %v", s, e, err1, err2)
		}
	})
	t.Run("invalid date names the attribute", func(t *testing.T) {
		_, err := ada().with("tenure.endDate", "31.12.2024").EndDate(berlin)
		if err == nil || !strings.Contains(err.Error(), "endDate") || !strings.Contains(err.Error(), "31.12.2024") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestActive(t *testing.T) {
	tests := []struct {
		v    any
		want bool
	}{
		{nil, true}, {true, true}, {false, false}, {"False", false}, {"false", false}, {" FALSE ", false},
		{"True", true}, {"true", true}, {json.Number("0"), true},
	}
	for _, tt := range tests {
		id := ada().with("active", tt.v)
		if got := id.Active(); got != tt.want {
			t.Errorf("active %#v: Active() = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestAttrAndManager(t *testing.T) {
	id := ada().with("tenure.location", "Berlin").with("tenure.level", json.Number("3"))
	tests := []struct {
		path string
		want any
	}{
		{"title", "Engineer"},
		{"name.familyName", "Lovelace"},
		{"enterprise.department", "Engineering"},
		{"enterprise.manager", "mgr-1"},
		{"tenure.location", "Berlin"},
		{"tenure.level", json.Number("3")},
		{EnterpriseURN + ":department", "Engineering"},
		{EnterpriseURN + ":manager", "mgr-1"},
		{"costCenter", nil},
		{"title.sub", nil},
		{"enterprise.costCenter", nil},
		{"urn:example:unknown:1.0:User:x", nil},
	}
	for _, tt := range tests {
		if got := id.Attr(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Attr(%q) = %#v, want %#v", tt.path, got, tt.want)
		}
	}
	if got := id.ManagerID(); got != "mgr-1" {
		t.Errorf("ManagerID (complex) = %q", got)
	}
	if got := id.with("enterprise.manager", "mgr-2").ManagerID(); got != "mgr-2" {
		t.Errorf("ManagerID (plain string, as Entra sends it) = %q", got)
	}
	if got := id.with("enterprise.manager", nil).ManagerID(); got != "" {
		t.Errorf("ManagerID (none) = %q", got)
	}
}

func TestChanged(t *testing.T) {
	paths := []string{"title", "enterprise.department", "enterprise.manager", "enterprise.costCenter", "tenure.location"}
	base := ada().with("enterprise.costCenter", json.Number("4711"))
	tests := []struct {
		name          string
		before, after *Identity // before nil: base
		want          []string
	}{
		{"identical", nil, base, nil},
		{"title", nil, base.with("title", "Staff Engineer"), []string{"title"}},
		{"title removed", nil, base.with("title", nil), []string{"title"}},
		{"empty title is no title", base.with("title", ""), base.with("title", nil), nil},
		{"manager value", nil, base.with("enterprise.manager", map[string]any{"value": "mgr-2"}), []string{"enterprise.manager"}},
		{"manager display name only", nil, base.with("enterprise.manager", map[string]any{"value": "mgr-1", "displayName": "G. Hopper"}), nil},
		{"manager as plain string, same id", nil, base.with("enterprise.manager", "mgr-1"), nil},
		{"manager as plain string, other id", nil, base.with("enterprise.manager", "mgr-9"), []string{"enterprise.manager"}},
		{"number as float64 after a JSON round trip", nil, base.with("enterprise.costCenter", float64(4711)), nil},
		{"number changed", nil, base.with("enterprise.costCenter", json.Number("4712")), []string{"enterprise.costCenter"}},
		{"location added", nil, base.with("tenure.location", "Berlin"), []string{"tenure.location"}},
		{"two at once, in policy order", nil, base.with("tenure.location", "Paris").with("title", "CTO"), []string{"title", "tenure.location"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.before
			if before == nil {
				before = base
			}
			if got := Changed(before, tt.after, paths); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Changed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlainNumbersAndNulls(t *testing.T) {
	in := map[string]any{
		"int": json.Number("42"), "neg": json.Number("-7"), "frac": json.Number("2.5"), "exp": json.Number("1e3"),
		"f64": float64(42), "f64frac": 0.25, "huge": 1e300, "i": 3,
		"null": nil, "list": []any{json.Number("1"), "x"}, "nested": map[string]any{"n": json.Number("5"), "z": nil},
	}
	want := map[string]any{
		"int": int64(42), "neg": int64(-7), "frac": 2.5, "exp": int64(1000),
		"f64": int64(42), "f64frac": 0.25, "huge": 1e300, "i": int64(3),
		"list": []any{int64(1), "x"}, "nested": map[string]any{"n": int64(5)},
	}
	if got := plain(in); !reflect.DeepEqual(got, want) {
		t.Errorf("plain =\n %#v\nwant\n %#v", got, want)
	}
	if _, ok := in["null"]; !ok {
		t.Error("plain changed its input")
	}
}

func TestOpenEndedAndOutOfRangeDates(t *testing.T) {
	for _, zone := range []string{"UTC", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati"} {
		loc := mustZone(t, zone)
		for _, end := range []string{"9999-12-31", "9999-01-01", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"} {
			id := ada().with("tenure.endDate", end)
			if got, err := id.EndDate(loc); err != nil || !got.IsZero() {
				t.Errorf("%s endDate %s = %s, %v; want no end", zone, end, got, err)
			}
		}
		if got, err := ada().with("tenure.endDate", "9998-12-31").EndDate(loc); err != nil || got.IsZero() {
			t.Errorf("%s endDate 9998-12-31 = %s, %v", zone, got, err)
		}
	}
	for _, bad := range []string{"0000-01-01", "0000-06-15T00:00:00Z"} {
		if _, err := ada().with("tenure.startDate", bad).StartDate(mustZone(t, "Europe/Berlin")); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("startDate %s: err = %v", bad, err)
		}
	}
	p := compilePolicy(t, stdPolicy)
	id := ada().with("tenure.startDate", "2023-01-02").with("tenure.endDate", "9999-12-31")
	rec, ch := observe(t, p, nil, "u1", id, t0)
	if ch.Transition != Joiner || !rec.End.IsZero() {
		t.Errorf("open-ended joiner: %s end %s", ch.Transition, rec.End)
	}
	if _, err := json.Marshal(rec); err != nil {
		t.Error(err)
	}
	rec, _ = observe(t, p, rec, "u1", id.with("tenure.projectEnd", "9999-12-31"), t0)
	if d := desired(t, p, rec, "ad", true, t0); !d.Next.IsZero() || !slices.Contains(d.Entitlements, "CN=Project X") {
		t.Errorf("until 9999-12-31: %v next %s", d.Entitlements, d.Next)
	}
}
