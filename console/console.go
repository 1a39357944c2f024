// Package console is Tenure's web console for administrators, approvers
// and auditors: server-rendered pages (html/template, assets embedded, no
// script at all, so the Content-Security-Policy allows none) behind an
// OIDC sign-in, with sessions kept in the store.
//
// The console is one more client of the admin API's operations: every
// page and action calls the same admin.Handler methods the HTTP endpoints
// do, never a second implementation, and every action is logged and
// audited with the signed-in person as the actor. Roles are CEL over the
// person and the ID token's claims, evaluated on every request.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/internal/promx"
	"github.com/tenurehq/tenure/store"
)

//go:embed ui
var ui embed.FS

// Options configure a Console.
type Options struct {
	// Admin is the admin API whose operations the console calls.
	Admin *admin.Handler
	// Store keeps the sessions (and is where people are looked up by
	// userName at sign-in).
	Store store.Store
	// Sources are the SCIM sources, searched in order for the person a
	// sign-in names.
	Sources []string
	// Path is where the console is mounted (/console); URL its external
	// URL, Path included.
	Path string
	URL  string
	// OIDC, if set, signs people in at an OpenID provider.
	OIDC *OIDC
	// Roles grant the console's roles.
	Roles *Roles
	// SessionTTL and SessionIdle bound a session (8h, 1h by default).
	SessionTTL, SessionIdle time.Duration
	// BreakGlassToken, if set, allows signing in with it (the admin
	// token) as an admin who is no person.
	BreakGlassToken string
	// PeopleMaxAge is how old the People page's listing may be (30s):
	// it pages and filters a snapshot of everyone (admin.PeopleIndex); a
	// person's own page is always read anew.
	PeopleMaxAge time.Duration
	// Gatherer is the registry /metrics serves; the Health page reads
	// the same metrics.
	Gatherer prometheus.Gatherer
	// Now is the clock (time.Now).
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Console serves the console for paths under its Path.
type Console struct {
	adm        *admin.Handler
	st         store.Store
	sources    []string
	path       string
	origin     string
	oidc       *oidcClient
	roles      *Roles
	ttl, idle  time.Duration
	breakGlass string
	gatherer   prometheus.Gatherer
	now        func() time.Time
	log        *slog.Logger
	index      *admin.PeopleIndex
	pages      map[string]*template.Template
	mux        *http.ServeMux
	lastSweep  atomic.Int64
	set        *promx.Set
	reqs       *prometheus.CounterVec
	signins    *prometheus.CounterVec
}

// New builds the console. Close releases its metrics.
func New(o Options) (*Console, error) {
	if o.Admin == nil || o.Store == nil || o.Roles == nil {
		return nil, errors.New("console: admin, store and roles are required")
	}
	if o.OIDC == nil && o.BreakGlassToken == "" {
		return nil, errors.New("console: no way to sign in: set OIDC or a break-glass token")
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("console: URL %q is not an absolute http(s) URL", o.URL)
	}
	if o.Path == "" || !strings.HasPrefix(o.Path, "/") || strings.HasSuffix(o.Path, "/") {
		return nil, fmt.Errorf("console: path %q must start with / and not end with one", o.Path)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PeopleMaxAge <= 0 {
		o.PeopleMaxAge = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{
		adm: o.Admin, st: o.Store, sources: o.Sources, path: o.Path, origin: u.Scheme + "://" + u.Host,
		roles: o.Roles, ttl: o.SessionTTL, idle: o.SessionIdle, breakGlass: o.BreakGlassToken,
		gatherer: o.Gatherer, now: o.Now, log: o.Logger,
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "console", Name: "requests_total",
			Help: "Console requests by route pattern and status code.",
		}, []string{"route", "status"}),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "console", Name: "signins_total",
			Help: "Console sign-ins by method (oidc, break-glass) and result (ok, refused, error).",
		}, []string{"method", "result"}),
	}
	if o.OIDC != nil {
		c.oidc = newOIDCClient(*o.OIDC, strings.TrimRight(o.URL, "/")+"/callback")
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if c.set, err = promx.Register(o.Registerer, c.reqs, c.signins); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.index = o.Admin.NewPeopleIndex(o.PeopleMaxAge)
	c.mux = c.routes()
	return c, nil
}

// Close unregisters the metrics and stops a listing read under way.
func (c *Console) Close() { c.set.Unregister(); c.index.Close() }

// perm is what a page or action needs.
type perm int

const (
	open   perm = iota // anyone (sign-in pages)
	signed             // any signed-in user with a role
	view               // admin or auditor: read everything
	act                // admin: change things
	ask                // approver or admin: request access, decide what the engine lets them
)

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	static, _ := fs.Sub(ui, "ui/static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h := func(pattern string, p perm, f handlerFunc) { m.Handle(pattern, c.guard(p, f)) }
	h("GET /{$}", signed, c.home)
	h("GET /signin", open, c.signinPage)
	h("GET /login", open, c.login)
	h("GET /callback", open, c.callback)
	h("POST /breakglass", open, c.breakGlassSignin)
	h("POST /logout", signed, c.logout)
	h("GET /people", view, c.people)
	h("GET /people/{id}", view, c.person)
	h("GET /people/{id}/plan", view, c.plan)
	// A dry run of an edited record, which changes nothing.
	h("POST /people/{id}/plan", view, c.planEdit)
	h("GET /jobs", view, c.jobs)
	h("POST /jobs/replay", act, c.replay)
	h("POST /jobs/cancel", act, c.cancel)
	h("GET /guard", view, c.guardPage)
	h("POST /guard/approve", act, c.approveGuard)
	h("POST /guard/discard", act, c.discardGuard)
	h("GET /health", view, c.health)
	h("GET /requests", signed, c.requestsPage)
	h("POST /requests/new", ask, c.createRequest)
	h("GET /requests/{id}", signed, c.requestPage)
	h("POST /requests/{id}/decide", ask, c.decideRequest)
	h("POST /reviews/{id}/decide", ask, c.decideReview)
	h("GET /recommendations", view, c.recommendations)
	h("GET /policy", view, c.policyPage)
	// A dry run, which changes nothing: an auditor may too.
	h("POST /policy", view, c.policyPage)
	return m
}

// ServeHTTP implements http.Handler for paths under the console's path.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &httpx.StatusWriter{ResponseWriter: w}
	setSecurityHeaders(sw.Header())
	httpx.SetSource(r.Context(), "console")
	rest, ok := strings.CutPrefix(r.URL.Path, c.path)
	switch {
	case !ok:
		http.NotFound(sw, r)
		return
	case rest == "":
		http.Redirect(sw, r, c.path+"/", http.StatusFound)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = rest, ""
	_, pattern := c.mux.Handler(r2)
	c.mux.ServeHTTP(sw, r2)
	if sw.Status == 0 {
		sw.Status = http.StatusOK
	}
	if pattern == "" {
		pattern = "other"
	}
	c.reqs.WithLabelValues(pattern, strconv.Itoa(sw.Status)).Inc()
}

// setSecurityHeaders: no script at all, styles and images only from the
// console itself, forms only to it, never framed; no referrer to another
// site (the callback's URL holds a code) — same-origin rather than
// no-referrer, with which Chrome sends "Origin: null" on the console's own
// forms; nothing cached.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// user is who is signed in for a request, with the roles the policy
// gives them now.
type user struct {
	s     *session
	key   string // the session's document key
	roles map[Role]bool
}

func (u *user) may(p perm) bool {
	switch p {
	case open:
		return true
	case signed:
		return u != nil && len(u.roles) > 0
	case view:
		return u != nil && (u.roles[RoleAdmin] || u.roles[RoleAuditor])
	case act:
		return u != nil && u.roles[RoleAdmin]
	case ask:
		return u != nil && (u.roles[RoleAdmin] || u.roles[RoleApprover])
	}
	return false
}

// handlerFunc serves a request for u (nil on open pages without a
// session).
type handlerFunc func(w http.ResponseWriter, r *http.Request, u *user)

// errRefused: the user may not do this (403).
var errRefused = errors.New("your role does not allow this")

// guard loads the session, evaluates the roles, checks the permission
// and, on a state-changing request, the CSRF token and the origin.
func (c *Console) guard(p perm, f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if err := c.checkOrigin(r); err != nil {
				c.fail(w, r, nil, http.StatusForbidden, err)
				return
			}
		}
		u, err := c.user(r)
		if err != nil {
			c.fail(w, r, nil, http.StatusInternalServerError, err)
			return
		}
		if p == open {
			f(w, r, u)
			return
		}
		if u == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, c.path+"/signin?return="+url.QueryEscape(c.path+r.URL.Path), http.StatusFound)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, errors.New("not signed in (or the session ended): sign in again"))
			return
		}
		if r.Method == http.MethodPost && !equalSecret(r.PostFormValue("csrf"), u.s.CSRF) {
			c.log.Warn("console: request refused: bad CSRF token", "path", r.URL.Path, "actor", u.s.Name,
				"request_id", httpx.RequestID(r.Context()))
			c.fail(w, r, u, http.StatusForbidden, errors.New("the form's token does not match your session: reload the page and try again"))
			return
		}
		if !u.may(p) {
			c.fail(w, r, u, http.StatusForbidden, errRefused)
			return
		}
		f(w, r, u)
	})
}

// checkOrigin refuses a POST a browser says came from another origin
// (Origin, or Sec-Fetch-Site when a browser sends no Origin); a client
// that sends neither still needs the session's CSRF token.
func (c *Console) checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != c.origin {
		return fmt.Errorf("a form from %s may not act here", o)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return errors.New("a form from another site may not act here")
}

// user is the request's signed-in user, nil if none; a person who is
// gone, or whom the policy gives no role any more, is signed out.
func (c *Console) user(r *http.Request) (*user, error) {
	s, key, err := c.loadSession(r)
	if err != nil || s == nil {
		return nil, err
	}
	u := &user{s: s, key: key}
	if s.BreakGlass {
		u.roles = map[Role]bool{RoleAdmin: true}
		return u, nil
	}
	id, err := c.adm.Identity(r.Context(), s.Person)
	if err != nil {
		if st, _ := admin.ErrorStatus(err); st == http.StatusNotFound {
			return nil, deleteDoc(r.Context(), c.st, key)
		}
		return nil, err
	}
	u.roles = rolesOf(c.roles, id, s.Claims)
	if len(u.roles) == 0 {
		return nil, deleteDoc(r.Context(), c.st, key)
	}
	return u, nil
}

// rolesOf are the roles the policy gives the person now. Only an active
// person has any, whatever the expressions say: a leaver (or a pre-hire)
// never administers Tenure, even while their IdP account still signs in.
func rolesOf(rs *Roles, id *admin.Identity, claims map[string]any) map[Role]bool {
	if id.State != admin.StateActive {
		return map[Role]bool{}
	}
	return rs.Of(personVars(id), claims)
}

// personVars is person, as role expressions see them.
func personVars(id *admin.Identity) map[string]any {
	p := map[string]any{"state": id.State}
	if rec := id.Record; rec != nil {
		user := rec.Identity.User
		if user == nil {
			user = map[string]any{}
		}
		groups := rec.Identity.Groups
		if groups == nil {
			groups = []string{}
		}
		p["id"], p["source"], p["user"], p["groups"] = rec.ID, rec.Source, user, groups
		p["userName"], _ = user["userName"].(string)
		p["displayName"], _ = user["displayName"].(string)
		if ent, ok := user[enterpriseURN].(map[string]any); ok {
			p["department"], _ = ent["department"].(string)
		}
	}
	return p
}

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// fail answers an error page. Server faults are logged with the request
// id and shown without detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, u *user, status int, err error) {
	msg := err.Error()
	if status >= 500 {
		id := httpx.RequestID(r.Context())
		if status != http.StatusServiceUnavailable {
			c.log.Error("console request failed", "path", r.URL.Path, "request_id", id, "err", err)
			msg = "internal error (request id " + id + ")"
		}
	}
	w.WriteHeader(status)
	c.render(w, r, u, "error", "Error", map[string]any{"Status": status, "Message": msg})
}

// failAdmin answers an error of an admin operation as the API would.
func (c *Console) failAdmin(w http.ResponseWriter, r *http.Request, u *user, err error) {
	status, msg := admin.ErrorStatus(err)
	if status == http.StatusInternalServerError {
		c.fail(w, r, u, status, err)
		return
	}
	c.fail(w, r, u, status, errors.New(msg))
}

// redirect ends an action: the outcome is shown once on the next page
// (post/redirect/get: a reload does not repeat the action).
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, u *user, to, flash string) {
	u.s.Flash = flash
	if err := putDoc(r.Context(), c.st, u.key, u.s); err != nil {
		c.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	http.Redirect(w, r, c.path+to, http.StatusSeeOther)
}

// signinReturn is a return path after sign-in: only one of the console's
// own pages, never another site.
func (c *Console) signinReturn(v string) string {
	if !strings.HasPrefix(v, c.path+"/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return c.path + "/"
	}
	return v
}

// flash takes the session's one-time message.
func (c *Console) flash(ctx context.Context, u *user) string {
	if u == nil || u.s.Flash == "" {
		return ""
	}
	msg := u.s.Flash
	u.s.Flash = ""
	if err := putDoc(ctx, c.st, u.key, u.s); err != nil {
		c.log.Warn("console: clear flash", "err", err)
	}
	return msg
}
