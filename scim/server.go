// Package scim is Tenure's SCIM 2.0 service provider (RFC 7643, RFC 7644), the
// door through which Okta, Entra ID and HR connectors push users and groups.
//
// Routing and the discovery endpoints come from github.com/elimity-com/scim,
// mounted behind gorilla/mux. Around it this package adds what the library
// leaves to handlers and what real clients need: bearer auth per source,
// body limits, rewriting of client quirks before the library validates
// (scim/compat), filters the library cannot parse (scim/query), a PATCH
// engine that understands Okta's and Entra's shapes (scim/patch), ETags,
// sorting, attribute projection, and a store write that is durable before
// any 2xx leaves.
package scim

import (
	"bytes"
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
	"strconv"
	"strings"
	"time"

	libscim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/outage"
	"github.com/tenurehq/tenure/scim/compat"
	"github.com/tenurehq/tenure/scim/patch"
	"github.com/tenurehq/tenure/store"
)

// Prefix is the path under which the SCIM API is served.
const Prefix = "/scim/v2"

// Source is a SCIM client allowed to push to Tenure.
type Source struct {
	Name  string
	Token string
	// CreateOnFilteredReplace switches on, for this source's PATCH
	// requests, the element-creating replace Entra ID relies on
	// (patch.Options.CreateOnFilteredReplace); without it a replace whose
	// value filter matches nothing is 400 noTarget (RFC 7644 §3.5.2.3).
	CreateOnFilteredReplace bool
}

// Options configures a Server.
type Options struct {
	Store   store.Store
	Sources []Source
	// BaseURL is the externally visible root URL (scheme://host[:port]); the
	// SCIM base is BaseURL + Prefix. Empty gives relative locations.
	BaseURL      string
	MaxBodyBytes int64
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// Now and NewID are injectable for tests; defaults are time.Now and UUIDv4.
	Now   func() time.Time
	NewID func() string
	// Hook, if set, sees every resource write inside its transaction: the
	// lifecycle intake records transitions and schedules jobs there, so a
	// 2xx means the write and everything it implies are durable together.
	//
	// An error from the hook aborts the write (nothing is stored) and is
	// answered by what it implements, found with errors.As in this order:
	//
	//   - interface{ Uniqueness() string }: the write would give a value
	//     someone else holds (a second active person with the same
	//     correlation key): 409, scimType uniqueness, the string as detail.
	//   - interface{ Rejected() string }: the client's data cannot be
	//     accepted: 400, scimType invalidValue, the string as detail.
	//   - anything else: 500; the error is logged with the request id and
	//     not shown to the client.
	//
	// The strings go to the client verbatim: they should name the attribute
	// and say what is wrong, and carry nothing the client may not see.
	Hook WriteHook
}

// WriteHook observes resource writes. The scim package knows nothing of the
// lifecycle; cmd wires the engine's intake in here.
type WriteHook interface {
	// OnWrite runs inside the write's store transaction after the resource
	// change: before is nil for a create, after is nil for a delete. It
	// may run more than once (store.Update re-runs on conflict) and must
	// have no effect outside tx; effects that belong after the commit
	// (metrics, waking workers) go in the returned func, which runs once
	// the transaction committed, for the final run only. An error aborts
	// the write: an error with a Uniqueness() string method is a 409
	// uniqueness, one with a Rejected() string method a 400 invalidValue
	// (each with that string as detail), anything else a 500; see
	// Options.Hook.
	OnWrite(tx store.Tx, before, after *store.Resource) (committed func(), err error)
}

// Server serves the SCIM API. It implements http.Handler for paths under Prefix.
type Server struct {
	store   store.Store
	hook    WriteHook
	log     *slog.Logger
	now     func() time.Time
	newID   func() string
	maxBody int64
	sources []sourceToken
	patch   map[string]patch.Options // by source name
	lib     libscim.Server
	router  *mux.Router
	metrics *metrics
	users   *resourceHandler
	groups  *resourceHandler
	spc     []byte
	outage  *outage.Log
	writing keyedMutex // per resource, see resourceHandler.modify
}

type sourceToken struct {
	name string
	hash [sha256.Size]byte
}

// New builds the server.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("scim: no store")
	}
	if len(o.Sources) == 0 {
		return nil, errors.New("scim: no sources")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = newUUID
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	s := &Server{
		store:   o.Store,
		hook:    o.Hook,
		log:     o.Logger,
		outage:  outage.New(o.Logger, "store unavailable: SCIM requests are answered 503 with Retry-After until it is back", "store available again"),
		now:     o.Now,
		newID:   o.NewID,
		maxBody: o.MaxBodyBytes,
		patch:   make(map[string]patch.Options, len(o.Sources)),
	}
	for _, src := range o.Sources {
		if src.Name == "" || src.Token == "" {
			return nil, errors.New("scim: source needs a name and a token")
		}
		s.sources = append(s.sources, sourceToken{name: src.Name, hash: sha256.Sum256([]byte(src.Token))})
		s.patch[src.Name] = patch.Options{CreateOnFilteredReplace: src.CreateOnFilteredReplace}
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	userSchema, userExts := userSchemas()
	groupSchema, groupExts := groupSchemas()
	s.users = &resourceHandler{srv: s, kind: store.KindUser, schema: userSchema, exts: userExts, endpoint: "Users"}
	s.groups = &resourceHandler{srv: s, kind: store.KindGroup, schema: groupSchema, exts: groupExts, endpoint: "Groups"}

	base := strings.TrimRight(o.BaseURL, "/")
	if base != "" {
		base += Prefix
	}
	s.users.base, s.groups.base = base, base
	lib, err := libscim.NewServer(&libscim.ServerArgs{
		ServiceProviderConfig: &libscim.ServiceProviderConfig{
			DocumentationURI: optional.NewString(docURL),
			MaxResults:       MaxResults,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []libscim.ResourceType{
			{
				ID:               optional.NewString("User"),
				Name:             "User",
				Description:      optional.NewString("People whose accounts Tenure provisions."),
				Endpoint:         "/Users",
				Schema:           userSchema,
				SchemaExtensions: extensions(userExts),
				Handler:          s.users,
			},
			{
				ID:          optional.NewString("Group"),
				Name:        "Group",
				Description: optional.NewString("Groups of users and groups."),
				Endpoint:    "/Groups",
				Schema:      groupSchema,
				Handler:     s.groups,
			},
		},
	}, libscim.WithBaseURL(base), libscim.WithLogger(slogAdapter{o.Logger}))
	if err != nil {
		return nil, err
	}
	s.lib = lib
	if s.spc, err = json.Marshal(serviceProviderConfig(base)); err != nil {
		return nil, err
	}
	s.router = s.routes()
	return s, nil
}

func extensions(exts []schemaT) []libscim.SchemaExtension {
	out := make([]libscim.SchemaExtension, len(exts))
	for i, e := range exts {
		out[i] = libscim.SchemaExtension{Schema: e}
	}
	return out
}

func (s *Server) routes() *mux.Router {
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scimerr.ScimError{Status: http.StatusNotFound, Detail: "Specified endpoint does not exist."})
	})
	notAllowed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scimerr.ScimError{Status: http.StatusMethodNotAllowed, Detail: "Method not allowed on this endpoint."})
	})
	r := mux.NewRouter().SkipClean(true) // ServeHTTP collapses slashes; no redirects
	r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, notAllowed
	api := r.PathPrefix(Prefix).Subrouter()
	api.NotFoundHandler, api.MethodNotAllowedHandler = notFound, notAllowed
	api.Use(s.instrument, s.withOverride, s.authenticate, s.readBody)

	api.HandleFunc("/ServiceProviderConfig", s.serveSPC).Methods(http.MethodGet)
	const res = "/{resource:Users|Groups}"
	api.HandleFunc(res, s.serveList).Methods(http.MethodGet)
	api.HandleFunc(res, s.serveWrite(false)).Methods(http.MethodPost)
	api.HandleFunc(res+"/.search", s.serveSearch).Methods(http.MethodPost)
	api.HandleFunc(res+"/{id}", s.serveGet).Methods(http.MethodGet)
	api.HandleFunc(res+"/{id}", s.serveWrite(false)).Methods(http.MethodPut)
	api.HandleFunc(res+"/{id}", s.serveWrite(true)).Methods(http.MethodPatch)
	api.HandleFunc(res+"/{id}", s.serveLib).Methods(http.MethodDelete)
	api.HandleFunc("/{resource:Schemas|ResourceTypes}", s.serveLib).Methods(http.MethodGet)
	api.HandleFunc("/{resource:Schemas|ResourceTypes}/{id}", s.serveLib).Methods(http.MethodGet)
	// gorilla/mux loses the method mismatch behind a subrouter; known paths
	// with other methods end here instead of in the 404 handler.
	api.HandleFunc("/", s.serveRootSearch).Methods(http.MethodGet)
	api.HandleFunc("/.search", s.serveRootSearch).Methods(http.MethodPost)
	for _, p := range []string{res, res + "/.search", res + "/{id}", "/ServiceProviderConfig", "/", "/.search"} {
		api.Handle(p, notAllowed)
	}
	api.HandleFunc("/{resource:Bulk|Me}", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, scimerr.ScimError{Status: http.StatusNotImplemented, Detail: "Not supported; see /ServiceProviderConfig."})
	})
	return r
}

// ServeHTTP implements http.Handler.
//
// Paths are made canonical in place rather than redirected, because a 301
// to a POST or PATCH can lose the write (clients do not all re-send the
// body): repeated slashes are collapsed (a client whose base URL ends in
// "/" asks for /scim/v2//Users), a trailing slash is dropped (/Users/?filter=…),
// and the endpoint is matched case-insensitively (some HR connectors ask for
// /scim/v2/users).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := canonicalPath(r.URL.Path); p != r.URL.Path {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = p
		if u.RawPath != "" {
			u.RawPath = canonicalPath(u.RawPath)
		}
		r2.URL = &u
		r = r2
	}
	s.router.ServeHTTP(w, r)
}

// endpoints are the names the first segment under Prefix is matched
// against, ignoring case. RFC 7644 §3.2 spells them so, and resource ids
// never start with them in another case: ids are UUIDs.
var endpoints = []string{"Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Bulk", "Me", ".search"}

// canonicalPath collapses runs of slashes, drops a trailing slash below the
// SCIM root and spells the endpoint under Prefix as RFC 7644 does. Paths
// outside Prefix only lose repeated slashes.
func canonicalPath(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if p == Prefix {
		return Prefix + "/" // the root, where GET searches every type
	}
	rest, ok := strings.CutPrefix(p, Prefix+"/")
	if !ok || rest == "" {
		return p
	}
	rest = strings.TrimSuffix(rest, "/")
	seg, tail, _ := strings.Cut(rest, "/")
	for _, e := range endpoints {
		if strings.EqualFold(seg, e) {
			seg = e
			break
		}
	}
	if tail != "" {
		seg += "/" + tail
	}
	return Prefix + "/" + seg
}

// serveLib hands the request to the library, which routes on paths starting
// at /v2.
func (s *Server) serveLib(w http.ResponseWriter, r *http.Request) {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimPrefix(u.Path, "/scim")
	u.RawPath = ""
	r2.URL = &u
	s.lib.ServeHTTP(w, r2)
}

type ctxKey int

const (
	ctxSource ctxKey = iota
	ctxFilter
	ctxPageLen
)

// pageLen carries the number of resources a list handler returned back to
// the route, which corrects itemsPerPage: the library reports the requested
// count there, while RFC 7644 §3.4.2.4 and the clients expect the number of
// resources in the page.
type pageLen struct{ n int }

func withPageLen(r *http.Request) (*http.Request, *pageLen) {
	pl := &pageLen{n: -1}
	return r.WithContext(context.WithValue(r.Context(), ctxPageLen, pl)), pl
}

func setPageLen(ctx context.Context, n int) {
	if pl, ok := ctx.Value(ctxPageLen).(*pageLen); ok {
		pl.n = n
	}
}

// serveListResponse runs the library's list handling and rewrites
// itemsPerPage. encoding/json writes map keys sorted, so the top-level
// "itemsPerPage" key follows "Resources" and is the last occurrence of the
// unescaped key in the body (inside a string it would be escaped).
func (s *Server) serveListResponse(w http.ResponseWriter, r *http.Request) {
	r, pl := withPageLen(r)
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	s.serveLib(buf, r)
	body := buf.body.Bytes()
	if buf.status == http.StatusOK && pl.n >= 0 {
		body = rewriteItemsPerPage(body, pl.n)
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(buf.status)
	_, _ = w.Write(body)
}

func rewriteItemsPerPage(body []byte, n int) []byte {
	key := []byte(`"itemsPerPage":`)
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return body
	}
	start := i + len(key)
	end := start
	for end < len(body) && body[end] >= '0' && body[end] <= '9' {
		end++
	}
	out := make([]byte, 0, len(body))
	out = append(out, body[:start]...)
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, body[end:]...)
}

func sourceOf(ctx context.Context) string {
	v, _ := ctx.Value(ctxSource).(string)
	return v
}

// rawFilter is the filter the client sent, moved out of the library's way.
func rawFilter(ctx context.Context) string {
	v, _ := ctx.Value(ctxFilter).(string)
	return v
}

// authenticate resolves the bearer token to a source. Every token is compared
// (as SHA-256 digests, so lengths do not leak either) to keep timing flat.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.unauthorized(w, "Missing bearer token.")
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		name := ""
		for _, src := range s.sources {
			if subtle.ConstantTimeCompare(got[:], src.hash[:]) == 1 {
				name = src.name
			}
		}
		if name == "" {
			s.unauthorized(w, "Invalid bearer token.")
			return
		}
		setLogSource(r.Context(), name)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxSource, name)))
	})
}

func (s *Server) unauthorized(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="tenure", error="invalid_token"`)
	writeError(w, scimerr.ScimError{Status: http.StatusUnauthorized, Detail: detail})
}

// readBody buffers the request body under the size limit, so a too-large body
// is a clean 413 (the library would read it whole and report invalid syntax),
// and checks the media type of requests that carry one.
func (s *Server) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next.ServeHTTP(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/scim+json" && mt != "application/json") {
				writeError(w, scimerr.ScimError{Status: http.StatusUnsupportedMediaType,
					Detail: "Content-Type must be application/scim+json or application/json."})
				return
			}
		}
		if r.ContentLength > s.maxBody {
			s.tooLarge(w)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.tooLarge(w)
				return
			}
			writeError(w, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidSyntax,
				Detail: "Could not read the request body."})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	// Close the connection: the rest of an oversized body is not worth reading.
	w.Header().Set("Connection", "close")
	writeError(w, scimerr.ScimError{Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("The request body exceeds the server's limit of %d bytes (server.max_body_bytes).", s.maxBody)})
}

func (s *Server) handlerFor(r *http.Request) *resourceHandler {
	if mux.Vars(r)["resource"] == "Groups" {
		return s.groups
	}
	return s.users
}

// serveWrite checks the body against the limits (checkBody) and rewrites
// client quirks in it (scim/compat), then lets the library validate and
// dispatch a POST or PUT; a PATCH is answered by servePatch. The body is
// decoded once for all of it.
func (s *Server) serveWrite(isPatch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := s.handlerFor(r)
		body, _ := io.ReadAll(r.Body) // already buffered by readBody
		b, err := compat.Decode(body)
		if err != nil {
			writeError(w, scimerr.ScimErrorInvalidSyntax)
			return
		}
		if se := checkBody(b.Value(), isPatch); se != nil {
			writeError(w, *se)
			return
		}
		if !isPatch {
			if se := h.checkRequired(b.Value()); se != nil {
				writeError(w, *se)
				return
			}
		}
		if isPatch {
			// The rewrites change b's value in place; servePatch reads it.
			if _, err := b.Patch(h.schema, h.exts...); err != nil {
				writeError(w, scimerr.ScimErrorInvalidSyntax)
				return
			}
			s.servePatch(w, r, h, b.Value())
			return
		}
		out, err := b.Resource(h.schema, h.exts...)
		if err != nil {
			writeError(w, scimerr.ScimErrorInvalidSyntax)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		s.serveLib(w, r)
	}
}

// serveList moves the filter out of the query: the library validates filters
// itself and rejects valid ones (emails[type eq "work"].value eq "x"); the
// handler evaluates it with scim/query instead.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := q.Get("filter")
	q.Del("filter")
	r2 := r.WithContext(context.WithValue(r.Context(), ctxFilter, f))
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	s.serveListResponse(w, r2)
}

// serveSearch does for POST /.search what serveList does for GET.
func (s *Server) serveSearch(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, scimerr.ScimErrorInvalidSyntax)
		return
	}
	var f string
	if raw, ok := req["filter"]; ok {
		if err := json.Unmarshal(raw, &f); err != nil {
			writeError(w, scimerr.ScimErrorInvalidFilter)
			return
		}
		delete(req, "filter")
		body, _ = json.Marshal(req)
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxFilter, f))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	s.serveListResponse(w, r)
}

// serveGet answers If-None-Match with 304 when the representation's ETag
// matches; the library has no notion of conditional GET.
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		s.serveLib(w, r)
		return
	}
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	s.serveLib(buf, r)
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	if buf.status == http.StatusOK && etagMatches(inm, buf.header.Get("Etag")) {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
}

func (s *Server) serveSPC(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/scim+json")
	_, _ = w.Write(s.spc)
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

// writeError writes a SCIM Error response (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, e scimerr.ScimError) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(errorBody(e))
}

func errorBody(e scimerr.ScimError) []byte {
	raw, _ := json.Marshal(e)
	return raw
}

// slogAdapter lets the library log through our logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Error(args ...any) {
	if len(args) > 0 {
		if msg, ok := args[0].(string); ok {
			a.l.Error(msg, args[1:]...)
			return
		}
	}
	a.l.Error("scim library error", "args", args)
}

// update runs fn in a store transaction and tells the hook once it committed.
// hooked records whether the final run of fn reached the hook; a run that
// wrote nothing (a no-op PUT) does not wake anyone.
func (s *Server) update(ctx context.Context, fn func(tx store.Tx) error) error {
	var after []func()
	err := s.store.Update(ctx, func(tx store.Tx) error {
		htx := &hookTx{Tx: tx}
		err := fn(htx)
		after = htx.committed
		return err
	})
	s.storeAnswered(err)
	if err == nil {
		for _, f := range after {
			f()
		}
	}
	return err
}

// hookTx carries the hook's after-commit funcs out of an update function.
// The hook itself gets the backend's own Tx, because a queue's ScheduleTx
// needs its concrete type.
type hookTx struct {
	store.Tx
	committed []func()
}

// onWrite passes a write to the hook.
func (s *Server) onWrite(tx store.Tx, before, after *store.Resource) error {
	if s.hook == nil {
		return nil
	}
	h, ok := tx.(*hookTx)
	if ok {
		tx = h.Tx
	}
	f, err := s.hook.OnWrite(tx, before, after)
	if ok && f != nil {
		h.committed = append(h.committed, f)
	}
	return err
}
