package mapper

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// step is one point of a timeline: the desired state of target at at.
type step struct {
	label  string
	at     time.Time
	target string
	linked bool
	want   wantAcct
}

func runSteps(t *testing.T, p *Policy, rec *Record, steps []step) {
	t.Helper()
	for _, s := range steps {
		d := desired(t, p, rec, s.target, s.linked, s.at)
		s.want.check(t, s.target+" "+s.label, d)
		if !d.Next.IsZero() && !d.Next.After(s.at) {
			t.Errorf("%s %s: Next %s is not after now", s.target, s.label, d.Next)
		}
	}
}

var (
	engEnts     = []string{"CN=Engineering", "CN=Staff"}
	engOnbEnts  = []string{"CN=Engineering", "CN=Onboarding", "CN=Staff"}
	wikiEngEnts = []string{"editors", "readers"}
	ns          = time.Nanosecond
)

// employee is Ada, working since 2023 (so her onboarding grant is over),
// as a record observed a year before t0.
func employee(t *testing.T, p *Policy) (*Identity, *Record) {
	id := ada().with("tenure.startDate", "2023-01-02")
	rec, _ := observe(t, p, nil, "u1", id, t0.Add(-365*day))
	return id, rec
}

// TestDesiredDesignExample is design §1's example: a leaver at T with
// disable, move_to ou=disabled and delete_after 720h.
func TestDesiredDesignExample(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	rec, ch := observe(t, p, rec, "u1", id.with("tenure.endDate", "2024-03-15"), t0)
	T := berlinMidnight(2024, 3, 16) // the end of the 15th, Berlin time
	if ch.Transition != Leaver || !ch.Effective.Equal(T) || !rec.End.Equal(T) {
		t.Fatalf("scheduling the termination: %s effective %s end %s", ch.Transition, ch.Effective, rec.End)
	}
	del := T.Add(720 * time.Hour)
	runSteps(t, p, rec, []step{
		{"t<T (now)", t0, "ad", true, wantAcct{true, true, engOU, engEnts, T}},
		{"t<T (just before)", T.Add(-ns), "ad", true, wantAcct{true, true, engOU, engEnts, T}},
		{"t=T", T, "ad", true, wantAcct{true, false, disabledOU, nil, del}},
		{"T<t<T+30d", T.Add(15 * day), "ad", true, wantAcct{true, false, disabledOU, nil, del}},
		{"just before T+30d", del.Add(-ns), "ad", true, wantAcct{true, false, disabledOU, nil, del}},
		{"t=T+30d", del, "ad", true, wantAcct{}},
		{"t>T+30d", del.Add(365 * day), "ad", true, wantAcct{}},
	})
}

func TestDesiredLeaverModes(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	T := t0.Add(time.Hour)
	left, ch := observe(t, p, rec, "u1", id.with("active", false), T)
	if ch.Transition != Leaver || !left.End.Equal(T) {
		t.Fatalf("%s end %s", ch.Transition, left.End)
	}
	runSteps(t, p, left, []step{
		// mode delete: gone at T.
		{"delete, before T", t0, "app", true, wantAcct{true, true, "", []string{"users"}, T}},
		{"delete, at T", T, "app", true, wantAcct{}},
		{"delete, later", T.Add(day), "app", true, wantAcct{}},
		// disable without move_to or delete_after: kept, disabled, forever.
		{"disable only, at T", T, "wiki", true, wantAcct{true, false, "", nil, time.Time{}}},
		{"disable only, years later", T.Add(3 * 365 * day), "wiki", true, wantAcct{true, false, "", nil, time.Time{}}},
		// disable + move + delete after.
		{"move and delete, at T", T, "ad", true, wantAcct{true, false, disabledOU, nil, T.Add(720 * time.Hour)}},
		{"move and delete, after", T.Add(720 * time.Hour), "ad", true, wantAcct{}},
		// Someone who never had an account gets none.
		{"unlinked, move and delete", T, "ad", false, wantAcct{}},
		{"unlinked, disable only", T, "wiki", false, wantAcct{}},
		{"unlinked, delete", T, "app", false, wantAcct{}},
	})

	t.Run("source DELETE in leaver mode follows each target's mode", func(t *testing.T) {
		gone, _ := observe(t, p, rec, "u1", nil, T)
		runSteps(t, p, gone, []step{
			{"at T", T, "ad", true, wantAcct{true, false, disabledOU, nil, T.Add(720 * time.Hour)}},
			{"at T", T, "app", true, wantAcct{}},
			{"at T", T, "wiki", true, wantAcct{true, false, "", nil, time.Time{}}},
		})
		// The mapped attributes still come from the last document.
		if d := desired(t, p, gone, "ad", true, T); d.Attributes["sAMAccountName"] != "ada" {
			t.Errorf("attributes after DELETE: %v", d.Attributes)
		}
	})
}

func TestDesiredPrehire(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	rec, ch := observe(t, p, nil, "u1", ada().with("tenure.startDate", "2024-03-20"), t0)
	S := berlinMidnight(2024, 3, 20)
	open := S.Add(-72 * time.Hour)
	if ch.Transition != PreHire || !rec.Start.Equal(S) {
		t.Fatalf("%s start %s", ch.Transition, rec.Start)
	}
	runSteps(t, p, rec, []step{
		{"before the window", t0, "ad", false, wantAcct{false, false, "", nil, open}},
		{"just before the window", open.Add(-ns), "ad", false, wantAcct{false, false, "", nil, open}},
		{"window opens", open, "ad", false, wantAcct{true, false, engOU, engOnbEnts, S}},
		{"window, linked", open.Add(time.Hour), "ad", true, wantAcct{true, false, engOU, engOnbEnts, S}},
		{"just before the start", S.Add(-ns), "ad", true, wantAcct{true, false, engOU, engOnbEnts, S}},
		{"start", S, "ad", true, wantAcct{true, true, engOU, engOnbEnts, S.Add(720 * time.Hour)}},
		{"onboarding over", S.Add(720 * time.Hour), "ad", true, wantAcct{true, true, engOU, engEnts, time.Time{}}},
		{"window opens", open, "app", false, wantAcct{true, false, "", []string{"users"}, S}},
		{"start", S, "app", true, wantAcct{true, true, "", []string{"users"}, time.Time{}}},
		{"window opens", open, "wiki", false, wantAcct{true, false, "", wikiEngEnts, S}},
	})
	if d := desired(t, p, rec, "app", false, open); d.Attributes["active"] != false {
		t.Errorf("app attribute active in the pre-hire window = %v", d.Attributes["active"])
	}
	if d := desired(t, p, rec, "app", true, S); d.Attributes["active"] != true {
		t.Errorf("app attribute active at the start = %v", d.Attributes["active"])
	}

	t.Run("start moved later after the account exists: kept disabled, not deleted", func(t *testing.T) {
		moved, ch := observe(t, p, rec, "u1", ada().with("tenure.startDate", "2024-04-20"), open.Add(time.Hour))
		S2 := berlinMidnight(2024, 4, 20)
		open2 := S2.Add(-72 * time.Hour)
		if ch.Transition != Update || !moved.Start.Equal(S2) {
			t.Fatalf("%s start %s", ch.Transition, moved.Start)
		}
		runSteps(t, p, moved, []step{
			{"linked", open.Add(time.Hour), "ad", true, wantAcct{true, false, engOU, nil, open2}},
			{"unlinked", open.Add(time.Hour), "ad", false, wantAcct{false, false, "", nil, open2}},
			{"linked, a week later", open.Add(7 * day), "ad", true, wantAcct{true, false, engOU, nil, open2}},
			{"new window", open2, "ad", true, wantAcct{true, false, engOU, engOnbEnts, S2}},
			{"new start", S2, "ad", true, wantAcct{true, true, engOU, engOnbEnts, S2.Add(720 * time.Hour)}},
		})
	})

	t.Run("no prehire lead: the account appears at the start, enabled", func(t *testing.T) {
		// prehire_lead: 0s (accounts at the start date itself).
		p0 := compilePolicy(t, stdPolicy)
		p0.PrehireLead = 0
		rec0, _ := observe(t, p0, nil, "u1", ada().with("tenure.startDate", "2024-03-20"), t0)
		runSteps(t, p0, rec0, []step{
			{"before", S.Add(-ns), "ad", false, wantAcct{false, false, "", nil, S}},
			{"start", S, "ad", false, wantAcct{true, true, engOU, engOnbEnts, S.Add(720 * time.Hour)}},
		})
	})
}

func TestDesiredMover(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	grace := t0.Add(72 * time.Hour)
	moved, _ := observe(t, p, rec, "u1", id.with("enterprise.department", "Sales"), t0)
	salesNow := []string{"CN=Engineering", "CN=Sales", "CN=Staff"}
	runSteps(t, p, moved, []step{
		{"at the move", t0, "ad", true, wantAcct{true, true, salesOU, salesNow, grace}},
		{"just before the grace ends", grace.Add(-ns), "ad", true, wantAcct{true, true, salesOU, salesNow, grace}},
		{"grace over", grace, "ad", true, wantAcct{true, true, salesOU, []string{"CN=Sales", "CN=Staff"}, time.Time{}}},
		{"at the move", t0, "wiki", true, wantAcct{true, true, "", wikiEngEnts, grace}},
		{"grace over", grace, "wiki", true, wantAcct{true, true, "", []string{"readers"}, time.Time{}}},
		{"no old grants there", t0, "app", true, wantAcct{true, true, "", []string{"users"}, time.Time{}}},
	})
	d := desired(t, p, moved, "ad", true, t0)
	var kept *Grant
	for i, g := range d.Grants {
		if g.Entitlement == "CN=Engineering" {
			kept = &d.Grants[i]
		}
	}
	if kept == nil || kept.Rule != "mover grace" || !kept.Until.Equal(grace) {
		t.Errorf("grant of the old position = %+v", kept)
	}
	if d.Attributes["department"] != "Sales" {
		t.Errorf("department attribute = %v", d.Attributes["department"])
	}

	t.Run("conversion revokes the old type's access at once", func(t *testing.T) {
		emp := id.with("userType", "Employee")
		r, _ := observe(t, p, nil, "u1", emp, t0.Add(-365*day))
		conv, ch := observe(t, p, r, "u1", emp.with("userType", "Contractor").with("enterprise.department", "Sales"), t0)
		if ch.Transition != Conversion {
			t.Fatalf("transition %s", ch.Transition)
		}
		runSteps(t, p, conv, []step{
			{"at the conversion", t0, "ad", true, wantAcct{true, true, salesOU, []string{"CN=Contractors", "CN=Sales", "CN=Staff"}, time.Time{}}},
			{"at the conversion", t0, "wiki", true, wantAcct{true, true, "", []string{"readers"}, time.Time{}}},
			// The app is for employees: a delete-mode target keeps no disabled accounts.
			{"at the conversion, out of the app's scope", t0, "app", true, wantAcct{}},
		})
	})
}

func TestDesiredTimeBoundGrants(t *testing.T) {
	p := compilePolicy(t, stdPolicy)

	t.Run("for counts from the start", func(t *testing.T) {
		rec, _ := observe(t, p, nil, "u1", ada(), t0)
		end := t0.Add(720 * time.Hour)
		runSteps(t, p, rec, []step{
			{"granted", t0, "ad", false, wantAcct{true, true, engOU, engOnbEnts, end}},
			{"expired", end, "ad", true, wantAcct{true, true, engOU, engEnts, time.Time{}}},
		})
		d := desired(t, p, rec, "ad", false, t0)
		for _, g := range d.Grants {
			if g.Entitlement == "CN=Onboarding" && (g.Rule != "onboarding" || !g.Until.Equal(end)) {
				t.Errorf("onboarding grant = %+v", g)
			}
		}
	})
	t.Run("until a date: the end of that local day", func(t *testing.T) {
		id, rec := employee(t, p)
		rec, _ = observe(t, p, rec, "u1", id.with("tenure.projectEnd", "2024-03-10"), t0)
		until := berlinMidnight(2024, 3, 11)
		with := []string{"CN=Engineering", "CN=Project X", "CN=Staff"}
		runSteps(t, p, rec, []step{
			{"granted", t0, "ad", true, wantAcct{true, true, engOU, with, until}},
			{"last instant", until.Add(-ns), "ad", true, wantAcct{true, true, engOU, with, until}},
			{"expired", until, "ad", true, wantAcct{true, true, engOU, engEnts, time.Time{}}},
		})
		// In the person's own zone.
		rec, _ = observe(t, p, rec, "u1", id.with("tenure.projectEnd", "2024-03-10").with("timezone", "Asia/Kolkata"), t0)
		if d := desired(t, p, rec, "ad", true, t0); !d.Next.Equal(time.Date(2024, 3, 10, 18, 30, 0, 0, time.UTC)) {
			t.Errorf("Next in Kolkata = %s", d.Next)
		}
		// Already past: never granted.
		rec, _ = observe(t, p, rec, "u1", id.with("tenure.projectEnd", "2024-02-01"), t0)
		if d := desired(t, p, rec, "ad", true, t0); !reflect.DeepEqual(d.Entitlements, engEnts) || !d.Next.IsZero() {
			t.Errorf("expired grant: %v next %s", d.Entitlements, d.Next)
		}
	})
	t.Run("until a timestamp", func(t *testing.T) {
		tp := compilePolicy(t, `
birthright:
  - name: fixed
    when: "true"
    until: timestamp("2024-03-05T00:00:00Z")
    grants: {dir: [fixed]}
  - name: ten-days
    when: "true"
    until: lifecycle.start + duration("240h")
    grants: {dir: [ten-days]}
  - name: rfc3339-attribute
    when: "true"
    until: tenure.accessEnd
    grants: {dir: [attr]}
  - name: open-ended
    when: "true"
    until: tenure.noSuchDate
    grants: {dir: [open]}
targets:
  - name: dir
    kind: test
`)
		rec, _ := observe(t, tp, nil, "u1", ada().with("tenure.accessEnd", "2024-03-03T12:00:00+01:00"), t0)
		attrEnd := time.Date(2024, 3, 3, 11, 0, 0, 0, time.UTC)
		fixed := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
		ten := t0.Add(240 * time.Hour)
		runSteps(t, tp, rec, []step{
			{"all", t0, "dir", false, wantAcct{true, true, "", []string{"attr", "fixed", "open", "ten-days"}, attrEnd}},
			{"attribute time passed", attrEnd, "dir", true, wantAcct{true, true, "", []string{"fixed", "open", "ten-days"}, fixed}},
			{"fixed passed", fixed, "dir", true, wantAcct{true, true, "", []string{"open", "ten-days"}, ten}},
			{"ten days passed", ten, "dir", true, wantAcct{true, true, "", []string{"open"}, time.Time{}}},
		})
	})
	t.Run("an invalid until date fails the converge", func(t *testing.T) {
		id, rec := employee(t, p)
		rec, _ = observe(t, p, rec, "u1", id.with("tenure.projectEnd", "end of Q2"), t0)
		if _, err := p.Desired(rec, "ad", true, t0); err == nil || !strings.Contains(err.Error(), "birthright[5].until") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDesiredScope(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	inVPN, _ := observe(t, p, rec, "u1", id.withGroups("vpn-users"), t0)
	outVPN, ch := observe(t, p, inVPN, "u1", id, t0.Add(time.Hour))
	if ch.Transition != Update {
		t.Fatalf("leaving the group: %s", ch.Transition)
	}
	T := t0.Add(10 * day)
	left, _ := observe(t, p, outVPN, "u1", id.with("active", false), T)
	runSteps(t, p, rec, []step{
		{"never in scope", t0, "vpn", false, wantAcct{}},
	})
	runSteps(t, p, inVPN, []step{
		{"in scope", t0, "vpn", false, wantAcct{true, true, "", []string{"vpn"}, time.Time{}}},
	})
	runSteps(t, p, outVPN, []step{
		{"left scope, linked: disabled and moved", t0.Add(time.Hour), "vpn", true, wantAcct{true, false, "ou=disabled-vpn", nil, time.Time{}}},
		{"left scope, a year on: never deleted by the clock", t0.Add(365 * day), "vpn", true, wantAcct{true, false, "ou=disabled-vpn", nil, time.Time{}}},
		{"left scope, unlinked", t0.Add(time.Hour), "vpn", false, wantAcct{}},
	})
	runSteps(t, p, left, []step{
		{"terminated later: the leaver clock runs", T, "vpn", true, wantAcct{true, false, "ou=disabled-vpn", nil, T.Add(240 * time.Hour)}},
		{"terminated later: deleted", T.Add(240 * time.Hour), "vpn", true, wantAcct{}},
	})
	back, _ := observe(t, p, outVPN, "u1", id.withGroups("vpn-users"), t0.Add(2*time.Hour))
	runSteps(t, p, back, []step{
		{"back in scope", t0.Add(2 * time.Hour), "vpn", true, wantAcct{true, true, "", []string{"vpn"}, time.Time{}}},
	})

	t.Run("a pre-hire out of scope", func(t *testing.T) {
		pre, _ := observe(t, p, nil, "u2", ada().with("tenure.startDate", "2024-03-20").with("userType", "Contractor"), t0)
		open := berlinMidnight(2024, 3, 20).Add(-72 * time.Hour)
		runSteps(t, p, pre, []step{
			{"window, unlinked", open, "app", false, wantAcct{false, false, "", nil, berlinMidnight(2024, 3, 20)}},
			{"window, in scope elsewhere", open, "ad", false, wantAcct{true, false, engOU, []string{"CN=Contractors", "CN=Engineering", "CN=Onboarding", "CN=Staff"}, berlinMidnight(2024, 3, 20)}},
		})
	})
	t.Run("a scope that fails to evaluate fails the converge", func(t *testing.T) {
		bad := compilePolicy(t, "targets:\n  - name: dir\n    kind: test\n    scope: int(user.title) > 3\n")
		r, _ := observe(t, bad, nil, "u1", ada(), t0)
		if _, err := bad.Desired(r, "dir", true, t0); err == nil || !strings.Contains(err.Error(), "targets[0].scope") {
			t.Errorf("err = %v (an error must not read as out of scope)", err)
		}
	})
}

func TestDesiredRehire(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	T := t0
	left, _ := observe(t, p, rec, "u1", id.with("active", false), T)
	del := T.Add(720 * time.Hour)

	t.Run("inside the delete window: same account, enabled, moved back, nothing deleted", func(t *testing.T) {
		R := T.Add(10 * day)
		back, ch := observe(t, p, left, "u1", id, R)
		if ch.Transition != Rehire {
			t.Fatalf("transition %s", ch.Transition)
		}
		runSteps(t, p, back, []step{
			{"rehired", R, "ad", true, wantAcct{true, true, engOU, engOnbEnts, R.Add(720 * time.Hour)}},
			{"when the old delete was due", del, "ad", true, wantAcct{true, true, engOU, engOnbEnts, R.Add(720 * time.Hour)}},
			// The app deleted the account at T: a new one is created.
			{"rehired, account was deleted", R, "app", false, wantAcct{true, true, "", []string{"users"}, time.Time{}}},
			{"rehired", R, "wiki", true, wantAcct{true, true, "", wikiEngEnts, time.Time{}}},
		})
	})
	t.Run("with a future start: kept disabled until the new window, not deleted", func(t *testing.T) {
		R := T.Add(10 * day)
		back, ch := observe(t, p, left, "u1", id.with("tenure.startDate", "2024-04-30"), R)
		S := berlinMidnight(2024, 4, 30)
		open := S.Add(-72 * time.Hour)
		if ch.Transition != Rehire || !back.Start.Equal(S) || !back.PrevEnd.Equal(T) {
			t.Fatalf("%s start %s prevEnd %s", ch.Transition, back.Start, back.PrevEnd)
		}
		if !open.After(del) {
			t.Fatal("test needs the new window to open after the old delete time")
		}
		runSteps(t, p, back, []step{
			{"rehired", R, "ad", true, wantAcct{true, false, disabledOU, nil, open}},
			{"old delete time passes", del, "ad", true, wantAcct{true, false, disabledOU, nil, open}},
			{"new window", open, "ad", true, wantAcct{true, false, engOU, engOnbEnts, S}},
			{"new start", S, "ad", true, wantAcct{true, true, engOU, engOnbEnts, S.Add(720 * time.Hour)}},
			{"rehired, no account", R, "ad", false, wantAcct{false, false, "", nil, open}},
			{"new window, no account", open, "ad", false, wantAcct{true, false, engOU, engOnbEnts, S}},
			{"rehired", R, "wiki", true, wantAcct{true, false, "", nil, open}},
			{"rehired, account deleted at T", R, "app", false, wantAcct{false, false, "", nil, open}},
			{"delete-mode target never keeps a disabled account", R, "app", true, wantAcct{false, false, "", nil, open}},
			{"new window", open, "app", false, wantAcct{true, false, "", []string{"users"}, S}},
		})
	})
	t.Run("rehired after the account was deleted: a new account at once", func(t *testing.T) {
		R := del.Add(day)
		back, _ := observe(t, p, left, "u1", id, R)
		runSteps(t, p, back, []step{
			{"rehired", R, "ad", false, wantAcct{true, true, engOU, engOnbEnts, R.Add(720 * time.Hour)}},
		})
	})
	t.Run("by correlation, new SCIM record", func(t *testing.T) {
		gone, _ := observe(t, p, rec, "u1", nil, T)
		R := T.Add(5 * day)
		back, _ := observe(t, p, gone, "u7", id.with("userName", "ada2"), R)
		d := desired(t, p, back, "ad", true, R)
		wantAcct{true, true, engOU, engOnbEnts, R.Add(720 * time.Hour)}.check(t, "correlation rehire", d)
		if d.Attributes["sAMAccountName"] != "ada2" {
			t.Errorf("attributes follow the new record: %v", d.Attributes)
		}
	})
}

func TestDesiredNeverHired(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	rec, _ := observe(t, p, nil, "u1", ada().with("active", false), t0)
	for _, target := range p.TargetNames {
		runSteps(t, p, rec, []step{{"created inactive", t0, target, false, wantAcct{}}})
	}
	// An account that exists anyway (linked by hand) is a leaver's.
	runSteps(t, p, rec, []step{{"created inactive, linked", t0, "ad", true, wantAcct{true, false, disabledOU, nil, t0.Add(720 * time.Hour)}}})
}

func TestDesiredAttributesAndReferences(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	d := desired(t, p, rec, "ad", true, t0)
	want := map[string]any{"sAMAccountName": "ada", "title": "Engineer", "department": "Engineering", "sn": "Lovelace", "employeeNumber": "E100"}
	if !reflect.DeepEqual(d.Attributes, want) {
		t.Errorf("attributes = %v, want %v", d.Attributes, want)
	}
	if !reflect.DeepEqual(d.References, map[string]string{"manager": "mgr-1"}) {
		t.Errorf("references = %v", d.References)
	}
	bare, _ := observe(t, p, rec, "u1", id.with("title", nil).with("enterprise.manager", nil).with("name", nil).with("enterprise.department", nil), t0)
	d = desired(t, p, bare, "ad", true, t0)
	if want := map[string]any{"sAMAccountName": "ada", "employeeNumber": "E100"}; !reflect.DeepEqual(d.Attributes, want) {
		t.Errorf("missing fields must leave attributes unset: %v", d.Attributes)
	}
	if d.References != nil || d.Container != adOU {
		t.Errorf("references %v container %q", d.References, d.Container)
	}
	plain, _ := observe(t, p, rec, "u1", id.with("enterprise.manager", "mgr-3"), t0)
	if d := desired(t, p, plain, "ad", true, t0); d.References["manager"] != "mgr-3" {
		t.Errorf("manager as a plain string: %v", d.References)
	}
	if _, err := p.Desired(rec, "nope", true, t0); err == nil || !strings.Contains(err.Error(), `no target "nope"`) {
		t.Errorf("unknown target: %v", err)
	}
	if r, ok := p.Target("ad"); !ok || r.Name != "ad" || r.Kind != "test" {
		t.Errorf("Target(ad) = %+v %v", r, ok)
	}
	if want := []string{"ad", "app", "wiki", "vpn"}; !reflect.DeepEqual(p.TargetNames, want) {
		t.Errorf("TargetNames = %v", p.TargetNames)
	}
}

func TestCorrelate(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	for _, tt := range []struct {
		id   *Identity
		want string
	}{
		{ada(), "E100"},
		{ada().with("tenure.employeeNumber", nil), ""},
		{nil, ""},
	} {
		if got, err := p.Correlate(tt.id, t0); err != nil || got != tt.want {
			t.Errorf("Correlate = %q %v, want %q", got, err, tt.want)
		}
	}
	none := compilePolicy(t, "")
	if got, err := none.Correlate(ada(), t0); got != "" || err != nil {
		t.Errorf("no correlation configured: %q %v", got, err)
	}
	num := compilePolicy(t, "lifecycle: {correlation: 'string(tenure.employeeNumber)'}\n")
	if got, _ := num.Correlate(ada().with("tenure.employeeNumber", 4711.0), t0); got != "4711" {
		t.Errorf("numeric employee number read back as float64 correlates as %q", got)
	}
}
