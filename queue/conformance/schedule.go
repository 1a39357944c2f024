package conformance

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
)

func testClaimOrder(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	// Scheduled out of order; b and e are due at the same time.
	h.schedule("c", h.at(3*time.Second))
	h.schedule("e", h.at(2*time.Second))
	h.schedule("a", h.at(1*time.Second))
	h.schedule("d", h.at(4*time.Second))
	h.schedule("b", h.at(2*time.Second))
	h.set(10 * time.Second)
	jobs := h.claimKeys(2, time.Minute, "a", "b")
	jobs = append(jobs, h.claimKeys(10, time.Minute, "e", "c", "d")...)
	for i, due := range []time.Duration{1, 2, 2, 3, 4} {
		if want := h.at(due * time.Second); !jobs[i].Due.Equal(want) {
			t.Errorf("job %q Due = %s, want %s", jobs[i].Key, fmtTime(jobs[i].Due), fmtTime(want))
		}
		if jobs[i].Attempts != 0 {
			t.Errorf("job %q Attempts = %d, want 0", jobs[i].Key, jobs[i].Attempts)
		}
	}
}

func testScheduleKeepsEarliest(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(10*time.Second))
	h.schedule("k", h.at(5*time.Second))
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(5 * time.Second)})
	h.schedule("k", h.at(20*time.Second))
	h.schedule("k", h.at(5*time.Second))
	h.expect("k", queue.Entry{State: queue.Scheduled, Due: h.at(5 * time.Second)})
	h.expectCounts(queue.Counts{Scheduled: 1, OldestDue: h.at(5 * time.Second)})

	h.set(5 * time.Second)
	j := h.claimOne("k", time.Minute)
	if !j.Due.Equal(h.at(5 * time.Second)) {
		t.Errorf("claimed Due = %s, want T0+5s", fmtTime(j.Due))
	}
	h.ack(j)
	h.set(time.Hour)
	h.claimNone() // the later schedules were absorbed by the earlier one
	h.absent("k")
}

func testNotYetDue(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("later", h.at(time.Minute))
	h.claimNone()
	h.set(time.Minute - time.Millisecond)
	h.claimNone()
	h.expect("later", queue.Entry{State: queue.Scheduled, Due: h.at(time.Minute)})
	h.set(time.Minute) // due at its due time, not after it
	h.claimOne("later", time.Minute)

	// Past and zero due times are due at once.
	h.schedule("past", h.at(-time.Hour))
	h.schedule("zero", time.Time{})
	h.claimKeys(10, time.Minute, "zero", "past")
}

func testClaimLimit(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	for i := range 5 {
		h.schedule(fmt.Sprintf("k%d", i), h.at(time.Duration(i)*time.Millisecond))
	}
	h.schedule("future", h.at(time.Hour))
	h.set(time.Second)
	h.claimKeys(0, time.Minute)
	h.claimKeys(-1, time.Minute)
	h.expectCounts(queue.Counts{Scheduled: 6, OldestDue: h.at(0)})
	h.claimKeys(2, time.Minute, "k0", "k1")
	h.expectCounts(queue.Counts{Scheduled: 4, InFlight: 2, OldestDue: h.at(2 * time.Millisecond)})
	h.claimKeys(2, time.Minute, "k2", "k3")
	h.claimKeys(2, time.Minute, "k4")
	h.claimNone()
	h.expectCounts(queue.Counts{Scheduled: 1, InFlight: 5, OldestDue: h.at(time.Hour)})
}

// testConcurrentClaimers runs workers that claim and ack shared keys as
// fast as they can. Each worker schedules the key it holds again (a
// pending due) until the key has run `rounds` times, so every key is
// scheduled exactly `rounds` times and must be acked exactly that often,
// and never held by two workers at once.
func testConcurrentClaimers(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	const keys, rounds, workers = 24, 4, 8
	for i := range keys {
		h.schedule(fmt.Sprintf("k%02d", i), h.now())
	}

	var (
		mu       sync.Mutex
		holder   = map[string]int{} // key → worker holding it, absent when none
		runs     = map[string]int{} // key → runs started
		acks     = map[string]int{} // key → successful acks
		overlaps []string
		acked    atomic.Int64
		progress atomic.Int64 // wall time of the last ack, Unix nanoseconds
	)
	// Workers give up when nothing has been acked for a while, which is
	// how a lost key shows.
	const stall = 10 * time.Second
	progress.Store(time.Now().UnixNano())
	stalled := func() bool { return time.Since(time.Unix(0, progress.Load())) > stall }
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	work := func(w int, j queue.Job) error {
		mu.Lock()
		if other, ok := holder[j.Key]; ok {
			overlaps = append(overlaps, fmt.Sprintf("%s held by workers %d and %d", j.Key, other, w))
		}
		holder[j.Key] = w
		runs[j.Key]++
		again := runs[j.Key] < rounds
		mu.Unlock()

		runtime.Gosched() // let the others try to claim it meanwhile
		if again {
			if err := h.q.Schedule(ctx, j.Key, h.now()); err != nil {
				return fmt.Errorf("Schedule(%q) while holding it: %w", j.Key, err)
			}
		}
		mu.Lock()
		delete(holder, j.Key) // before Ack: once acked, another worker may hold it
		mu.Unlock()
		if err := h.q.Ack(ctx, j); err != nil {
			return fmt.Errorf("Ack(%q): %w", j.Key, err)
		}
		mu.Lock()
		acks[j.Key]++
		mu.Unlock()
		acked.Add(1)
		progress.Store(time.Now().UnixNano())
		return nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for acked.Load() < keys*rounds {
				jobs, err := h.q.Claim(ctx, 3, time.Hour)
				if err != nil {
					t.Errorf("worker %d: Claim: %v", w, err)
					return
				}
				if len(jobs) == 0 {
					if stalled() {
						t.Errorf("worker %d: no ack for %v, %d of %d done: keys lost", w, stall, acked.Load(), keys*rounds)
						return
					}
					select {
					case <-ctx.Done():
						t.Errorf("worker %d: %v with %d of %d acks", w, ctx.Err(), acked.Load(), keys*rounds)
						return
					case <-time.After(time.Millisecond):
					}
				}
				for _, j := range jobs {
					if err := work(w, j); err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()

	if len(overlaps) > 0 {
		t.Errorf("%d overlapping runs, e.g. %s", len(overlaps), overlaps[0])
	}
	for i := range keys {
		k := fmt.Sprintf("k%02d", i)
		if acks[k] != rounds {
			t.Errorf("key %s acked %d times, want %d (once per schedule)", k, acks[k], rounds)
		}
	}
	h.expectCounts(queue.Counts{})
}
