package redisq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/queue"
)

// Get implements queue.Queue.
func (q *Queue) Get(ctx context.Context, key string) (queue.Entry, error) {
	if err := q.ready(ctx); err != nil {
		return queue.Entry{}, wrap("get", key, err)
	}
	vals, err := q.client.HMGet(ctx, q.keys.job(key), entryFields...).Result()
	if err != nil {
		return queue.Entry{}, wrap("get", key, err)
	}
	e, err := entryOf(key, vals)
	return e, wrap("get", key, err)
}

// List implements queue.Queue: one state's keys by Entry.Due, then key.
func (q *Queue) List(ctx context.Context, state queue.State, offset, limit int) ([]queue.Entry, error) {
	var set string
	switch state {
	case queue.Scheduled:
		set = q.keys.due
	case queue.InFlight:
		set = q.keys.leases
	case queue.Dead:
		set = q.keys.dead
	default:
		return nil, fmt.Errorf("redisq: list: unknown state %q", state)
	}
	if err := q.ready(ctx); err != nil {
		return nil, wrap("list", "", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	offset = max(offset, 0)
	res, err := listScript.Run(ctx, q.client, []string{set}, offset, offset+limit-1, q.keys.jp).Slice()
	if err != nil {
		return nil, wrap("list", "", err)
	}
	per := 1 + len(entryFields)
	if len(res)%per != 0 {
		return nil, fmt.Errorf("redisq: list: script returned %d values", len(res))
	}
	out := make([]queue.Entry, 0, len(res)/per)
	for i := 0; i < len(res); i += per {
		key, _ := res[i].(string)
		e, err := entryOf(key, res[i+1:i+per])
		if err != nil {
			return nil, wrap("list", key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Counts implements queue.Queue, reading the three sets in one MULTI/EXEC
// so that the counts are of one moment.
func (q *Queue) Counts(ctx context.Context) (queue.Counts, error) {
	if err := q.ready(ctx); err != nil {
		return queue.Counts{}, wrap("counts", "", err)
	}
	var due, leases, dead *redis.IntCmd
	var first *redis.ZSliceCmd
	_, err := q.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		due = p.ZCard(ctx, q.keys.due)
		leases = p.ZCard(ctx, q.keys.leases)
		dead = p.ZCard(ctx, q.keys.dead)
		first = p.ZRangeWithScores(ctx, q.keys.due, 0, 0)
		return nil
	})
	if err != nil {
		return queue.Counts{}, wrap("counts", "", err)
	}
	c := queue.Counts{Scheduled: int(due.Val()), InFlight: int(leases.Val()), Dead: int(dead.Val())}
	if z := first.Val(); len(z) == 1 {
		c.OldestDue = timeOf(int64(z[0].Score))
	}
	return c, nil
}

// entryOf builds an Entry from the values of entryFields.
func entryOf(key string, vals []any) (queue.Entry, error) {
	if len(vals) != len(entryFields) {
		return queue.Entry{}, fmt.Errorf("%d fields, want %d", len(vals), len(entryFields))
	}
	field := func(i int) (string, bool) {
		s, ok := vals[i].(string)
		return s, ok
	}
	at := func(i int) (time.Time, error) {
		if _, ok := field(i); !ok {
			return time.Time{}, nil
		}
		n, err := parseMs(vals[i])
		return timeOf(n), err
	}
	state, ok := field(0)
	if !ok {
		return queue.Entry{}, queue.ErrNotFound
	}
	e := queue.Entry{Key: key, State: queue.State(state)}
	var dueAt int
	switch e.State {
	case queue.Scheduled:
		dueAt = 1
	case queue.InFlight:
		dueAt = 3
	case queue.Dead:
		dueAt = 4
	default:
		return queue.Entry{}, fmt.Errorf("unknown state %q", state)
	}
	var errs [4]error
	e.Due, errs[0] = at(dueAt)
	if e.State == queue.InFlight {
		e.Pending, errs[1] = at(2)
	}
	if _, ok := field(5); ok {
		n, err := parseMs(vals[5])
		e.Attempts, errs[2] = int(n), err
	}
	e.FirstFail, errs[3] = at(6)
	e.LastError, _ = field(7)
	if err := errors.Join(errs[:]...); err != nil {
		return queue.Entry{}, err
	}
	return e, nil
}

// Times are milliseconds since 1970, clamped to the years 1 to 9999 so that
// the zero time.Time (due at once) round-trips and no time overflows.
var (
	minMs = time.Time{}.UnixMilli()
	maxMs = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

func ms(t time.Time) int64 {
	switch {
	case t.Before(time.Time{}):
		return minMs
	case t.Year() > 9999:
		return maxMs
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// parseMs reads a number from a script or hash: an integer reply, or a
// string Redis or Lua formatted, which may be a float ("1.5e+12") for a
// sorted-set score.
func parseMs(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("not a time: %q", v)
		}
		return int64(f), nil
	default:
		return 0, fmt.Errorf("not a time: %v (%T)", v, v)
	}
}
