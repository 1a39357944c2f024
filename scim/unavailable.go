package scim

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// RetryAfter is the Retry-After, in seconds, of a 503 for a store that
// cannot be reached: long enough for a Redis restart or a Sentinel
// failover, short enough that a client's retry finds the store back soon.
const RetryAfter = 5

// StoreUnavailable reports whether err says that the store could not serve
// the request now, rather than that the request is wrong: the store is
// closed (the server is shutting down), the backend could not be reached
// or the connection broke (a network error: refused, reset, timed out; the
// connection ending mid-answer), or a Redis server answered that it cannot
// serve yet (LOADING, MASTERDOWN, READONLY after a failover, CLUSTERDOWN,
// TRYAGAIN, BUSY). The same request may well succeed later: the SCIM
// server and the admin API answer it 503 with Retry-After. An error from a
// downstream target (wrapping targets.ErrUnavailable) is not the store's.
func StoreUnavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, targets.ErrUnavailable):
		return false
	case errors.Is(err, store.ErrClosed), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// go-redis errors from the server carry a RedisError method; their
	// message starts with the error code.
	var re interface {
		error
		RedisError()
	}
	if errors.As(err, &re) {
		code, _, _ := strings.Cut(re.Error(), " ")
		switch code {
		case "LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "BUSY":
			return true
		}
	}
	return false
}

// errUnavailable is the answer to a request the store could not serve; it
// goes out through answer.
var errUnavailable = scimerr.ScimError{Status: http.StatusServiceUnavailable,
	Detail: "The store is unavailable; retry after " + strconv.Itoa(RetryAfter) + " seconds."}

// unavailable reports whether err, which no request error explains, comes
// from a store that cannot serve: StoreUnavailable, or else a store that
// does not answer a ping (an error of a kind StoreUnavailable does not
// know, such as a pool timeout, while the backend is down).
func (s *Server) unavailable(ctx context.Context, err error) bool {
	if StoreUnavailable(err) {
		return true
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	return s.store.Ping(pctx) != nil
}

// view and update are the store calls of request handlers: a call that
// succeeds ends an outage.
func (s *Server) view(ctx context.Context, fn func(store.Reader) error) error {
	err := s.store.View(ctx, fn)
	s.storeAnswered(err)
	return err
}

func (s *Server) storeAnswered(err error) {
	if err == nil {
		s.outage.OK()
	}
}

// override carries an answer the library would not send from a handler to
// withOverride. The library turns every handler error whose status RFC 7644
// does not list for the method into a 500, and it lists 503 for none; so a
// handler records its 503 here (answer) and withOverride writes it in place
// of the library's 500, with a Retry-After.
type override struct {
	err        *scimerr.ScimError
	retryAfter int
}

type ctxOverrideKey struct{}

// answer records e, with the Retry-After in seconds when e is a 503, as the
// request's answer, and returns it for the handler to return.
func answer(ctx context.Context, e scimerr.ScimError, retryAfter int) error {
	if o, ok := ctx.Value(ctxOverrideKey{}).(*override); ok {
		o.err, o.retryAfter = &e, retryAfter
	}
	return e
}

// withOverride writes a handler's recorded answer in place of the library's
// 500, and gives every 503 a Retry-After.
func (s *Server) withOverride(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := &override{retryAfter: RetryAfter}
		r = r.WithContext(context.WithValue(r.Context(), ctxOverrideKey{}, o))
		next.ServeHTTP(&overrideWriter{ResponseWriter: w, o: o}, r)
	})
}

type overrideWriter struct {
	http.ResponseWriter
	o       *override
	wrote   bool
	swallow bool // the library's body of an overridden answer
}

func (w *overrideWriter) WriteHeader(code int) {
	if w.wrote {
		w.ResponseWriter.WriteHeader(code) // superfluous: net/http logs it
		return
	}
	w.wrote = true
	if e := w.o.err; e != nil && code == http.StatusInternalServerError {
		w.Header().Del("Content-Length")
		w.Header().Del("Etag")
		w.swallow = true
		code = e.Status
		defer func() { _, _ = w.ResponseWriter.Write(errorBody(*e)) }()
		w.Header().Set("Content-Type", "application/scim+json")
	}
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(w.o.retryAfter))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *overrideWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *overrideWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
