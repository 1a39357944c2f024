package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/store/redisstore"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

// TestRedisDownIs503: while Redis is down the admin API answers 503 with
// Retry-After, as the SCIM API does, and serves again once it is back.
func TestRedisDownIs503(t *testing.T) {
	rs := testenv.Redis(t)
	t.Setenv("TEST_SCIM_TOKEN", "scim-token-0123456789")
	t.Setenv("TEST_ADMIN_TOKEN", token)
	cfg, err := config.Parse([]byte(`
sources: [{name: hr, token: {env: TEST_SCIM_TOKEN}}]
admin: {token: {env: TEST_ADMIN_TOKEN}}
targets: [{name: dir, kind: recording, container: '"ou=people"'}]
`))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := mapper.Compile("test.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{rs.Addr()}})
	t.Cleanup(func() { c.Close() })
	st, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := redisq.New(st, queue.Options{}, redisq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); st.Close() })
	eng, err := engine.New(engine.Options{Store: st, Queue: q, Policy: pol,
		Targets: map[string]targets.Target{"dir": targettest.New()}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Options{Engine: eng, Queue: q, Token: token, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close(); eng.Close() })
	a := &api{srv: srv}

	if status, _, body := a.call(t, http.MethodGet, admin.Prefix+"/jobs/counts", ""); status != http.StatusOK {
		t.Fatalf("with Redis up: %d %s", status, body)
	}
	rs.Stop()
	for _, path := range []string{"/jobs/counts", "/identities/someone", "/jobs"} {
		status, hdr, body := a.call(t, http.MethodGet, admin.Prefix+path, "")
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != fmt.Sprint(scim.RetryAfter) {
			t.Errorf("GET %s with Redis down: %d, Retry-After %q: %s", path, status, hdr.Get("Retry-After"), body)
			continue
		}
		wantError(t, body, http.StatusServiceUnavailable, "store is unavailable")
	}
	rs.Restart(t)
	for i := 0; ; i++ {
		status, _, body := a.call(t, http.MethodGet, admin.Prefix+"/jobs/counts", "")
		if status == http.StatusOK {
			break
		}
		if i == 100 || !strings.Contains(body, "unavailable") {
			t.Fatalf("after Redis came back: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
