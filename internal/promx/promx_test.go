package promx

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})
	s, err := Register(reg, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 2 {
		t.Fatalf("%d series registered, want 2", n)
	}
	// A clash registers nothing: c must not stay behind.
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "c"})
	dup := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	if _, err := Register(reg, c, dup); err == nil {
		t.Fatal("duplicate registration succeeded")
	}
	if n, _ := testutil.GatherAndCount(reg, "c_total"); n != 0 {
		t.Error("a failed Register left a collector behind")
	}
	s.Unregister()
	s.Unregister()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series left after Unregister", n)
	}
	if _, err := Register(reg, a, b); err != nil {
		t.Errorf("re-register after Unregister: %v", err)
	}
	if s, err := Register(nil, a); err != nil || s == nil {
		t.Errorf("nil registerer: %v", err)
	}
}
