package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder records Skip and Fatal instead of ending the real test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func runNeed(t *testing.T, name string) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		need(r, name)
	}()
	<-done
	return r
}

// TestNeedMissing pins the policy: a missing server skips, or fails in CI.
func TestNeedMissing(t *testing.T) {
	t.Setenv("CI", "")
	r := runNeed(t, "tenure-no-such-server")
	if !r.skipped || r.failed || !strings.Contains(r.msg, "scripts/install-test-deps.sh") {
		t.Errorf("without CI: skipped %v, failed %v, %q; want a skip naming the install script", r.skipped, r.failed, r.msg)
	}
	t.Setenv("CI", "true")
	r = runNeed(t, "tenure-no-such-server")
	if !r.failed || r.skipped {
		t.Errorf("with CI=true: skipped %v, failed %v; want a failure", r.skipped, r.failed)
	}
}
