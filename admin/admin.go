// Package admin is Tenure's admin API, served under /admin/v1 beside the
// SCIM API and called by the operator commands (`tenure jobs`, `tenure
// plan`, …) through Client. It inspects identities, the queue and the
// guards, replays and schedules jobs, releases tripped guards, dry-runs
// writes, reconciles targets (reporting or deleting orphaned accounts) and
// reloads the policy; it holds no state of its own.
//
// Every request needs the admin bearer token (SCIM tokens are not
// accepted, nor the admin token on SCIM). Bodies are JSON both ways; every
// error is {"error": "...", "status": N}. Every mutating action is logged
// with its actor, action and key, never a token or a body.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/internal/promx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/store"
)

// Prefix is the path under which the admin API is served.
const Prefix = "/admin/v1"

// Page sizes of GET /jobs.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ActorHeader names who is acting, for the audit log and the admin log;
// without it the actor is "admin". Every holder of the admin token may set
// it: it records intent, not identity.
const ActorHeader = "X-Tenure-Actor"

// Options configure the admin API.
type Options struct {
	Engine *engine.Engine
	Queue  queue.Queue
	// Token is the admin bearer token.
	Token string
	// Reload re-reads, validates and installs the policy; on error the
	// old policy stays. Nil answers POST /policy/reload with 501.
	Reload func(ctx context.Context) error
	// PolicyText is the configuration file's text the running policy
	// was loaded from (GET /policy); nil answers 501.
	PolicyText func() []byte
	// CheckDraft checks a draft configuration file as `tenure config
	// validate` does (POST /policy/impact); nil answers 501.
	CheckDraft func(raw []byte) DraftCheck
	// Backup, when the store can copy itself while serving, answers GET
	// /backup; nil answers 501.
	Backup store.Backuper
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Now is the clock of POST .../run (default time.Now).
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Handler serves the admin API for paths under Prefix.
type Handler struct {
	eng    *engine.Engine
	q      queue.Queue
	token  [sha256.Size]byte
	reload func(context.Context) error
	// policyText and checkDraft: Options.PolicyText, CheckDraft.
	policyText func() []byte
	checkDraft func([]byte) DraftCheck
	backup     store.Backuper
	maxBody    int64
	now        func() time.Time
	log        *slog.Logger
	router     *mux.Router
	set        *promx.Set
	reqs       *prometheus.CounterVec
}

// New builds the admin API. Close releases its metrics.
func New(o Options) (*Handler, error) {
	if o.Engine == nil || o.Queue == nil {
		return nil, errors.New("admin: engine and queue are required")
	}
	if o.Token == "" {
		return nil, errors.New("admin: no token")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		eng: o.Engine, q: o.Queue, token: sha256.Sum256([]byte(o.Token)), reload: o.Reload, backup: o.Backup,
		policyText: o.PolicyText, checkDraft: o.CheckDraft,
		maxBody: o.MaxBodyBytes, now: o.Now, log: o.Logger,
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "admin", Name: "requests_total",
			Help: "Admin API requests by route template and status code.",
		}, []string{"route", "status"}),
	}
	set, err := promx.Register(o.Registerer, h.reqs)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	h.set = set
	h.router = h.routes()
	return h, nil
}

// Close unregisters the metrics.
func (h *Handler) Close() { h.set.Unregister() }

// ServeHTTP implements http.Handler: count, authenticate, route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &httpx.StatusWriter{ResponseWriter: w}
	defer func() {
		route := "other"
		var m mux.RouteMatch
		if h.router.Match(r, &m) && m.MatchErr == nil && m.Route != nil {
			if t, err := m.Route.GetPathTemplate(); err == nil {
				route = t
			}
		}
		if sw.Status == 0 {
			sw.Status = http.StatusOK
		}
		h.reqs.WithLabelValues(route, strconv.Itoa(sw.Status)).Inc()
	}()
	if !h.authorized(r) {
		sw.Header().Set("WWW-Authenticate", `Bearer realm="tenure-admin", error="invalid_token"`)
		writeError(sw, http.StatusUnauthorized, "missing or invalid admin bearer token")
		return
	}
	httpx.SetSource(r.Context(), "admin")
	h.router.ServeHTTP(sw, r)
}

// authorized compares SHA-256 digests in constant time, so neither the
// token nor its length leaks through timing.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

// endpoint answers a request with a value to encode as JSON or an error.
type endpoint func(r *http.Request) (any, error)

func (h *Handler) routes() *mux.Router {
	r := mux.NewRouter().UseEncodedPath()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such admin endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed on this endpoint")
	})
	api := r.PathPrefix(Prefix).Subrouter()
	var paths []string
	get := func(path string, e endpoint) {
		api.Handle(path, h.serve("", e)).Methods(http.MethodGet)
		paths = append(paths, path)
	}
	post := func(path, action string, e endpoint) {
		api.Handle(path, h.serve(action, e)).Methods(http.MethodPost)
		paths = append(paths, path)
	}
	const job = "/jobs/{target}/{person}"
	get("/identities", h.people)
	get("/identities/{id}", h.identity)
	post("/identities/{id}/link/{target}", "link account", h.link)
	post("/identities/{id}/unlink/{target}", "unlink account", h.unlink)
	get("/conflicts", h.conflicts)
	get("/jobs", h.jobs)
	get("/jobs/counts", h.counts)
	get("/jobs/targets", h.targetCounts)
	get(job, h.job)
	post(job+"/replay", "replay", h.replay)
	post(job+"/cancel", "cancel", h.cancel)
	post(job+"/run", "run", h.run)
	get("/guards", h.guards)
	get("/guards/{target}", h.guard)
	post("/guards/{target}/approve", "approve guard", h.approve)
	post("/guards/{target}/discard", "discard guard", h.discard)
	post("/plan", "", h.plan)
	post("/reconcile/{target}", "reconcile", h.reconcile)
	get("/drift/{target}", h.drift)
	post("/policy/reload", "reload policy", h.reloadPolicy)
	get("/policy", h.runningPolicy)
	post("/policy/impact", "", h.policyImpact)
	h.requestRoutes(get, post)
	h.reviewRoutes(get, post)
	h.recommendRoutes(get)
	api.HandleFunc("/backup", h.serveBackup).Methods(http.MethodGet)
	paths = append(paths, "/backup")
	// A subrouter reports a method mismatch as not found; known paths
	// with other methods end here instead.
	for _, p := range paths {
		api.Handle(p, r.MethodNotAllowedHandler)
	}
	return r
}

// serve runs an endpoint and writes its answer. A non-empty action marks a
// mutating endpoint: its outcome is logged with the actor and the key.
func (h *Handler) serve(action string, e endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := e(r)
		status := http.StatusOK
		if err != nil {
			status = h.writeErr(w, r, err)
		} else {
			writeJSON(w, status, v)
		}
		if action != "" {
			h.LogAction(r.Context(), action, subject(r), Actor(r), status, err)
		}
	})
}

// serveBackup sends a consistent copy of the store. The copy is first
// written to a temporary file, so the store's read transaction lasts as
// long as a local disk write, not a download (a long one would hold back
// commits that grow the file), and the answer has a Content-Length, so a
// client can tell a copy cut short from a whole one.
func (h *Handler) serveBackup(w http.ResponseWriter, r *http.Request) {
	attrs := []any{"action", "backup", "actor", Actor(r), "request_id", httpx.RequestID(r.Context())}
	if h.backup == nil {
		writeError(w, http.StatusNotImplemented, "this store has no online backup; for Redis use its own tools (docs/operations.md, Backups)")
		return
	}
	f, err := os.CreateTemp("", "tenure-backup-*")
	if err != nil {
		h.log.Warn("admin action failed", append(attrs, "err", err)...)
		writeError(w, http.StatusInternalServerError, "backup: "+err.Error())
		return
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	n, err := h.backup.Backup(r.Context(), f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		h.log.Warn("admin action failed", append(attrs, "err", err)...)
		writeError(w, http.StatusInternalServerError, "backup: "+err.Error())
		return
	}
	// The download may outlast server.write_timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="tenure.db"`)
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if _, err := io.Copy(w, f); err != nil {
		h.log.Warn("admin action failed", append(attrs, "bytes", n, "err", err)...)
		panic(http.ErrAbortHandler) // cut the connection: never a clean end
	}
	h.log.Info("admin action", append(attrs, "bytes", n)...)
}

// subject is what an action is about: a queue key, or a target.
func subject(r *http.Request) string {
	target, person := pathVar(r, "target"), pathVar(r, "person")
	if person != "" {
		return engine.Key(target, person)
	}
	return target
}

// pathVar is a route variable, unescaped (the router matches encoded paths
// so that an escaped "/" stays inside its segment).
func pathVar(r *http.Request, name string) string {
	v := mux.Vars(r)[name]
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// Actor is the sanitized X-Tenure-Actor of r, or "admin": letters, digits
// and ._@+- only, at most 64 characters.
func Actor(r *http.Request) string {
	var b strings.Builder
	for _, c := range r.Header.Get(ActorHeader) {
		if b.Len() == 64 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("._@+-", c):
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "admin"
	}
	return b.String()
}

// statusError is an error with the status it answers.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeErr maps err to a status and writes it. Server faults are logged
// with the request id and answered without detail.
func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, err error) int {
	status, msg := ErrorStatus(err)
	switch status {
	case http.StatusServiceUnavailable:
		// Not logged per request: /readyz and the SCIM server's log
		// (once per outage) report an outage.
		w.Header().Set("Retry-After", strconv.Itoa(scim.RetryAfter))
	case http.StatusInternalServerError:
		id := httpx.RequestID(r.Context())
		h.log.Error("admin request failed", "path", r.URL.Path, "request_id", id, "err", err)
		msg = "internal error (request id " + id + ")"
	}
	writeError(w, status, msg)
	return status
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Message: msg, Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(Error{Message: "encode response: " + err.Error(), Status: status})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody reads a request's body, at most MaxBodyBytes.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "read body: %v", err)
	}
	if int64(len(body)) > h.maxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", h.maxBody)
	}
	return body, nil
}

// decodeBody reads a JSON body into v, strictly: unknown fields and
// trailing data are errors.
func (h *Handler) decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return errorf(http.StatusBadRequest, "a JSON body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: trailing data")
	}
	return nil
}
