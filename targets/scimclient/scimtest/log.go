package scimtest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request is one request an app answered.
type Request struct {
	Method, Path, Query string
	At                  time.Time // when it arrived
	Status              int
	Auth                string // the Authorization header
}

// Log is an http.Handler that records the requests the handler it wraps
// answers, with their arrival times, except those carrying an X-Test
// header: the tests' own requests.
type Log struct {
	h   http.Handler
	mu  sync.Mutex
	log []Request
}

// Record wraps h in a Log.
func Record(h http.Handler) *Log { return &Log{h: h} }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP implements http.Handler.
func (l *Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	l.h.ServeHTTP(sw, r)
	if r.Header.Get("X-Test") != "" {
		return
	}
	l.mu.Lock()
	l.log = append(l.log, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, At: at, Status: sw.status, Auth: r.Header.Get("Authorization")})
	l.mu.Unlock()
}

// Mark is the log's length now, for Since and Writes.
func (l *Log) Mark() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.log) }

// Since returns the requests recorded after mark m (0: all).
func (l *Log) Since(m int) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log[m:])
}

// Writes lists the non-GET requests after mark m as "METHOD path -> status".
func (l *Log) Writes(m int) []string {
	var out []string
	for _, r := range l.Since(m) {
		if r.Method != http.MethodGet {
			out = append(out, fmt.Sprintf("%s %s -> %d", r.Method, r.Path, r.Status))
		}
	}
	return out
}

// MaxInWindow is the most requests that arrived within any window of length
// d (half open: a request exactly d after another is not in its window),
// and the arrival time of the first request of such a window.
func MaxInWindow(reqs []Request, d time.Duration) (int, time.Time) {
	at := make([]time.Time, len(reqs))
	for i, r := range reqs {
		at[i] = r.At
	}
	slices.SortFunc(at, time.Time.Compare)
	best, from := 0, time.Time{}
	j := 0
	for i := range at {
		for j < len(at) && at[j].Sub(at[i]) < d {
			j++
		}
		if j-i > best {
			best, from = j-i, at[i]
		}
	}
	return best, from
}
