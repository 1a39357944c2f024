package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
)

func testReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend does not support Reopen")
	}
	h := open(t, b, defaultHorizon)
	h.schedule("sched", h.at(time.Hour))
	h.schedule("retried", h.at(0))
	h.retry(h.claimOne("retried", time.Minute), 2*time.Hour, "ldap: busy")
	h.schedule("flight", h.at(0))
	h.schedule("expiring", h.at(0))
	h.schedule("dead", h.at(0))
	h.kill(h.claimOne("dead", time.Minute), "permanent")
	h.claimOne("expiring", time.Minute)
	held := h.claimOne("flight", 10*time.Minute)
	h.schedule("flight", h.at(30*time.Minute))

	keys := []string{"sched", "retried", "flight", "expiring", "dead"}
	before := make(map[string]queue.Entry)
	for _, k := range keys {
		before[k] = h.get(k)
	}
	counts := h.counts()
	lists := make(map[queue.State][]string)
	for _, s := range states {
		lists[s] = keysOf(h.list(s, 0, 100))
	}

	h.reopen()
	for _, k := range keys {
		h.expect(k, before[k])
	}
	h.expectCounts(counts)
	for _, s := range states {
		checkKeys(t, fmt.Sprintf("List(%s) after reopening", s), keysOf(h.list(s, 0, 100)), lists[s]...)
	}

	// Leases survive: the lease taken before the restart can still ack,
	// and the one that runs out after it is returned.
	h.set(2 * time.Minute)
	h.ack(h.claimOne("expiring", time.Minute))
	h.ack(held)
	h.expect("flight", queue.Entry{State: queue.Scheduled, Due: h.at(30 * time.Minute)})
	h.set(2 * time.Hour)
	h.claimKeys(10, time.Minute, "flight", "sched", "retried")
	h.replay("dead")
	h.claimOne("dead", time.Minute)
}

// testContextDone calls every method with a cancelled context and checks
// that each fails and leaves the queue as it was.
func testContextDone(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("sched", h.at(0))
	h.schedule("flight", h.at(0))
	h.schedule("dead", h.at(0))
	h.kill(h.claimOne("dead", time.Minute), "x")
	j := h.claimOne("flight", time.Minute)
	h.schedule("flight", h.at(time.Hour))
	keys := []string{"sched", "flight", "dead"}
	before := make(map[string]queue.Entry)
	for _, k := range keys {
		before[k] = h.get(k)
	}
	counts := h.counts()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v, want one wrapping context.Canceled", what, err)
		}
	}
	check("Schedule of a new key", h.q.Schedule(ctx, "new", h.at(0)))
	check("Schedule earlier", h.q.Schedule(ctx, "sched", h.at(-time.Hour)))
	check("Schedule in flight", h.q.Schedule(ctx, "flight", h.at(0)))
	jobs, err := h.q.Claim(ctx, 10, time.Minute)
	check("Claim", err)
	if len(jobs) > 0 {
		t.Errorf("Claim with a cancelled context returned %d jobs", len(jobs))
	}
	_, err = h.q.Extend(ctx, j, time.Hour)
	check("Extend", err)
	check("Ack", h.q.Ack(ctx, j))
	check("Retry", h.q.Retry(ctx, j, time.Minute, errors.New("x")))
	check("Kill", h.q.Kill(ctx, j, errors.New("x")))
	check("Replay", h.q.Replay(ctx, "dead"))
	check("Cancel", h.q.Cancel(ctx, "sched"))
	check("Cancel in flight", h.q.Cancel(ctx, "flight"))
	_, err = h.q.Get(ctx, "sched")
	check("Get", err)
	_, err = h.q.List(ctx, queue.Scheduled, 0, 10)
	check("List", err)
	_, err = h.q.Counts(ctx)
	check("Counts", err)

	for _, k := range keys {
		h.expect(k, before[k])
	}
	h.absent("new")
	h.expectCounts(counts)
	h.ack(j) // the lease is intact
	h.expect("flight", queue.Entry{State: queue.Scheduled, Due: h.at(time.Hour)})
}

// testOddKeys runs keys with separators, spaces, non-ASCII text, prefixes
// of one another and a long one through every state.
func testOddKeys(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	keys := []string{
		"ldap/ü id/with/slashes",
		"ldap/ü id/with/slashes/",
		"ldap/ü id/with/slash",
		"ldap/cn=Doe\\, John+uid=jd,ou=People,dc=example,dc=com",
		"scim/{tenure}:app*?[x] %s %d",
		"emoji/🦊 ⏰",
		"tab\tnewline\nquote\"",
		"x",
		"long/" + strings.Repeat("äb/", 1000),
	}
	for i, k := range keys {
		h.schedule(k, h.at(time.Duration(i)*time.Second))
	}
	for i, k := range keys {
		h.expect(k, queue.Entry{State: queue.Scheduled, Due: h.at(time.Duration(i) * time.Second)})
	}
	checkKeys(t, "List(scheduled)", keysOf(h.list(queue.Scheduled, 0, 100)), keys...)

	h.set(time.Minute)
	jobs := h.claimKeys(100, time.Hour, keys...)
	for i, j := range jobs {
		h.schedule(j.Key, h.at(2*time.Hour)) // pending
		switch i % 3 {
		case 0:
			h.ack(j)
		case 1:
			h.retry(j, time.Hour, "retry "+j.Key)
		case 2:
			h.kill(j, "kill "+j.Key)
		}
	}
	for i, k := range keys {
		switch i % 3 {
		case 0:
			h.expect(k, queue.Entry{State: queue.Scheduled, Due: h.at(2 * time.Hour)})
		case 1:
			h.expect(k, queue.Entry{State: queue.Scheduled, Due: h.at(time.Hour + time.Minute),
				Attempts: 1, FirstFail: h.at(time.Minute), LastError: "retry " + k})
		case 2:
			h.expect(k, queue.Entry{State: queue.Dead, Due: h.at(time.Minute),
				Attempts: 1, FirstFail: h.at(time.Minute), LastError: "kill " + k})
			h.replay(k)
		}
	}
	h.set(3 * time.Hour)
	for _, j := range h.claim(100, time.Minute) {
		h.ack(j)
	}
	for _, k := range keys {
		h.absent(k)
	}
	h.schedule(keys[0], h.at(0))
	h.cancel(keys[0])
	h.expectCounts(queue.Counts{})
}

func testEmptyKey(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	if err := h.q.Schedule(t.Context(), "", h.at(0)); err == nil {
		t.Error("Schedule of an empty key succeeded")
	}
	h.expectCounts(queue.Counts{})
}

func testClose(t *testing.T, b Backend) {
	h := open(t, b, defaultHorizon)
	h.schedule("k", h.at(0))
	if err := h.q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h.q.Close() // harmless
	if err := h.q.Schedule(t.Context(), "k2", h.at(0)); err == nil {
		t.Error("Schedule after Close succeeded")
	}
	if _, err := h.q.Claim(t.Context(), 1, time.Minute); err == nil {
		t.Error("Claim after Close succeeded")
	}
}
