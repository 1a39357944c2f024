package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/promx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// requestMetrics are the instruments of access requests and their
// notifications:
//
//	tenure_requests_created_total{item}                  requests made
//	tenure_requests_open{item}                           requests waiting for a decision, as of the last sweep
//	tenure_requests_decided_total{item,decision}         approved, denied, withdrawn, fulfilled (birthright), ended, revoked
//	tenure_requests_expired_total{item}                  requests nobody decided in time
//	tenure_requests_decision_seconds{item}               request made → approved or denied
//	tenure_requests_notifications_total{channel,result}  deliveries: ok, retry (failed, retried), dead (refused for good)
type requestMetrics struct {
	set        *promx.Set
	created    *prometheus.CounterVec
	open       *prometheus.GaugeVec
	decided    *prometheus.CounterVec
	expired    *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
}

func newRequestMetrics(reg prometheus.Registerer) (*requestMetrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "tenure", Subsystem: "requests", Name: name, Help: help}
	}
	m := &requestMetrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts(opts("created_total", "Access requests made, by catalog item.")), []string{"item"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("open",
			"Access requests waiting for a decision, by catalog item, as of the last sweep.")), []string{"item"}),
		decided: prometheus.NewCounterVec(prometheus.CounterOpts(opts("decided_total",
			"Access requests closed other than by expiry: approved, denied, withdrawn, fulfilled (held by birthright), ended, revoked.")), []string{"item", "decision"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts(opts("expired_total",
			"Access requests nobody decided before expire_after.")), []string{"item"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tenure", Subsystem: "requests", Name: "decision_seconds",
			Help:    "Time from an access request being made to its approval or denial.",
			Buckets: []float64{60, 300, 900, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400},
		}, []string{"item"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts(opts("notifications_total",
			"Notification deliveries by channel and result: ok, retry (failed and retried), dead (refused for good, dead-lettered).")), []string{"channel", "result"}),
	}
	set, err := promx.Register(reg, m.created, m.open, m.decided, m.expired, m.latency, m.deliveries)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	m.set = set
	return m, nil
}

// sweepRequests re-enqueues request and review boundaries that have no
// job (a crash between a decision's commit and its reschedule, a job
// cancelled by hand) to run now: a boundary that finds nothing due only
// schedules the next. Open requests of an item a reload removed are due
// now, to be closed. It also counts the open requests per item.
func (e *Engine) sweepRequests(ctx context.Context) (int, error) {
	open := map[string]int{}
	var keys, gone []string
	pol := e.Policy()
	err := e.st.View(ctx, func(r store.Reader) error {
		clear(open)
		keys, gone = keys[:0], gone[:0]
		err := r.ScanDocs(nsRequest, "", false, func(_ string, val []byte) (bool, error) {
			req, err := decode[Request](val)
			if err != nil {
				return false, err
			}
			if req.State == RequestPending {
				open[req.Item]++
			}
			_, known := pol.Item(req.Item)
			switch {
			case !known && (req.State == RequestPending || req.State == RequestApproved):
				// A reload removed its item: its boundary, now, closes
				// it and revokes its grant (one without an end has no
				// boundary at all until then).
				gone = append(gone, RequestKey(req.ID))
			case !req.Next.IsZero():
				keys = append(keys, RequestKey(req.ID))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return r.ScanDocs(nsReview, "", false, func(_ string, val []byte) (bool, error) {
			rv, err := decode[Review](val)
			if err == nil && rv.Closed.IsZero() {
				keys = append(keys, ReviewKey(rv.ID))
			}
			return err == nil, err
		})
	})
	if err != nil {
		return 0, err
	}
	e.rmetrics.open.Reset()
	for _, item := range pol.CatalogNames {
		e.rmetrics.open.WithLabelValues(item).Set(float64(open[item]))
	}
	n := 0
	for _, key := range gone {
		// Scheduling keeps the earlier due: now, even before a job's.
		if err := e.q.Schedule(ctx, key, e.now()); err != nil {
			return n, err
		}
		n++
	}
	for _, key := range keys {
		_, err := e.q.Get(ctx, key)
		if err == nil {
			continue
		}
		if !errors.Is(err, queue.ErrNotFound) {
			return n, err
		}
		if err := e.q.Schedule(ctx, key, e.now()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
