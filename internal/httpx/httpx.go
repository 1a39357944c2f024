// Package httpx holds the HTTP middleware every Tenure endpoint shares:
// request ids, panic recovery and the access log. The access log records
// method, route, status, duration, source and request id — never headers or
// bodies, which carry tokens and passwords.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"
)

type ctxKey int

const infoKey ctxKey = 0

// Info is what inner handlers tell the access log about a request.
type Info struct {
	mu        sync.Mutex
	RequestID string
	source    string
}

// SetSource records the authenticated source for the access log.
func SetSource(ctx context.Context, source string) {
	if in, ok := ctx.Value(infoKey).(*Info); ok {
		in.mu.Lock()
		in.source = source
		in.mu.Unlock()
	}
}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	if in, ok := ctx.Value(infoKey).(*Info); ok {
		return in.RequestID
	}
	return ""
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StatusWriter remembers the status and size of a response.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// WriteHeader implements http.ResponseWriter.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *StatusWriter) Write(p []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrap applies request ids, the access log and panic recovery. A client's
// X-Request-Id is kept when it looks like an id, so Okta and Entra request
// ids can be correlated; otherwise a new one is made.
func Wrap(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !safeID.MatchString(id) {
			id = newID()
		}
		info := &Info{RequestID: id}
		r = r.WithContext(context.WithValue(r.Context(), infoKey, info))
		w.Header().Set("X-Request-Id", id)
		sw := &StatusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "request_id", id, "panic", p)
				if sw.Status == 0 {
					sw.Header().Set("Content-Type", "application/scim+json")
					sw.WriteHeader(http.StatusInternalServerError)
					_, _ = sw.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500","detail":"internal error"}`))
				}
			}
			if sw.Status == 0 {
				sw.Status = http.StatusOK
			}
			info.mu.Lock()
			src := info.source
			info.mu.Unlock()
			// A 503 is a deliberate answer (the store is down, or the
			// server is shutting down) whose cause is logged once per
			// outage; an error line per refused request would bury it.
			level := slog.LevelInfo
			switch {
			case sw.Status == http.StatusServiceUnavailable:
				level = slog.LevelWarn
			case sw.Status >= 500:
				level = slog.LevelError
			}
			log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.Status),
				slog.Int64("bytes", sw.Bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("source", src),
				slog.String("remote", r.RemoteAddr),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}
