package conformance

import (
	"fmt"
	"sync"
	"time"

	"github.com/tenurehq/tenure/queue"
)

// Clock is a clock that moves only when told to. Its Now goes into
// queue.Options.Now; it is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, backwards too.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock d ahead.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fmtTime shows t relative to T0, which is how the tests write times.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	d := t.Sub(T0)
	if d < 0 {
		return "T0-" + (-d).String()
	}
	return "T0+" + d.String()
}

func fmtEntry(e queue.Entry) string {
	return fmt.Sprintf("{%q %s due=%s pending=%s attempts=%d firstFail=%s lastError=%q}",
		e.Key, e.State, fmtTime(e.Due), fmtTime(e.Pending), e.Attempts, fmtTime(e.FirstFail), e.LastError)
}

func fmtCounts(c queue.Counts) string {
	return fmt.Sprintf("{scheduled=%d inflight=%d dead=%d oldestDue=%s}",
		c.Scheduled, c.InFlight, c.Dead, fmtTime(c.OldestDue))
}
