package conformance

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/targets"
)

// testPermanent: what cannot succeed fails permanently.
func testPermanent(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	ctx := t.Context()
	t.Run("no naming value", func(t *testing.T) {
		writes := r.f.Writes(t)
		_, err := r.converge(t, ctx, "p1", nil, r.f.Account(Person{Key: "N1", Title: "Nameless"}))
		if err == nil || !errors.Is(err, targets.ErrPermanent) || targets.IsRetryable(err) {
			t.Errorf("err = %v, want a permanent error", err)
		}
		if n := r.f.Writes(t) - writes; n != 0 {
			t.Errorf("sent %d write requests before failing", n)
		}
	})
	t.Run("missing group", func(t *testing.T) {
		// A name derived from the fixture's own groups, so it is the
		// fixture's too.
		missing := r.f.Groups()[0] + "-missing"
		res, err := r.converge(t, ctx, "p2", nil, r.f.Account(Person{Name: "nogroup", Key: "N2", Groups: []string{missing}}))
		switch {
		case err != nil:
			if !errors.Is(err, targets.ErrPermanent) || targets.IsRetryable(err) || !strings.Contains(err.Error(), missing) {
				t.Errorf("err = %v, want a permanent error naming %q", err, missing)
			}
		case !containsOp(res.Ops, targets.Op{Kind: targets.OpGrant, Detail: missing}):
			t.Errorf("ops %v: the group was neither created and granted nor an error", res.Ops)
		}
	})
}

func containsOp(ops []targets.Op, op targets.Op) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// testUnreachable: a target whose server refuses connections fails
// retryable and unavailable; one whose server never answers returns when
// the converge's context ends.
func testUnreachable(t *testing.T, k Kind) {
	if k.At == nil {
		t.Skip("the kind has no At")
	}
	r := newRun(t, k, Options{})
	desired := r.f.Account(Person{Name: "away", Key: "U1", Groups: []string{r.f.Groups()[0]}})
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		tgt := k.At(t, addr)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err = tgt.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired})
		if err == nil || !targets.IsRetryable(err) || !errors.Is(err, targets.ErrUnavailable) {
			t.Errorf("err = %v, want retryable and unavailable", err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("took %v", took)
		}
		if f, ok := tgt.(targets.Finder); ok {
			if _, err := f.Find(ctx, &targets.Request{Identity: "p1", Desired: desired}); err == nil || !targets.IsRetryable(err) {
				t.Errorf("find: %v, want a retryable error", err)
			}
		}
	})
	t.Run("silent", func(t *testing.T) {
		addr := silentServer(t)
		tgt := k.At(t, addr)
		for _, tc := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(t.Context(), 300*time.Millisecond)
			}, context.DeadlineExceeded},
			{"cancel", func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			}, context.Canceled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := tc.ctx()
				defer cancel()
				start := time.Now()
				_, err := tgt.Converge(ctx, &targets.Request{Identity: "p1", Desired: desired})
				took := time.Since(start)
				if err == nil || !targets.IsRetryable(err) || !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want retryable, wrapping %v", err, tc.want)
				}
				if took > 3*time.Second {
					t.Errorf("returned %v after the context began, want promptly after it ended (300ms)", took)
				}
			})
		}
	})
}

// silentServer listens on a loopback port, accepts connections and never
// answers; it stops when t ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// testContext: a converge whose context is done before it starts fails
// retryable, wrapping the context's error, and writes nothing; the next
// converge does the whole job.
func testContext(t *testing.T, k Kind) {
	r := newRun(t, k, Options{})
	p := Person{Name: "ctx", Key: "C1", Groups: []string{r.f.Groups()[0]}}
	desired := r.f.Account(p)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			writes := r.f.Writes(t)
			_, err := r.converge(t, ctx, "p1", nil, desired)
			if err == nil || !targets.IsRetryable(err) || !errors.Is(err, tc.want) {
				t.Errorf("converge: %v, want retryable, wrapping %v", err, tc.want)
			}
			if _, err := r.f.Target().(targets.Finder).Find(ctx, &targets.Request{Identity: "p1", Desired: desired}); err == nil || !errors.Is(err, tc.want) {
				t.Errorf("find: %v, want an error wrapping %v", err, tc.want)
			}
			if n := r.f.Writes(t) - writes; n != 0 {
				t.Errorf("sent %d write requests", n)
			}
		})
	}
	link := r.apply(t, "p1", nil, desired, plan(nil, desired))
	r.wantState(t, link.ID, p, nil)
}
