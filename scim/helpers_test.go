package scim

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

// Test tokens, one per source.
var testTokens = map[string]string{
	"okta":  "okta-token-0123456789",
	"entra": "entra-token-9876543210",
	"hr":    "hr-token-abcdef",
}

type testServer struct {
	*httptest.Server
	t     *testing.T
	logs  *syncBuffer
	reg   *prometheus.Registry
	store store.Store // what the server runs on
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type serverOpt func(*Options)

// newTestServer runs the SCIM API on a real embedded store in a temp dir,
// behind the same middleware as production.
func newTestServer(t *testing.T, opts ...serverOpt) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := Options{Store: st, Logger: log, Registerer: reg, MaxBodyBytes: 64 << 10,
		Now: func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }}
	for name, tok := range testTokens {
		o.Sources = append(o.Sources, Source{Name: name, Token: tok})
	}
	for _, f := range opts {
		f(&o)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Start()
	o.BaseURL = hs.URL
	api, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = httpx.Wrap(log, api)
	t.Cleanup(hs.Close)
	return &testServer{Server: hs, t: t, logs: logs, reg: reg, store: o.Store}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.Status, r.Body)
	}
	return m
}

// do sends a request as source (its token) with an optional JSON body.
func (s *testServer) do(source, method, path string, body any, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+Prefix+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if tok, ok := testTokens[source]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// createUser POSTs a minimal user and returns its id.
func (s *testServer) createUser(source, userName string, extra map[string]any) string {
	s.t.Helper()
	body := map[string]any{"schemas": []string{SchemaUser}, "userName": userName}
	for k, v := range extra {
		body[k] = v
	}
	r := s.do(source, http.MethodPost, "/Users", body)
	if r.Status != http.StatusCreated {
		s.t.Fatalf("create user %q: %d %s", userName, r.Status, r.Body)
	}
	return r.JSON(s.t)["id"].(string)
}
