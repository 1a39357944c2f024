package console_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// benchPeople is how many people BenchmarkPeoplePage stores.
const benchPeople = 100_000

// seedRecords stores n lifecycle records as the engine's intake writes
// them (namespace person, JSON of mapper.Record), in chunks of one
// transaction each; every 97th person is a leaver, every 13th in
// Finance. It returns the person ids in key order.
func seedRecords(b *testing.B, st store.Store, n int) []string {
	b.Helper()
	now := time.Now().UTC()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*2654435761%(1<<32), i%65536, i)
	}
	for start := 0; start < n; start += 5000 {
		err := st.Update(b.Context(), func(tx store.Tx) error {
			for i := start; i < min(start+5000, n); i++ {
				dept := "Sales"
				if i%13 == 0 {
					dept = "Finance"
				}
				rec := mapper.Record{ID: ids[i], Source: "hr", UserID: ids[i], Correlation: fmt.Sprintf("E%06d", i),
					Identity: mapper.Identity{User: map[string]any{
						"userName":    fmt.Sprintf("person%06d@example.com", i),
						"displayName": fmt.Sprintf("Person %06d", i),
						"name":        map[string]any{"givenName": "Person", "familyName": fmt.Sprintf("%06d", i)},
						"emails":      []any{map[string]any{"value": fmt.Sprintf("person%06d@example.com", i), "type": "work", "primary": true}},
						"title":       "Account Executive",
						"active":      true,
						"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
							"department": dept, "employeeNumber": fmt.Sprintf("E%06d", i), "costCenter": "CC-100",
						},
					}, Groups: []string{"all-staff", "sales-emea"}},
					Hired: now.Add(-400 * 24 * time.Hour), Start: now.Add(-400 * 24 * time.Hour),
					History:    []mapper.Event{{At: now.Add(-400 * 24 * time.Hour), Transition: mapper.Joiner}},
					Generation: 1, Changed: now.Add(-400 * 24 * time.Hour)}
				if i%97 == 0 {
					rec.End = now.Add(-24 * time.Hour)
				}
				b, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				if err := tx.PutDoc("person", ids[i], b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(ids)
	return ids
}

// BenchmarkPeoplePage renders the People page server-side, over HTTP as a
// browser asks for it (session, roles, the admin API's People, the
// template), with 100,000 people in the embedded store: the first page,
// a page in the middle, a filter by state and department, and a search
// that matches one person (every record's bytes are searched). It
// reports the 99th percentile besides the mean.
//
//	go test ./console -run '^$' -bench BenchmarkPeoplePage -benchtime 200x
func BenchmarkPeoplePage(b *testing.B) {
	e := newEnv(b, envOptions{breakGlass: true})
	ids := seedRecords(b, e.be.Store, benchPeople)
	sid := breakGlassSession(b, e)
	// The first request waits for the listing's snapshot of everyone
	// (admin.PeopleIndex); later ones page it, and a stale one is read
	// again in the background. The cold read is logged, not timed below.
	start := time.Now()
	getPage(b, e, sid, e.consURL+"/people", "person")
	b.Logf("cold: the first People page, reading %d people, took %v", benchPeople, time.Since(start))
	for _, c := range []struct {
		name  string
		query url.Values
		want  string // on the page
	}{
		{"first", url.Values{}, "person"},
		{"middle", url.Values{"after": {ids[benchPeople/2]}}, "person"},
		{"filtered", url.Values{"state": {"terminated"}, "department": {"Finance"}}, "terminated"},
		{"search-one", url.Values{"q": {"person054321@"}}, "person054321@example.com"},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := e.consURL + "/people?" + c.query.Encode()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				getPage(b, e, sid, u, c.want)
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// getPage GETs a console page with a session and checks it holds want.
func getPage(tb testing.TB, e *env, sid, u, want string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(&http.Cookie{Name: "tenure_console", Value: sid})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		tb.Fatalf("%s: %d, want %q on the page", u, resp.StatusCode, want)
	}
}

// breakGlassSession signs in with the admin token and returns the
// session cookie's value.
func breakGlassSession(tb testing.TB, e *env) string {
	tb.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(e.consURL+"/breakglass", url.Values{"token": {adminToken}})
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "tenure_console" {
			return ck.Value
		}
	}
	tb.Fatalf("break-glass sign-in: %s, no session", resp.Status)
	return ""
}
