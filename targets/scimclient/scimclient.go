// Package scimclient is the outbound SCIM target: it provisions users and
// their group memberships on any SCIM 2.0 app (RFC 7643/7644), as Okta and
// Entra do, but as a well-behaved client: a per-target rate limit,
// Retry-After honoured and reported to the engine, retryable and permanent
// failures told apart with the app's SCIM error detail kept, and no secret
// ever in a log or an error.
//
// # Accounts
//
// Account.Attributes keys are SCIM attribute paths: core attributes
// (userName, displayName, title), sub-attributes (name.givenName),
// extension attributes by their full URN path
// (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department)
// and elements of multi-valued attributes by a value path with one equality
// filter (emails[type eq "work"].value, addresses[type eq "work"].locality),
// which builds the element {type: work, value: …}. The first e-mail is
// primary unless the user has a primary one already. userName is required;
// active comes from Account.Enabled and cannot be mapped, nor can id, meta,
// schemas or groups. Account.References: "manager" is the enterprise
// extension's manager, any other name is a full URN path; the value is
// {value: the other account's Link.Ref}, and "" clears it.
// Account.Container has no meaning in SCIM and is ignored.
//
// # Converge
//
// Every converge reads the user first (GET /Users/{Link.ID}); when the link
// is missing or its user is gone, the user is found by `userName eq` and
// linked, and only if there is none is it created. A 409 on create is
// answered the same way, with a few lookups spaced out for apps whose
// filters lag behind their writes. The user as read is compared with the
// desired account over the mapped attributes only (those desired, and those
// applied last time and no longer desired, which are removed), active and
// the references; the differences are sent as one PATCH of the changed paths
// or, in UpdatePut mode (or after the app refused a PATCH with 405 or 501),
// as a PUT of the user as read with the changes merged in, so attributes
// Tenure does not map are kept. Nothing changed sends nothing. Because the
// comparison is with the app's state, drift on the app is repaired by the
// next converge. A string that differs from the desired one only in case,
// where the desired value is also the one applied last, is taken as the
// app's normalisation (many apps fold userName or e-mail case), not as drift.
//
// Entitlements are group displayNames. The user is added to the desired
// groups and removed from the groups Tenure granted before and no longer
// wants; memberships Tenure never granted are left alone. Groups are found
// by `displayName eq` (ids are cached) and created when CreateGroups is set.
// Current memberships come from the user's groups attribute; an app that
// has never returned one is converged from the last applied entitlements
// instead, and there adding a present member or removing an absent one is
// success.
//
// When the app's ServiceProviderConfig advertises etag support, writes to a
// user and PUTs of a group carry If-Match with the version read just
// before; a 412 re-reads and tries once more, then is returned retryable.
// A member add or remove PATCH carries none (they commute, and busy groups
// would fail each other), unless the app insists with 412 or 428.
//
// # Good citizenship
//
// Every request waits on the target's rate limiter, whose rate never
// changes, so the configured limit holds whatever happens. A 429 also
// halves the rate of a second, adaptive limiter every request waits on
// (never below one request a second, or the configured rate if lower), and
// each later success gives back a twentieth of the configured rate, so a
// target recovers its full rate after twenty successes in a row.
// A 429 or 503 with Retry-After also pauses the target: requests in the
// next second wait for the pause to end, later ones fail at once as
// retryable with the remaining time, so no request reaches the app before it
// asked. Retry-After is reported to the engine in targets.Error.RetryAfter
// (capped at MaxRetryAfter). Network errors, timeouts, 408, 412, 429 and
// 5xx are retryable; other statuses, including 401 and 403, are permanent and keep
// the app's SCIM error detail and scimType. Redirects are not followed, so
// credentials never travel to another host. Errors and logs never hold the
// Authorization header, a token, a password or a client secret: messages
// built from outside text are scrubbed of the configured secrets.
package scimclient

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/tenurehq/tenure/targets"
)

// Update modes: how a changed user is written.
const (
	UpdatePatch = "patch" // PATCH with the changed attributes (default)
	UpdatePut   = "put"   // PUT of the whole user
)

// Group modes: how memberships are written.
const (
	GroupsPatch = "patch" // PATCH members add/remove (default)
	GroupsPut   = "put"   // GET the group, PUT it with the new member list
	GroupsNone  = "none"  // the app has no groups: entitlements are an error
)

// Auth authenticates requests to the app. Implementations: Bearer, Basic,
// ClientCredentials.
type Auth interface {
	// Client wraps base so every request carries the credentials.
	Client(ctx context.Context, base *http.Client) *http.Client
}

// Bearer is a static bearer token.
type Bearer struct{ Token string }

// Basic is HTTP basic authentication.
type Basic struct{ Username, Password string }

// ClientCredentials is the OAuth 2.0 client-credentials grant
// (golang.org/x/oauth2/clientcredentials): the token is fetched and
// refreshed as needed.
type ClientCredentials struct {
	TokenURL, ClientID, ClientSecret string
	Scopes                           []string
}

// Client implements Auth.
func (b Bearer) Client(_ context.Context, base *http.Client) *http.Client {
	return withHeader(base, "Bearer "+b.Token)
}

// Client implements Auth.
func (b Basic) Client(_ context.Context, base *http.Client) *http.Client {
	return withHeader(base, "Basic "+basicCredentials(b.Username, b.Password))
}

// Client implements Auth. ctx is kept by the token source for every token
// request, so it must outlive the client (New passes context.Background).
func (cc ClientCredentials) Client(ctx context.Context, base *http.Client) *http.Client {
	cfg := clientcredentials.Config{ClientID: cc.ClientID, ClientSecret: cc.ClientSecret, TokenURL: cc.TokenURL, Scopes: cc.Scopes}
	// The token requests go through base too (TLS settings, no redirects).
	return cfg.Client(context.WithValue(ctx, oauth2.HTTPClient, base))
}

func basicCredentials(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// withHeader returns a copy of base whose requests carry Authorization: v.
func withHeader(base *http.Client, v string) *http.Client {
	c := *base
	c.Transport = &authTransport{base: base.Transport, value: v}
	return &c
}

type authTransport struct {
	base  http.RoundTripper
	value string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	r = r.Clone(r.Context()) // a RoundTripper must not modify the request
	r.Header.Set("Authorization", t.value)
	return base.RoundTrip(r)
}

// secretsOf lists the strings an Auth must never let into an error or a
// log, in every form they travel in.
func secretsOf(a Auth) []string {
	switch a := a.(type) {
	case Bearer:
		return []string{a.Token}
	case *Bearer:
		return []string{a.Token}
	case Basic:
		return []string{a.Password, basicCredentials(a.Username, a.Password)}
	case *Basic:
		return []string{a.Password, basicCredentials(a.Username, a.Password)}
	case ClientCredentials:
		return []string{a.ClientSecret, basicCredentials(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret)), url.QueryEscape(a.ClientSecret)}
	case *ClientCredentials:
		return secretsOf(*a)
	}
	return nil
}

// checkAuth reports what is missing from a known Auth.
func checkAuth(a Auth) error {
	switch a := a.(type) {
	case nil:
		return errors.New("no auth")
	case Bearer:
		if a.Token == "" {
			return errors.New("bearer: empty token")
		}
	case *Bearer:
		return checkAuth(*a)
	case Basic:
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return errors.New("basic: the username must be non-empty and without ':'")
		}
	case *Basic:
		return checkAuth(*a)
	case ClientCredentials:
		if a.ClientID == "" || a.ClientSecret == "" {
			return errors.New("client credentials: client id and secret are required")
		}
		if _, err := checkURL(a.TokenURL); err != nil {
			return fmt.Errorf("client credentials: token url: %w", err)
		}
	case *ClientCredentials:
		return checkAuth(*a)
	}
	return nil
}

// Options configure one app.
type Options struct {
	// BaseURL is the app's SCIM base, e.g. https://app.example.com/scim/v2.
	BaseURL string
	Auth    Auth
	// UpdateMode is UpdatePatch (default) or UpdatePut.
	UpdateMode string
	// GroupMode is GroupsPatch (default), GroupsPut or GroupsNone.
	GroupMode string
	// CreateGroups creates a group named by an entitlement when the app
	// has none with that displayName; otherwise that is a permanent error.
	CreateGroups bool
	// RateLimit is the most requests per second (0: DefaultRateLimit);
	// Burst the most at once (0: DefaultBurst).
	RateLimit float64
	Burst     int
	// Timeout bounds each request (0: DefaultTimeout).
	Timeout time.Duration
	// HTTPClient is the transport under Auth (TLS settings); nil is a
	// client with the system's roots.
	HTTPClient *http.Client
	// Name labels the target's metrics.
	Name string
}

// Defaults for zero Options fields.
const (
	DefaultRateLimit = 25.0
	DefaultBurst     = 5
	DefaultTimeout   = 30 * time.Second
)

// MaxRetryAfter caps the delay an app's Retry-After may ask for, so that a
// bogus date cannot park a job or pause a target for days.
const MaxRetryAfter = time.Hour

// Client is a targets.Target on one SCIM app. It is safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
	base *url.URL
	http *http.Client
	// lim holds the configured rate and never changes it, so nothing the
	// client learns can make it exceed the limit: a limiter whose rate
	// changes lets reservations made at the old rate overlap those made
	// at the new one. slow is the rate after 429s, at most lim's; every
	// request waits on both.
	lim, slow *rate.Limiter
	secrets   []string
	m         *metrics

	mu          sync.Mutex
	pausedUntil time.Time  // no request before this (Retry-After)
	etag        *bool      // the app's etag support, once known
	groups      groupCache // displayName → id
	createMu    sync.Mutex // one group creation at a time
	// Fallbacks learnt from the app: it refused PATCH (405, 501) on users
	// or groups, so PUT is used from then on.
	userPut, groupPut atomic.Bool
	// groupsSeen: the app has returned a user's groups attribute, so a
	// user without one is in no group (Tenure's server omits it when
	// empty); until then memberships are converged from the last applied
	// entitlements.
	groupsSeen atomic.Bool
	// lookupBackoff spaces the userName lookups after a 409 (tests shorten it).
	lookupBackoff time.Duration
}

var (
	_ targets.Target    = (*Client)(nil)
	_ targets.Inventory = (*Client)(nil)
	_ targets.Remover   = (*Client)(nil)
)

// New checks o and returns the client; it contacts nobody until the first
// converge. log is the caller's, with the target's name on it if wanted
// (`tenure serve` adds component and target).
func New(o Options, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := checkURL(o.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("scimclient: base url: %w", err)
	}
	if err := checkAuth(o.Auth); err != nil {
		return nil, fmt.Errorf("scimclient: %w", err)
	}
	switch o.UpdateMode {
	case "":
		o.UpdateMode = UpdatePatch
	case UpdatePatch, UpdatePut:
	default:
		return nil, fmt.Errorf("scimclient: update mode %q: want %q or %q", o.UpdateMode, UpdatePatch, UpdatePut)
	}
	switch o.GroupMode {
	case "":
		o.GroupMode = GroupsPatch
	case GroupsPatch, GroupsPut, GroupsNone:
	default:
		return nil, fmt.Errorf("scimclient: group mode %q: want %q, %q or %q", o.GroupMode, GroupsPatch, GroupsPut, GroupsNone)
	}
	if o.RateLimit < 0 || o.Burst < 0 || o.Timeout < 0 {
		return nil, errors.New("scimclient: rate limit, burst and timeout must not be negative")
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Name == "" {
		o.Name = base.Host
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	} else {
		cp := *hc
		hc = &cp
	}
	// A redirect would carry the credentials to wherever it points; SCIM
	// APIs do not redirect, so a 3xx is answered as it is (permanent).
	hc.CheckRedirect = noRedirect
	hc = o.Auth.Client(context.Background(), hc)
	cp := *hc
	cp.CheckRedirect = noRedirect
	cp.Timeout = 0 // per request, through the context (Options.Timeout)
	m, err := newMetrics(reg, o.Name)
	if err != nil {
		return nil, fmt.Errorf("scimclient: %w", err)
	}
	c := &Client{
		opts: o, log: log, base: base, http: &cp,
		lim:           rate.NewLimiter(rate.Limit(o.RateLimit), o.Burst),
		slow:          rate.NewLimiter(rate.Limit(o.RateLimit), o.Burst),
		m:             m,
		groups:        groupCache{},
		lookupBackoff: 100 * time.Millisecond,
	}
	for _, s := range secretsOf(o.Auth) {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	if base.Scheme == "http" {
		c.log.Warn("scimclient: credentials are sent unencrypted; use https", "base_url", base.Redacted())
	}
	return c, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// checkURL parses an absolute http(s) URL without credentials or query.
func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL") // the parse error repeats the text
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("want an absolute http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("want no user info, query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// IdleConnsPerHost is how many idle connections a client keeps to its app.
// net/http's default of 2 makes every converge beyond two concurrent ones
// open a new connection (and a TLS handshake) and close it after.
const IdleConnsPerHost = 64

// NewTransport is http.DefaultTransport's settings (proxy, dial, TLS
// timeouts) with IdleConnsPerHost idle connections kept.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = IdleConnsPerHost
	tr.MaxIdleConnsPerHost = IdleConnsPerHost
	return tr
}

// Close releases idle connections and unregisters the metrics.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	c.m.set.Unregister()
	return nil
}
