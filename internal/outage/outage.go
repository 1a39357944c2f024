// Package outage reports a dependency's outage in the log twice: once when
// the first call fails for it and once when a call succeeds again, with how
// long it lasted and how many calls failed meanwhile. A Redis restart seen
// by 64 workers polling every 250 ms, or by every SCIM request, is one
// outage to the operator, not a line per call.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Log tracks one dependency's outage. The zero value is not usable; use New.
type Log struct {
	log        *slog.Logger
	down, back string // the messages at the start and the end

	// isDown is read without the lock by OK, which callers make on every
	// successful call.
	isDown   atomic.Bool
	mu       sync.Mutex
	since    time.Time
	failures int
}

// New returns a Log that logs down, at Error with the first failure's
// error, when an outage begins and back, at Info, when it ends.
func New(log *slog.Logger, down, back string) *Log {
	return &Log{log: log, down: down, back: back}
}

// Failed records a call that failed because the dependency is unavailable.
// Only the first failure of an outage is logged.
func (o *Log) Failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.isDown.Load() {
		return
	}
	o.isDown.Store(true)
	o.since, o.failures = time.Now(), 1
	o.log.Error(o.down, "err", err)
}

// OK records a call that succeeded: it ends an outage, if there is one.
func (o *Log) OK() {
	if !o.isDown.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.isDown.Load() {
		return
	}
	o.isDown.Store(false)
	o.log.Info(o.back, "after", time.Since(o.since).Round(time.Millisecond), "failures", o.failures)
}

// Down reports whether an outage is under way.
func (o *Log) Down() bool { return o.isDown.Load() }
