package engine

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tenurehq/tenure/internal/promx"
)

// metrics are the engine's instruments:
//
//	tenure_engine_transitions_total{transition,source}       SCIM writes by lifecycle transition
//	tenure_engine_operations_total{target,op,result}          account operations applied (result ok|error)
//	tenure_engine_converges_total{target,result}              converge runs: ok, retry, dead, held, waiting
//	tenure_engine_convergence_latency_seconds{target}         SCIM accept → change applied on the target
//	tenure_engine_dead_letters_total{target}                  keys dead-lettered by the engine
//	tenure_engine_guard_tripped{target}                       1 while the target's destructive work is held
//	tenure_engine_inflight                                    converges running now
//	tenure_engine_target_up{target}                           1 after a converge reached the target, 0 after one could not
//	tenure_engine_target_unavailable_total{target}            converge attempts that could not reach the target
//	tenure_engine_unresolved_references_total{target,attribute} references naming no person (once each until resolved)
//	tenure_engine_conflicts_total{target,reason}              ownership conflicts found (owned, collision, ambiguous)
//	tenure_engine_account_conflicts{target}                   people parked on a conflict now (the sweep counts)
//	tenure_engine_drift_repairs_total{target,class}           repairs beyond the plan: attribute, status, container, membership, account, exclusive
//	tenure_engine_drift_passes_total{target,result}           drift passes run (ok, error)
//	tenure_engine_drift_last_pass_timestamp_seconds{target}   when the last drift pass on this replica began
//	tenure_engine_drift_orphans{target}                       accounts no link names, as of the last drift pass
type metrics struct {
	set         *promx.Set
	transitions *prometheus.CounterVec
	operations  *prometheus.CounterVec
	converges   *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	dead        *prometheus.CounterVec
	guard       *prometheus.GaugeVec
	inflight    prometheus.Gauge
	conflicts   *prometheus.CounterVec
	parked      *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	unavailable *prometheus.CounterVec
	unresolved  *prometheus.CounterVec
	// the drift pass (drift.go)
	drift        *prometheus.CounterVec
	driftPasses  *prometheus.CounterVec
	driftLast    *prometheus.GaugeVec
	driftOrphans *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "tenure", Subsystem: "engine", Name: name, Help: help}
	}
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts(opts("transitions_total",
			"SCIM writes by the lifecycle transition they are.")), []string{"transition", "source"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts(opts("operations_total",
			"Account operations on targets by kind and result.")), []string{"target", "op", "result"}),
		converges: prometheus.NewCounterVec(prometheus.CounterOpts(opts("converges_total",
			"Converge runs by outcome: ok, retry, dead, held (guard), waiting (dependency).")), []string{"target", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tenure", Subsystem: "engine", Name: "convergence_latency_seconds",
			Help:    "Time from a SCIM write being accepted to its change being applied on a target.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"target"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts(opts("dead_letters_total",
			"Keys the engine dead-lettered (permanent failures, or failing past the retry horizon).")), []string{"target"}),
		guard: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("guard_tripped",
			"1 while the target's destructive operations are held for approval.")), []string{"target"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts(opts("inflight", "Converges running now."))),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts(opts("conflicts_total",
			"Ownership conflicts found: an account linked to another person (owned), a name held by an account that is not the person's (collision), several matching accounts (ambiguous).")), []string{"target", "reason"}),
		parked: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("account_conflicts",
			"People whose account on the target is parked on an ownership conflict, as of the last sweep.")), []string{"target"}),
	}
	m.up = prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("target_up",
		"1 when the target's last converge reached it, 0 when it could not (connection refused or lost, 502/503/504).")), []string{"target"})
	m.unavailable = prometheus.NewCounterVec(prometheus.CounterOpts(opts("target_unavailable_total",
		"Converge attempts that could not reach the target: counted once per attempt, not per planned operation.")), []string{"target"})
	m.unresolved = prometheus.NewCounterVec(prometheus.CounterOpts(opts("unresolved_references_total",
		"References (manager, …) found naming no person, counted once per account and attribute until they resolve.")), []string{"target", "attribute"})
	m.drift = prometheus.NewCounterVec(prometheus.CounterOpts(opts("drift_repairs_total",
		"Drift repaired: what converges did beyond their plan (attribute, status, container, membership, account) and members no grant explains removed from exclusive groups (exclusive).")), []string{"target", "class"})
	m.driftPasses = prometheus.NewCounterVec(prometheus.CounterOpts(opts("drift_passes_total",
		"Periodic drift passes run, by result (error: not every converge could be scheduled).")), []string{"target", "result"})
	m.driftLast = prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("drift_last_pass_timestamp_seconds",
		"When the target's last drift pass on this replica began (Unix time).")), []string{"target"})
	m.driftOrphans = prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("drift_orphans",
		"Accounts the target lists that no link names, as of the last drift pass.")), []string{"target"})
	set, err := promx.Register(reg, m.transitions, m.operations, m.converges, m.latency, m.dead, m.guard, m.inflight, m.conflicts, m.parked, m.up, m.unavailable, m.unresolved,
		m.drift, m.driftPasses, m.driftLast, m.driftOrphans)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	m.set = set
	return m, nil
}
