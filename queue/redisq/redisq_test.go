package redisq_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/conformance"
	"github.com/tenurehq/tenure/queue/redisq"
)

// client returns a client of addr that is closed when t ends.
func client(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { c.Close() })
	return c
}

func open(t testing.TB, c redis.UniversalClient, opts queue.Options, o redisq.Options) *redisq.Queue {
	t.Helper()
	q, err := redisq.New(c, opts, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	srv := testenv.Redis(t)
	var n atomic.Int64
	conformance.RunTests(t, conformance.Backend{
		New: func(t *testing.T, opts queue.Options) queue.Queue {
			// A prefix per test: the tests share one server.
			prefix := fmt.Sprintf("conf%d", n.Add(1))
			return open(t, client(t, srv.Addr()), opts, redisq.Options{Prefix: prefix, Registerer: prometheus.NewRegistry()})
		},
		Reopen: func(t *testing.T, q queue.Queue, opts queue.Options) queue.Queue {
			// A restarted process: a new client and queue on the same data.
			if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, client(t, srv.Addr()), opts, redisq.Options{Prefix: fmt.Sprintf("conf%d", n.Load())})
		},
	})
}
