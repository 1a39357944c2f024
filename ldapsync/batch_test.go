package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

// TestBatcherCoalesces: values that arrive while a modify of their group
// is in flight go together in the next one; each write gets its own
// result; a value written twice at once changed the group once.
func TestBatcherCoalesces(t *testing.T) {
	var b memberBatcher
	release := make(chan struct{})
	var mu sync.Mutex
	var sent [][]string
	send := func(_ context.Context, vals []string) ([]bool, error) {
		mu.Lock()
		first := len(sent) == 0
		sent = append(sent, slices.Clone(vals))
		mu.Unlock()
		if first {
			<-release // the first modify is in flight until all others queue
		}
		return slices.Repeat([]bool{true}, len(vals)), nil
	}
	const n = 20
	type result struct {
		done bool
		err  error
	}
	results := make([]result, n+1)
	var wg sync.WaitGroup
	wg.Go(func() {
		d, err := writeMember(t.Context(), &b, "cn=g", "member", "v0", true, send)
		results[0] = result{d, err}
	})
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == 1 })
	for i := 1; i <= n; i++ {
		v := fmt.Sprintf("v%d", i)
		if i == n {
			v = "v1" // the same value twice in one batch
		}
		wg.Go(func() {
			d, err := writeMember(t.Context(), &b, "CN=G", "Member", v, true, send)
			results[i] = result{d, err}
		})
	}
	waitFor(t, func() bool { return b.waiting(memberKey{"cn=g", "member", true}) == n })
	close(release)
	wg.Wait()

	if len(sent) != 2 || len(sent[0]) != 1 || len(sent[1]) != n-1 {
		t.Fatalf("modifies %v, want [v0] then the %d distinct others in one", sent, n-1)
	}
	for i, r := range results {
		if r.err != nil || (i != 1 && i != n && !r.done) {
			t.Errorf("write %d = %v, %v; want done", i, r.done, r.err)
		}
	}
	// Of the two writes of v1, the one queued first changed the group.
	if results[1].done == results[n].done {
		t.Errorf("the writes of v1 were done %v and %v, want one of each", results[1].done, results[n].done)
	}
	// The batches' drain ends once every write has its result.
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 0 })
}

// TestBatcherCancelledCallerFailsAlone: a caller whose ctx ends returns at
// once with its own error; its value is left out of a batch not yet sent;
// the others in its batch get their results, sent under a context that
// ends only when all of them have given up.
func TestBatcherCancelledCallerFailsAlone(t *testing.T) {
	var b memberBatcher
	release := make(chan struct{})
	var mu sync.Mutex
	var sent [][]string
	send := func(ctx context.Context, vals []string) ([]bool, error) {
		mu.Lock()
		sent = append(sent, slices.Clone(vals))
		mu.Unlock()
		<-release
		if err := ctx.Err(); err != nil {
			return make([]bool, len(vals)), err
		}
		return slices.Repeat([]bool{true}, len(vals)), nil
	}
	key := memberKey{"cn=g", "member", true}
	write := func(ctx context.Context, v string) (bool, error) {
		return writeMember(ctx, &b, "cn=g", "member", v, true, send)
	}
	type result struct {
		done bool
		err  error
	}
	results := map[string]chan result{}
	start := func(ctx context.Context, v string) {
		results[v] = make(chan result, 1)
		go func() {
			d, err := write(ctx, v)
			results[v] <- result{d, err}
		}()
	}
	sentN := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == n }
	}

	// The first batch, "lead", is in flight when its caller gives up: it
	// returns at once.
	leadCtx, cancelLead := context.WithCancel(t.Context())
	start(leadCtx, "lead")
	waitFor(t, sentN(1))
	// Two more queue behind it; one of them gives up before it is sent.
	goneCtx, cancelGone := context.WithCancel(t.Context())
	start(goneCtx, "gone")
	start(t.Context(), "stays")
	waitFor(t, func() bool { return b.waiting(key) == 2 })
	cancelLead()
	if r := <-results["lead"]; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled leader: %v, %v; want its own cancellation at once", r.done, r.err)
	}
	cancelGone()
	if r := <-results["gone"]; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled waiter: %v, %v; want its own cancellation", r.done, r.err)
	}
	close(release)
	if r := <-results["stays"]; r.err != nil || !r.done {
		t.Errorf("the caller still waiting: %v, %v; want done", r.done, r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 || !slices.Equal(sent[1], []string{"stays"}) {
		t.Errorf("batches %v, want [lead] then [stays]: a value whose caller gave up is not sent", sent)
	}
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == 0 })
}

// TestBatcherContextEndsWithLastCaller: a batch's context ends once every
// caller in it has given up, and not before.
func TestBatcherContextEndsWithLastCaller(t *testing.T) {
	var b memberBatcher
	release := make(chan struct{})
	inFlight := make(chan context.Context, 2)
	send := func(ctx context.Context, vals []string) ([]bool, error) {
		inFlight <- ctx
		if len(vals) == 1 && vals[0] == "first" {
			<-release
			return []bool{true}, nil
		}
		<-ctx.Done()
		return make([]bool, len(vals)), ctx.Err()
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = writeMember(t.Context(), &b, "cn=g", "member", "first", true, send) })
	<-inFlight
	ctxA, cancelA := context.WithCancel(t.Context())
	ctxB, cancelB := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	for _, c := range []struct {
		ctx context.Context
		v   string
	}{{ctxA, "a"}, {ctxB, "b"}} {
		wg.Go(func() {
			_, err := writeMember(c.ctx, &b, "cn=g", "member", c.v, true, send)
			errs <- err
		})
	}
	waitFor(t, func() bool { return b.waiting(memberKey{"cn=g", "member", true}) == 2 })
	close(release)
	batch := <-inFlight // a and b together
	cancelA()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("a: %v, want its cancellation", err)
	}
	select {
	case <-batch.Done():
		t.Fatal("the batch's context ended while b still waited")
	case <-time.After(20 * time.Millisecond):
	}
	cancelB()
	<-batch.Done()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("b: %v, want its cancellation", err)
	}
	wg.Wait()
}

// TestBatcherFallsBack: a batch the directory refuses is written value by
// value, so only the bad value fails; a batch that never reached the
// directory fails every value alike, without a write per value.
func TestBatcherFallsBack(t *testing.T) {
	bad := &ldap.Error{ResultCode: ldap.LDAPResultInvalidDNSyntax, Err: errors.New("invalid DN")}
	down := &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("connection refused")}
	for _, tt := range []struct {
		name      string
		batchErr  error
		wantSends int
	}{
		{"refused", bad, 1 + 3},
		{"unreachable", down, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b memberBatcher
			sends := 0
			send := func(_ context.Context, vals []string) ([]bool, error) {
				sends++
				if len(vals) > 1 || vals[0] == "bad" || tt.batchErr == down {
					return make([]bool, len(vals)), tt.batchErr
				}
				return []bool{true}, nil
			}
			batch := []string{"a", "bad", "b"}
			rs := flushMembers(t.Context(), &b, batch, send)
			if sends != tt.wantSends {
				t.Errorf("%d modifies, want %d", sends, tt.wantSends)
			}
			for i, r := range rs {
				wantErr := batch[i] == "bad" || tt.batchErr == down
				if (r.err != nil) != wantErr || r.done == wantErr {
					t.Errorf("%s: %v, %v", batch[i], r.done, r.err)
				}
			}
		})
	}
}

// TestCoalescedMembers: on OpenLDAP and AD, converges' grants to one group
// that meet are written in fewer modifies than values, every account ends
// in the group, and a value the directory refuses fails only its own
// write.
func TestCoalescedMembers(t *testing.T) {
	t.Parallel()
	forEachDirectory(t, func(t *testing.T, s *dirServer) {
		c := s.newCase(t, "")
		ctx := t.Context()
		const n = 12
		var dns []string
		for i := range n {
			dn := JoinDN(RDN(s.rdn, fmt.Sprintf("coalesced %d", i)), c.people)
			s.addEntry(t, s, dn, fmt.Sprintf("coalesced %d", i), map[string][]string{})
			dns = append(dns, dn)
		}
		dns = append(dns, "this is not a DN")
		g := c.groupDN(testGroups[0])
		cv := &converge{d: c.d, o: c.d.Options}
		// Hold the first modify until the others have queued, so
		// that they meet as a burst of joiners would.
		release := make(chan struct{})
		first := true
		var mu sync.Mutex
		real := cv.memberSend(g, true)
		send := func(ctx context.Context, vals []string) ([]bool, error) {
			mu.Lock()
			wait := first
			first = false
			mu.Unlock()
			if wait {
				<-release
			}
			return real(ctx, vals)
		}
		before := c.d.members.sent
		errs := make([]error, len(dns))
		done := make([]bool, len(dns))
		var wg sync.WaitGroup
		for i, dn := range dns {
			wg.Go(func() {
				done[i], errs[i] = writeMember(ctx, c.d.members, g, c.d.Options.MemberAttribute, dn, true, send)
			})
			if i == 0 {
				waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return !first })
			}
		}
		key := memberKey{normalDN(g), "member", true}
		waitFor(t, func() bool { return c.d.members.waiting(key) == n })
		close(release)
		wg.Wait()
		for i, dn := range dns {
			if bad := i == n; (errs[i] != nil) != bad || done[i] == bad {
				t.Errorf("%s: done %v, err %v", dn, done[i], errs[i])
			}
			// The bad value's converge is dead-lettered, not retried
			// (and no other converge fails).
			if errs[i] != nil && targets.IsRetryable(Classify("grant", errs[i])) {
				t.Errorf("%s: %v is retryable; a value the directory refuses must dead-letter its job alone", dn, errs[i])
			}
			if i < n && !c.isMember(t, testGroups[0], dn) {
				t.Errorf("%s is not in the group", dn)
			}
		}
		// The first alone; the other n in one modify, refused for the
		// bad value and then written one by one.
		if got := c.d.members.sent - before; got != 2+n {
			t.Errorf("%d modifies, want %d", got, 2+n)
		}

		// Without a bad value, a burst is one modify.
		var more []string
		for i := range n {
			dn := JoinDN(RDN(s.rdn, fmt.Sprintf("burst %d", i)), c.people)
			s.addEntry(t, s, dn, fmt.Sprintf("burst %d", i), map[string][]string{})
			more = append(more, dn)
		}
		first, release = true, make(chan struct{})
		before = c.d.members.sent
		for i, dn := range more {
			wg.Go(func() {
				done[i], errs[i] = writeMember(ctx, c.d.members, g, c.d.Options.MemberAttribute, dn, true, send)
			})
			if i == 0 {
				waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return !first })
			}
		}
		waitFor(t, func() bool { return c.d.members.waiting(key) == n-1 })
		close(release)
		wg.Wait()
		if got := c.d.members.sent - before; got != 2 {
			t.Errorf("%d modifies for a burst of %d, want 2", got, n)
		}
		for i, dn := range more {
			if errs[i] != nil || !done[i] || !c.isMember(t, testGroups[0], dn) {
				t.Errorf("%s: done %v, err %v, member %v", dn, done[i], errs[i], c.isMember(t, testGroups[0], dn))
			}
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
