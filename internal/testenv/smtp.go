package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// SMTPServer is a running SMTP server (cmd internal/testenv/smtpd, on
// emersion/go-smtp): STARTTLS with a certificate of a throwaway CA, AUTH
// PLAIN required, every accepted message kept as a file for the test to
// read back. A process of its own, as the other servers here.
type SMTPServer struct {
	server
	port           int
	User, Password string
	maildir        string
}

// Host is the server's address, 127.0.0.1 (the certificate names it).
func (s *SMTPServer) Host() string { return "127.0.0.1" }

// Port is the server's port.
func (s *SMTPServer) Port() int { return s.port }

// SMTP compiles the test SMTP server (with the go command running the
// test), starts it on a free loopback port with one user, and returns
// once it greets; it stops when t ends. Without the go command it skips
// t, or fails it when CI is "true".
func SMTP(t testing.TB) *SMTPServer {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "smtpd")
	goCmd, ok := lookPath("go")
	if !ok {
		goCmd = need(t, filepath.Join(runtime.GOROOT(), "bin", "go"))
	}
	build := exec.CommandContext(t.Context(), goCmd, "build", "-o", bin, "github.com/tenurehq/tenure/internal/testenv/smtpd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("testenv: build the SMTP server: %v\n%s", err, out)
	}
	certs, err := writeTLSFiles(dir, nil)
	if err != nil {
		t.Fatalf("testenv: smtpd: %v", err)
	}
	s := &SMTPServer{User: "tenure@example.com", Password: "smtp-secret-0123", maildir: filepath.Join(dir, "mail")}
	if err := os.Mkdir(s.maildir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.certs = certs
	s.d = &daemon{name: "smtpd", bin: bin, dir: dir, pidFile: filepath.Join(dir, "smtpd.pid")}
	s.d.probe = func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", s.addr())
		if err != nil {
			return err
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "220 ") {
			return fmt.Errorf("greeting %q", line)
		}
		return nil
	}
	for range startTries {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("testenv: smtpd: %v", err)
		}
		s.d.args = []string{"-listen", s.addr(), "-cert", certs.CertFile, "-key", certs.KeyFile,
			"-user", s.User, "-password", s.Password, "-maildir", s.maildir, "-pidfile", s.d.pidFile}
		if err = s.d.start(t.Context()); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("testenv: %v", err)
	return nil
}

func (s *SMTPServer) addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// Messages returns the messages the server accepted, oldest first, each
// as written: X-Envelope-From and X-Envelope-To lines, then the message.
func (s *SMTPServer) Messages(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(s.maildir)
	if err != nil {
		t.Fatalf("testenv: smtpd mail: %v", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".eml") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.maildir, n))
		if err != nil {
			t.Fatalf("testenv: smtpd mail: %v", err)
		}
		out = append(out, string(b))
	}
	return out
}
