package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name the sentinel monitors the master under,
// for redis.UniversalOptions.MasterName.
const SentinelMasterName = "tenure"

// failoverTimeout bounds Failover: a manual failover on loopback takes a
// few seconds.
const failoverTimeout = 60 * time.Second

// SentinelEnv is a master, one replica and one sentinel monitoring them.
// Master and Replica are the initial roles; after Failover they are swapped.
type SentinelEnv struct {
	Master, Replica *RedisServer
	Sentinel        *RedisServer
}

// Sentinel starts a master and a replica (opts apply to both) and a
// sentinel with quorum 1, on free loopback ports. It returns once the
// replica is in sync and the sentinel knows it, so Failover can proceed at
// once. Everything stops when t ends.
func Sentinel(t testing.TB, opts ...RedisOption) *SentinelEnv {
	t.Helper()
	// Diskless sync without a delay: the replica syncs in milliseconds.
	master := Redis(t, append(opts, RedisArgs("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"))...)
	replica := Redis(t, append(opts, RedisArgs(
		"--replicaof", "127.0.0.1", strconv.Itoa(master.port),
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"))...)

	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	sentinel := &RedisServer{
		name: "redis-sentinel",
		bin:  need(t, "redis-server"),
		dir:  dir,
		args: func(port int) ([]string, error) {
			// The sentinel rewrites its configuration file, so it is written
			// afresh for the port of each start.
			cfg := fmt.Sprintf(`bind 127.0.0.1
port %d
dir %s
logfile sentinel.log
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[3]s 2000
sentinel failover-timeout %[3]s 10000
sentinel parallel-syncs %[3]s 1
`, port, dir, SentinelMasterName, master.port)
			if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
				return nil, err
			}
			return []string{conf, "--sentinel"}, nil
		},
	}
	sentinel.launch(t)
	env := &SentinelEnv{Master: master, Replica: replica, Sentinel: sentinel}
	if err := env.waitReplicaKnown(t.Context(), replica.Addr()); err != nil {
		t.Fatalf("testenv: sentinel: %v", err)
	}
	return env
}

// replicaOf checks that the server at addr replicates master with its link up.
func replicaOf(ctx context.Context, addr, master string) error {
	if err := roleIs(ctx, addr, "slave"); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{MaintNotificationsConfig: RedisNoMaint(), Addr: addr, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if got := net.JoinHostPort(infoField(info, "master_host"), infoField(info, "master_port")); got != master {
		return fmt.Errorf("%s replicates %s, want %s", addr, got, master)
	}
	return nil
}

// SentinelAddrs are the sentinels' addresses, for
// redis.UniversalOptions.Addrs together with MasterName.
func (e *SentinelEnv) SentinelAddrs() []string { return []string{e.Sentinel.Addr()} }

// MasterAddr asks the sentinel for the current master.
func (e *SentinelEnv) MasterAddr(ctx context.Context) (string, error) {
	sc := e.client()
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, SentinelMasterName).Result()
	if err != nil {
		return "", fmt.Errorf("get-master-addr-by-name: %w", err)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// Failover makes the sentinel promote the replica (SENTINEL FAILOVER) and
// waits until the promoted server acts as master, the sentinel reports it
// and the old master replicates it; then it swaps Master and Replica. It
// returns the new master's address.
func (e *SentinelEnv) Failover(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), failoverTimeout)
	defer cancel()
	old, err := e.MasterAddr(ctx)
	if err != nil {
		t.Fatalf("testenv: failover: %v", err)
	}
	sc := e.client()
	defer sc.Close()
	// The sentinel refuses while it has no replica it considers good
	// (NOGOODSLAVE) or a failover is still running (INPROG): try again.
	err = poll(ctx, func() error { return sc.Failover(ctx, SentinelMasterName).Err() })
	if err != nil {
		t.Fatalf("testenv: SENTINEL FAILOVER: %v", err)
	}
	var addr string
	err = poll(ctx, func() error {
		if addr, err = e.MasterAddr(ctx); err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("sentinel still reports %s as master", old)
		}
		return roleIs(ctx, addr, "master")
	})
	if err != nil {
		t.Fatalf("testenv: failover from %s: %v", old, err)
	}
	// Until the old master is a replica, it still takes writes, which its
	// resync with the new master then discards. The sentinel converts it
	// on its next INFO refresh, up to 10s away; do it now, as the sentinel
	// would, and wait for it to sync, so that callers see a settled pair.
	host, port, _ := net.SplitHostPort(addr)
	oc := redis.NewClient(&redis.Options{MaintNotificationsConfig: RedisNoMaint(), Addr: old, MaxRetries: -1, PoolSize: 1})
	defer oc.Close()
	if err := oc.SlaveOf(ctx, host, port).Err(); err != nil {
		t.Fatalf("testenv: failover: REPLICAOF %s on the old master: %v", addr, err)
	}
	err = poll(ctx, func() error { return replicaOf(ctx, old, addr) })
	if err != nil {
		t.Fatalf("testenv: failover from %s: old master: %v", old, err)
	}
	e.Master, e.Replica = e.Replica, e.Master
	return addr
}

// waitReplicaKnown waits until the replica is in sync with the master and
// the sentinel lists it as a healthy replica.
func (e *SentinelEnv) waitReplicaKnown(ctx context.Context, replica string) error {
	ctx, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	if err := poll(ctx, func() error { return roleIs(ctx, replica, "slave") }); err != nil {
		return fmt.Errorf("replica %s: %w", replica, err)
	}
	sc := e.client()
	defer sc.Close()
	return poll(ctx, func() error {
		rs, err := sc.Replicas(ctx, SentinelMasterName).Result()
		if err != nil {
			return err
		}
		for _, r := range rs {
			if net.JoinHostPort(r["ip"], r["port"]) == replica &&
				r["master-link-status"] == "ok" && !strings.Contains(r["flags"], "down") &&
				!strings.Contains(r["flags"], "disconnected") {
				return nil
			}
		}
		return fmt.Errorf("sentinel does not list %s as a healthy replica yet: %v", replica, rs)
	})
}

func (e *SentinelEnv) client() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: e.Sentinel.Addr(), MaxRetries: -1})
}

// roleIs checks INFO replication of the server at addr: its role, and for a
// replica that its link to the master is up.
func roleIs(ctx context.Context, addr, role string) error {
	c := redis.NewClient(&redis.Options{MaintNotificationsConfig: RedisNoMaint(), Addr: addr, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if got := infoField(info, "role"); got != role {
		return fmt.Errorf("%s has role %q, want %q", addr, got, role)
	}
	if role == "slave" && infoField(info, "master_link_status") != "up" {
		return fmt.Errorf("%s: link to its master is not up", addr)
	}
	return nil
}

// poll calls fn every 100ms until it succeeds or ctx ends, and returns
// fn's last error with ctx's.
func poll(ctx context.Context, fn func() error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
