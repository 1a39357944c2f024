package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/config"
)

// TestLogDurations: serve's logs write durations as durations, in JSON as
// in text.
func TestLogDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		log := newLogger(config.Log{Level: "info", Format: format}, &b)
		log.Info("x", "took", 1500*time.Millisecond, slog.Group("g", "wait", 72*time.Hour), "n", 3)
		for _, w := range []string{"1.5s", "72h0m0s"} {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: %q lacks %s", format, b.String(), w)
			}
		}
		if strings.Contains(b.String(), "1500000000") {
			t.Errorf("%s: nanoseconds: %q", format, b.String())
		}
	}
}
