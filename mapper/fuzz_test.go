package mapper

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzZones are zones with the awkward cases: half-hour and 45-minute
// offsets, DST at midnight, a skipped day, a 30-minute DST shift.
var fuzzZones = []string{
	"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland", "Pacific/Chatham",
	"America/Santiago", "America/Havana", "Pacific/Apia", "Pacific/Kiritimati", "Australia/Lord_Howe",
	"America/Sao_Paulo", "Asia/Tehran", "Africa/Casablanca",
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"2024-03-10", "2024-11-03", "2022-09-11", "2011-12-30", "2024-02-29", "0000-01-01", "9999-12-31",
		"2024-03-01T09:00:00Z", "2024-03-01T09:00:00+05:30", "2024-03-01T09:00:00.123456789-03:00",
		"2024-03-01T09:00:00", " 2024-03-01 ", "2024-13-01", "", "x",
	} {
		f.Add(s, uint8(0), false)
		f.Add(s, uint8(6), true)
	}
	f.Fuzz(func(t *testing.T, s string, zone uint8, endOfDay bool) {
		loc, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseDate(s, loc, endOfDay)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid") || !got.IsZero() {
				t.Fatalf("ParseDate(%q) = %s, %v", s, got, err)
			}
			return
		}
		trimmed := strings.TrimSpace(s)
		day, dateErr := time.Parse("2006-01-02", trimmed)
		if len(trimmed) != len("2006-01-02") || dateErr != nil {
			// A time: the zone applies only without an offset, endOfDay never.
			other, err := ParseDate(s, loc, !endOfDay)
			if err != nil || !other.Equal(got) {
				t.Fatalf("ParseDate(%q) depends on endOfDay: %s vs %s (%v)", s, got, other, err)
			}
			// (In UTC: RFC 3339 offsets have no seconds, historical local
			// mean times do.)
			back, err := ParseDate(got.UTC().Format(time.RFC3339Nano), time.UTC, false)
			if err != nil || !back.Equal(got) {
				t.Fatalf("round trip of %q: %s → %s (%v)", s, got, back, err)
			}
			return
		}
		if endOfDay {
			day = day.AddDate(0, 0, 1)
		}
		want := civil(day)
		// got is the first instant of the local day `want`: it is on that
		// day or (only when the whole day was skipped) later, and the
		// instant before it is on an earlier day.
		if civil(got.In(loc)) < want {
			t.Fatalf("ParseDate(%q, %s, %v) = %s, before the day %s", s, loc, endOfDay, got.In(loc), day.Format("2006-01-02"))
		}
		if civil(got.Add(-time.Nanosecond).In(loc)) >= want {
			t.Fatalf("ParseDate(%q, %s, %v) = %s is not the first instant of %s", s, loc, endOfDay, got.In(loc), day.Format("2006-01-02"))
		}
		if civil(got.In(loc)) == want && got.In(loc).Year() <= 9999 {
			// Round trip: the local date of the result parses to the same instant.
			back, err := ParseDate(got.In(loc).Format("2006-01-02"), loc, false)
			if err != nil || !back.Equal(got) {
				t.Fatalf("round trip of %q in %s: %s → %s (%v)", s, loc, got, back, err)
			}
			if h := got.In(loc).Hour(); h > 1 {
				t.Fatalf("ParseDate(%q, %s) = %s: a day starting after 01:00", s, loc, got.In(loc))
			}
		}
		// A date's end is its start's next day, and no day is longer than 26h.
		start, err1 := ParseDate(s, loc, false)
		end, err2 := ParseDate(s, loc, true)
		if err1 == nil && err2 == nil && (end.Before(start) || end.Sub(start) > 26*time.Hour) {
			t.Fatalf("day %q in %s: %s .. %s", s, loc, start, end)
		}
		// What parses can be stored: JSON holds the years 0 to 9999.
		if _, err := got.MarshalJSON(); err != nil {
			t.Fatalf("ParseDate(%q) = %s: %v", s, got, err)
		}
	})
}

// civil numbers calendar days so they compare.
func civil(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// fuzzDocs are seed identity documents.
var fuzzDocs = []string{
	`{"userName":"ada","active":true,"title":"Engineer","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","manager":{"value":"m1"}}}`,
	`{"userName":"ada","active":false}`,
	`{"userName":"ada","active":"False","timezone":"America/Santiago","urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"startDate":"2022-09-11","endDate":"2022-12-31"}}`,
	`{"userName":"bob","userType":"Contractor","urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"startDate":"2024-03-20","projectEnd":"2024-04-01","employeeNumber":"E1"}}`,
	`{"userName":"bob","userType":"Employee","timezone":"Asia/Kolkata","urn:ietf:params:scim:schemas:extension:tenure:2.0:User":{"endDate":"2024-03-15T17:00:00Z","level":3.5}}`,
	`{"userName":7,"title":{"x":1},"name":{"familyName":null},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m2","department":["a"]}}`,
	`{}`,
	`null`,
	`[1,2]`,
}

func decodeDoc(b []byte) *Identity {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil {
		return nil
	}
	return &Identity{User: m}
}

func FuzzLifecycle(f *testing.F) {
	for i, a := range fuzzDocs {
		for j, b := range fuzzDocs {
			f.Add([]byte(a), []byte(b), int32(i*j*7), i%2 == 0, j%3 == 0)
		}
	}
	policies := []*Policy{compilePolicy(f, stdPolicy), compilePolicy(f, stdWith("source_delete: purge"))}
	f.Fuzz(func(t *testing.T, before, after []byte, hours int32, linked, purge bool) {
		p := policies[0]
		if purge {
			p = policies[1]
		}
		b, a := decodeDoc(before), decodeDoc(after)
		if b == nil {
			return // the engine never observes a DELETE of someone it never saw
		}
		now := t0
		if _, err := p.Classify(b, a, now); err != nil && !strings.Contains(err.Error(), "invalid") {
			t.Fatalf("Classify: %v", err)
		}
		rec, ch, err := p.Observe(nil, "u1", "hr", b, now)
		if err != nil {
			return // an invalid date: the SCIM write is refused
		}
		checkRecord(t, p, rec, ch, now, linked)
		later := now.Add(time.Duration(hours) * time.Minute)
		if later.Before(now) {
			later = now.Add(-time.Duration(hours) * time.Minute)
		}
		rec2, ch2, err := p.Observe(rec, "u1", "hr", a, later)
		if err != nil {
			return
		}
		checkRecord(t, p, rec2, ch2, later, linked)
		// The engine stores records as JSON and reads them back: the same
		// write again is no change, and the desired state is the same.
		stored := roundTrip(t, rec2)
		if a != nil {
			rec3, ch3, err := p.Observe(stored, "u1", "hr", a, later)
			if err != nil {
				t.Fatalf("observing the same document again: %v", err)
			}
			if ch3.Transition != None || rec3.Generation != rec2.Generation {
				t.Fatalf("the same write again: %s, generation %d → %d", ch3.Transition, rec2.Generation, rec3.Generation)
			}
		}
		for _, target := range p.TargetNames {
			d1, err1 := p.Desired(rec2, target, linked, later)
			d2, err2 := p.Desired(stored, target, linked, later)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: desired differs after a storage round trip: %v / %v", target, err1, err2)
			}
			if err1 == nil && !sameDesired(d1, d2) {
				t.Fatalf("%s: desired differs after a storage round trip:\n%+v\n%+v", target, d1, d2)
			}
		}
		if a != nil {
			gone, ch, err := p.Observe(rec2, "u1", "hr", nil, later.Add(time.Hour))
			if err != nil {
				t.Fatalf("DELETE: %v", err)
			}
			checkRecord(t, p, gone, ch, later.Add(time.Hour), linked)
			if purge && gone.StateAt(later.Add(time.Hour)) != StatePurged {
				t.Fatalf("DELETE in purge mode left state %s", gone.StateAt(later.Add(time.Hour)))
			}
		}
	})
}

func sameDesired(a, b *Desired) bool {
	return reflect.DeepEqual(a.Account, b.Account) && a.State == b.State && a.Next.Equal(b.Next) && a.Reason == b.Reason
}

// checkRecord checks the invariants of a record and of the desired state of
// every target along its timeline of boundaries.
func checkRecord(t *testing.T, p *Policy, rec *Record, ch Change, now time.Time, linked bool) {
	t.Helper()
	if rec.Generation == 0 || len(rec.History) == 0 || len(rec.History) > MaxHistory {
		t.Fatalf("record generation %d history %d", rec.Generation, len(rec.History))
	}
	if ch.Transition == Mover || ch.Transition == Conversion {
		if len(ch.Changed) == 0 {
			t.Fatalf("%s without changed attributes", ch.Transition)
		}
	}
	for _, target := range p.TargetNames {
		at := now
		l := linked
		for range 12 {
			d, err := p.Desired(rec, target, l, at)
			if err != nil {
				break // policy expressions over odd data may fail; the engine retries
			}
			checkDesired(t, rec, target, at, d)
			if d.Next.IsZero() {
				break
			}
			at, l = d.Next, d.Exists
		}
	}
}

func checkDesired(t *testing.T, rec *Record, target string, now time.Time, d *Desired) {
	t.Helper()
	st := rec.StateAt(now)
	switch {
	case d.State != st:
		t.Fatalf("%s at %s: state %s, record says %s", target, now, d.State, st)
	case st == StatePurged && d.Exists:
		t.Fatalf("%s at %s: a purged person's account exists", target, now)
	case !d.Next.IsZero() && !d.Next.After(now):
		t.Fatalf("%s at %s: Next %s is not after now", target, now, d.Next)
	case d.Enabled && (!d.Exists || st != StateActive):
		t.Fatalf("%s at %s: enabled in state %s (exists %v)", target, now, st, d.Exists)
	case !d.Exists && (d.Container != "" || len(d.Entitlements) > 0 || len(d.Attributes) > 0 || len(d.References) > 0):
		t.Fatalf("%s at %s: an absent account has state %+v", target, now, d.Account)
	case st == StateTerminated && len(d.Entitlements) > 0:
		t.Fatalf("%s at %s: a leaver keeps entitlements %v", target, now, d.Entitlements)
	case !slices.IsSorted(d.Entitlements) || len(slices.Compact(slices.Clone(d.Entitlements))) != len(d.Entitlements):
		t.Fatalf("%s at %s: entitlements not a sorted set: %v", target, now, d.Entitlements)
	}
	for _, g := range d.Grants {
		if !g.Until.IsZero() && !g.Until.After(now) {
			t.Fatalf("%s at %s: expired grant %+v", target, now, g)
		}
	}
}
