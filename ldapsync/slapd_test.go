package ldapsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// bufferLog is a logger into a buffer. slog's handlers serialise their
// writes; tests read the buffer only once the Do calls that log returned.
func bufferLog() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// startTLSConfig is how the tests reach srv: StartTLS on its ldap:// URL,
// trusting only its CA, bound as its administrator.
func startTLSConfig(srv interface {
	URL() string
	CAFile() string
	BindDN() string
	BindPassword() string
}) Config {
	return Config{
		URL:          srv.URL(),
		StartTLS:     true,
		CAFile:       srv.CAFile(),
		BindDN:       srv.BindDN(),
		BindPassword: srv.BindPassword(),
		DialTimeout:  5 * time.Second,
		OpTimeout:    10 * time.Second,
		PoolSize:     2,
	}
}

// newPool opens a pool with cfg, closed when t ends, and returns it with
// what it logged.
func newPool(t *testing.T, cfg Config) (*Pool, *bytes.Buffer) {
	t.Helper()
	log, buf := bufferLog()
	p, err := New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		p.Close()
		if cfg.BindPassword != "" && strings.Contains(buf.String(), cfg.BindPassword) {
			t.Errorf("the bind password was logged:\n%s", buf)
		}
	})
	return p, buf
}

func add(ctx context.Context, p *Pool, dn string, attrs map[string][]string) error {
	return p.Do(ctx, "add", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		for name, vals := range attrs {
			req.Attribute(name, vals)
		}
		return c.Add(req)
	})
}

func del(ctx context.Context, p *Pool, dn string) error {
	return p.Do(ctx, "delete", func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
}

// search finds the entries under base that f matches, asking for attrs.
func search(ctx context.Context, p *Pool, base string, f Filter, attrs ...string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, f.String(), attrs, nil)
	return p.SearchAll(ctx, req, 50)
}

// readDN reads the entry dn itself.
func readDN(ctx context.Context, p *Pool, dn string, attrs ...string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil)
	es, err := p.SearchAll(ctx, req, 0)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("%d entries at %q", len(es), dn)
	}
	return es[0], nil
}

func TestSlapdHostileValues(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	ctx := t.Context()
	dns := map[string]string{}
	for _, h := range hostile {
		dn := JoinDN(RDN("cn", h.value), testenv.SlapdPeopleDN)
		dns[h.name] = dn
		err := add(ctx, p, dn, map[string][]string{
			"objectClass": {"inetOrgPerson"},
			"cn":          {h.value},
			"sn":          {h.value},
			"uid":         {h.value},
			"description": {h.name},
		})
		if err != nil {
			t.Fatalf("add %s (%q): %v", h.name, dn, err)
		}
	}
	all, err := search(ctx, p, testenv.SlapdPeopleDN, Eq("objectClass", "inetOrgPerson"))
	if err != nil || len(all) != len(hostile) {
		t.Fatalf("%d people, %v; want %d", len(all), err, len(hostile))
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			dn := dns[h.name]
			e, err := readDN(ctx, p, dn, "cn", "uid", "description")
			if err != nil {
				t.Fatalf("read %q: %v", dn, err)
			}
			if !EqualDN(e.DN, dn) {
				t.Errorf("read %q, got the entry %q", dn, e.DN)
			}
			if _, v, err := RDNValue(e.DN); err != nil || v != h.value {
				t.Errorf("the server's DN %q has RDN value %q (%v), want %q", e.DN, v, err, h.value)
			}
			if got := e.GetAttributeValue("uid"); got != h.value {
				t.Errorf("uid = %q, want %q", got, h.value)
			}
			for _, attr := range []string{"uid", "cn"} {
				found, err := search(ctx, p, testenv.SlapdPeopleDN, And(Eq("objectClass", "inetOrgPerson"), Eq(attr, h.value)), "description")
				if err != nil {
					t.Fatalf("search by %s: %v", attr, err)
				}
				if len(found) != 1 || found[0].GetAttributeValue("description") != h.name {
					t.Errorf("the filter on %s found %d entries, want exactly %q's", attr, len(found), h.name)
				}
			}
		})
	}
	// A raw, unescaped "(uid=*)(uid=*)" would match every entry: the
	// escaped one matches only the entry whose uid is that text.
	found, err := search(ctx, p, testenv.SlapdBaseDN, Eq("uid", "*)(uid=*"), "uid")
	if err != nil || len(found) != 1 || found[0].GetAttributeValue("uid") != "*)(uid=*" {
		t.Errorf("the injection value matched %d entries (%v), want just its own", len(found), err)
	}
	for name, dn := range dns {
		if err := del(ctx, p, dn); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	}
}

func TestSlapdPaging(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	ctx := t.Context()
	const n, page = 23, 5
	for i := range n {
		err := add(ctx, p, JoinDN(RDN("cn", fmt.Sprintf("page, %02d", i)), testenv.SlapdPeopleDN), map[string][]string{
			"objectClass": {"inetOrgPerson"}, "sn": {"paged"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	f := And(Eq("objectClass", "inetOrgPerson"), Eq("sn", "paged"))
	// The server does page: one request with the control returns a page
	// and a cookie.
	err := p.Do(ctx, "search", func(c *ldap.Conn) error {
		req := ldap.NewSearchRequest(testenv.SlapdPeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			f.String(), []string{"cn"}, []ldap.Control{ldap.NewControlPaging(page)})
		res, err := c.Search(req)
		if err != nil {
			return err
		}
		ctl, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if len(res.Entries) != page || ctl == nil || len(ctl.Cookie) == 0 {
			return fmt.Errorf("one paged request got %d entries and control %v", len(res.Entries), ctl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stale := ldap.NewControlPaging(99)
	req := ldap.NewSearchRequest(testenv.SlapdPeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		f.String(), []string{"cn"}, []ldap.Control{stale})
	for _, size := range []uint32{page, 1, n, 0} {
		es, err := p.SearchAll(ctx, req, size)
		if err != nil {
			t.Fatalf("page size %d: %v", size, err)
		}
		seen := map[string]bool{}
		for _, e := range es {
			seen[e.GetAttributeValue("cn")] = true
		}
		if len(es) != n || len(seen) != n {
			t.Errorf("page size %d: %d entries, %d distinct; want %d", size, len(es), len(seen), n)
		}
	}
	if len(req.Controls) != 1 || req.Controls[0] != stale || len(stale.Cookie) != 0 {
		t.Errorf("SearchAll changed the request's controls: %v", req.Controls)
	}
}

func TestSlapdReconnect(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	ctx := t.Context()
	base := func() error { _, err := readDN(ctx, p, testenv.SlapdBaseDN); return err }
	if err := base(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	// The pooled connection died with the old process: Do finds it closed
	// and dials anew, or tries once more on a new one.
	if err := base(); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	// A server that is gone is a retryable failure, promptly.
	srv.Stop()
	start := time.Now()
	err := base()
	if err == nil || !targets.IsRetryable(err) || time.Since(start) > 5*time.Second {
		t.Errorf("with the server stopped: %v after %v; want a retryable error at once", err, time.Since(start))
	}
	srv.Restart(t)
	if err := base(); err != nil {
		t.Fatalf("after starting again: %v", err)
	}
}

// freeze stops the process pid (SIGSTOP) until the returned func or the
// end of t: its sockets accept but nothing answers. It returns once every
// thread of it has stopped.
func freeze(t *testing.T, pid int) (thaw func()) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !allStopped(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop", pid)
		}
	}
	var once sync.Once
	thaw = func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }
	t.Cleanup(thaw)
	return thaw
}

// allStopped reports whether every thread of pid is stopped (state T).
func allStopped(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return len(stats) > 0
}

func TestSlapdContext(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	cfg := startTLSConfig(srv)
	cfg.OpTimeout = 400 * time.Millisecond
	cfg.DialTimeout = 500 * time.Millisecond
	p, _ := newPool(t, cfg)
	ctx := t.Context()
	deadline := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 200*time.Millisecond) }
	cancel := func() (context.Context, context.CancelFunc) {
		c, cancel := context.WithCancel(ctx)
		time.AfterFunc(200*time.Millisecond, cancel)
		return c, cancel
	}
	for _, tc := range []struct {
		name   string
		pooled bool // a connection is open: the search is in flight; else Do dials
		ctx    func() (context.Context, context.CancelFunc)
		want   error // nil: any retryable error
		max    time.Duration
	}{
		{"deadline in flight", true, deadline, context.DeadlineExceeded, time.Second},
		{"cancel in flight", true, cancel, context.Canceled, time.Second},
		{"deadline dialling", false, deadline, context.DeadlineExceeded, time.Second},
		{"cancel dialling", false, cancel, context.Canceled, time.Second},
		// No ctx deadline soon: OpTimeout (400ms) ends the search, and the
		// retry on a new connection waits for StartTLS until DialTimeout
		// (500ms).
		{"op timeout", true, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Minute)
		}, nil, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := p
			if tc.pooled {
				if _, err := readDN(ctx, pool, testenv.SlapdBaseDN); err != nil {
					t.Fatal(err)
				}
			} else {
				pool, _ = newPool(t, cfg)
			}
			thaw := freeze(t, srv.PID())
			defer thaw()
			c, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := readDN(c, pool, testenv.SlapdBaseDN)
			took := time.Since(start)
			t.Logf("%v after %v", err, took)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !targets.IsRetryable(err) {
				t.Errorf("err = %v, want %v, retryable", err, tc.want)
			}
			if tc.want == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
				t.Errorf("err = %v blames the caller's context", err)
			}
			if took > tc.max {
				t.Errorf("returned after %v, want at most %v", took, tc.max)
			}
			thaw()
			// The aborted connections were thrown away; the pool works again.
			if _, err := readDN(ctx, pool, testenv.SlapdBaseDN); err != nil {
				t.Errorf("after thawing: %v", err)
			}
		})
	}
}

func TestSlapdPoolSize(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	cfg := startTLSConfig(srv)
	cfg.PoolSize = 1
	p, _ := newPool(t, cfg)
	ctx := t.Context()
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- p.Do(ctx, "hold", func(*ldap.Conn) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := p.Do(c, "wait", func(*ldap.Conn) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second Do with the only connection in use: %v, want a deadline", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The one connection is reused, not dialled again.
	var first, second *ldap.Conn
	for _, c := range []**ldap.Conn{&first, &second} {
		if err := p.Do(ctx, "reuse", func(l *ldap.Conn) error { *c = l; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if first != second {
		t.Error("an idle connection was not reused")
	}
}

func TestSlapdTLSAndBind(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	other := testenv.TLSFiles(t) // a CA that did not sign the server's certificate
	for _, tc := range []struct {
		name      string
		edit      func(*Config)
		permanent bool // else success
	}{
		{"starttls", func(*Config) {}, false},
		{"ldaps", func(c *Config) { c.URL, c.StartTLS = srv.LDAPSURL(), false }, false},
		{"ldaps by name", func(c *Config) {
			c.URL, c.StartTLS = strings.Replace(srv.LDAPSURL(), "127.0.0.1", "localhost", 1), false
		}, false},
		{"wrong password", func(c *Config) { c.BindPassword = "wrong" }, true},
		{"unknown CA", func(c *Config) { c.CAFile = other.CAFile }, true},
		{"ldaps unknown CA", func(c *Config) { c.URL, c.StartTLS, c.CAFile = srv.LDAPSURL(), false, other.CAFile }, true},
		{"wrong server name", func(c *Config) { c.ServerName = "ldap.example.org" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := startTLSConfig(srv)
			tc.edit(&cfg)
			p, _ := newPool(t, cfg)
			e, err := readDN(t.Context(), p, testenv.SlapdBaseDN, "dc")
			switch {
			case tc.permanent && (err == nil || targets.IsRetryable(err)):
				t.Errorf("err = %v, want a permanent error", err)
			case !tc.permanent && err != nil:
				t.Errorf("err = %v", err)
			case !tc.permanent && e.GetAttributeValue("dc") != "example":
				t.Errorf("read dc=%q", e.GetAttributeValue("dc"))
			}
		})
	}
}

func TestSlapdPermanentErrors(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	ctx := t.Context()
	dn := JoinDN(RDN("cn", "Error, Test"), testenv.SlapdPeopleDN)
	for _, tc := range []struct {
		name  string
		dn    string
		attrs map[string][]string
		code  uint16
	}{
		{"object class violation", dn, map[string][]string{"objectClass": {"inetOrgPerson"}}, ldap.LDAPResultObjectClassViolation},
		{"undefined attribute", dn, map[string][]string{"objectClass": {"inetOrgPerson"}, "sn": {"x"}, "noSuchAttr": {"x"}}, ldap.LDAPResultUndefinedAttributeType},
		{"missing parent", JoinDN(RDN("cn", "x"), "ou=nowhere,"+testenv.SlapdBaseDN), map[string][]string{"objectClass": {"inetOrgPerson"}, "sn": {"x"}}, ldap.LDAPResultNoSuchObject},
	} {
		err := add(ctx, p, tc.dn, tc.attrs)
		if targets.IsRetryable(err) || !ldap.IsErrorWithCode(err, tc.code) {
			t.Errorf("%s: %v, want a permanent error with code %d", tc.name, err, tc.code)
		}
		// The server's diagnostic message survives (slapd names the
		// problem), or for a missing parent the matched DN.
		le, _ := errors.AsType[*ldap.Error](err)
		if le == nil || le.Err.Error()+le.MatchedDN == "" || !strings.Contains(err.Error(), le.Err.Error()) {
			t.Errorf("%s: the server's message is missing from %v", tc.name, err)
		}
		if le != nil && le.MatchedDN != "" && !strings.Contains(err.Error(), le.MatchedDN) {
			t.Errorf("%s: the matched DN is missing from %v", tc.name, err)
		}
	}
}

func TestSlapdMetrics(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	reg := prometheus.NewRegistry()
	cfg := startTLSConfig(srv)
	cfg.Server = "slapd-a"
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := readDN(ctx, p, testenv.SlapdBaseDN); err != nil {
		t.Fatal(err)
	}
	if err := add(ctx, p, "cn=x,"+testenv.SlapdPeopleDN, map[string][]string{"objectClass": {"inetOrgPerson"}}); err == nil {
		t.Fatal("an add without sn succeeded")
	}
	want := `
# HELP tenure_ldap_operations_total LDAP operations (Pool.Do calls) by outcome: ok, retryable or permanent.
# TYPE tenure_ldap_operations_total counter
tenure_ldap_operations_total{op="add",result="permanent",server="slapd-a"} 1
tenure_ldap_operations_total{op="search",result="ok",server="slapd-a"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tenure_ldap_operations_total"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "tenure_ldap_operation_duration_seconds"); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
	// A second pool on the registry needs a label of its own.
	if _, err := New(cfg, nil, reg); err == nil {
		t.Error("two pools with one server label registered")
	}
	cfg.Server = "slapd-b"
	q, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("a second pool: %v", err)
	}
	q.Close()
	p.Close()
	p.Close()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series left after Close", n)
	}
	if err := p.Do(ctx, "search", func(*ldap.Conn) error { return nil }); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Do after Close: %v", err)
	}
}

func TestSlapdRetryOnce(t *testing.T) {
	t.Parallel()
	srv := testenv.Slapd(t)
	p, log := newPool(t, startTLSConfig(srv))
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		first func(*ldap.Conn) error // the first run's failure
		runs  int
		ok    bool
	}{
		{"connection broke", func(c *ldap.Conn) error {
			c.Close() // as a server restart or a dropped socket would
			_, err := c.Search(ldap.NewSearchRequest(testenv.SlapdBaseDN, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
			return err
		}, 2, true},
		{"busy", func(*ldap.Conn) error { return ldap.NewError(ldap.LDAPResultBusy, errors.New("busy")) }, 2, true},
		{"unavailable", func(*ldap.Conn) error { return ldap.NewError(ldap.LDAPResultUnavailable, errors.New("x")) }, 2, true},
		{"server down", func(*ldap.Conn) error { return ldap.NewError(ldap.LDAPResultServerDown, errors.New("x")) }, 2, true},
		{"constraint", func(*ldap.Conn) error { return ldap.NewError(ldap.LDAPResultConstraintViolation, errors.New("x")) }, 1, false},
		{"time limit", func(*ldap.Conn) error { return ldap.NewError(ldap.LDAPResultTimeLimitExceeded, errors.New("x")) }, 1, false},
		{"own error", func(*ldap.Conn) error { return errors.New("mine") }, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns []*ldap.Conn
			err := p.Do(ctx, "test", func(c *ldap.Conn) error {
				conns = append(conns, c)
				if len(conns) == 1 {
					return tc.first(c)
				}
				_, err := c.Search(ldap.NewSearchRequest(testenv.SlapdBaseDN, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
				return err
			})
			if len(conns) != tc.runs || (err == nil) != tc.ok {
				t.Fatalf("fn ran %d times, err %v; want %d runs, success %v", len(conns), err, tc.runs, tc.ok)
			}
			if tc.runs == 2 && conns[0] == conns[1] {
				t.Error("the retry reused the failed connection")
			}
		})
	}
	// Never more than once: a server that keeps failing fails the Do.
	runs := 0
	err := p.Do(ctx, "test", func(*ldap.Conn) error {
		runs++
		return ldap.NewError(ldap.LDAPResultBusy, errors.New("still busy"))
	})
	if runs != 2 || !targets.IsRetryable(err) || !strings.Contains(err.Error(), "still busy") {
		t.Errorf("%d runs, %v; want 2 and a retryable error", runs, err)
	}
	if !strings.Contains(log.String(), "retrying once on a new connection") {
		t.Errorf("no retry was logged:\n%s", log)
	}
}
