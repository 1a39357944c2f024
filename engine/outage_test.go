package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/store/redisstore"
)

// TestQueueOutageLoggedOnce: while Redis is down, the workers' polls fail
// every 250 ms; the log says so once when it begins and once when it ends,
// and the engine runs work written after it is back without a restart.
func TestQueueOutageLoggedOnce(t *testing.T) {
	rs := testenv.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaintNotificationsConfig: testenv.RedisNoMaint(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	st, err := redisstore.New(c, redisstore.Options{Prefix: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := redisq.New(st, queue.Options{}, redisq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	t.Setenv("TEST_SCIM_TOKEN", scimToken)
	t.Setenv("TEST_ADMIN_TOKEN", "admin-token-0123456789")
	cfg, err := config.Parse([]byte("sources: [{name: hr, token: {env: TEST_SCIM_TOKEN}}]\nadmin: {token: {env: TEST_ADMIN_TOKEN}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := mapper.Compile("test.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	eng, err := engine.New(engine.Options{Store: st, Queue: q, Policy: pol, Workers: 8,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	rs.Kill()
	waitFor(t, "the outage to be logged", func() bool { return strings.Contains(logs.String(), "queue unavailable") })
	time.Sleep(2 * time.Second) // eight more polls, all failing
	rs.Restart(t)
	waitFor(t, "the end of the outage to be logged", func() bool { return strings.Contains(logs.String(), "queue available again") })

	out := logs.String()
	if n := strings.Count(out, "queue unavailable"); n != 1 {
		t.Errorf("%d 'queue unavailable' lines for one outage, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for one outage, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "queue available again"); n != 1 {
		t.Errorf("%d 'queue available again' lines, want 1:\n%s", n, out)
	}
}
