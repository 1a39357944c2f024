package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// TestMain lets a test re-run this binary as `tenure serve` with a probe
// target kind built in: real processes, sharing one Redis, that can be
// SIGKILLed.
func TestMain(m *testing.M) {
	if os.Getenv("TENURE_TEST_CHILD") == "serve" {
		extraTargetKinds = map[string]targetKind{"probe": newProbe}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, strings.Split(os.Getenv("TENURE_TEST_ARGS"), "\x1f"), os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe is a target that appends "S|E identity unixnanos pid" lines to
// $TENURE_PROBE_FILE when a converge starts and ends, so a test can find
// converges of one identity that overlapped across processes. With
// $TENURE_PROBE_HANG set it never finishes a converge (until cancelled).
type probe struct {
	mu    sync.Mutex
	f     *os.File
	delay time.Duration
	hang  bool
}

func newProbe(config.Target, *slog.Logger, prometheus.Registerer) (targets.Target, error) {
	f, err := os.OpenFile(os.Getenv("TENURE_PROBE_FILE"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	d, _ := time.ParseDuration(os.Getenv("TENURE_PROBE_DELAY"))
	return &probe{f: f, delay: d, hang: os.Getenv("TENURE_PROBE_HANG") != ""}, nil
}

func (p *probe) mark(kind, identity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// One write per line: O_APPEND keeps lines from two processes whole.
	fmt.Fprintf(p.f, "%s %s %d %d\n", kind, identity, time.Now().UnixNano(), os.Getpid())
}

func (p *probe) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	p.mark("S", req.Identity)
	wait := p.delay
	if p.hang {
		wait = time.Hour
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, targets.Retryable("probe", ctx.Err(), 0)
	}
	p.mark("E", req.Identity)
	return &targets.Result{Link: targets.Link{ID: "probe-" + req.Identity, Ref: "probe-" + req.Identity, Applied: req.Desired.Clone()}}, nil
}

type probeLine struct {
	kind, identity string
	at             int64
	pid            int
}

func readProbe(t *testing.T, path string) []probeLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []probeLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l probeLine
		if _, err := fmt.Sscanf(sc.Text(), "%s %s %d %d", &l.kind, &l.identity, &l.at, &l.pid); err != nil {
			t.Fatalf("probe line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// child is `tenure serve` in its own process.
type child struct {
	cmd  *exec.Cmd
	base string
	logs *lockedBuffer
}

func startChild(t *testing.T, cfgPath, probeFile string, env ...string) *child {
	t.Helper()
	addr := freePort(t)
	c := &child{base: "http://" + addr, logs: &lockedBuffer{}}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), "TENURE_TEST_CHILD=serve",
		"TENURE_TEST_ARGS="+strings.Join([]string{"serve", "--config", cfgPath, "--listen", addr}, "\x1f"),
		"TENURE_PROBE_FILE="+probeFile)
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			_ = c.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child %s logs:\n%s", c.base, c.logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("child not ready: %v\n%s", err, c.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *child) request(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	rs := &runningServer{base: c.base}
	code, _, out := rs.request(t, method, path, "scim-test-token", body)
	return code, out
}

func replicaConfig(t *testing.T, prefix string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenure.yaml")
	cfg := `
store: {kind: redis, redis: {url: "${TENURE_REDIS_URL}", prefix: ` + prefix + `}}
sources: [{name: default, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
targets: [{name: probe, kind: probe}]
engine: {workers: 4, poll: 20ms, lease: 3s}
log: {level: warn}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func replicaEnv(t *testing.T) {
	rs := testenv.Redis(t)
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_REDIS_URL", rs.URL())
}

func postUser(t *testing.T, c *child, name string) string {
	t.Helper()
	code, body := c.request(t, "POST", "/scim/v2/Users",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`","active":true}`)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", name, code, body)
	}
	i := strings.Index(body, `"id":"`)
	return body[i+6 : i+6+strings.Index(body[i+6:], `"`)]
}

// TestReplicasNeverConvergeOneKeyAtOnce runs two `tenure serve` processes
// on one Redis, writes to both, and checks with the probe target that no
// identity was ever converged by both at the same time.
func TestReplicasNeverConvergeOneKeyAtOnce(t *testing.T) {
	replicaEnv(t)
	cfg := replicaConfig(t, "overlap")
	probeFile := filepath.Join(t.TempDir(), "probe.log")
	a := startChild(t, cfg, probeFile, "TENURE_PROBE_DELAY=5ms")
	b := startChild(t, cfg, probeFile, "TENURE_PROBE_DELAY=5ms")
	var ids []string
	for i := range 20 {
		ids = append(ids, postUser(t, a, fmt.Sprintf("user%02d", i)))
	}
	const rounds = 8
	for r := range rounds {
		for i, id := range ids {
			c := []*child{a, b}[(i+r)%2]
			patch := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"t%d"}]}`, r)
			if code, body := c.request(t, "PATCH", "/scim/v2/Users/"+id, patch); code != http.StatusOK {
				t.Fatalf("PATCH: %d %s", code, body)
			}
		}
	}
	// Wait until the probe has been quiet for a second.
	var lines []probeLine
	for deadline := time.Now().Add(30 * time.Second); ; {
		n := len(lines)
		time.Sleep(time.Second)
		lines = readProbe(t, probeFile)
		if len(lines) == n && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("probe never went quiet")
		}
	}
	type span struct{ start, end int64 }
	open := map[string]probeLine{}
	spans := map[string][]span{}
	pids := map[int]int{}
	for _, l := range lines {
		switch l.kind {
		case "S":
			open[l.identity+"/"+strconv.Itoa(l.pid)] = l
		case "E":
			s := open[l.identity+"/"+strconv.Itoa(l.pid)]
			spans[l.identity] = append(spans[l.identity], span{s.at, l.at})
			pids[l.pid]++
		}
	}
	overlaps := 0
	for id, ss := range spans {
		sort.Slice(ss, func(i, j int) bool { return ss[i].start < ss[j].start })
		for i := 1; i < len(ss); i++ {
			if ss[i].start < ss[i-1].end {
				overlaps++
				t.Errorf("identity %s: converges overlapped: %v and %v", id, ss[i-1], ss[i])
			}
		}
	}
	if len(spans) != len(ids) {
		t.Errorf("converged %d identities, want %d", len(spans), len(ids))
	}
	if len(pids) != 2 {
		t.Errorf("converges by process = %v, want both processes working", pids)
	}
	t.Logf("%d converges by %d processes, %d overlaps", len(lines)/2, len(pids), overlaps)
}

// TestKilledReplicaWorkReclaimed SIGKILLs a replica in the middle of a
// converge and measures how long the other takes to converge the key.
func TestKilledReplicaWorkReclaimed(t *testing.T) {
	replicaEnv(t)
	cfg := replicaConfig(t, "kill")
	probeFile := filepath.Join(t.TempDir(), "probe.log")
	const lease = 3 * time.Second
	a := startChild(t, cfg, probeFile, "TENURE_PROBE_HANG=1")
	id := postUser(t, a, "victim")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ls := readProbe(t, probeFile); len(ls) > 0 && ls[0].identity == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica a never started converging")
		}
	}
	b := startChild(t, cfg, probeFile)
	_ = b
	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	for deadline := killed.Add(4 * lease); ; time.Sleep(10 * time.Millisecond) {
		ls := readProbe(t, probeFile)
		var done bool
		for _, l := range ls {
			if l.kind == "E" && l.identity == id && l.pid == b.cmd.Process.Pid {
				done = true
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed replica's key was not converged within %v", 4*lease)
		}
	}
	took := time.Since(killed)
	t.Logf("re-claimed and converged %v after SIGKILL (lease %v)", took.Round(time.Millisecond), lease)
	if took > 2*lease {
		t.Errorf("re-claim took %v, more than 2× the lease (%v)", took, 2*lease)
	}
}

// TestKill9BetweenAcceptAndConverge SIGKILLs an embedded-store process right
// after it answered 201 (its only worker is stuck), then starts a new one on
// the same file: the accepted write is converged, nothing was lost.
func TestKill9BetweenAcceptAndConverge(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tenure.yaml")
	if err := os.WriteFile(cfg, []byte(`
store: {kind: embedded, embedded: {path: `+filepath.Join(dir, "tenure.db")+`}}
sources: [{name: default, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
targets: [{name: probe, kind: probe}]
engine: {workers: 1, poll: 20ms, lease: 3s}
log: {level: warn}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	probeFile := filepath.Join(dir, "probe.log")
	a := startChild(t, cfg, probeFile, "TENURE_PROBE_HANG=1")
	first := postUser(t, a, "first") // occupies the only worker
	for deadline := time.Now().Add(10 * time.Second); len(readProbe(t, probeFile)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("worker never started")
		}
	}
	second := postUser(t, a, "second") // accepted, never converged
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	startChild(t, cfg, probeFile)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		done := map[string]bool{}
		for _, l := range readProbe(t, probeFile) {
			if l.kind == "E" {
				done[l.identity] = true
			}
		}
		if done[first] && done[second] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart converged %v, want %s and %s", done, first, second)
		}
	}
}
