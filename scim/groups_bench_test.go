package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/store/redisstore"
)

// countingStore counts the group records read through its Views and
// Updates, to show where a user's groups come from.
type countingStore struct {
	store.Store
	groupGets atomic.Int64
}

type countingReader struct {
	store.Reader
	s *countingStore
}

func (r countingReader) Get(kind store.Kind, id string) (*store.Resource, error) {
	if kind == store.KindGroup {
		r.s.groupGets.Add(1)
	}
	return r.Reader.Get(kind, id)
}

func (s *countingStore) View(ctx context.Context, fn func(store.Reader) error) error {
	return s.Store.View(ctx, func(r store.Reader) error { return fn(countingReader{r, s}) })
}

// TestUserGroupsFromIndex: a user's groups (GET and list) come from the
// membership index with display names, not from the group records, and
// follow renames, member changes, nested groups and deletes.
func TestUserGroupsFromIndex(t *testing.T) {
	cs := &countingStore{}
	srv := newTestServer(t, func(o *Options) {
		cs.Store = o.Store
		o.Store = cs
	})
	alice := srv.createUser("okta", "alice@example.com", nil)
	bob := srv.createUser("okta", "bob@example.com", nil)
	group := func(name string, members ...string) string {
		var ms []map[string]string
		for _, m := range members {
			ms = append(ms, map[string]string{"value": m})
		}
		r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": name, "members": ms})
		if r.Status != http.StatusCreated {
			t.Fatalf("create group %s: %d %s", name, r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	eng := group("Engineering", alice, bob)
	ops := group("Ops", alice)
	parent := group("All", eng) // a group as a member

	type ref struct{ Value, Display string }
	groupsOf := func(doc map[string]any) []ref {
		var out []ref
		list, _ := doc["groups"].([]any)
		for _, g := range list {
			m := g.(map[string]any)
			out = append(out, ref{m["value"].(string), m["display"].(string)})
		}
		return out
	}
	sorted := func(refs ...ref) []ref {
		// The server returns groups in ascending id order.
		for i := range refs {
			for j := i + 1; j < len(refs); j++ {
				if refs[j].Value < refs[i].Value {
					refs[i], refs[j] = refs[j], refs[i]
				}
			}
		}
		return refs
	}
	check := func(when string, want map[string][]ref) {
		t.Helper()
		before := cs.groupGets.Load()
		for id, refs := range want {
			r := srv.do("okta", http.MethodGet, "/Users/"+id, nil)
			if got := groupsOf(r.JSON(t)); fmt.Sprint(got) != fmt.Sprint(refs) {
				t.Errorf("%s: GET %s groups = %v, want %v", when, id, got, refs)
			}
		}
		r := srv.do("okta", http.MethodGet, "/Users?count=10", nil)
		for _, res := range r.JSON(t)["Resources"].([]any) {
			doc := res.(map[string]any)
			if got, refs := groupsOf(doc), want[doc["id"].(string)]; fmt.Sprint(got) != fmt.Sprint(refs) {
				t.Errorf("%s: list: %s groups = %v, want %v", when, doc["id"], got, refs)
			}
		}
		if n := cs.groupGets.Load() - before; n != 0 {
			t.Errorf("%s: %d group records read to compute users' groups, want 0", when, n)
		}
	}
	check("created", map[string][]ref{
		alice: sorted(ref{eng, "Engineering"}, ref{ops, "Ops"}),
		bob:   {{eng, "Engineering"}},
	})

	patch := func(id string, ops ...map[string]any) {
		t.Helper()
		r := srv.do("okta", http.MethodPatch, "/Groups/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
		if r.Status != http.StatusNoContent {
			t.Fatalf("patch group: %d %s", r.Status, r.Body)
		}
	}
	patch(eng, map[string]any{"op": "replace", "path": "displayName", "value": "Platform"})
	patch(ops, map[string]any{"op": "remove", "path": `members[value eq "` + alice + `"]`},
		map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": bob}}})
	check("renamed and moved", map[string][]ref{
		alice: {{eng, "Platform"}},
		bob:   sorted(ref{eng, "Platform"}, ref{ops, "Ops"}),
	})

	if r := srv.do("okta", http.MethodDelete, "/Groups/"+eng, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete group: %d %s", r.Status, r.Body)
	}
	check("deleted", map[string][]ref{alice: nil, bob: {{ops, "Ops"}}})
	if r := srv.do("okta", http.MethodGet, "/Groups/"+parent, nil); r.Status != http.StatusOK {
		t.Fatalf("parent group after its member group was deleted: %d %s", r.Status, r.Body)
	}
}

// BenchmarkListUsersGroups measures a page of 1,000 users (GET
// /Users?count=1000) when every user belongs to one or three groups of
// 2,000 members, against the same page without groups (issue 15: at most
// 2×). Each iteration reads the page from every store in turn, so that the
// machine's load weighs on all of them alike; it reports the median time
// per page of each and the ratios to the page without groups.
//
//	CI=true go test -run '^$' -bench ListUsersGroups -benchtime 30x -count 3 ./scim/
func BenchmarkListUsersGroups(b *testing.B) {
	for _, backend := range []string{"embedded", "redis"} {
		b.Run(backend, func(b *testing.B) {
			groups := []int{0, 1, 3}
			urls := make([]string, len(groups))
			for i, n := range groups {
				urls[i] = benchServer(b, backend, 2000, n)
			}
			took := make([][]time.Duration, len(groups))
			for b.Loop() {
				for i, url := range urls {
					start := time.Now()
					benchGet(b, url+Prefix+"/Users?startIndex=1&count=1000")
					took[i] = append(took[i], time.Since(start))
				}
			}
			base := median(took[0])
			for i, n := range groups {
				m := median(took[i])
				b.ReportMetric(float64(m)/1e6, fmt.Sprintf("ms/page(%d-groups)", n))
				if n > 0 {
					b.ReportMetric(float64(m)/float64(base), fmt.Sprintf("x(%d-groups)", n))
				}
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchServer serves SCIM on a fresh store holding users users and groups
// groups that each list every user, created over SCIM.
func benchServer(b *testing.B, backend string, users, groups int) string {
	b.Helper()
	var st store.Store
	switch backend {
	case "embedded":
		s, err := boltdb.Open(filepath.Join(b.TempDir(), "tenure.db"), boltdb.Options{})
		if err != nil {
			b.Fatal(err)
		}
		st = s
	case "redis":
		srv := testenv.Redis(b)
		c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{srv.Addr()}})
		b.Cleanup(func() { c.Close() })
		s, err := redisstore.New(c, redisstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		st = s
	}
	b.Cleanup(func() { st.Close() })
	api, err := New(Options{Store: st, Registerer: prometheus.NewRegistry(), MaxBodyBytes: 8 << 20,
		Sources: []Source{{Name: "okta", Token: testTokens["okta"]}}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(api)
	b.Cleanup(hs.Close)

	ids := make([]string, users)
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < users; i = int(next.Add(1)) - 1 {
				body := map[string]any{"schemas": []string{SchemaUser}, "userName": fmt.Sprintf("user%05d@example.com", i),
					"name": map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)}, "active": true,
					"emails": []map[string]any{{"value": fmt.Sprintf("user%05d@example.com", i), "type": "work", "primary": true}}}
				var out map[string]any
				if err := benchPost(hs.URL+Prefix+"/Users", body, &out); err != nil {
					failed.Store(err)
					return
				}
				ids[i] = out["id"].(string)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	members := make([]map[string]string, users)
	for i, id := range ids {
		members[i] = map[string]string{"value": id, "display": fmt.Sprintf("user%05d@example.com", i)}
	}
	for g := range groups {
		body := map[string]any{"schemas": []string{SchemaGroup}, "displayName": fmt.Sprintf("Group %d", g), "members": members}
		if err := benchPost(hs.URL+Prefix+"/Groups", body, nil); err != nil {
			b.Fatal(err)
		}
	}
	return hs.URL
}

func benchPost(url string, body any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Authorization", "Bearer "+testTokens["okta"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// benchGet reads a page and checks that it is one.
func benchGet(b *testing.B, url string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testTokens["okta"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %.300s", url, resp.StatusCode, data)
	}
}
