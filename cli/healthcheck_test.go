package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheckNotReady: a server that answers /readyz with anything
// but 200 is unhealthy (exit 1), and the reason is said; the server comes
// from $TENURE_SERVER like the operator commands'.
func TestHealthcheckNotReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "store not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	t.Setenv("TENURE_SERVER", srv.URL+"/")
	_, _, err := tenure(t, "healthcheck")
	if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), "GET "+srv.URL+"/readyz: 503 Service Unavailable: store not ready") {
		t.Errorf("healthcheck: %v", err)
	}
	if _, _, err := tenure(t, "healthcheck", "extra"); err == nil || ExitCode(err) != 2 {
		t.Errorf("an extra argument: %v", err)
	}
}
