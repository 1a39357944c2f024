package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is what SlapdServer and SambaServer have in common.
type server struct {
	d     *daemon
	certs CertFiles
}

// CAFile is the PEM file of the CA that signed the server's certificate.
func (s *server) CAFile() string { return s.certs.CAFile }

// TLS is the server's CA, certificate and key files.
func (s *server) TLS() CertFiles { return s.certs }

// PID is the server's process id, or 0 when it is not running. A server
// with workers (Samba) runs them in the process group of that id.
func (s *server) PID() int { return s.d.pid() }

// Stop shuts the server down cleanly (SIGTERM, which Samba passes on to
// its workers) and waits until no process of it is left, killing them
// after 10s. Stopping a stopped server does nothing.
func (s *server) Stop() { s.d.halt(syscall.SIGTERM) }

// Kill ends the server (and its workers) with SIGKILL, as a crash would,
// and waits for them to be gone. Slapd without SlapdFsync may lose the
// writes since its last clean stop.
func (s *server) Kill() { s.d.halt(syscall.SIGKILL) }

// Restart stops the server if it runs and starts it again on the same
// address, ports and directory. It returns once the server answers an LDAP
// bind.
func (s *server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.d.start(t.Context()); err != nil {
		t.Fatalf("testenv: restart: %v", err)
	}
}

// daemon is a server binary run in the foreground as a child of the test
// process, with the same lifecycle as RedisServer: started on demand,
// ready once probe succeeds and the server's pid file names our child,
// stopped by signal and waited for.
type daemon struct {
	name    string   // for messages: "slapd", "samba"
	bin     string   // the server binary
	dir     string   // working directory; stdout.log is written here
	args    []string // set before each start
	pidFile string   // the server's pid file, checked against our child's pid
	logs    []string // server log files beside stdout.log, for error messages
	// group runs the server in a process group of its own, for servers
	// that fork workers (samba): stopping kills the group and waits until
	// no member is left.
	group bool
	probe func(ctx context.Context) error // nil once the server serves

	mu   sync.Mutex
	proc *process // nil when stopped
}

// start runs the binary and waits until it serves. An error wraps
// errPortTaken when the server reported its address in use.
func (d *daemon) start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		return fmt.Errorf("%s: already running", d.name)
	}
	out, err := os.OpenFile(filepath.Join(d.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	defer out.Close() // the child has its own descriptor
	// A stale pid file from the previous run must not pass for this one.
	if err := os.Remove(d.pidFile); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	cmd := exec.Command(d.bin, d.args...)
	cmd.Dir = d.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if d.group {
		cmd.SysProcAttr = groupProcAttr()
	}
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	if err := d.waitServing(ctx, p); err != nil {
		d.end(p, syscall.SIGKILL)
		log := d.logTail()
		if bytes.Contains(log, []byte("Address already in use")) {
			return fmt.Errorf("%s: %w", d.name, errPortTaken)
		}
		return fmt.Errorf("%s: %w\n%s", d.name, err, log)
	}
	d.proc = p
	return nil
}

// waitServing polls until the pid file names p and the probe succeeds,
// for at most startTimeout.
func (d *daemon) waitServing(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	want := strconv.Itoa(p.cmd.Process.Pid)
	return pollReady(ctx, p, func() error {
		pid, err := os.ReadFile(d.pidFile)
		switch {
		case err != nil:
			return err
		case strings.TrimSpace(string(pid)) != want:
			return fmt.Errorf("pid file %s names %q, not our process %s", d.pidFile, bytes.TrimSpace(pid), want)
		}
		return d.probe(ctx)
	})
}

// pid is the server's process id, or 0 when it is not running.
func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return 0
	}
	return d.proc.cmd.Process.Pid
}

// halt sends sig and waits for the server (and its process group) to be
// gone, killing it after stopTimeout. Halting a stopped server does nothing.
func (d *daemon) halt(sig syscall.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		d.end(d.proc, sig)
		d.proc = nil
	}
}

func (d *daemon) end(p *process, sig syscall.Signal) {
	pid := p.cmd.Process.Pid
	if d.group && sig == syscall.SIGKILL {
		killGroup(pid, sig) // a crash takes the workers too
	} else {
		_ = p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if d.group {
		// Workers that outlived their parent; none should.
		killGroup(pid, syscall.SIGKILL)
		deadline := time.Now().Add(stopTimeout)
		for groupAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// logTail returns the end of the server's output and log files, for error
// messages.
func (d *daemon) logTail() []byte {
	var b []byte
	for _, name := range append([]string{filepath.Join(d.dir, "stdout.log")}, d.logs...) {
		data, _ := os.ReadFile(name)
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		b = append(b, data...)
	}
	return b
}

// startProcess starts cmd and reaps it in the background; p.done closes
// when it exits, with p.err its exit status.
func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}
