package scim

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/redisstore"
)

// redisPrefixes numbers the key prefixes of test servers sharing a Redis.
var redisPrefixes atomic.Int64

// onRedis puts a test server on a Redis store of its own (a fresh key
// prefix on rs) instead of the embedded store newTestServer opens.
func onRedis(t testing.TB, rs *testenv.RedisServer) serverOpt {
	return func(o *Options) {
		c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{rs.Addr()}})
		t.Cleanup(func() { c.Close() })
		st, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("scimtest%d", redisPrefixes.Add(1)), Logger: o.Logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		o.Store = st
	}
}

// onBackends runs f as a subtest on the embedded store and on Redis.
// Without redis-server the Redis half is skipped, or fails with CI=true.
func onBackends(t *testing.T, f func(t *testing.T, opts ...serverOpt)) {
	t.Run("embedded", func(t *testing.T) { f(t) })
	t.Run("redis", func(t *testing.T) { f(t, onRedis(t, testenv.Redis(t))) })
}

// snapshot describes every resource of every test source: id, version,
// name and members, in creation order.
func snapshot(t *testing.T, srv *testServer) string {
	t.Helper()
	var b strings.Builder
	err := srv.store.View(context.Background(), func(rd store.Reader) error {
		for _, kind := range []store.Kind{store.KindUser, store.KindGroup} {
			for _, src := range []string{"entra", "hr", "okta"} {
				err := rd.Each(kind, src, func(r *store.Resource) (bool, error) {
					fmt.Fprintf(&b, "%s/%s v%d %q %v; ", kind, r.ID, r.Version, r.Name, r.Members)
					return true, nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
