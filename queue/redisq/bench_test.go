package redisq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
)

// BenchmarkScheduleClaimAck measures the whole life of a job: each worker
// schedules 100 new keys due now, claims up to 100 due keys (Claim(100))
// and acks them, until b.N jobs are acked; jobs/s counts acked jobs. With
// schedule=each every key is a Schedule call of its own, as the engine
// schedules; with schedule=many the 100 keys go in one ScheduleMany call,
// as a bulk reconcile would. The claimed batch is acked as ackAll's mode
// says: ack=each, an Ack per job in turn; ack=concurrent, an Ack per job
// from a goroutine each, as the engine's workers finish together (their
// Acks share script calls); ack=many, one AckMany call. Redis runs as
// testenv.Redis starts it: AOF with appendfsync everysec.
//
//	go test -run '^$' -bench ScheduleClaimAck -benchtime 200000x ./queue/redisq
func BenchmarkScheduleClaimAck(b *testing.B) {
	srv := testenv.Redis(b)
	for _, mode := range []struct {
		many bool
		ack  ackMode
	}{{false, ackEach}, {true, ackEach}, {true, ackConcurrent}, {true, ackBatch}} {
		for _, workers := range []int{1, 4, 16} {
			schedule := "each"
			if mode.many {
				schedule = "many"
			}
			name := fmt.Sprintf("schedule=%s/ack=%s/workers=%d", schedule, mode.ack, workers)
			b.Run(name, func(b *testing.B) { benchCycle(b, srv, workers, mode.many, mode.ack) })
		}
	}
}

func benchCycle(b *testing.B, srv *testenv.RedisServer, workers int, many bool, ack ackMode) {
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{srv.Addr()}, PoolSize: 2 * workers})
	b.Cleanup(func() { c.Close() })
	q := openOn(b, c, fmt.Sprintf("bench-%v-%s-%d-%d", many, ack, workers, b.N), queue.Options{}, redisq.Options{})
	ctx := b.Context()
	var tickets, acked atomic.Int64
	total := int64(b.N)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			batch := make([]redisq.Due, 0, 100)
			for acked.Load() < total {
				// Schedule a batch of new keys, if any are left.
				batch = batch[:0]
				for range 100 {
					n := tickets.Add(1)
					if n > total {
						break
					}
					batch = append(batch, redisq.Due{Key: fmt.Sprintf("w%d/k%09d", w, n), Due: time.Now()})
				}
				if many {
					if err := q.ScheduleMany(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				} else {
					for _, d := range batch {
						if err := q.Schedule(ctx, d.Key, d.Due); err != nil {
							b.Error(err)
							return
						}
					}
				}
				jobs, err := q.Claim(ctx, 100, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				if err := ackAll(ctx, q, jobs, ack); err != nil {
					b.Error(err)
					return
				}
				acked.Add(int64(len(jobs)))
				if len(jobs) == 0 && len(batch) == 0 {
					time.Sleep(100 * time.Microsecond) // the last keys are with other workers
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(acked.Load())/time.Since(start).Seconds(), "jobs/s")
}

// ackMode is how a benchmark's worker acks a claimed batch.
type ackMode string

const (
	ackEach       ackMode = "each"       // an Ack per job, in turn
	ackConcurrent ackMode = "concurrent" // an Ack per job, all at once
	ackBatch      ackMode = "many"       // one AckMany
)

// ackAll acks jobs as mode says.
func ackAll(ctx context.Context, q *redisq.Queue, jobs []queue.Job, mode ackMode) error {
	switch mode {
	case ackBatch:
		return q.AckMany(ctx, jobs)
	case ackConcurrent:
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() { errs[i] = q.Ack(ctx, j) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	for _, j := range jobs {
		if err := q.Ack(ctx, j); err != nil {
			return err
		}
	}
	return nil
}
