package scim

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/internal/promx"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "scim", Name: "requests_total",
			Help: "SCIM requests by resource, method and status code.",
		}, []string{"resource", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tenure", Subsystem: "scim", Name: "request_duration_seconds",
			Help:    "SCIM request latency by resource and method, including the durable store write.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"resource", "method"}),
	}
	if _, err := promx.Register(reg, m.requests, m.latency); err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	return m, nil
}

// instrument counts and times every SCIM request, labelled by resource type
// (a bounded set, never an id).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &httpx.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.Status == 0 {
			sw.Status = http.StatusOK
		}
		res := resourceLabel(r)
		s.metrics.requests.WithLabelValues(res, r.Method, strconv.Itoa(sw.Status)).Inc()
		s.metrics.latency.WithLabelValues(res, r.Method).Observe(time.Since(start).Seconds())
	})
}

func resourceLabel(r *http.Request) string {
	if v := mux.Vars(r)["resource"]; v != "" {
		return v
	}
	if route := mux.CurrentRoute(r); route != nil {
		if t, err := route.GetPathTemplate(); err == nil {
			switch t {
			case Prefix + "/ServiceProviderConfig":
				return "ServiceProviderConfig"
			}
		}
	}
	return "other"
}

func setLogSource(ctx context.Context, name string) { httpx.SetSource(ctx, name) }
