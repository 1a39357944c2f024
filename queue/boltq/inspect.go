package boltq

import (
	"context"
	"fmt"

	"github.com/tenurehq/tenure/queue"
)

// Get implements queue.Queue.
func (q *Queue) Get(ctx context.Context, key string) (queue.Entry, error) {
	var e queue.Entry
	err := q.view(ctx, func(t *txn) error {
		rec, err := t.load(key)
		switch {
		case err != nil:
			return err
		case rec == nil:
			return queue.ErrNotFound
		}
		e = rec.entry(key)
		return nil
	})
	if err != nil {
		return queue.Entry{}, wrap("get", key, err)
	}
	return e, nil
}

// List implements queue.Queue. It walks the state's index from the start,
// so a page at offset k costs k index entries plus one record per entry
// returned. offset < 0 counts as 0; limit <= 0 returns nothing.
func (q *Queue) List(ctx context.Context, s queue.State, offset, limit int) ([]queue.Entry, error) {
	st, err := stateOf(s)
	if err != nil {
		return nil, fmt.Errorf("boltq: list: %w", err)
	}
	var out []queue.Entry
	err = q.view(ctx, func(t *txn) error {
		out = nil
		if limit <= 0 {
			return nil
		}
		c := t.index(st).Cursor()
		k, _ := c.First()
		for ; k != nil && offset > 0; k, _ = c.Next() {
			offset--
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			_, key := splitIndexKey(k)
			rec, err := t.loadIndexed(key, st)
			if err != nil {
				return err
			}
			out = append(out, rec.entry(key))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltq: list %s: %w", s, err)
	}
	return out, nil
}

// Counts implements queue.Queue: three counters and the first due key.
func (q *Queue) Counts(ctx context.Context) (queue.Counts, error) {
	var out queue.Counts
	err := q.view(ctx, func(t *txn) error {
		c := t.counts()
		out = queue.Counts{
			Scheduled: int(c[stateScheduled]),
			InFlight:  int(c[stateInFlight]),
			Dead:      int(c[stateDead]),
		}
		if k, _ := t.due.Cursor().First(); k != nil {
			at, _ := splitIndexKey(k)
			out.OldestDue = timeOf(at)
		}
		return nil
	})
	if err != nil {
		return queue.Counts{}, fmt.Errorf("boltq: counts: %w", err)
	}
	return out, nil
}
