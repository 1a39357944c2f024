package redisstore

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	duration  *prometheus.HistogramVec
	conflicts prometheus.Counter
}

// newMetrics builds the store's collectors and registers them on reg unless
// reg is nil, in which case they still count but nobody reads them. The
// duration histogram has the name and labels of the bbolt backend's, so
// dashboards do not depend on the backend.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tenure_store_operation_duration_seconds",
			Help: "Duration of store View and Update calls, including runs repeated after conflicts. " +
				"result is ok, aborted (the function returned an error) or error (the backend failed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs to ~3.3s
		}, []string{"op", "result"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenure_store_redis_tx_conflicts_total",
			Help: "Update runs whose EXEC found a watched key changed by another client; each is followed by another run.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.duration, m.conflicts} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

func (m *metrics) observe(op, result string, start time.Time) {
	m.duration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}
