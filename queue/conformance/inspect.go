package conformance

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
)

var states = []queue.State{queue.Scheduled, queue.InFlight, queue.Dead}

func testInspect(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.expectCounts(queue.Counts{})
	for _, s := range states {
		checkKeys(t, fmt.Sprintf("List(%s) of an empty queue", s), keysOf(h.list(s, 0, 10)))
	}
	h.absent("nope")

	// Dead keys die in the order c, a, b.
	for _, k := range []string{"dead-a", "dead-b", "dead-c"} {
		h.schedule(k, h.at(0))
	}
	jobs := h.claimKeys(3, time.Hour, "dead-a", "dead-b", "dead-c")
	h.set(time.Second)
	h.kill(jobs[2], "c failed")
	h.set(2 * time.Second)
	h.kill(jobs[0], "a failed")
	h.set(3 * time.Second)
	h.kill(jobs[1], "b failed")

	// Leases end in the order b, a, c; a has a pending due.
	for _, k := range []string{"fl-a", "fl-b", "fl-c"} {
		h.schedule(k, h.at(0))
	}
	h.claimOne("fl-a", 5*time.Minute)
	h.claimOne("fl-b", 2*time.Minute)
	h.claimOne("fl-c", 10*time.Minute)
	h.schedule("fl-a", h.at(time.Hour))

	// Scheduled: b, then c and d at the same time, then a.
	h.schedule("sch-a", h.at(3*time.Minute))
	h.schedule("sch-b", h.at(1*time.Minute))
	h.schedule("sch-c", h.at(2*time.Minute))
	h.schedule("sch-d", h.at(2*time.Minute))

	at3s := func(d time.Duration) time.Time { return h.at(3*time.Second + d) }
	want := map[queue.State][]queue.Entry{
		queue.Scheduled: {
			{Key: "sch-b", State: queue.Scheduled, Due: h.at(1 * time.Minute)},
			{Key: "sch-c", State: queue.Scheduled, Due: h.at(2 * time.Minute)},
			{Key: "sch-d", State: queue.Scheduled, Due: h.at(2 * time.Minute)},
			{Key: "sch-a", State: queue.Scheduled, Due: h.at(3 * time.Minute)},
		},
		queue.InFlight: {
			{Key: "fl-b", State: queue.InFlight, Due: at3s(2 * time.Minute)},
			{Key: "fl-a", State: queue.InFlight, Due: at3s(5 * time.Minute), Pending: h.at(time.Hour)},
			{Key: "fl-c", State: queue.InFlight, Due: at3s(10 * time.Minute)},
		},
		queue.Dead: {
			{Key: "dead-c", State: queue.Dead, Due: h.at(time.Second), Attempts: 1,
				FirstFail: h.at(time.Second), LastError: "c failed"},
			{Key: "dead-a", State: queue.Dead, Due: h.at(2 * time.Second), Attempts: 1,
				FirstFail: h.at(2 * time.Second), LastError: "a failed"},
			{Key: "dead-b", State: queue.Dead, Due: h.at(3 * time.Second), Attempts: 1,
				FirstFail: h.at(3 * time.Second), LastError: "b failed"},
		},
	}
	for _, s := range states {
		got := h.list(s, 0, 100)
		checkKeys(t, fmt.Sprintf("List(%s)", s), keysOf(got), keysOf(want[s])...)
		for i, w := range want[s] {
			if i < len(got) {
				checkEntry(t, fmt.Sprintf("List(%s)[%d]", s, i), got[i], w)
			}
			h.expect(w.Key, w)
		}
	}
	h.expectCounts(queue.Counts{Scheduled: 4, InFlight: 3, Dead: 3, OldestDue: h.at(time.Minute)})
	if _, err := h.q.List(t.Context(), queue.State("bogus"), 0, 10); err == nil {
		t.Error("List of an unknown state succeeded")
	}

	// OldestDue follows the earliest scheduled key, overdue or not.
	h.set(90 * time.Second)
	h.expectCounts(queue.Counts{Scheduled: 4, InFlight: 3, Dead: 3, OldestDue: h.at(time.Minute)})
	h.claimOne("sch-b", 10*time.Minute)
	h.expectCounts(queue.Counts{Scheduled: 3, InFlight: 4, Dead: 3, OldestDue: h.at(2 * time.Minute)})
}

// dueKey is a key and the Entry.Due it is listed by.
type dueKey struct {
	due time.Time
	key string
}

func sortDueKeys(xs []dueKey) []string {
	slices.SortFunc(xs, func(a, b dueKey) int {
		return cmp.Or(a.due.Compare(b.due), strings.Compare(a.key, b.key))
	})
	keys := make([]string, len(xs))
	for i, x := range xs {
		keys[i] = x.key
	}
	return keys
}

func testListPaging(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	// Keys sort differently from their due times, and due times repeat so
	// that ties must be broken by key.
	var dead, inflight, scheduled []dueKey
	for i := range 7 {
		h.schedule(fmt.Sprintf("d%d", i), h.at(0))
	}
	jobs := h.claim(7, time.Hour)
	for i := range jobs {
		j := jobs[(i*3)%7]
		h.set(time.Duration(i/2) * time.Second)
		h.kill(j, "dead")
		dead = append(dead, dueKey{h.now(), j.Key})
	}
	for i := range 6 {
		h.schedule(fmt.Sprintf("f%d", i), h.at(0))
	}
	for i := range 6 {
		lease := time.Duration((6-i)%3+1) * time.Minute
		j := h.claimOne(fmt.Sprintf("f%d", i), lease)
		inflight = append(inflight, dueKey{j.LeaseEnd, j.Key})
	}
	for i := range 9 {
		due := h.at(time.Hour + time.Duration((i*5)%4)*time.Minute)
		h.schedule(fmt.Sprintf("s%d", i), due)
		scheduled = append(scheduled, dueKey{due, fmt.Sprintf("s%d", i)})
	}

	for s, seeded := range map[queue.State][]dueKey{queue.Dead: dead, queue.InFlight: inflight, queue.Scheduled: scheduled} {
		want := sortDueKeys(seeded)
		full := keysOf(h.list(s, 0, 1000))
		checkKeys(t, fmt.Sprintf("List(%s, 0, 1000)", s), full, want...)
		for limit := 1; limit <= len(want)+1; limit++ {
			var paged []string
			for offset := 0; offset < len(want)+limit; offset += limit {
				paged = append(paged, keysOf(h.list(s, offset, limit))...)
			}
			checkKeys(t, fmt.Sprintf("List(%s) in pages of %d", s, limit), paged, want...)
		}
		checkKeys(t, fmt.Sprintf("List(%s, %d, 10)", s, len(want)), keysOf(h.list(s, len(want), 10)))
		checkKeys(t, fmt.Sprintf("List(%s, 1000, 10)", s), keysOf(h.list(s, 1000, 10)))
		checkKeys(t, fmt.Sprintf("List(%s, 2, 0)", s), keysOf(h.list(s, 2, 0)))
		checkKeys(t, fmt.Sprintf("List(%s, 2, -1)", s), keysOf(h.list(s, 2, -1)))
		checkKeys(t, fmt.Sprintf("List(%s, -5, 3)", s), keysOf(h.list(s, -5, 3)), want[:3]...)
		checkKeys(t, fmt.Sprintf("List(%s, 3, 2)", s), keysOf(h.list(s, 3, 2)), want[3:5]...)
	}
}

// testDeadLettersKept makes a few thousand dead letters and checks that
// time and activity trim none of them.
func testDeadLettersKept(t *testing.T, b Backend) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	h := open(t, b, defaultHorizon)
	key := func(i int) string { return fmt.Sprintf("ldap/user-%05d", i) }
	parallel(t, n, func(i int) error { return h.q.Schedule(t.Context(), key(i), h.now()) })
	var jobs []queue.Job
	for len(jobs) < n {
		got := h.claim(500, time.Hour)
		if len(got) == 0 {
			t.Fatalf("claimed %d of %d keys, then nothing", len(jobs), n)
		}
		jobs = append(jobs, got...)
	}
	parallel(t, n, func(i int) error {
		return h.q.Kill(t.Context(), jobs[i], fmt.Errorf("permanent failure of %s", jobs[i].Key))
	})

	// A year of activity later, every dead letter is still there.
	h.clock.Advance(365 * 24 * time.Hour)
	h.schedule("other", h.now())
	h.claimOne("other", time.Minute)
	h.schedule(key(0), h.now()) // a dead key stays dead
	h.claimNone()
	h.expectCounts(queue.Counts{InFlight: 1, Dead: n})

	var all []queue.Entry
	for offset := 0; ; offset += 500 {
		page := h.list(queue.Dead, offset, 500)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = key(i) // all died at T0: in key order
	}
	checkKeys(t, "dead letters listed", keysOf(all), want...)
	for _, e := range all {
		if !e.Due.Equal(T0) || e.LastError != "permanent failure of "+e.Key {
			t.Fatalf("dead letter %s", fmtEntry(e))
		}
	}
}

// parallel runs fn(0) … fn(n-1) on 16 goroutines, so that backends that
// batch commits can share them, and fails t on the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		once sync.Once
		err  error
	)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if e := fn(i); e != nil {
					once.Do(func() { err = fmt.Errorf("call %d: %w", i, e) })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
}
