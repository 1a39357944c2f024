package mapper

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// berlinMidnight is local midnight in Berlin on y-m-d.
func berlinMidnight(y int, m time.Month, d int) time.Time {
	loc, _ := time.LoadLocation("Europe/Berlin")
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func TestObserveRecordTimes(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	now := t0
	type want struct {
		tr                         Transition
		start, end, prevEnd, rehrd time.Time
		state                      State
	}
	check := func(t *testing.T, rec *Record, ch Change, w want) {
		t.Helper()
		if ch.Transition != w.tr {
			t.Errorf("transition = %s, want %s", ch.Transition, w.tr)
		}
		for _, f := range []struct {
			name      string
			got, want time.Time
		}{{"Start", rec.Start, w.start}, {"End", rec.End, w.end}, {"PrevEnd", rec.PrevEnd, w.prevEnd}, {"Rehired", rec.Rehired, w.rehrd}} {
			if !f.got.Equal(f.want) {
				t.Errorf("%s = %s, want %s", f.name, fmtT(f.got), fmtT(f.want))
			}
		}
		if st := rec.StateAt(now); st != w.state {
			t.Errorf("StateAt(now) = %s, want %s", st, w.state)
		}
	}

	t.Run("joiner without a start date starts now", func(t *testing.T) {
		rec, ch := observe(t, p, nil, "u1", ada(), now)
		check(t, rec, ch, want{tr: Joiner, start: now, state: StateActive})
		if rec.ID != "u1" || rec.UserID != "u1" || rec.Source != "hr" || !rec.Hired.Equal(now) || rec.Generation != 1 || !rec.Changed.Equal(now) {
			t.Errorf("record = %+v", rec)
		}
		if len(rec.History) != 1 || rec.History[0].Transition != Joiner || !rec.History[0].At.Equal(now) {
			t.Errorf("history = %+v", rec.History)
		}
	})
	t.Run("joiner with a past start date keeps it", func(t *testing.T) {
		rec, ch := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2023-01-02"), now)
		check(t, rec, ch, want{tr: Joiner, start: berlinMidnight(2023, 1, 2), state: StateActive})
	})
	t.Run("pre-hire starts at local midnight of the start date", func(t *testing.T) {
		rec, ch := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2024-03-20"), now)
		check(t, rec, ch, want{tr: PreHire, start: berlinMidnight(2024, 3, 20), state: StatePending})
		if !ch.Effective.Equal(rec.Start) || !rec.History[0].Effective.Equal(rec.Start) {
			t.Errorf("effective = %s / %s", ch.Effective, rec.History[0].Effective)
		}
	})
	t.Run("pre-hire in the person's own time zone", func(t *testing.T) {
		rec, _ := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2024-03-20").with("timezone", "America/New_York"), now)
		if want := time.Date(2024, 3, 20, 4, 0, 0, 0, time.UTC); !rec.Start.Equal(want) {
			t.Errorf("Start = %s, want %s (EDT midnight)", rec.Start, want)
		}
	})
	t.Run("fixed-term joiner records the end", func(t *testing.T) {
		rec, ch := observe(t, p, nil, "u1", ada().with("tenure.endDate", "2024-08-31"), now)
		check(t, rec, ch, want{tr: Joiner, start: now, end: berlinMidnight(2024, 9, 1), state: StateActive})
	})
	t.Run("created inactive has ended without starting", func(t *testing.T) {
		rec, ch := observe(t, p, nil, "u1", ada().with("active", false), now)
		check(t, rec, ch, want{tr: None, end: now, state: StateTerminated})
		if rec.Generation != 1 || len(rec.History) != 1 {
			t.Errorf("a new record is always generation 1 with one event: %d %+v", rec.Generation, rec.History)
		}
		later := now.Add(48 * time.Hour)
		rec2, ch2 := observe(t, p, rec, "u1", ada(), later)
		if ch2.Transition != Joiner || !rec2.Start.Equal(later) || !rec2.End.IsZero() || !rec2.PrevEnd.IsZero() || !rec2.Rehired.IsZero() {
			t.Errorf("first activation = %s start=%s end=%s prevEnd=%s rehired=%s, want a joiner starting then",
				ch2.Transition, fmtT(rec2.Start), fmtT(rec2.End), fmtT(rec2.PrevEnd), fmtT(rec2.Rehired))
		}
		rec3, ch3 := observe(t, p, rec, "u1", ada().with("tenure.startDate", "2024-03-20"), later)
		if ch3.Transition != PreHire || !rec3.Start.Equal(berlinMidnight(2024, 3, 20)) || !rec3.PrevEnd.IsZero() {
			t.Errorf("first activation with a future start = %s start=%s prevEnd=%s", ch3.Transition, fmtT(rec3.Start), fmtT(rec3.PrevEnd))
		}
	})

	working := ada().with("tenure.startDate", "2023-01-02")
	joined, _ := observe(t, p, nil, "u1", working, now.Add(-365*day))

	t.Run("leaver: active false ends now", func(t *testing.T) {
		rec, ch := observe(t, p, joined, "u1", working.with("active", false), now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 1, 2), end: now, state: StateTerminated})
	})
	t.Run("leaver: future-dated termination ends at the end of the local day", func(t *testing.T) {
		rec, ch := observe(t, p, joined, "u1", working.with("tenure.endDate", "2024-03-15"), now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 1, 2), end: berlinMidnight(2024, 3, 16), state: StateActive})
		if !ch.Effective.Equal(rec.End) {
			t.Errorf("Effective = %s", ch.Effective)
		}
		if st := rec.StateAt(rec.End); st != StateTerminated {
			t.Errorf("state at End = %s", st)
		}
		if st := rec.StateAt(rec.End.Add(-time.Nanosecond)); st != StateActive {
			t.Errorf("state just before End = %s", st)
		}
	})
	t.Run("leaver: a scheduled termination and a new start date in one write", func(t *testing.T) {
		rec, ch := observe(t, p, joined, "u1", working.with("tenure.startDate", "2023-02-01").with("tenure.endDate", "2024-03-15"), now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 2, 1), end: berlinMidnight(2024, 3, 16), state: StateActive})
		again, ch := observe(t, p, roundTrip(t, rec), "u1", working.with("tenure.startDate", "2023-02-01").with("tenure.endDate", "2024-03-15"), now.Add(time.Hour))
		if ch.Transition != None || again.Generation != rec.Generation {
			t.Errorf("the same write again: %s, generation %d → %d", ch.Transition, rec.Generation, again.Generation)
		}
	})
	t.Run("leaver: termination learned late takes effect now", func(t *testing.T) {
		rec, ch := observe(t, p, joined, "u1", working.with("tenure.endDate", "2024-01-15"), now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 1, 2), end: now, state: StateTerminated})
	})
	t.Run("leaver: active false before a scheduled end brings it forward", func(t *testing.T) {
		sched, _ := observe(t, p, joined, "u1", working.with("tenure.endDate", "2024-03-15"), now.Add(-day))
		rec, ch := observe(t, p, sched, "u1", working.with("tenure.endDate", "2024-03-15").with("active", false), now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 1, 2), end: now, state: StateTerminated})
	})
	t.Run("update: scheduled termination rescinded", func(t *testing.T) {
		sched, _ := observe(t, p, joined, "u1", working.with("tenure.endDate", "2024-03-15"), now.Add(-day))
		rec, ch := observe(t, p, sched, "u1", working, now)
		check(t, rec, ch, want{tr: Update, start: berlinMidnight(2023, 1, 2), state: StateActive})
	})
	t.Run("leaver: DELETE from the source keeps the identity", func(t *testing.T) {
		rec, ch := observe(t, p, joined, "u1", nil, now)
		check(t, rec, ch, want{tr: Leaver, start: berlinMidnight(2023, 1, 2), end: now, state: StateTerminated})
		if rec.UserID != "" || rec.ID != "u1" || !reflect.DeepEqual(rec.Identity.User, joined.Identity.User) || !rec.Purged.IsZero() {
			t.Errorf("after DELETE: userID=%q id=%q purged=%s identity kept=%v", rec.UserID, rec.ID, rec.Purged, reflect.DeepEqual(rec.Identity.User, joined.Identity.User))
		}
	})
	t.Run("pre-hire start moved later", func(t *testing.T) {
		pre, _ := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2024-03-20"), now)
		rec, ch := observe(t, p, pre, "u1", ada().with("tenure.startDate", "2024-04-02"), now.Add(time.Hour))
		check(t, rec, ch, want{tr: Update, start: berlinMidnight(2024, 4, 2), state: StatePending})
	})
	t.Run("pre-hire start moved to the past", func(t *testing.T) {
		pre, _ := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2024-03-20"), now.Add(-day))
		rec, ch := observe(t, p, pre, "u1", ada().with("tenure.startDate", "2024-02-26"), now)
		check(t, rec, ch, want{tr: Joiner, start: berlinMidnight(2024, 2, 26), state: StateActive})
	})

	left, _ := observe(t, p, joined, "u1", working.with("active", false), now.Add(-10*day))
	t.Run("rehire: same record, old hire date kept by HR, starts now", func(t *testing.T) {
		rec, ch := observe(t, p, left, "u1", working, now)
		check(t, rec, ch, want{tr: Rehire, start: now, prevEnd: now.Add(-10 * day), rehrd: now, state: StateActive})
	})
	t.Run("rehire: a new start date after the termination", func(t *testing.T) {
		rec, ch := observe(t, p, left, "u1", working.with("tenure.startDate", "2024-04-02"), now)
		check(t, rec, ch, want{tr: Rehire, start: berlinMidnight(2024, 4, 2), prevEnd: now.Add(-10 * day), rehrd: now, state: StatePending})
		if !ch.Effective.Equal(rec.Start) {
			t.Errorf("Effective = %s", ch.Effective)
		}
		// A later write back to the old hire date does not reach back into
		// the old employment: it means "started", i.e. now.
		rec2, ch2 := observe(t, p, rec, "u1", working.with("tenure.startDate", "2023-01-02"), now.Add(time.Hour))
		if ch2.Transition != Joiner || !rec2.Start.Equal(now.Add(time.Hour)) || !rec2.PrevEnd.Equal(rec.PrevEnd) {
			t.Errorf("start moved back to the old hire date: %s start %s prevEnd %s", ch2.Transition, rec2.Start, rec2.PrevEnd)
		}
	})
	t.Run("rehire: by correlation after a DELETE, new SCIM id, same person", func(t *testing.T) {
		gone, _ := observe(t, p, joined, "u1", nil, now.Add(-10*day))
		rec, ch := observe(t, p, gone, "u2", working.with("userName", "ada.l"), now)
		check(t, rec, ch, want{tr: Rehire, start: now, prevEnd: now.Add(-10 * day), rehrd: now, state: StateActive})
		if rec.ID != "u1" || rec.UserID != "u2" || rec.Identity.User["userName"] != "ada.l" {
			t.Errorf("id=%q userID=%q userName=%v", rec.ID, rec.UserID, rec.Identity.User["userName"])
		}
	})
	t.Run("rehire: by correlation while the old record still exists", func(t *testing.T) {
		rec, ch := observe(t, p, left, "u2", working, now)
		if ch.Transition != Rehire || rec.ID != "u1" || rec.UserID != "u2" {
			t.Errorf("transition=%s id=%q userID=%q", ch.Transition, rec.ID, rec.UserID)
		}
	})
	t.Run("correlation match of an inactive new record is no rehire", func(t *testing.T) {
		gone, _ := observe(t, p, joined, "u1", nil, now.Add(-10*day))
		rec, ch := observe(t, p, gone, "u2", working.with("active", false).with("title", "Alumna"), now)
		if ch.Transition != None || rec.StateAt(now) != StateTerminated || !rec.End.Equal(gone.End) {
			t.Errorf("transition=%s state=%s end=%s", ch.Transition, rec.StateAt(now), rec.End)
		}
		if rec.Generation != gone.Generation+1 {
			t.Errorf("the identity changed, so the generation must move: %d → %d", gone.Generation, rec.Generation)
		}
	})
}

func TestObservePurge(t *testing.T) {
	p := compilePolicy(t, stdWith("source_delete: purge"))
	if p.SourceDelete != "purge" {
		t.Fatalf("source_delete = %q", p.SourceDelete)
	}
	now := t0
	joined, _ := observe(t, p, nil, "u1", ada(), now.Add(-day))

	rec, ch := observe(t, p, joined, "u1", nil, now)
	if ch.Transition != Leaver || !rec.Purged.Equal(now) || rec.StateAt(now) != StatePurged || rec.Generation != joined.Generation+1 {
		t.Errorf("purge of an active person: %s purged=%s state=%s gen=%d", ch.Transition, rec.Purged, rec.StateAt(now), rec.Generation)
	}

	// DELETE of someone already terminated still purges, and that is a
	// change the engine must converge (it moves the generation).
	left, _ := observe(t, p, joined, "u1", ada().with("active", false), now)
	rec, ch = observe(t, p, left, "u1", nil, now.Add(time.Hour))
	if ch.Transition != Leaver || rec.Purged.IsZero() || rec.Generation != left.Generation+1 {
		t.Errorf("purge of a leaver: %s purged=%s gen %d → %d", ch.Transition, rec.Purged, left.Generation, rec.Generation)
	}
	for _, target := range p.TargetNames {
		if d := desired(t, p, rec, target, true, now.Add(time.Hour)); d.Exists || !d.Next.IsZero() {
			t.Errorf("%s: purged person's account %+v next %s", target, d.Account, d.Next)
		}
	}

	// A purged person who comes back by correlation is a rehire.
	back, ch := observe(t, p, rec, "u2", ada(), now.Add(48*time.Hour))
	if ch.Transition != Rehire || !back.Purged.IsZero() || back.StateAt(now.Add(48*time.Hour)) != StateActive || back.ID != "u1" {
		t.Errorf("rehire of a purged person: %s purged=%s state=%s id=%s", ch.Transition, back.Purged, back.StateAt(now.Add(48*time.Hour)), back.ID)
	}
	if d := desired(t, p, back, "ad", false, now.Add(48*time.Hour)); !d.Exists || !d.Enabled {
		t.Errorf("rehired after purge: %+v", d.Account)
	}
}

func TestObserveGeneration(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	now := t0
	id := ada().with("enterprise.costCenter", json.Number("4711"))
	rec, _ := observe(t, p, nil, "u1", id, now)
	if rec.Generation != 1 {
		t.Fatalf("generation of a new record = %d", rec.Generation)
	}
	steps := []struct {
		name string
		doc  *Identity
		gen  uint64
		tr   Transition
	}{
		{"identical write", id, 1, None},
		{"identical write after a storage round trip", id, 1, None},
		{"non-position attribute", id.with("nickName", "Countess"), 2, Update},
		{"same again", id.with("nickName", "Countess"), 2, None},
		{"groups reordered", id.with("nickName", "Countess").withGroups("b", "a"), 3, Update},
		{"groups same set", id.with("nickName", "Countess").withGroups("a", "b"), 3, None},
		{"mover", id.with("nickName", "Countess").withGroups("a", "b").with("title", "CTO"), 4, Mover},
	}
	for i, s := range steps {
		if i == 1 {
			rec = roundTrip(t, rec)
		}
		before := rec
		var ch Change
		rec, ch = observe(t, p, rec, "u1", s.doc, now.Add(time.Duration(i+1)*time.Minute))
		if rec.Generation != s.gen || ch.Transition != s.tr {
			t.Errorf("%s: generation %d transition %s, want %d %s", s.name, rec.Generation, ch.Transition, s.gen, s.tr)
		}
		if s.tr == None && (len(rec.History) != len(before.History) || !rec.Changed.Equal(before.Changed)) {
			t.Errorf("%s: a no-op write recorded an event or moved Changed", s.name)
		}
		if s.tr != None && !rec.Changed.Equal(now.Add(time.Duration(i+1)*time.Minute)) {
			t.Errorf("%s: Changed = %s", s.name, rec.Changed)
		}
		if before.Generation == rec.Generation && before != rec && len(before.History) != len(rec.History) {
			t.Errorf("%s: history grew without a generation", s.name)
		}
	}
}

func TestObserveDoesNotChangeItsInput(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	rec, _ := observe(t, p, nil, "u1", ada().withGroups("a"), t0)
	snap, _ := json.Marshal(rec)
	_, _ = observe(t, p, rec, "u1", ada().with("enterprise.department", "Sales").withGroups("b"), t0.Add(time.Hour))
	_, _ = observe(t, p, rec, "u1", nil, t0.Add(time.Hour))
	if after, _ := json.Marshal(rec); string(after) != string(snap) {
		t.Errorf("Observe changed the record it was given:\n%s\n%s", snap, after)
	}
}

func TestObserveHistoryBounded(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	now := t0
	rec, _ := observe(t, p, nil, "u1", ada(), now)
	titles := []string{"A", "B"}
	for i := range 2 * MaxHistory {
		rec, _ = observe(t, p, rec, "u1", ada().with("title", titles[i%2]), now.Add(time.Duration(i+1)*time.Minute))
	}
	if len(rec.History) != MaxHistory {
		t.Fatalf("len(History) = %d, want %d", len(rec.History), MaxHistory)
	}
	if rec.Generation != uint64(2*MaxHistory+1) {
		t.Errorf("Generation = %d", rec.Generation)
	}
	first, last := rec.History[0], rec.History[MaxHistory-1]
	if !last.At.Equal(now.Add(2*MaxHistory*time.Minute)) || !first.At.Equal(now.Add((MaxHistory+1)*time.Minute)) {
		t.Errorf("history spans %s..%s, want the most recent %d, oldest first", first.At, last.At, MaxHistory)
	}
	if last.Transition != Mover || !reflect.DeepEqual(last.Changed, []string{"title"}) {
		t.Errorf("last event = %+v", last)
	}
}

func TestObserveMoverGrants(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	now := t0
	eng := ada().with("tenure.startDate", "2023-01-02").with("userType", "Employee")
	rec, _ := observe(t, p, nil, "u1", eng, now.Add(-30*day))
	grace := now.Add(72 * time.Hour)

	t.Run("mover keeps what the old position granted until the grace ends", func(t *testing.T) {
		moved, ch := observe(t, p, rec, "u1", eng.with("enterprise.department", "Sales"), now)
		if ch.Transition != Mover || !moved.Moved.Equal(now) {
			t.Fatalf("transition %s moved %s", ch.Transition, moved.Moved)
		}
		want := []OldGrant{
			{Target: "ad", Entitlement: "CN=Engineering", Until: grace},
			{Target: "wiki", Entitlement: "editors", Until: grace},
		}
		if !reflect.DeepEqual(moved.OldGrants, want) {
			t.Errorf("OldGrants = %+v, want %+v", moved.OldGrants, want)
		}
		// Moving again inside the grace: the first position's grants keep
		// their own end, the second position's start theirs.
		again, _ := observe(t, p, moved, "u1", eng.with("enterprise.department", "Support"), now.Add(time.Hour))
		want = append(want, OldGrant{Target: "ad", Entitlement: "CN=Sales", Until: grace.Add(time.Hour)})
		if !reflect.DeepEqual(again.OldGrants, want) {
			t.Errorf("OldGrants after a second move = %+v, want %+v", again.OldGrants, want)
		}
		// An unrelated write after the grace drops them without a new generation.
		later, ch := observe(t, p, moved, "u1", eng.with("enterprise.department", "Sales"), grace)
		if len(later.OldGrants) != 0 || ch.Transition != None || later.Generation != moved.Generation {
			t.Errorf("after the grace: %+v %s gen %d→%d", later.OldGrants, ch.Transition, moved.Generation, later.Generation)
		}
	})
	t.Run("an old time-bound grant ending inside the grace keeps its own end", func(t *testing.T) {
		proj := eng.with("tenure.projectEnd", "2024-03-02") // ends 2024-03-03 00:00 Berlin, inside the grace
		r1, _ := observe(t, p, rec, "u1", proj, now.Add(-day))
		moved, _ := observe(t, p, r1, "u1", eng.with("enterprise.department", "Sales"), now)
		want := []OldGrant{
			{Target: "ad", Entitlement: "CN=Engineering", Until: grace},
			{Target: "ad", Entitlement: "CN=Project X", Until: berlinMidnight(2024, 3, 3).UTC()},
			{Target: "wiki", Entitlement: "editors", Until: grace},
		}
		if !reflect.DeepEqual(moved.OldGrants, want) {
			t.Errorf("OldGrants = %+v, want %+v", moved.OldGrants, want)
		}
	})
	t.Run("conversion with revoke_all revokes at once, earlier grace too", func(t *testing.T) {
		moved, _ := observe(t, p, rec, "u1", eng.with("enterprise.department", "Sales"), now)
		conv, ch := observe(t, p, moved, "u1", eng.with("enterprise.department", "Sales").with("userType", "Contractor"), now.Add(time.Hour))
		if ch.Transition != Conversion || len(conv.OldGrants) != 0 || !conv.Moved.Equal(now.Add(time.Hour)) {
			t.Errorf("conversion: %s %+v moved %s", ch.Transition, conv.OldGrants, conv.Moved)
		}
	})
	t.Run("conversion without revoke_all is a mover", func(t *testing.T) {
		pk := compilePolicy(t, stdWith("conversion: {revoke_all: false}"))
		conv, ch := observe(t, pk, rec, "u1", eng.with("userType", "Contractor"), now)
		// No rule grants employees anything contractors lack: nothing to keep.
		if ch.Transition != Conversion || len(conv.OldGrants) != 0 {
			t.Errorf("conversion: %s %+v", ch.Transition, conv.OldGrants)
		}
		conv, _ = observe(t, pk, rec, "u1", eng.with("userType", "Contractor").with("enterprise.department", "Sales"), now)
		want := []OldGrant{
			{Target: "ad", Entitlement: "CN=Engineering", Until: grace},
			{Target: "wiki", Entitlement: "editors", Until: grace},
		}
		if !reflect.DeepEqual(conv.OldGrants, want) {
			t.Errorf("OldGrants = %+v, want %+v", conv.OldGrants, want)
		}
	})
	t.Run("mover_grace 0s revokes at once", func(t *testing.T) {
		p0 := compilePolicy(t, strings.Replace(stdPolicy, "mover_grace: 72h", "mover_grace: 0s", 1))
		moved, ch := observe(t, p0, rec, "u1", eng.with("enterprise.department", "Sales"), now)
		if ch.Transition != Mover || len(moved.OldGrants) != 0 {
			t.Errorf("%s %+v", ch.Transition, moved.OldGrants)
		}
	})
	t.Run("rehire forgets kept grants", func(t *testing.T) {
		moved, _ := observe(t, p, rec, "u1", eng.with("enterprise.department", "Sales"), now)
		left, _ := observe(t, p, moved, "u1", eng.with("active", false), now.Add(time.Hour))
		back, _ := observe(t, p, left, "u1", eng, now.Add(2*time.Hour))
		if len(back.OldGrants) != 0 {
			t.Errorf("OldGrants after rehire = %+v", back.OldGrants)
		}
	})
}

func TestCompileConfigMoverGraceAndRevokeAll(t *testing.T) {
	p := compilePolicy(t, "lifecycle:\n  mover_grace: 0s\n  conversion: {revoke_all: false}\n")
	if p.MoverGrace != 0 || p.RevokeAll {
		t.Errorf("mover_grace 0s / revoke_all false: %s %v", p.MoverGrace, p.RevokeAll)
	}
	p = compilePolicy(t, "")
	if p.MoverGrace != 72*time.Hour || !p.RevokeAll || p.PrehireLead != 72*time.Hour || p.SourceDelete != "leaver" ||
		p.ConversionAttr != "userType" || p.Location != time.UTC || p.Correlation != nil || len(p.Targets) != 0 {
		t.Errorf("defaults: %+v", p)
	}
}

// A rule that fails on the data must not refuse the HR system's write; the
// converge reports it.
func TestObserveMoverWithFailingRule(t *testing.T) {
	p := compilePolicy(t, `
birthright:
  - name: broken
    when: int(user.title) > 0
    grants: {dir: [x]}
  - name: fine
    when: 'user.title == "Engineer"'
    grants: {dir: [eng]}
targets:
  - {name: dir, kind: test}
`)
	rec, _ := observe(t, p, nil, "u1", ada(), t0.Add(-day))
	moved, ch, err := p.Observe(rec, "u1", "hr", ada().with("title", "Manager"), t0)
	if err != nil || ch.Transition != Mover {
		t.Fatalf("Observe = %s, %v", ch.Transition, err)
	}
	if len(moved.OldGrants) != 0 {
		t.Errorf("OldGrants = %+v", moved.OldGrants)
	}
	if _, err := p.Desired(moved, "dir", true, t0); err == nil || !strings.Contains(err.Error(), "birthright[0].when") {
		t.Errorf("Desired error = %v", err)
	}
}
