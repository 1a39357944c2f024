package testenv_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
)

func TestRedisKillRestart(t *testing.T) {
	srv := testenv.Redis(t, testenv.AppendfsyncAlways())
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := srv.PID()
	srv.Kill()
	if srv.PID() != 0 {
		t.Error("PID after Kill is not 0")
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Errorf("process %d still exists after Kill", pid)
	}
	if conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("port still open after Kill")
	}
	srv.Restart(t)
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after restart: Get = %q, %v; want the AOF to have kept it", got, err)
	}
	srv.Stop()
	srv.Stop() // stopping twice is harmless
}

// TestRedisPortTaken starts a server on a port another one holds: the
// second must fail to become ready rather than report the first as its own.
func TestRedisPortTaken(t *testing.T) {
	a := testenv.Redis(t)
	b := testenv.Redis(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	// Take b's port while it is down: Restart must not find a's process there.
	b.Stop()
	l, err := net.Listen("tcp", b.Addr())
	if err != nil {
		t.Skipf("cannot hold %s: %v", b.Addr(), err)
	}
	defer l.Close()
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }()
		b.Restart(ft)
	}()
	if !ft.failed {
		t.Error("Restart on a taken port did not fail")
	}
}

func TestSentinelFailover(t *testing.T) {
	env := testenv.Sentinel(t)
	before, err := env.MasterAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if before != env.Master.Addr() {
		t.Fatalf("sentinel reports master %s, want %s", before, env.Master.Addr())
	}
	after := env.Failover(t)
	if after == before || after != env.Master.Addr() {
		t.Errorf("after failover: master %s (was %s), env.Master %s", after, before, env.Master.Addr())
	}
}

// fatalRecorder turns Fatal into a recorded failure and a panic, so a test
// can check that a helper fails.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	f.Logf("(expected) "+format, args...)
	panic("fatal")
}
