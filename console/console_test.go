package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/store"
)

// TestPeopleQuery: the People page's query (the admin API's GET
// /identities) filters by search, state, source and department and pages
// by person id.
func TestPeopleQuery(t *testing.T) {
	e := newEnv(t, envOptions{breakGlass: true})
	ids := e.addPeople(
		person{"ada@example.com", "Ada", "Lovelace", "Engineering"},
		person{"bob@example.com", "Bob", "Builder", "Sales"},
		person{"cy@example.com", "Cy", "Sales", "Engineering"},
		person{"dee@example.com", "Dee", "Dee", "Sales"},
	)
	e.deactivate(ids["dee@example.com"])
	ctx := context.Background()
	index := e.adm.NewPeopleIndex(time.Minute)
	t.Cleanup(index.Close)
	for _, c := range []struct {
		name string
		q    admin.PeopleQuery
		want []string // userNames, in any order
	}{
		{"everyone", admin.PeopleQuery{}, []string{"ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"}},
		{"search any case", admin.PeopleQuery{Search: "BUILD"}, []string{"bob@example.com"}},
		{"search matches the department", admin.PeopleQuery{Search: "engineer"}, []string{"ada@example.com", "cy@example.com"}},
		{"search is not the raw record", admin.PeopleQuery{Search: "schemas"}, nil},
		{"department", admin.PeopleQuery{Department: "sales"}, []string{"bob@example.com", "dee@example.com"}},
		{"state", admin.PeopleQuery{State: admin.StateTerminated}, []string{"dee@example.com"}},
		{"source", admin.PeopleQuery{Source: "hr"}, []string{"ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"}},
		{"another source", admin.PeopleQuery{Source: "other"}, nil},
		{"combined", admin.PeopleQuery{State: admin.StateActive, Department: "Sales"}, []string{"bob@example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := e.adm.People(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, s := range p.People {
				got[s.UserName] = true
			}
			if len(got) != len(c.want) || p.Next != "" {
				t.Fatalf("got %v (next %q); want %v", got, p.Next, c.want)
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("%s missing from %v", w, got)
				}
			}
			// The console's index answers the same query alike.
			ip, _, err := index.People(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ip, p) {
				t.Errorf("the index answers %+v; the scan %+v", ip, p)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		var seen []string
		after := ""
		for range 4 {
			p, err := e.adm.People(ctx, admin.PeopleQuery{Limit: 1, After: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.People) != 1 {
				t.Fatalf("page after %q: %d people", after, len(p.People))
			}
			seen = append(seen, p.People[0].ID)
			after = p.Next
		}
		if after != "" {
			t.Errorf("the fourth page of four has a next page %q", after)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] <= seen[i-1] {
				t.Errorf("pages not in person id order: %v", seen)
			}
		}
	})
	t.Run("index refreshed after Invalidate", func(t *testing.T) {
		e.addPeople(person{"eve@example.com", "Eve", "Late", "Sales"})
		p, _, err := index.People(ctx, admin.PeopleQuery{Search: "eve@"})
		if err != nil || len(p.People) != 0 {
			t.Fatalf("a fresh snapshot already lists eve: %+v, %v", p, err)
		}
		index.Invalidate()
		// The stale snapshot is served while the next is read.
		e.eventually("eve in the index", func() bool {
			p, _, err := index.People(ctx, admin.PeopleQuery{Search: "eve@"})
			return err == nil && len(p.People) == 1
		})
	})
	if _, err := e.adm.People(ctx, admin.PeopleQuery{State: "gone"}); err == nil {
		t.Error("an unknown state is not refused")
	}
}

// TestBreakGlassAndHeaders: break-glass signs in with the admin token
// only; every page carries the security headers; a POST from another
// origin is refused before anything else; the session lives in the
// store, on either backend, and signing out deletes it there.
func TestBreakGlassAndHeaders(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			testBreakGlassAndHeaders(t, newEnv(t, envOptions{breakGlass: true, redis: backend == "redis"}))
		})
	}
}

func testBreakGlassAndHeaders(t *testing.T, e *env) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signin := func(token, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.consURL+"/breakglass", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		name, token, origin string
		status              int
	}{
		{"wrong token", "not-the-token", "", http.StatusForbidden},
		{"another origin", adminToken, "http://evil.example", http.StatusForbidden},
		{"the admin token", adminToken, e.url, http.StatusSeeOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := signin(c.token, c.origin)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, c.status)
			}
			var sid *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "tenure_console" {
					sid = ck
				}
			}
			if c.status != http.StatusSeeOther {
				if sid != nil {
					t.Errorf("a refused sign-in set a session cookie")
				}
				return
			}
			if sid == nil || !sid.Secure || !sid.HttpOnly || sid.SameSite != http.SameSiteLaxMode || sid.Path != "/console/" {
				t.Fatalf("session cookie %+v; want Secure, HttpOnly, SameSite=Lax, Path=/console/", sid)
			}
			req, _ := http.NewRequest(http.MethodGet, e.consURL+"/health", nil)
			req.AddCookie(sid)
			page, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(page.Body)
			page.Body.Close()
			if page.StatusCode != http.StatusOK || !strings.Contains(string(body), "break-glass") {
				t.Errorf("health page as break-glass: %d", page.StatusCode)
			}
			if strings.Contains(string(body), "<script") {
				t.Errorf("a page holds a script")
			}
			for path, want := range map[string]int{
				"/console/people/nobody":                    http.StatusNotFound,
				"/console/people/nobody/plan?at=2030-01-01": http.StatusNotFound,
				"/console/people/nobody/plan?at=tomorrow":   http.StatusBadRequest,
			} {
				if st := getStatus(t, e, path, sid.Value); st != want {
					t.Errorf("GET %s: %d; want %d", path, st, want)
				}
			}
			if n := sessionDocs(t, e); n != 1 {
				t.Errorf("%d sessions in the store; want 1", n)
			}
			csrf := csrfOf(t, string(body))
			if st := post(t, e, "/console/logout", sid.Value, csrf, e.url, url.Values{}); st != http.StatusSeeOther {
				t.Errorf("sign out: %d", st)
			}
			if n := sessionDocs(t, e); n != 0 {
				t.Errorf("%d sessions in the store after sign-out; want 0", n)
			}
			if st := getStatus(t, e, "/console/health", sid.Value); st != http.StatusFound {
				t.Errorf("the signed-out session still reads pages: %d", st)
			}
			for h, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "same-origin",
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := page.Header.Get(h); !strings.Contains(got, want) {
					t.Errorf("%s: %q; want %q", h, got, want)
				}
			}
		})
	}
	if l := e.log.String(); strings.Contains(l, adminToken) {
		t.Error("the admin token is in the log")
	}
}

// sessionDocs counts the console's sessions in the store.
func sessionDocs(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	err := e.be.Store.View(context.Background(), func(r store.Reader) error {
		return r.ScanDocs("console", "s/", false, func(string, []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// csrfOf is the CSRF token of a page's forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="csrf" value="`)
	tok, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || tok == "" {
		t.Fatal("no CSRF token on the page")
	}
	return tok
}
