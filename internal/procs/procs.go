// Package procs tunes the Go runtime for tenure serve, once, at start,
// leaving alone whatever the operator set through the environment.
package procs

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
)

// MinProcs is the fewest Ps serve runs with. A goroutine in a blocking file
// syscall (the embedded store's fdatasync) keeps its P until the runtime's
// monitor takes it back, which can be milliseconds; with one P — Go's
// default in a one-CPU container or under taskset — every SCIM request and
// every converge then waits out each commit's fsync. Measured with
// scripts/bench-scim-target.sh (PIN=1: one CPU each for the app and for
// Tenure): 416 users/s with one P, 1,226 with two (docs/benchmarks.md). A
// second P costs nothing while the first sleeps in the kernel.
const MinProcs = 2

// GCPercent is serve's GOGC. Tenure's live heap is small (the stores keep
// their data outside it), so at Go's default of 100 a request that churns a
// few megabytes — the heaviest PATCH the limits allow makes ~5 MB of
// garbage — sets off a collection, whose marking takes CPU from every other
// request and makes the goroutines that allocate meanwhile help it: on two
// cores, an unrelated POST's p99 during back-to-back heaviest PATCHes fell
// from 2.7–2.8× idle to 1.6–2.1× (open loop, docs/benchmarks.md). The
// price is a heap up to five times the live data instead of twice.
const GCPercent = 400

// Tune raises GOMAXPROCS to MinProcs unless GOMAXPROCS is set, and sets the
// GC percent to GCPercent unless GOGC is set.
func Tune(log *slog.Logger) {
	if n := runtime.GOMAXPROCS(0); n < MinProcs && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(MinProcs)
		log.Info("raised GOMAXPROCS so that fsyncs do not stall the server", "from", n, "to", MinProcs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
