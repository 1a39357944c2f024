package engine

import (
	"context"
	"errors"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

func (e *Engine) sweepLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := e.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("engine: sweep failed", "err", err)
		} else if n > 0 {
			e.log.Info("engine: sweep re-enqueued keys", "keys", n)
		}
	}
}

// Sweep re-enqueues every key whose person changed since it was last
// converged, or whose next boundary has no job, and refreshes the guard
// gauges. Normally it finds nothing: the intake and the workers schedule
// in the same transactions as their writes. It is the safety net for a
// policy reload, a replayed backup, or a job cancelled by hand.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	pol := e.Policy()
	now := e.now()
	type due struct {
		key string
		at  time.Time
	}
	var todo []due
	parked := map[string]int{}
	err := e.st.View(ctx, func(r store.Reader) error {
		todo = todo[:0]
		clear(parked)
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			rec, err := decode[mapper.Record](val)
			if err != nil {
				return false, err
			}
			for _, t := range pol.TargetNames {
				ls, err := loadLink(r, t, person)
				if err != nil {
					return false, err
				}
				if ls != nil && ls.Conflict != nil {
					parked[t]++
				}
				switch {
				case ls == nil || ls.Generation < rec.Generation:
					todo = append(todo, due{Key(t, person), now})
				case !ls.Next.IsZero():
					todo = append(todo, due{Key(t, person), ls.Next})
				}
			}
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range todo {
		_, err := e.q.Get(ctx, d.key)
		if err == nil {
			continue // scheduled, running or dead: already accounted for
		}
		if !errors.Is(err, queue.ErrNotFound) {
			return n, err
		}
		if err := e.q.Schedule(ctx, d.key, d.at); err != nil {
			return n, err
		}
		n++
	}
	for _, t := range pol.TargetNames {
		gs, err := e.Guard(ctx, t)
		if err != nil {
			return n, err
		}
		v := 0.0
		if gs.Tripped {
			v = 1
		}
		e.metrics.guard.WithLabelValues(t).Set(v)
		e.metrics.parked.WithLabelValues(t).Set(float64(parked[t]))
	}
	m, err := e.sweepRequests(ctx)
	if n += m; err != nil {
		return n, err
	}
	if n > 0 {
		e.Wake()
	}
	return n, nil
}
