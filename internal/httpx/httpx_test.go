package httpx

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogLevel: a 503 (the store is down; its cause is logged once
// per outage) is a warning, other 5xx errors, 2xx and 4xx information.
func TestAccessLogLevel(t *testing.T) {
	for _, tt := range []struct {
		status int
		level  string
	}{
		{http.StatusOK, "INFO"},
		{http.StatusNotFound, "INFO"},
		{http.StatusServiceUnavailable, "WARN"},
		{http.StatusInternalServerError, "ERROR"},
		{http.StatusBadGateway, "ERROR"},
	} {
		var buf bytes.Buffer
		h := Wrap(slog.New(slog.NewTextHandler(&buf, nil)), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil))
		if !strings.Contains(buf.String(), "level="+tt.level+" msg=request") {
			t.Errorf("status %d logged as %q, want level %s", tt.status, buf.String(), tt.level)
		}
	}
}
