package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// Issue 13 item 4: a new or changed user whose correlation key belongs to
// another live (active or pre-hire) person is refused with 409 uniqueness;
// a key that belongs to someone who left is a rehire.

// dupUser is a full SCIM user document with an employee number.
func dupUser(userName, empNo string, extra map[string]any) map[string]any {
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
		"name":     map[string]any{"givenName": strings.Split(userName, ".")[0], "familyName": "Test"},
	}
	if empNo != "" {
		body[enterpriseURN] = map[string]any{"employeeNumber": empNo}
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

func empNo(n string) map[string]any {
	return map[string]any{enterpriseURN: map[string]any{"employeeNumber": n}}
}

// send is env.do without failing on the status.
func (e *env) send(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.http.URL+"/scim/v2"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out
}

// wantUniqueness checks a 409 uniqueness answer whose detail holds every
// part.
func wantUniqueness(t *testing.T, status int, out map[string]any, parts ...string) {
	t.Helper()
	if status != http.StatusConflict || out["scimType"] != "uniqueness" {
		t.Fatalf("answer %d %v, want 409 uniqueness", status, out)
	}
	detail, _ := out["detail"].(string)
	for _, p := range parts {
		if !strings.Contains(detail, p) {
			t.Errorf("detail %q does not name %q", detail, p)
		}
	}
}

func (e *env) record(id string) *mapper.Record {
	e.t.Helper()
	v, err := e.eng.Identity(context.Background(), id)
	if err != nil {
		e.t.Fatalf("identity %s: %v", id, err)
	}
	return v.Record
}

// corrHolder reads the correlation index: the person holding key in source
// hr ("" if none).
func (e *env) corrHolder(key string) string {
	e.t.Helper()
	var pid string
	err := e.st.View(context.Background(), func(r store.Reader) error {
		b, err := r.GetDoc("corr", "hr/"+strconv.Quote(key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		pid = string(b)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return pid
}

func (e *env) userCount(userName string) int {
	e.t.Helper()
	out := e.do("GET", "/Users?filter="+strings.ReplaceAll(`userName eq "`+userName+`"`, " ", "%20"), nil, http.StatusOK)
	n, _ := out["totalResults"].(float64)
	return int(n)
}

// unchanged checks that the holder's record is as it was.
func (e *env) unchanged(before *mapper.Record) {
	e.t.Helper()
	now := e.record(before.ID)
	if now.Generation != before.Generation || now.UserID != before.UserID || now.Correlation != before.Correlation || len(now.History) != len(before.History) {
		e.t.Errorf("holder changed: generation %d→%d, user %s→%s, key %q→%q, %d→%d events",
			before.Generation, now.Generation, before.UserID, now.UserID, before.Correlation, now.Correlation, len(before.History), len(now.History))
	}
	if got := e.corrHolder(before.Correlation); got != before.ID {
		e.t.Errorf("key %q is held by %q, want %s", before.Correlation, got, before.ID)
	}
}

func TestCorrelationUniqueness(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"new active record with an active person's key", func(t *testing.T, e *env) {
			a := e.user("ada.one", empNo("E200"))
			e.run()
			before := e.record(a)
			status, out := e.send("POST", "/Users", dupUser("ada.two", "E200", nil))
			wantUniqueness(t, status, out, `"E200"`, "lifecycle.correlation", "active user "+a)
			if n := e.userCount("ada.two"); n != 0 {
				t.Errorf("the refused user is stored (%d)", n)
			}
			e.unchanged(before)
			if got := e.targets["dir"].Identities(); len(got) != 1 || got[0] != a {
				t.Errorf("accounts = %v, want only %s", got, a)
			}
			// The key is still A's: when A leaves, a new record is A back.
			e.clock.Add(time.Hour)
			e.patch(a, replace("active", false))
			c := e.user("ada.three", empNo("E200"))
			if rec := e.record(c); rec.ID != a || rec.History[len(rec.History)-1].Transition != mapper.Rehire {
				t.Errorf("after A left, the key's new record is person %s (%v), want a rehire of %s", rec.ID, rec.History, a)
			}
		}},
		{"new record with a pre-hire's key", func(t *testing.T, e *env) {
			a := e.user("bea.one", map[string]any{
				enterpriseURN: map[string]any{"employeeNumber": "E201"},
				tenureURN:     map[string]any{"startDate": "2026-12-15"},
			})
			before := e.record(a)
			if st := before.StateAt(e.clock.Now()); st != mapper.StatePending {
				t.Fatalf("holder is %s, want pending", st)
			}
			status, out := e.send("POST", "/Users", dupUser("bea.two", "E201", nil))
			wantUniqueness(t, status, out, `"E201"`, "pre-hire user "+a)
			if n := e.userCount("bea.two"); n != 0 {
				t.Errorf("the refused user is stored (%d)", n)
			}
			e.unchanged(before)
		}},
		{"active holder with a future end date", func(t *testing.T, e *env) {
			a := e.user("cat.one", map[string]any{
				enterpriseURN: map[string]any{"employeeNumber": "E202"},
				tenureURN:     map[string]any{"endDate": "2026-11-30"},
			})
			status, out := e.send("POST", "/Users", dupUser("cat.two", "E202", nil))
			wantUniqueness(t, status, out, "active user "+a)
			// Once the end is reached, the key is a leaver's: a rehire.
			e.clock.Set(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
			c := e.user("cat.two", empNo("E202"))
			if rec := e.record(c); rec.ID != a {
				t.Errorf("after the end date, the new record is person %s, want %s", rec.ID, a)
			}
		}},
		{"key of a terminated person is a rehire", func(t *testing.T, e *env) {
			a := e.user("dan.one", empNo("E203"))
			e.clock.Add(time.Hour)
			e.patch(a, replace("active", false))
			e.clock.Add(24 * time.Hour)
			c := e.user("dan.two", empNo("E203"))
			rec := e.record(c)
			if rec.ID != a || rec.UserID != c || rec.History[len(rec.History)-1].Transition != mapper.Rehire {
				t.Errorf("new record = person %s user %s (%v), want a rehire of %s", rec.ID, rec.UserID, rec.History, a)
			}
			if got := e.corrHolder("E203"); got != a {
				t.Errorf("key held by %q, want %s", got, a)
			}
		}},
		{"PUT of another user taking the key", func(t *testing.T, e *env) {
			a := e.user("eve.one", empNo("E204"))
			bid := e.user("eve.two", empNo("E205"))
			before, beforeB := e.record(a), e.record(bid)
			status, out := e.send("PUT", "/Users/"+bid, dupUser("eve.two", "E204", map[string]any{"title": "New"}))
			wantUniqueness(t, status, out, `"E204"`, "active user "+a)
			e.unchanged(before)
			e.unchanged(beforeB)
			got := e.do("GET", "/Users/"+bid, nil, http.StatusOK)
			if got["title"] != nil {
				t.Errorf("the refused PUT is stored: %v", got)
			}
		}},
		{"PATCH of another user taking the key", func(t *testing.T, e *env) {
			a := e.user("fay.one", empNo("E206"))
			bid := e.user("fay.two", nil) // no key yet
			before := e.record(a)
			status, out := e.send("PATCH", "/Users/"+bid, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{replace(enterpriseURN+":employeeNumber", "E206")},
			})
			wantUniqueness(t, status, out, `"E206"`, "active user "+a)
			e.unchanged(before)
			if rec := e.record(bid); rec.Correlation != "" {
				t.Errorf("B's key = %q, want none", rec.Correlation)
			}
		}},
		{"PATCH of the holder keeping its key", func(t *testing.T, e *env) {
			a := e.user("gus.one", empNo("E207"))
			e.clock.Add(time.Hour)
			e.patch(a, replace("title", "Engineer"))
			rec := e.record(a)
			if rec.Identity.User["title"] != "Engineer" || rec.Correlation != "E207" || e.corrHolder("E207") != a {
				t.Errorf("record = %+v, key held by %q", rec, e.corrHolder("E207"))
			}
			// And a PUT that resends everything.
			e.do("PUT", "/Users/"+a, dupUser("gus.one", "E207", map[string]any{"title": "Lead"}), http.StatusOK)
		}},
		{"the holder changing its own key frees the old one", func(t *testing.T, e *env) {
			a := e.user("hal.one", empNo("E208"))
			e.clock.Add(time.Hour)
			e.patch(a, replace(enterpriseURN+":employeeNumber", "E209"))
			if e.corrHolder("E208") != "" || e.corrHolder("E209") != a {
				t.Errorf("E208 held by %q, E209 by %q", e.corrHolder("E208"), e.corrHolder("E209"))
			}
			c := e.user("hal.two", empNo("E208"))
			if rec := e.record(c); rec.ID != c || e.corrHolder("E208") != c {
				t.Errorf("the freed key went to %s (%q)", rec.ID, e.corrHolder("E208"))
			}
		}},
		{"new inactive record is stored without the key", func(t *testing.T, e *env) {
			a := e.user("ida.one", empNo("E210"))
			before := e.record(a)
			body := dupUser("ida.two", "E210", map[string]any{"active": false})
			status, out := e.send("POST", "/Users", body)
			if status != http.StatusCreated {
				t.Fatalf("POST inactive: %d %v", status, out)
			}
			c := out["id"].(string)
			if rec := e.record(c); rec.ID != c || rec.Correlation != "" {
				t.Errorf("inactive record = person %s key %q, want its own person without a key", rec.ID, rec.Correlation)
			}
			e.unchanged(before)
			// Activating it is a second active record: refused.
			status, out = e.send("PATCH", "/Users/"+c, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{replace("active", true)},
			})
			wantUniqueness(t, status, out, "active user "+a)
		}},
		{"superseded first record", func(t *testing.T, e *env) {
			// A's first record is deactivated (it stays), A comes back
			// through a second record: the first no longer speaks for A.
			a := e.user("jo.one", empNo("E211"))
			e.clock.Add(time.Hour)
			e.patch(a, replace("active", false))
			e.clock.Add(24 * time.Hour)
			r2 := e.user("jo.two", empNo("E211"))
			before := e.record(r2)
			if before.ID != a || before.UserID != r2 {
				t.Fatalf("rehire = person %s user %s", before.ID, before.UserID)
			}
			status, out := e.send("PATCH", "/Users/"+a, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{replace("active", true)},
			})
			wantUniqueness(t, status, out, "user "+a+" was replaced by user "+r2)
			e.unchanged(before)
			// Updating it inactive is stored and changes nobody.
			e.patch(a, replace("title", "Old"))
			e.unchanged(before)
			// Deleting it too.
			e.do("DELETE", "/Users/"+a, nil, http.StatusNoContent)
			e.unchanged(before)
		}},
		{"index entry whose person is gone is free", func(t *testing.T, e *env) {
			a := e.user("kim.one", empNo("E212"))
			if err := e.st.Update(context.Background(), func(tx store.Tx) error { return tx.DeleteDoc("person", a) }); err != nil {
				t.Fatal(err)
			}
			c := e.user("kim.two", empNo("E212"))
			if rec := e.record(c); rec.ID != c || e.corrHolder("E212") != c {
				t.Errorf("new record = person %s, key held by %q; want %s", rec.ID, e.corrHolder("E212"), c)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) { tt.run(t, newEnv(t, b, policy)) })
		})
	}
}

// With source_delete: purge, a deleted person's key is a leaver's: a new
// record with it is that person back, and takes the key.
func TestCorrelationUniquenessPurged(t *testing.T) {
	pol := strings.Replace(policy, "  mover_grace: 168h\n", "  mover_grace: 168h\n  source_delete: purge\n", 1)
	if pol == policy {
		t.Fatal("policy not patched")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, pol)
		a := e.user("lea.one", empNo("E300"))
		e.run()
		e.clock.Add(time.Hour)
		e.do("DELETE", "/Users/"+a, nil, http.StatusNoContent)
		e.run()
		if st := e.record(a).StateAt(e.clock.Now()); st != mapper.StatePurged {
			t.Fatalf("deleted holder is %s, want purged", st)
		}
		e.clock.Add(time.Hour)
		c := e.user("lea.two", empNo("E300"))
		rec := e.record(c)
		if rec.ID != a || rec.UserID != c || rec.StateAt(e.clock.Now()) != mapper.StateActive {
			t.Errorf("new record = person %s user %s %s, want %s back, active", rec.ID, rec.UserID, rec.StateAt(e.clock.Now()), a)
		}
		if e.corrHolder("E300") != a {
			t.Errorf("key held by %q", e.corrHolder("E300"))
		}
	})
}

// Two POSTs with one key at once: the store serializes them, exactly one
// person gets the key.
func TestCorrelationUniquenessConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		const n = 8
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			created  []string
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, out := e.send("POST", "/Users", dupUser("max."+strconv.Itoa(i), "E400", nil))
				mu.Lock()
				defer mu.Unlock()
				statuses[status]++
				if status == http.StatusCreated {
					created = append(created, out["id"].(string))
				}
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != n-1 {
			t.Fatalf("statuses = %v, want one 201 and %d 409", statuses, n-1)
		}
		if got := e.corrHolder("E400"); got != created[0] {
			t.Errorf("key held by %q, want %s", got, created[0])
		}
	})
}

// Plan says what the intake would refuse, through the same check.
func TestPlanRefusal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		ctx := context.Background()
		a := e.user("ned.one", empNo("E500"))
		left := e.user("ned.two", empNo("E501"))
		e.clock.Add(time.Hour)
		e.patch(left, replace("active", false))

		// A new document with A's key: refused, nothing planned.
		p, err := e.eng.Plan(ctx, engine.PlanRequest{User: dupUser("ned.three", "E500", nil), Source: "hr"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Refused == nil || p.Refused.Status != http.StatusConflict || p.Refused.ScimType != "uniqueness" ||
			!strings.Contains(p.Refused.Detail, "active user "+a) || len(p.Targets) != 0 || p.Person != "" {
			t.Errorf("plan = %+v, refused %+v; want a 409 uniqueness naming %s and no targets", p, p.Refused, a)
		}
		// The intake agrees.
		status, out := e.send("POST", "/Users", dupUser("ned.three", "E500", nil))
		wantUniqueness(t, status, out, p.Refused.Detail)

		// A change of the leaver's record to A's key: refused too (it would be
		// a rehire with a taken key).
		doc := dupUser("ned.two", "E500", nil)
		doc["id"] = left
		if p, err = e.eng.Plan(ctx, engine.PlanRequest{User: doc}); err != nil || p.Refused == nil {
			t.Errorf("plan of %s taking A's key = %+v, %v; want refused", left, p, err)
		}

		// The leaver's key in a new document: a rehire, not refused.
		p, err = e.eng.Plan(ctx, engine.PlanRequest{User: dupUser("ned.four", "E501", nil), Source: "hr"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Refused != nil || p.Person != left || p.Change.Transition != mapper.Rehire {
			t.Errorf("plan = person %s %s, refused %+v; want a rehire of %s", p.Person, p.Change.Transition, p.Refused, left)
		}

		// The leaver's first record, after they came back through another:
		// active again is refused, inactive changes nobody.
		e.clock.Add(time.Hour)
		back := e.user("ned.back", empNo("E501"))
		doc = dupUser("ned.two", "E501", nil)
		doc["id"] = left
		p, err = e.eng.Plan(ctx, engine.PlanRequest{User: doc})
		if err != nil || p.Refused == nil || !strings.Contains(p.Refused.Detail, "replaced by user "+back) {
			t.Errorf("plan of the superseded record = %+v, %v; want refused", p, err)
		}
		status, out = e.send("PUT", "/Users/"+left, doc)
		if p.Refused != nil {
			wantUniqueness(t, status, out, p.Refused.Detail)
		}
		doc["active"] = false
		p, err = e.eng.Plan(ctx, engine.PlanRequest{User: doc})
		if err != nil || p.Refused != nil || p.Person != left || p.Change.Transition != mapper.None || p.State != mapper.StateActive {
			t.Errorf("plan of the superseded record inactive = %+v, %v; want no change to %s", p, err, left)
		}

		// A's own document with a new title: planned as usual.
		doc = dupUser("ned.one", "E500", map[string]any{"title": "CTO"})
		doc["id"] = a
		if p, err = e.eng.Plan(ctx, engine.PlanRequest{User: doc}); err != nil || p.Refused != nil || p.Person != a {
			t.Errorf("plan of A's own change = %+v, %v", p, err)
		}

	})
}

// A document the policy cannot evaluate: Plan fails with ErrPolicy as
// before, and carries the 400 the SCIM server answers.
func TestPlanRefusalPolicy(t *testing.T) {
	const corr = `  correlation: 'enterprise.?employeeNumber.orValue("")'` + "\n"
	pol := strings.Replace(policy, corr, `  correlation: 'string(int(enterprise.?employeeNumber.orValue("0")))'`+"\n", 1)
	if pol == policy {
		t.Fatal("policy not patched")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, pol)
		bad := dupUser("ned.five", "E-abc", nil)
		_, err := e.eng.Plan(context.Background(), engine.PlanRequest{User: bad, Source: "hr"})
		var ref *engine.PlanRefusal
		if !errors.Is(err, engine.ErrPolicy) || !errors.As(err, &ref) || ref.Status != http.StatusBadRequest || ref.ScimType != "invalidValue" {
			t.Fatalf("plan: %v (%+v), want ErrPolicy and a 400 invalidValue", err, ref)
		}
		status, out := e.send("POST", "/Users", bad)
		if status != http.StatusBadRequest || out["scimType"] != "invalidValue" || out["detail"] != ref.Detail {
			t.Errorf("SCIM answer %d %v, plan's detail %q", status, out, ref.Detail)
		}
	})
}

// TestCorrelationKeyTooLong: a correlation key too long to index is the
// client's mistake (400 invalidValue), not a 500, and nothing is stored.
func TestCorrelationKeyTooLong(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		status, out := e.send("POST", "/Users", dupUser("long.key", strings.Repeat("E", 600), nil))
		detail, _ := out["detail"].(string)
		if status != http.StatusBadRequest || out["scimType"] != "invalidValue" || !strings.Contains(detail, "correlation key") {
			t.Errorf("POST with a 600-byte key: %d %v, want 400 invalidValue naming the correlation key", status, out)
		}
		e.user("short.key", empNo("E1")) // the store still takes writes
	})
}
