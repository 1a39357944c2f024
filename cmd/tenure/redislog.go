package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// redisLog carries go-redis's own log lines (a failed dial, a Sentinel
// failover) into Tenure's log as warnings with library=go-redis. While
// Redis is down go-redis repeats the same line for every dial attempt; a
// line is written the first time and then at most once per interval, with
// how many times it was repeated meanwhile.
type redisLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	seen map[string]*repeats // by the line's format
}

type repeats struct {
	last    time.Time
	skipped int
}

func newRedisLog(log *slog.Logger) *redisLog {
	return &redisLog{log: log.With("library", "go-redis"), interval: time.Minute, now: time.Now, seen: map[string]*repeats{}}
}

// Printf is go-redis's internal.Logging.
func (l *redisLog) Printf(ctx context.Context, format string, v ...any) {
	now := l.now()
	l.mu.Lock()
	r := l.seen[format]
	if r == nil {
		if len(l.seen) > 1000 { // formats are go-redis's own, a few dozen; never grow without bound
			clear(l.seen)
		}
		r = &repeats{}
		l.seen[format] = r
	} else if now.Sub(r.last) < l.interval {
		r.skipped++
		l.mu.Unlock()
		return
	}
	skipped := r.skipped
	r.last, r.skipped = now, 0
	l.mu.Unlock()
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	if skipped > 0 {
		l.log.WarnContext(ctx, msg, "repeated", skipped)
		return
	}
	l.log.WarnContext(ctx, msg)
}
