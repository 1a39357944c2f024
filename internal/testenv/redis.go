package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Timeouts for server processes. Redis is ready in well under a second here;
// the margins are for loaded CI machines and large AOF files.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	startTries   = 3 // fresh ports to try when another process takes ours first
)

// RedisOption configures Redis and Sentinel.
type RedisOption func(*redisConfig)

type redisConfig struct {
	fsync string
	args  []string
}

// AppendfsyncAlways makes the server fsync its AOF before it answers each
// write (appendfsync always), so a SIGKILL loses nothing it acknowledged.
// The default, everysec, can lose up to a second of writes.
func AppendfsyncAlways() RedisOption {
	return func(c *redisConfig) { c.fsync = "always" }
}

// RedisArgs appends command-line arguments, such as "--maxmemory", "10mb".
func RedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// RedisServer is a private redis-server process. Its methods are safe for
// concurrent use.
type RedisServer struct {
	name string // for messages: "redis", "sentinel"
	bin  string
	dir  string
	port int
	args func(port int) ([]string, error)

	mu   sync.Mutex
	proc *process // nil when stopped
}

// process is one run of the server binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result, set before done is closed
}

// Redis starts a redis-server on a free loopback port with AOF persistence
// (appendfsync everysec unless AppendfsyncAlways is given), RDB snapshots
// off and its data in a directory of t.TempDir(). It returns once the
// server answers PING, and stops it when t ends. Without redis-server it
// skips t, or fails it when CI is "true".
func Redis(t testing.TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	cfg := redisConfig{fsync: "everysec"}
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	s := &RedisServer{
		name: "redis-server",
		bin:  need(t, "redis-server"),
		dir:  dir,
		args: func(port int) ([]string, error) {
			return append([]string{
				"--bind", "127.0.0.1",
				"--port", strconv.Itoa(port),
				"--dir", dir,
				"--daemonize", "no",
				"--save", "",
				"--appendonly", "yes",
				"--appendfsync", cfg.fsync,
				"--logfile", "redis.log",
				"--protected-mode", "no",
			}, cfg.args...), nil
		},
	}
	s.launch(t)
	return s
}

// launch starts s on a fresh port, trying again on another port if the
// first is taken between choosing it and the server binding it.
func (s *RedisServer) launch(t testing.TB) {
	t.Helper()
	var err error
	for range startTries {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("testenv: %s: %v", s.name, err)
		}
		if err = s.start(t.Context()); err == nil {
			t.Cleanup(s.Stop)
			return
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("testenv: %v", err)
}

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL, for redis.ParseURL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's working directory, which holds its data and redis.log.
func (s *RedisServer) Dir() string { return s.dir }

// PID is the server's process id, or 0 when it is not running.
func (s *RedisServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Kill ends the server with SIGKILL, as a crash would, and waits for the
// process to be gone. What its AOF holds is what a restart finds.
func (s *RedisServer) Kill() { s.halt(syscall.SIGKILL) }

// Stop shuts the server down cleanly (SIGTERM: it flushes its AOF) and
// waits for it to exit, killing it if it takes longer than 10s. Stopping a
// stopped server does nothing.
func (s *RedisServer) Stop() { s.halt(syscall.SIGTERM) }

func (s *RedisServer) halt(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Restart stops the server if it runs (cleanly) and starts it again on the
// same port and directory, so that it replays its AOF. It returns once the
// server answers PING, which Redis does only after loading its data.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(t.Context()); err != nil {
		t.Fatalf("testenv: restart: %v", err)
	}
}

var errPortTaken = errors.New("port taken")

// start runs the binary on s.port and waits until it serves.
func (s *RedisServer) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("%s on %s: already running", s.name, s.Addr())
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	defer out.Close() // the child has its own descriptor
	args, err := s.args(s.port)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if err := waitReady(ctx, s.Addr(), p); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		log := s.logTail()
		if bytes.Contains(log, []byte("Address already in use")) {
			return fmt.Errorf("%s on %s: %w", s.name, s.Addr(), errPortTaken)
		}
		return fmt.Errorf("%s on %s: %w\n%s", s.name, s.Addr(), err, log)
	}
	s.proc = p
	return nil
}

// waitReady polls addr until the server there is p and answers PING. INFO
// is served while the AOF loads, PING only afterwards.
func waitReady(ctx context.Context, addr string, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// A probe blocked on a port someone else holds ends when p exits.
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	c := redis.NewClient(&redis.Options{MaintNotificationsConfig: RedisNoMaint(),
		Addr: addr, MaxRetries: -1, PoolSize: 1, ContextTimeoutEnabled: true,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	defer c.Close()
	want := p.cmd.Process.Pid
	return pollReady(ctx, p, func() error { return probe(ctx, c, want) })
}

// pollReady calls ready every 20 ms until it returns nil, the process
// exits, or ctx ends (startTimeout), naming the last reason it was not ready.
func pollReady(ctx context.Context, p *process, ready func() error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		last := ready()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited during startup: %v", p.err)
		case <-ctx.Done():
			if isDone(p) {
				return fmt.Errorf("exited during startup: %v", p.err)
			}
			return fmt.Errorf("not ready after %v: %v", startTimeout, last)
		case <-tick.C:
		}
	}
}

func isDone(p *process) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func probe(ctx context.Context, c *redis.Client, pid int) error {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	if got := infoField(info, "process_id"); got != strconv.Itoa(pid) {
		return fmt.Errorf("the server at the port is process %s, not ours (%d)", got, pid)
	}
	return c.Ping(ctx).Err()
}

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for line := range bytes.Lines([]byte(info)) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(field+":")); ok {
			return string(v)
		}
	}
	return ""
}

// logTail returns the end of the server's log files, for error messages.
func (s *RedisServer) logTail() []byte {
	var b []byte
	for _, name := range []string{"stdout.log", "redis.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, name))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		b = append(b, data...)
	}
	return b
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RedisNoMaint is the MaintNotificationsConfig of every Redis client a test
// makes: go-redis's "auto" default writes the client's options on one
// connection while others read them (a data race in go-redis v9.23.0 that
// the race detector caught in CI). Tenure's own clients switch them off
// too, in backend/redis.
func RedisNoMaint() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
