package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkJoinerLatency measures a joiner end to end with the real worker
// loop and the real clock: SCIM POST accepted (durable, with its job) →
// account applied on a recording target. One user at a time, so each
// sample is the latency an IdP's change takes to land, not a throughput
// figure. p50-ms and p99-ms are reported per backend.
//
//	go test -run '^$' -bench JoinerLatency -benchtime 2000x ./engine/
func BenchmarkJoinerLatency(b *testing.B) {
	for _, name := range []string{"embedded", "redis"} {
		b.Run(name, func(b *testing.B) {
			// Each run of the sub-benchmark gets a fresh backend.
			var be backend
			for _, x := range backends(b) {
				if x.name == name {
					be = x
				}
			}
			e := newEnv(b, be, policy)
			e.clock = nil // the real clock from here on
			applied := make(chan string, 16)
			e.targets["dir"].Applied = func(id string) { applied <- id }
			e.restartWithClock(time.Now)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = e.eng.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				id := e.user(fmt.Sprintf("bench%07d.x", i), nil)
				for got := ""; got != id; {
					select {
					case got = <-applied:
					case <-time.After(10 * time.Second):
						b.Fatalf("user %s never applied", id)
					}
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
