package boltdb

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/promx"
)

type metrics struct {
	*promx.Set

	duration  *prometheus.HistogramVec
	batchSize prometheus.Histogram
	reruns    prometheus.Counter
}

// newMetrics builds the store's collectors and registers them on reg unless
// reg is nil, in which case they still count but nobody reads them.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tenure_store_operation_duration_seconds",
			Help: "Duration of store View and Update calls, including the wait for a shared commit. " +
				"result is ok, aborted (the function returned an error) or error (the backend failed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs to ~3.3s
		}, []string{"op", "result"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tenure_store_boltdb_batch_size",
			Help:    "Update calls committed together in one bolt transaction and fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 to 1024; a batch is at most the writers at once
		}),
		reruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenure_store_boltdb_update_reruns_total",
			Help: "Extra runs of Update functions: a failing function aborts its whole batch, which runs again without it.",
		}),
	}
	var err error
	m.Set, err = promx.Register(reg, m.duration, m.batchSize, m.reruns)
	return m, err
}
