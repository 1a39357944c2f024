package boltq_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/store"
)

// BenchmarkScheduleClaimAck measures the whole life of a job — Schedule,
// Claim(1), Ack — with 1, 4 and 16 workers on one queue. One op is one
// job. Every call waits for its own durable commit, so a lone worker pays
// three batch delays and fsyncs per job; more workers share commits.
func BenchmarkScheduleClaimAck(b *testing.B) {
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			q := benchQueue(b, 0)
			runJobs(b, q, workers)
		})
	}
}

// BenchmarkScheduleClaimAckBacklog is BenchmarkScheduleClaimAck with 16
// workers on a queue that already holds keys due later, to show that
// claiming from the front of the due index does not depend on its depth.
func BenchmarkScheduleClaimAckBacklog(b *testing.B) {
	for _, backlog := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			q := benchQueue(b, backlog)
			runJobs(b, q, 16)
		})
	}
}

// benchQueue opens a queue with backlog keys due in a day.
func benchQueue(b *testing.B, backlog int) *boltq.Queue {
	b.Helper()
	st := openStore(b, filepath.Join(b.TempDir(), "tenure.db"))
	q := newQueue(b, st, queue.Options{}, nil)
	later := time.Now().Add(24 * time.Hour)
	for start := 0; start < backlog; start += 10_000 {
		err := st.Update(b.Context(), func(tx store.Tx) error {
			for i := start; i < min(start+10_000, backlog); i++ {
				if err := q.ScheduleTx(tx, fmt.Sprintf("backlog/user-%07d", i), later); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return q
}

// runJobs has workers take job numbers up to b.N and run each through
// Schedule, Claim and Ack. A worker may claim another's key; every
// worker schedules before it claims, so a claim always finds one.
func runJobs(b *testing.B, q *boltq.Queue, workers int) {
	ctx := b.Context()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := job(ctx, q, fmt.Sprintf("ldap/user-%09d", i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func job(ctx context.Context, q *boltq.Queue, key string) error {
	if err := q.Schedule(ctx, key, time.Now()); err != nil {
		return err
	}
	for range 1000 {
		jobs, err := q.Claim(ctx, 1, time.Minute)
		if err != nil {
			return err
		}
		if len(jobs) == 1 {
			return q.Ack(ctx, jobs[0])
		}
	}
	return fmt.Errorf("no job to claim after scheduling %s", key)
}
