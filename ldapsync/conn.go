package ldapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/promx"
	"github.com/tenurehq/tenure/internal/tlsx"
	"github.com/tenurehq/tenure/targets"
)

// Defaults for a zero Config field.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultOpTimeout   = 30 * time.Second
	DefaultPoolSize    = 8
)

// ErrPoolClosed is returned by Do after Close.
var ErrPoolClosed = errors.New("ldapsync: pool closed")

// Config says how to reach and bind to one directory server.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection before binding; it fails
	// the connection when the server refuses. Not with ldaps://.
	StartTLS bool
	// CAFile is a PEM file of the CAs to trust; empty trusts the system's.
	// Certificate verification cannot be turned off.
	CAFile string
	// ServerName is the name the server's certificate must carry; empty
	// means the URL's host.
	ServerName string
	// ClientCertFile and ClientKeyFile are an optional PEM client
	// certificate and key, both or neither.
	ClientCertFile, ClientKeyFile string
	// BindDN and BindPassword are the simple bind; an empty BindDN binds
	// anonymously. BindPassword is the resolved secret: never logged (see
	// LogValue and String).
	BindDN, BindPassword string
	// DialTimeout bounds connecting, the TLS handshake, StartTLS and the
	// bind together (DefaultDialTimeout).
	DialTimeout time.Duration
	// OpTimeout bounds each LDAP request (DefaultOpTimeout); a ctx deadline
	// that is sooner wins.
	OpTimeout time.Duration
	// PoolSize is the most connections open at once (DefaultPoolSize);
	// Do waits for one to be free.
	PoolSize int
	// Server is the metrics' server label: the URL's host:port by default.
	// Two pools on one registerer need different labels.
	Server string
}

// LogValue shows the configuration without the bind password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.Bool("starttls", c.StartTLS),
		slog.String("ca_file", c.CAFile),
		slog.String("server_name", c.ServerName),
		slog.String("bind_dn", c.BindDN),
		slog.Bool("bind_password_set", c.BindPassword != ""),
	)
}

// String shows the configuration without the bind password, for %v.
func (c Config) String() string {
	return fmt.Sprintf("ldap %s (starttls=%v, bind %q)", c.URL, c.StartTLS, c.BindDN)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Encrypted reports whether connections are TLS (ldaps:// or StartTLS).
func (c Config) Encrypted() bool { return c.StartTLS || isLDAPS(c.URL) }

func isLDAPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "ldaps"
}

// Pool keeps up to PoolSize bound connections to one server and runs
// operations on them. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	addr   string // host:port
	ldaps  bool
	tls    *tls.Config // nil for a plain connection
	log    *slog.Logger
	slots  chan struct{} // one per connection open or being opened
	idle   chan *conn
	ops    *prometheus.CounterVec
	dur    *prometheus.HistogramVec
	set    *promx.Set
	mu     sync.Mutex
	closed bool
}

// conn is a bound connection and the socket under it, whose deadline
// aborts whatever runs on it.
type conn struct {
	*ldap.Conn
	raw net.Conn
}

// abort makes every pending and future read and write on c fail now.
func (c *conn) abort() { _ = c.raw.SetDeadline(time.Unix(1, 0)) }

// New checks cfg, loads its TLS files and returns a pool that connects on
// first use. Its metrics are registered on reg (nil: none) with cfg.Server
// as the server label: tenure_ldap_operations_total{server,op,result} with
// result ok, retryable or permanent, and
// tenure_ldap_operation_duration_seconds{server,op}.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Pool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldapsync: url: %w", err)
	}
	p := &Pool{cfg: cfg, log: log}
	port := "389"
	switch u.Scheme {
	case "ldap":
	case "ldaps":
		p.ldaps, port = true, "636"
		if cfg.StartTLS {
			return nil, errors.New("ldapsync: StartTLS goes with ldap://, not ldaps://")
		}
	default:
		return nil, fmt.Errorf("ldapsync: url %q: scheme must be ldap or ldaps", cfg.URL)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("ldapsync: url %q: want scheme://host[:port] only", cfg.URL)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	p.addr = net.JoinHostPort(u.Hostname(), port)
	if p.ldaps || cfg.StartTLS {
		if p.tls, err = tlsConfig(cfg, u.Hostname()); err != nil {
			return nil, err
		}
	} else if cfg.CAFile != "" || cfg.ClientCertFile != "" {
		return nil, errors.New("ldapsync: TLS files given for a plain ldap:// connection; set StartTLS or use ldaps://")
	}
	if cfg.DialTimeout <= 0 {
		p.cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.OpTimeout <= 0 {
		p.cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.PoolSize <= 0 {
		p.cfg.PoolSize = DefaultPoolSize
	}
	if cfg.Server == "" {
		p.cfg.Server = p.addr
	}
	p.slots = make(chan struct{}, p.cfg.PoolSize)
	p.idle = make(chan *conn, p.cfg.PoolSize)
	p.ops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenure_ldap_operations_total",
		Help: "LDAP operations (Pool.Do calls) by outcome: ok, retryable or permanent.",
	}, []string{"op", "result"})
	p.dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tenure_ldap_operation_duration_seconds",
		Help:    "Time of LDAP operations (Pool.Do calls), including waiting for a connection and one retry.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"op"})
	if reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"server": p.cfg.Server}, reg)
	}
	if p.set, err = promx.Register(reg, p.ops, p.dur); err != nil {
		return nil, fmt.Errorf("ldapsync: %w", err)
	}
	if !p.cfg.Encrypted() && cfg.BindPassword != "" {
		log.Warn("ldapsync: bind password sent unencrypted; use ldaps:// or StartTLS", "ldap", p.cfg)
	}
	return p, nil
}

func tlsConfig(cfg Config, host string) (*tls.Config, error) {
	name := cfg.ServerName
	if name == "" {
		name = host
	}
	tc, err := tlsx.Client(tlsx.Files{CAFile: cfg.CAFile, CertFile: cfg.ClientCertFile, KeyFile: cfg.ClientKeyFile}, name)
	if err != nil {
		return nil, fmt.Errorf("ldapsync: %w", err)
	}
	return tc, nil
}

// verifying returns a copy of base that checks the server's certificate
// chain against base.RootCAs and its name against base.ServerName in
// VerifyConnection, exactly as crypto/tls does by default, and stores a
// failure in *failed: go-ldap's StartTLS reports a handshake error as text
// only, and Classify needs the error value to call a bad certificate
// permanent. Verification is never skipped: it moves into the callback.
func verifying(base *tls.Config, failed *error) *tls.Config {
	tc := base.Clone()
	tc.InsecureSkipVerify = true // VerifyConnection below verifies instead
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			*failed = errors.New("ldapsync: the server sent no certificate")
			return *failed
		}
		opts := x509.VerifyOptions{
			Roots:         base.RootCAs, // nil: the system's
			DNSName:       base.ServerName,
			Intermediates: x509.NewCertPool(),
		}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			*failed = &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			return *failed
		}
		return nil
	}
	return tc
}

// Do runs fn on a bound connection and returns its error classified
// (Classify, op naming it: "ldap <op>"). It waits for a free connection as
// long as ctx allows; each request fn makes times out after OpTimeout or at
// ctx's deadline, and ctx's end aborts a request in flight at once.
//
// When fn fails with a connection-level error (the connection closed or
// broke, busy, unavailable, serverDown), the connection is thrown away and
// fn runs once more on a newly dialled one; a failure to dial is not
// retried here. fn may therefore run twice, and its first run may have
// taken effect (an add whose response was lost): fn must be idempotent or
// take "already exists"/"no such object" as its own earlier success.
// fn must not keep the connection after it returns.
func (p *Pool) Do(ctx context.Context, op string, fn func(*ldap.Conn) error) error {
	start := time.Now()
	err := Classify("ldap "+op, p.do(ctx, op, fn))
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, targets.ErrPermanent):
		result = "permanent"
	default:
		result = "retryable"
	}
	p.ops.WithLabelValues(op, result).Inc()
	p.dur.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return err
}

func (p *Pool) do(ctx context.Context, op string, fn func(*ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	c, err := p.take(ctx)
	if err != nil {
		return err
	}
	err = p.run(ctx, c, fn)
	if !connectionError(err) || expired(ctx) != nil {
		return err
	}
	p.log.Info("ldapsync: connection lost; retrying once on a new connection", "server", p.cfg.Server, "op", op, "err", err)
	if c, err = p.dial(ctx); err != nil {
		return err
	}
	return p.run(ctx, c, fn)
}

// take returns an idle connection that is still open, or a new one.
func (p *Pool) take(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrPoolClosed
	}
	for {
		select {
		case c := <-p.idle:
			if c.IsClosing() {
				c.Close()
				continue
			}
			return c, nil
		default:
			return p.dial(ctx)
		}
	}
}

// run runs fn on c, then keeps c for reuse or closes it.
func (p *Pool) run(ctx context.Context, c *conn, fn func(*ldap.Conn) error) error {
	timeout := p.cfg.OpTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		p.put(c)
		return context.DeadlineExceeded
	}
	c.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, c.abort)
	err := fn(c.Conn)
	if !stop() || (err != nil && expired(ctx) != nil) {
		// ctx ended while fn ran: c is aborted, or timed out with ctx.
		// fn's result stands if it finished first.
		c.Close()
		return withContext(ctx, err)
	}
	if connectionError(err) || c.IsClosing() {
		c.Close()
	} else {
		p.put(c)
	}
	return err
}

// put makes c idle, or closes it when the pool is closed.
func (p *Pool) put(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		select {
		case p.idle <- c:
			return
		default:
		}
	}
	_ = c.Unbind()
}

// dial connects, upgrades to TLS when configured and binds, all within
// DialTimeout and ctx.
func (p *Pool) dial(outer context.Context) (c *conn, err error) {
	ctx, cancel := context.WithTimeout(outer, p.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, withContext(outer, err)
	}
	// Until the bind is done the socket's deadline is ctx's, and ctx's
	// end pulls it in.
	dl, _ := ctx.Deadline()
	_ = raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	var l *ldap.Conn
	defer func() {
		if stop() && err == nil {
			_ = raw.SetDeadline(time.Time{})
			return
		}
		if err == nil {
			err = expired(ctx) // deadline pulled in just as the bind finished
		}
		if l != nil {
			l.Close()
		}
		raw.Close()
		if expired(outer) != nil {
			err = withContext(outer, err)
		} else if expired(ctx) != nil {
			err = fmt.Errorf("ldapsync: no connection to %s within the dial timeout %v: %w", p.addr, p.cfg.DialTimeout, err)
		}
		c = nil
	}()
	var badCert error
	nc := raw
	if p.ldaps {
		tc := tls.Client(raw, verifying(p.tls, &badCert))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("ldapsync: TLS handshake with %s: %w", p.addr, err)
		}
		nc = tc
	}
	l = ldap.NewConn(nc, p.ldaps)
	l.Start()
	l.SetTimeout(p.cfg.DialTimeout)
	if p.cfg.StartTLS {
		if err := l.StartTLS(verifying(p.tls, &badCert)); err != nil {
			if badCert != nil {
				// go-ldap keeps only the text of the handshake's error.
				err = badCert
			}
			return nil, fmt.Errorf("ldapsync: StartTLS with %s: %w", p.addr, err)
		}
	}
	if p.cfg.BindDN != "" {
		if err := l.Bind(p.cfg.BindDN, p.cfg.BindPassword); err != nil {
			return nil, fmt.Errorf("ldapsync: bind to %s as %q: %w", p.addr, p.cfg.BindDN, err)
		}
	}
	return &conn{Conn: l, raw: raw}, nil
}

// expired is ctx's error, or DeadlineExceeded once ctx's deadline has
// passed but its timer has not fired yet: a socket or request timeout set
// to that deadline can fire first.
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// withContext marks err, which ctx's end caused, with expired(ctx), so
// that errors.Is finds context.Canceled or DeadlineExceeded. A nil err (fn
// finished first) stays nil.
func withContext(ctx context.Context, err error) error {
	cause := expired(ctx)
	if err == nil || cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w (%w)", cause, err)
}

// SearchAll runs req and returns every entry, asking for pages of
// pageSize entries (RFC 2696; 0: no paging, the server's size limit
// applies). req is not modified; a paging control in it is replaced. A
// retry (see Do) starts the search over.
func (p *Pool) SearchAll(ctx context.Context, req *ldap.SearchRequest, pageSize uint32) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	err := p.Do(ctx, "search", func(c *ldap.Conn) error {
		out = out[:0]
		r := *req
		r.Controls = slices.DeleteFunc(slices.Clone(req.Controls), func(c ldap.Control) bool {
			return c.GetControlType() == ldap.ControlTypePaging
		})
		var paging *ldap.ControlPaging
		if pageSize > 0 {
			paging = ldap.NewControlPaging(pageSize)
			r.Controls = append(r.Controls, paging)
		}
		for {
			res, err := c.Search(&r)
			if err != nil {
				return err
			}
			out = append(out, res.Entries...)
			if paging == nil {
				return nil
			}
			next, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if next == nil || len(next.Cookie) == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			paging.SetCookie(next.Cookie)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Close closes the idle connections and unregisters the metrics;
// connections in use close when their Do returns. Do fails with
// ErrPoolClosed afterwards. Close is safe to call twice.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case c := <-p.idle:
			_ = c.Unbind()
		default:
			p.set.Unregister()
			return nil
		}
	}
}

// Encrypted reports whether the pool's connections are TLS.
func (p *Pool) Encrypted() bool { return p.tls != nil }
