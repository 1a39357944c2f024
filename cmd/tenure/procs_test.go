package main

import (
	"log/slog"
	"runtime"
	"testing"
)

// TestEnsureProcs: serve raises one P to two, and leaves an operator's
// GOMAXPROCS alone.
func TestEnsureProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		env         string
		start, want int
	}{
		{"", 1, minProcs},
		{"", 3, 3},
		{"1", 1, 1},
	} {
		t.Setenv("GOMAXPROCS", tt.env)
		runtime.GOMAXPROCS(tt.start)
		ensureProcs(log)
		if got := runtime.GOMAXPROCS(0); got != tt.want {
			t.Errorf("GOMAXPROCS=%q, %d Ps: ensureProcs left %d, want %d", tt.env, tt.start, got, tt.want)
		}
	}
}
