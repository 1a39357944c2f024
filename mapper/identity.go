package mapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Schema URNs of the extensions policy expressions reach by short name.
const (
	EnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	TenureURN     = "urn:ietf:params:scim:schemas:extension:tenure:2.0:User"
)

// Identity is a person as the policy sees them: the SCIM user document (core
// attributes, extensions under their URNs, plus id, externalId, userName and
// active) and the display names of the groups they belong to.
type Identity struct {
	User   map[string]any `json:"user"`
	Groups []string       `json:"groups,omitempty"`
}

// Active reports the SCIM active flag; absent means active (RFC 7643 leaves
// it to the provider, and every client that cares sends it). The string
// "false" in any case counts as false: Entra ID sends booleans as strings,
// and missing a leaver is worse than any other reading.
func (id *Identity) Active() bool {
	switch v := id.User["active"].(type) {
	case bool:
		return v
	case string:
		return !strings.EqualFold(strings.TrimSpace(v), "false")
	}
	return true
}

// ext returns an extension object, or an empty map.
func (id *Identity) ext(urn string) map[string]any {
	if m, ok := id.User[urn].(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// ManagerID is the SCIM id of the person's manager, or "".
func (id *Identity) ManagerID() string {
	switch m := id.ext(EnterpriseURN)["manager"].(type) {
	case map[string]any:
		s, _ := m["value"].(string)
		return s
	case string:
		return m
	}
	return ""
}

// Location is the person's time zone for date-only dates: their SCIM
// timezone if it names a known IANA zone, else def. "Local" (the server's
// zone, not the person's) is not a zone a person can be in.
func (id *Identity) Location(def *time.Location) *time.Location {
	if tz, ok := id.User["timezone"].(string); ok {
		if loc := loadZone(strings.TrimSpace(tz)); loc != nil {
			return loc
		}
	}
	return def
}

// zones caches loaded time zones: time.LoadLocation reads and parses the
// zone file on every call, and Desired asks for a person's zone several
// times. Only successes are cached, so the map is bounded by the number of
// zones that exist.
var zones sync.Map // string → *time.Location

func loadZone(name string) *time.Location {
	if name == "" || name == "Local" {
		return nil
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, loc)
	return loc
}

// StartDate and EndDate resolve the Tenure extension's dates: a date-only
// start is local midnight, a date-only end is the end of that local day.
func (id *Identity) StartDate(def *time.Location) (time.Time, error) {
	return id.date("startDate", def, false)
}

// EndDate: see StartDate. An end in the year 9999 means none (see parseEnd).
func (id *Identity) EndDate(def *time.Location) (time.Time, error) {
	return id.date("endDate", def, true)
}

func (id *Identity) date(attr string, def *time.Location, end bool) (time.Time, error) {
	s, _ := id.ext(TenureURN)[attr].(string)
	if s == "" {
		return time.Time{}, nil
	}
	parse := func(s string, loc *time.Location) (time.Time, error) { return ParseDate(s, loc, false) }
	if end {
		parse = parseEnd
	}
	t, err := parse(s, id.Location(def))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", attr, err)
	}
	return t, nil
}

// openEnded is the year HR systems (SAP SuccessFactors among them) put in
// an end date that is not one: 9999-12-31 means "no end".
const openEnded = 9999

// errRange is a date or time that parses but is outside the years 1 to
// 9999, which is what every store and queue of Tenure can hold.
var errRange = errors.New("outside the years 0001 to 9999")

// parseEnd parses an end (an endDate, a string from an until expression)
// as ParseDate with endOfDay. An end written in the year 9999 is no end:
// zero, not an error (its end of day may not fit) and not a real time.
func parseEnd(s string, loc *time.Location) (time.Time, error) {
	t, err := ParseDate(s, loc, true)
	if (err == nil || errors.Is(err, errRange)) && writtenYear(s) >= openEnded {
		return time.Time{}, nil
	}
	return t, err
}

// writtenYear is the year a date or time string starts with, or 0.
func writtenYear(s string) int {
	s = strings.TrimSpace(s)
	if len(s) < 5 || s[4] != '-' {
		return 0
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil {
		return 0
	}
	return y
}

// ParseDate parses an outside date or time:
//
//   - an RFC 3339 time with an offset ("2024-03-01T09:00:00Z") is that instant;
//   - a date and time without an offset ("2024-03-01T09:00:00", as HR
//     systems export) is that wall-clock time in loc;
//   - a date (YYYY-MM-DD) is the start of that local day in loc — or, with
//     endOfDay, the start of the next local day, so the whole day is
//     included.
//
// Surrounding white space is ignored. The start of a local day is its
// midnight, or, where a DST change (or a date-line move) skips midnight, the
// first instant of that day that exists — never an instant of the day
// before, which is what time.Date alone gives for a skipped midnight.
func ParseDate(s string, loc *time.Location, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) == len("2006-01-02") {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid date %q", s)
		}
		if endOfDay {
			d = d.AddDate(0, 0, 1)
		}
		return inRange(s, dayStart(d.Year(), d.Month(), d.Day(), loc))
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return inRange(s, t)
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc); err == nil {
		return inRange(s, t)
	}
	return time.Time{}, fmt.Errorf("invalid date or time %q", s)
}

// inRange refuses times outside the years 1 to 9999, in UTC or in their
// own zone (either would fail to encode).
func inRange(s string, t time.Time) (time.Time, error) {
	if y, ly := t.UTC().Year(), t.Year(); y < 1 || y > 9999 || ly < 1 || ly > 9999 {
		return time.Time{}, fmt.Errorf("invalid date %q: %w", s, errRange)
	}
	return t, nil
}

// dayStart is the first instant of the local day y-m-d in loc.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// A skipped midnight comes back as an instant of the previous local day
	// (the offset after the change applied to the wall time before it).
	// The day then starts when the zone period t is in ends. A loop, because
	// a date-line move can skip a whole day (Pacific/Apia, 2011-12-30).
	for range 3 {
		ty, tm, td := t.Date()
		if !time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).Before(day) {
			break
		}
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		t = end
	}
	return t
}

// Attr reads a position attribute path: "title", "name.familyName",
// "enterprise.department", "tenure.location", or a full URN-qualified path.
// A complex value with a "value" sub-attribute (the manager) reads as that.
func (id *Identity) Attr(path string) any {
	var cur any = id.User
	switch {
	case strings.HasPrefix(path, "enterprise."):
		cur, path = id.ext(EnterpriseURN), path[len("enterprise."):]
	case strings.HasPrefix(path, "tenure."):
		cur, path = id.ext(TenureURN), path[len("tenure."):]
	case strings.HasPrefix(path, "urn:"):
		if i := strings.LastIndexByte(path, ':'); i > 0 {
			cur, path = id.ext(path[:i]), path[i+1:]
		}
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	if m, ok := cur.(map[string]any); ok {
		if v, ok := m["value"]; ok {
			return v
		}
	}
	return cur
}

// Changed lists the paths whose values differ between a and b. An empty
// string is the same as no value: clients differ in whether they send
// "title": "" or leave the attribute out, and neither is a move.
func Changed(a, b *Identity, paths []string) []string {
	var out []string
	for _, p := range paths {
		if !reflect.DeepEqual(position(a.Attr(p)), position(b.Attr(p))) {
			out = append(out, p)
		}
	}
	return out
}

func position(v any) any {
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	return plain(v)
}

// vars builds the CEL activation for the identity at now.
func (id *Identity) vars(rec *Record, now time.Time) map[string]any {
	user := plain(id.User).(map[string]any)
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	lc := map[string]any{"state": string(StatePending)}
	if rec != nil {
		lc = rec.celView(now)
	}
	return map[string]any{
		"user":       user,
		"enterprise": orEmpty(user[EnterpriseURN]),
		"tenure":     orEmpty(user[TenureURN]),
		"groups":     groups,
		"manager":    id.ManagerID(),
		"lifecycle":  lc,
		"now":        now,
	}
}

func orEmpty(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// plain converts stored JSON values to the types CEL takes: int64 for
// integral numbers, float64 otherwise. The store hands numbers over as
// json.Number, a record decoded without UseNumber holds float64: both read
// the same here, so a costCenter of 4711 is the same int whichever way it
// came, and comparing them is no change. Maps and slices are copied.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return integral(f)
	case float64:
		return integral(x)
	case int:
		return int64(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if e != nil { // null is unassigned (RFC 7643 §2.5): absent, not a value
				m[k] = plain(e)
			}
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = plain(e)
		}
		return l
	}
	return v
}

// maxExact bounds the integers a float64 holds exactly (2^53).
const maxExact = 1 << 53

// integral returns f as an int64 when it is a whole number a float64 holds
// exactly, else f.
func integral(f float64) any {
	if f == math.Trunc(f) && f >= -maxExact && f <= maxExact {
		return int64(f)
	}
	return f
}
