// Package promx registers a component's Prometheus collectors as a unit, so
// a component that is closed and opened again on the same registerer (a
// store reopened in tests, a queue restarted) can take its metrics back out.
package promx

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Set is a group of collectors registered together.
type Set struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

// Register registers every collector on reg, or none: on failure the ones
// already registered are removed again. A nil reg registers nothing (the
// collectors still count; nobody reads them).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) (*Set, error) {
	s := &Set{reg: reg}
	if reg == nil {
		return s, nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			s.Unregister()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		s.collectors = append(s.collectors, c)
	}
	return s, nil
}

// Unregister removes the set's collectors. It is safe to call twice.
func (s *Set) Unregister() {
	for _, c := range s.collectors {
		s.reg.Unregister(c)
	}
	s.collectors = nil
}
