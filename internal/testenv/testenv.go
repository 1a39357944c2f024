// Package testenv starts real servers for tests: private instances on free
// loopback ports, with their data in the test's temporary directory, stopped
// when the test ends.
//
// # Missing servers
//
// The servers come from Debian packages (scripts/install-test-deps.sh
// installs them). When a server's binary is missing, a test that needs it
// is skipped with a message naming that script — unless the environment
// variable CI is "true", where it fails instead: in CI a missing server
// must never turn into a silently skipped test.
//
// # Processes
//
// Servers run as child processes of the test binary, not daemonized: a
// daemonizing redis-server exits 0 even when its port is taken, and a child
// is ours to wait for, so no zombie outlives a test. On Linux each child is
// also killed when the test binary dies. Readiness means the server at the
// port answers and reports the PID of the process we started, so a server
// that lost the race for a free port is never mistaken for ours.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// lookPath finds a server binary in PATH or in the sbin directories a
// non-root PATH often lacks.
func lookPath(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// need returns the path of a server binary, or ends the test as the package
// documentation describes.
func need(t testing.TB, name string) string {
	t.Helper()
	if p, ok := lookPath(name); ok {
		return p
	}
	msg := name + " not found in PATH, /usr/bin or /usr/sbin; run scripts/install-test-deps.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal("testenv: " + msg + " (CI=true: a missing server fails the run)")
	}
	t.Skip("testenv: " + msg)
	return ""
}
