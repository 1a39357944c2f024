package boltq

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store/boltdb"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		*newScheduled(0),
		{state: stateInFlight, due: 5, pending: 7, firstFail: noTime, leaseEnd: math.MaxInt64, attempts: 3, lease: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", lastError: "x"},
		{state: stateDead, due: 1 << 62, pending: noTime, firstFail: 9, attempts: math.MaxUint32, lastError: "ü\x00\n" + strings.Repeat("e", 5000)},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil || *got != r {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, err)
		}
	}
	good := newScheduled(1).encode()
	for name, v := range map[string][]byte{
		"empty":         nil,
		"short":         good[:recordFixed-1],
		"version":       append([]byte{2}, good[1:]...),
		"state":         append([]byte{recordVersion, 9}, good[2:]...),
		"lease too big": append(good[:recordFixed-1:recordFixed-1], 200, 'x'),
	} {
		if _, err := decodeRecord(v); err == nil {
			t.Errorf("%s record decoded", name)
		}
	}
}

func TestTimes(t *testing.T) {
	for _, c := range []struct {
		in   time.Time
		want int64
	}{
		{time.Time{}, 0},
		{time.Unix(-1, 0), 0},
		{time.Unix(0, 0), 0},
		{time.Unix(0, 1), 1},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
	} {
		if got := nanos(c.in); got != c.want {
			t.Errorf("nanos(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	if !timeOf(noTime).IsZero() {
		t.Error("timeOf(noTime) is not the zero time")
	}
	if got := plus(math.MaxInt64-1, time.Hour); got != math.MaxInt64 {
		t.Errorf("plus saturates at %d", got)
	}
	if got := plus(10, -time.Hour); got != 10 {
		t.Errorf("plus with a negative duration = %d, want 10", got)
	}
}

func TestErrorText(t *testing.T) {
	if errorText(nil) != "" {
		t.Error("errorText(nil) is not empty")
	}
	long := strings.Repeat("é", maxErrorLen) // 2 bytes each
	got := errorText(errors.New(long))
	if len(got) > maxErrorLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("errorText of %d bytes = %d bytes, valid %v", len(long), len(got), utf8.ValidString(got))
	}
}

// model is the queue's contract written as plainly as possible, for
// TestRandomOps to compare against.
type model struct {
	recs    map[string]*record
	horizon int64
}

func (m *model) held(j queue.Job, now int64) *record {
	r := m.recs[j.Key]
	if r == nil || r.state != stateInFlight || r.lease != j.Lease || now >= r.leaseEnd {
		return nil
	}
	return r
}

func (m *model) fail(r *record, now int64, msg string) {
	r.attempts++
	if r.firstFail == noTime {
		r.firstFail = now
	}
	r.lastError, r.lease, r.leaseEnd, r.pending = msg, "", 0, noTime
}

// retry is a failed attempt at time at of an in-flight r (Retry, an
// expired lease): dead past the horizon, else due at due or its pending due.
func (m *model) retry(r *record, at, due int64, msg string) {
	pending := r.pending
	m.fail(r, at, msg)
	if at-r.firstFail > m.horizon {
		r.state, r.due = stateDead, at
	} else {
		r.state, r.due = stateScheduled, earliest(due, pending)
	}
}

// TestRandomOps applies random operations at random times, and after each
// checks the queue against the model and its indexes and counts against
// its records.
func TestRandomOps(t *testing.T) {
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := int64(1e18)
	q, err := New(st, queue.Options{RetryHorizon: 50 * time.Millisecond, Now: func() time.Time { return time.Unix(0, now) }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m := &model{recs: make(map[string]*record), horizon: int64(50 * time.Millisecond)}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "e", "a/b", "ü"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	var jobs []queue.Job
	ctx := t.Context()

	ops := make(map[string]int)
	for i := range 3000 {
		var op string
		var err, want error
		switch rng.IntN(10) {
		case 0, 1:
			op = "schedule"
			k, due := key(), now+int64(ms(40))-int64(10*time.Millisecond)
			err = q.Schedule(ctx, k, time.Unix(0, due))
			switch r := m.recs[k]; {
			case r == nil:
				m.recs[k] = newScheduled(due)
			case r.state == stateScheduled:
				r.due = min(r.due, due)
			case r.state == stateInFlight:
				r.pending = earliest(due, r.pending)
			}
		case 2, 3:
			op = "claim"
			n, lease := 1+rng.IntN(3), 1+ms(30)
			var got []queue.Job
			got, err = q.Claim(ctx, n, lease)
			for _, r := range m.recs { // the sweep
				if r.state == stateInFlight && r.leaseEnd <= now {
					m.retry(r, r.leaseEnd, r.due, queue.LeaseExpiredError)
				}
			}
			var dueKeys []string // what the model would claim, in order
			for k, r := range m.recs {
				if r.state == stateScheduled && r.due <= now {
					dueKeys = append(dueKeys, k)
				}
			}
			slices.SortFunc(dueKeys, func(a, b string) int {
				return cmp.Or(cmp.Compare(m.recs[a].due, m.recs[b].due), strings.Compare(a, b))
			})
			for n, j := range got {
				if n >= len(dueKeys) || j.Key != dueKeys[n] {
					t.Fatalf("op %d: claimed %q as number %d, model's order is %q", i, j.Key, n, dueKeys)
				}
			}
			for _, j := range got {
				r := m.recs[j.Key]
				if r == nil || r.state != stateScheduled || r.due > now || j.Due.UnixNano() != r.due {
					t.Fatalf("op %d: claimed %+v, model has %+v", i, j, r)
				}
				r.state, r.lease, r.leaseEnd = stateInFlight, j.Lease, now+int64(lease)
			}
			due := 0
			for _, r := range m.recs {
				if r.state == stateScheduled && r.due <= now {
					due++
				}
			}
			if len(got) < n && due > 0 {
				t.Fatalf("op %d: claimed %d of %d with %d more due", i, len(got), n, due)
			}
			jobs = append(jobs, got...)
		case 4, 5:
			if len(jobs) == 0 {
				continue
			}
			j := jobs[rng.IntN(len(jobs))]
			r := m.held(j, now)
			if r == nil {
				want = queue.ErrLeaseLost
			}
			switch rng.IntN(4) {
			case 0:
				op = "ack"
				err = q.Ack(ctx, j)
				if r != nil && r.pending == noTime {
					delete(m.recs, j.Key)
				} else if r != nil {
					m.recs[j.Key] = newScheduled(r.pending)
				}
			case 1:
				op = "retry"
				wait := ms(20)
				err = q.Retry(ctx, j, wait, errors.New(op))
				if r != nil {
					m.retry(r, now, now+int64(wait), op)
				}
			case 2:
				op = "kill"
				err = q.Kill(ctx, j, errors.New(op))
				if r != nil {
					m.fail(r, now, op)
					r.state, r.due = stateDead, now
				}
			case 3:
				op = "extend"
				lease := 1 + ms(30)
				_, err = q.Extend(ctx, j, lease)
				if r != nil {
					r.leaseEnd = now + int64(lease)
				}
			}
		case 6:
			op = "replay"
			k := key()
			err = q.Replay(ctx, k)
			if r := m.recs[k]; r != nil && r.state == stateDead {
				m.recs[k] = newScheduled(now)
			} else {
				want = queue.ErrNotFound
			}
		case 7:
			op = "cancel"
			k := key()
			err = q.Cancel(ctx, k)
			if r := m.recs[k]; r != nil && r.state != stateInFlight {
				delete(m.recs, k)
			} else if r != nil {
				r.pending = noTime
			}
		default:
			op = "advance"
			now += int64(ms(15))
		}
		ops[op]++
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("op %d %s: error %v, want %v", i, op, err, want)
		}
		checkModel(t, fmt.Sprintf("op %d %s", i, op), q, m, keys)
		checkIndexes(t, fmt.Sprintf("op %d %s", i, op), q)
	}
	t.Logf("ops: %v", ops)
}

func checkModel(t *testing.T, when string, q *Queue, m *model, keys []string) {
	t.Helper()
	for _, k := range keys {
		got, err := q.Get(t.Context(), k)
		r := m.recs[k]
		switch {
		case r == nil && !errors.Is(err, queue.ErrNotFound):
			t.Fatalf("%s: Get(%q) = %+v, %v; model has no record", when, k, got, err)
		case r != nil && err != nil:
			t.Fatalf("%s: Get(%q): %v; model has %+v", when, k, err, r)
		case r != nil:
			want := r.entry(k)
			if got != want {
				t.Fatalf("%s: Get(%q) =\n%+v\nwant\n%+v", when, k, got, want)
			}
		}
	}
}

// checkIndexes checks that every record is listed exactly once, in the
// index of its state at its Entry.Due, and that the counts are right.
func checkIndexes(t *testing.T, when string, q *Queue) {
	t.Helper()
	err := q.db.View(func(btx *bbolt.Tx) error {
		tx, err := openTxn(btx)
		if err != nil {
			return err
		}
		var want counts
		err = tx.jobs.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			want[r.state]++
			for _, s := range []state{stateScheduled, stateInFlight, stateDead} {
				listed := tx.index(s).Get(indexKey(r.indexAt(), string(k))) != nil
				if listed != (s == r.state) {
					return fmt.Errorf("%q (%s): listed in the %s index: %v", k, r.state, s, listed)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, s := range []state{stateScheduled, stateInFlight, stateDead} {
			if n := tx.index(s).Stats().KeyN; int64(n) != want[s] {
				return fmt.Errorf("%s index has %d entries for %d records", s, n, want[s])
			}
		}
		if got := tx.counts(); got != want {
			return fmt.Errorf("counts %v, records %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}
