package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

func newTestMetrics(t *testing.T, counts func(context.Context) (Counts, error), now time.Time) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "test", counts, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestMetricsGauges(t *testing.T) {
	counts := Counts{Scheduled: 3, InFlight: 2, Dead: 1, OldestDue: t0.Add(-90 * time.Second)}
	_, reg := newTestMetrics(t, func(context.Context) (Counts, error) { return counts, nil }, t0)
	compare(t, reg, `
# HELP tenure_queue_jobs Keys in the queue by state (scheduled, inflight, dead).
# TYPE tenure_queue_jobs gauge
tenure_queue_jobs{backend="test",state="dead"} 1
tenure_queue_jobs{backend="test",state="inflight"} 2
tenure_queue_jobs{backend="test",state="scheduled"} 3
# HELP tenure_queue_oldest_due_lateness_seconds How long the earliest scheduled key has been due; 0 when none is overdue.
# TYPE tenure_queue_oldest_due_lateness_seconds gauge
tenure_queue_oldest_due_lateness_seconds{backend="test"} 90
`, "tenure_queue_jobs", "tenure_queue_oldest_due_lateness_seconds")

	// Read at every scrape: the gauges follow Counts.
	counts = Counts{Scheduled: 1, OldestDue: t0.Add(time.Minute)}
	compare(t, reg, `
# HELP tenure_queue_oldest_due_lateness_seconds How long the earliest scheduled key has been due; 0 when none is overdue.
# TYPE tenure_queue_oldest_due_lateness_seconds gauge
tenure_queue_oldest_due_lateness_seconds{backend="test"} 0
`, "tenure_queue_oldest_due_lateness_seconds")
}

func TestLateness(t *testing.T) {
	for _, c := range []struct {
		due  time.Time
		want float64
	}{
		{time.Time{}, 0},
		{t0, 0},
		{t0.Add(time.Second), 0},
		{t0.Add(-1500 * time.Millisecond), 1.5},
		{t0.Add(-48 * time.Hour), 172800},
	} {
		if got := Lateness(c.due, t0); got != c.want {
			t.Errorf("Lateness(%v) = %v, want %v", c.due, got, c.want)
		}
	}
}

func TestMetricsCounters(t *testing.T) {
	m, reg := newTestMetrics(t, func(context.Context) (Counts, error) { return Counts{}, nil }, t0)
	m.Claimed(3)
	m.Claimed(0)
	m.Acked()
	m.Acked()
	m.Retried()
	m.DeadLettered()
	m.LeaseExpired(2)
	compare(t, reg, `
# HELP tenure_queue_acks_total Jobs finished by Ack.
# TYPE tenure_queue_acks_total counter
tenure_queue_acks_total{backend="test"} 2
# HELP tenure_queue_claims_total Jobs handed to workers by Claim.
# TYPE tenure_queue_claims_total counter
tenure_queue_claims_total{backend="test"} 3
# HELP tenure_queue_dead_letters_total Jobs made dead letters: by Kill, or by Retry or an expired lease past the retry horizon.
# TYPE tenure_queue_dead_letters_total counter
tenure_queue_dead_letters_total{backend="test"} 1
# HELP tenure_queue_lease_expiries_total Leases that ran out before their holder finished; each is a failed attempt of its key.
# TYPE tenure_queue_lease_expiries_total counter
tenure_queue_lease_expiries_total{backend="test"} 2
# HELP tenure_queue_retries_total Failed jobs returned to the schedule by Retry.
# TYPE tenure_queue_retries_total counter
tenure_queue_retries_total{backend="test"} 1
`, "tenure_queue_acks_total", "tenure_queue_claims_total", "tenure_queue_dead_letters_total",
		"tenure_queue_lease_expiries_total", "tenure_queue_retries_total")
}

func TestMetricsCountsFails(t *testing.T) {
	m, reg := newTestMetrics(t, func(context.Context) (Counts, error) { return Counts{}, errors.New("down") }, t0)
	n, err := testutil.GatherAndCount(reg, "tenure_queue_jobs", "tenure_queue_oldest_due_lateness_seconds")
	if err != nil || n != 0 {
		t.Errorf("gauges with a failing Counts: %d, %v; want none and no scrape error", n, err)
	}
	// Read the counter alone: another scrape would call Counts again.
	if got := testutil.ToFloat64(m.gauges.errors); got != 1 {
		t.Errorf("scrape errors = %v, want 1", got)
	}
}

// TestMetricsCountsTimeout checks that a scrape stops waiting for a Counts
// call at the timeout, even one that ignores its context.
func TestMetricsCountsTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	deadline := make(chan bool, 1)
	m, reg := newTestMetrics(t, func(ctx context.Context) (Counts, error) {
		_, ok := ctx.Deadline()
		deadline <- ok
		<-release
		return Counts{Scheduled: 1}, nil
	}, t0)
	m.gauges.timeout = 50 * time.Millisecond
	start := time.Now()
	n, err := testutil.GatherAndCount(reg, "tenure_queue_jobs")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("scrape took %v with a 50ms timeout", took)
	}
	if err != nil || n != 0 {
		t.Errorf("gauges after a timeout: %d, %v", n, err)
	}
	if !<-deadline {
		t.Error("Counts was called without a deadline")
	}
}

func TestMetricsRegistration(t *testing.T) {
	counts := func(context.Context) (Counts, error) { return Counts{}, nil }
	if _, err := NewMetrics(nil, "test", nil, nil); err == nil {
		t.Error("NewMetrics without a counts func succeeded")
	}
	m, err := NewMetrics(nil, "test", counts, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Acked() // counts unread
	m.Unregister()

	reg := prometheus.NewRegistry()
	m, err = NewMetrics(reg, "test", counts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg, "test", counts, nil); err == nil {
		t.Error("second registration on one registry succeeded")
	}
	// A different backend label is a different series set: both may share a registry.
	other, err := NewMetrics(reg, "other", counts, nil)
	if err != nil {
		t.Errorf("second backend on one registry: %v", err)
	} else {
		other.Unregister()
	}
	m.Unregister()
	m.Unregister()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d metrics left after Unregister", n)
	}
	if _, err := NewMetrics(reg, "test", counts, nil); err != nil {
		t.Errorf("registering again after Unregister: %v", err)
	}
}
