package procs

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestTune: one P is raised to two and the GC percent set, and an
// operator's GOMAXPROCS or GOGC is left alone.
func TestTune(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		procsEnv, gcEnv  string
		start, wantProcs int
		wantGC           int
	}{
		{"", "", 1, MinProcs, GCPercent},
		{"", "", 3, 3, GCPercent},
		{"1", "150", 1, 1, 150},
	} {
		t.Setenv("GOMAXPROCS", tt.procsEnv)
		t.Setenv("GOGC", tt.gcEnv)
		runtime.GOMAXPROCS(tt.start)
		debug.SetGCPercent(150) // what the runtime read from GOGC=150
		Tune(log)
		if got := runtime.GOMAXPROCS(0); got != tt.wantProcs {
			t.Errorf("GOMAXPROCS=%q, %d Ps: %d after Tune, want %d", tt.procsEnv, tt.start, got, tt.wantProcs)
		}
		if got := debug.SetGCPercent(100); got != tt.wantGC {
			t.Errorf("GOGC=%q: GC percent %d after Tune, want %d", tt.gcEnv, got, tt.wantGC)
		}
	}
}
