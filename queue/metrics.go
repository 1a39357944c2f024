package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tenurehq/tenure/internal/promx"
)

// CountsTimeout bounds the Counts call a scrape makes, so that a slow or
// unreachable backend costs a scrape its queue gauges, not the whole scrape.
const CountsTimeout = 2 * time.Second

// Metrics is the instrumentation every implementation exports under the
// same names, so dashboards and alerts do not depend on the backend. The
// counters are incremented by the implementation after the change they
// count is durable; the gauges are read from Counts at scrape time, so they
// are never stale and cost nothing between scrapes.
//
//	tenure_queue_jobs{backend,state}                  keys per state
//	tenure_queue_oldest_due_lateness_seconds{backend} now − oldest due (0 if none is overdue)
//	tenure_queue_claims_total{backend}                jobs handed out by Claim
//	tenure_queue_acks_total{backend}                  jobs finished by Ack
//	tenure_queue_retries_total{backend}               jobs returned to the schedule by Retry
//	tenure_queue_dead_letters_total{backend}          jobs made dead letters (Kill, or Retry or lease expiry past the horizon)
//	tenure_queue_lease_expiries_total{backend}        leases that ran out (failed attempts)
//	tenure_queue_scrape_errors_total{backend}         scrapes whose Counts call failed
//
// A Metrics is safe for concurrent use.
type Metrics struct {
	set    *promx.Set
	gauges *gaugeCollector

	claims, acks, retries, deadLetters, leaseExpiries prometheus.Counter
}

// NewMetrics builds the metrics of a queue on backend (a label value such as
// "boltdb" or "redis") and registers them on reg; a nil reg registers
// nothing and the counters count unread. counts is called on every scrape
// with a context that ends after CountsTimeout. now is the clock the
// lateness gauge measures against; nil means time.Now.
func NewMetrics(reg prometheus.Registerer, backend string, counts func(context.Context) (Counts, error), now func() time.Time) (*Metrics, error) {
	if counts == nil {
		return nil, fmt.Errorf("queue: metrics: counts func is nil")
	}
	if now == nil {
		now = time.Now
	}
	labels := prometheus.Labels{"backend": backend}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tenure", Subsystem: "queue", Name: name, Help: help, ConstLabels: labels,
		})
	}
	m := &Metrics{
		claims:        counter("claims_total", "Jobs handed to workers by Claim."),
		acks:          counter("acks_total", "Jobs finished by Ack."),
		retries:       counter("retries_total", "Failed jobs returned to the schedule by Retry."),
		deadLetters:   counter("dead_letters_total", "Jobs made dead letters: by Kill, or by Retry or an expired lease past the retry horizon."),
		leaseExpiries: counter("lease_expiries_total", "Leases that ran out before their holder finished; each is a failed attempt of its key."),
	}
	gauges := &gaugeCollector{
		counts:  counts,
		now:     now,
		timeout: CountsTimeout,
		jobs: prometheus.NewDesc("tenure_queue_jobs",
			"Keys in the queue by state (scheduled, inflight, dead).", []string{"state"}, labels),
		lateness: prometheus.NewDesc("tenure_queue_oldest_due_lateness_seconds",
			"How long the earliest scheduled key has been due; 0 when none is overdue.", nil, labels),
		errors: counter("scrape_errors_total",
			"Scrapes whose Counts call failed or timed out; those scrapes lack the queue gauges."),
	}
	m.gauges = gauges
	set, err := promx.Register(reg, m.claims, m.acks, m.retries, m.deadLetters, m.leaseExpiries, gauges, gauges.errors)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	m.set = set
	return m, nil
}

// Claimed counts n jobs handed out by Claim.
func (m *Metrics) Claimed(n int) { m.claims.Add(float64(n)) }

// Acked counts a job finished by Ack.
func (m *Metrics) Acked() { m.acks.Inc() }

// Retried counts a failed job returned to the schedule.
func (m *Metrics) Retried() { m.retries.Inc() }

// DeadLettered counts a job that became a dead letter.
func (m *Metrics) DeadLettered() { m.deadLetters.Inc() }

// LeaseExpired counts n leases that ran out.
func (m *Metrics) LeaseExpired(n int) { m.leaseExpiries.Add(float64(n)) }

// Unregister removes the metrics from the registerer, so that a queue can
// be closed and opened again on the same one. It is safe to call twice.
func (m *Metrics) Unregister() { m.set.Unregister() }

// gaugeCollector reads the queue's gauges from Counts when scraped.
type gaugeCollector struct {
	counts         func(context.Context) (Counts, error)
	now            func() time.Time
	timeout        time.Duration
	jobs, lateness *prometheus.Desc
	errors         prometheus.Counter
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.lateness
}

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.read()
	if err != nil {
		c.errors.Inc()
		return
	}
	for _, s := range []struct {
		state State
		n     int
	}{{Scheduled, n.Scheduled}, {InFlight, n.InFlight}, {Dead, n.Dead}} {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(s.n), string(s.state))
	}
	ch <- prometheus.MustNewConstMetric(c.lateness, prometheus.GaugeValue, Lateness(n.OldestDue, c.now()))
}

// read calls counts under the timeout. It stops waiting at the deadline
// even if counts does not honour its context (a bolt read transaction
// cannot be interrupted); the call then finishes on its own.
func (c *gaugeCollector) read() (Counts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type result struct {
		n   Counts
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.counts(ctx)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-ctx.Done():
		return Counts{}, ctx.Err()
	}
}

// Lateness is how many seconds oldestDue lies before now: 0 when there is
// no scheduled key (oldestDue is zero) or it is not due yet.
func Lateness(oldestDue, now time.Time) float64 {
	if oldestDue.IsZero() || !now.After(oldestDue) {
		return 0
	}
	return now.Sub(oldestDue).Seconds()
}
