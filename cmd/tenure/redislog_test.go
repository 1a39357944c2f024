package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRedisLogRepeats(t *testing.T) {
	var buf bytes.Buffer
	l := newRedisLog(slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	dial := "redis: connection pool: failed to dial after %d attempts: %v"
	for i := range 240 { // four minutes of a dial attempt a second
		l.Printf(context.Background(), dial, 5, "connection refused")
		if i == 10 {
			l.Printf(context.Background(), "sentinel: new master=%q addr=%q", "mymaster", "10.0.0.2:6379")
		}
		now = now.Add(time.Second)
	}
	out := buf.String()
	if n := strings.Count(out, "failed to dial"); n != 4 {
		t.Errorf("%d dial lines in four minutes, want 4 (one a minute):\n%s", n, out)
	}
	if n := strings.Count(out, "repeated=59"); n != 3 {
		t.Errorf("%d lines with repeated=59, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "library=go-redis") || !strings.Contains(out, `new master=`) || strings.Contains(out, "msg=\"redis: ") {
		t.Errorf("lines not carried as go-redis's own:\n%s", out)
	}
}
