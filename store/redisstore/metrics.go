package redisstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/promx"
)

type metrics struct {
	*promx.Set

	duration  *prometheus.HistogramVec
	conflicts prometheus.Counter
}

// newMetrics builds the store's collectors and registers them on reg unless
// reg is nil, in which case they still count but nobody reads them. The
// duration histogram has the name and labels of the bbolt backend's, so
// dashboards do not depend on the backend.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
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
	var err error
	m.Set, err = promx.Register(reg, m.duration, m.conflicts)
	return m, err
}

func (m *metrics) observe(op, result string, start time.Time) {
	m.duration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}
