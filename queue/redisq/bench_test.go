package redisq_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
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
// and acks each, until b.N jobs are acked; jobs/s counts acked jobs. With
// schedule=each every key is a Schedule call of its own, as the engine
// schedules; with schedule=many the 100 keys go in one ScheduleMany call,
// as a bulk reconcile would. Redis runs with appendfsync everysec.
//
//	go test -run '^$' -bench ScheduleClaimAck -benchtime 200000x ./queue/redisq
func BenchmarkScheduleClaimAck(b *testing.B) {
	srv := testenv.Redis(b)
	for _, many := range []bool{false, true} {
		for _, workers := range []int{1, 4, 16} {
			name := fmt.Sprintf("schedule=each/workers=%d", workers)
			if many {
				name = fmt.Sprintf("schedule=many/workers=%d", workers)
			}
			b.Run(name, func(b *testing.B) { benchCycle(b, srv, workers, many) })
		}
	}
}

func benchCycle(b *testing.B, srv *testenv.RedisServer, workers int, many bool) {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, PoolSize: 2 * workers})
	b.Cleanup(func() { c.Close() })
	q := open(b, c, queue.Options{}, redisq.Options{Prefix: fmt.Sprintf("bench-%v-%d-%d", many, workers, b.N)})
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
				for _, j := range jobs {
					if err := q.Ack(ctx, j); err != nil {
						b.Error(err)
						return
					}
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

// TestClaimLateness1M schedules a million keys due over a window and
// claims them as they fall due with 16 workers (Claim(100), then an Ack
// per job), measuring claim lateness: the server's time at the claim minus
// the key's due time. Run it with
//
//	TENURE_BENCH_1M=1 go test -run TestClaimLateness1M -v -timeout 30m ./queue/redisq
//
// TENURE_BENCH_WINDOW (default 90s) sets the window the due times spread
// over; the rate the workers must keep up is 1M / window.
// TENURE_BENCH_REDIS_ARGS adds redis-server arguments, space-separated
// (for instance "--appendonly no").
func TestClaimLateness1M(t *testing.T) {
	if os.Getenv("TENURE_BENCH_1M") == "" {
		t.Skip("set TENURE_BENCH_1M=1 to run")
	}
	const n, workers = 1_000_000, 16
	window := 90 * time.Second
	if s := os.Getenv("TENURE_BENCH_WINDOW"); s != "" {
		var err error
		if window, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	srv := testenv.Redis(t, testenv.RedisArgs(strings.Fields(os.Getenv("TENURE_BENCH_REDIS_ARGS"))...))
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, PoolSize: 2 * workers})
	t.Cleanup(func() { c.Close() })
	q := open(t, c, queue.Options{}, redisq.Options{})
	ctx := t.Context()

	// Schedule everything first, pipelined; the window opens afterwards.
	lead := 30 * time.Second
	begin := time.Now().Add(lead)
	items := make([]redisq.Due, n)
	for i := range items {
		items[i] = redisq.Due{Key: fmt.Sprintf("ldap/user-%07d", i), Due: begin.Add(window * time.Duration(i) / n)}
	}
	start := time.Now()
	var swg sync.WaitGroup
	for part := range slices.Chunk(items, n/8) {
		swg.Go(func() {
			if err := q.ScheduleMany(ctx, part); err != nil {
				t.Error(err)
			}
		})
	}
	swg.Wait()
	took := time.Since(start)
	t.Logf("scheduled %d keys in %v (%.0f/s, pipelined, 8 goroutines)", n, took, float64(n)/took.Seconds())
	if time.Now().After(begin) {
		t.Fatalf("scheduling took longer than the %v lead", lead)
	}
	info, _ := c.Info(ctx, "memory").Result()
	for _, f := range []string{"used_memory_human", "used_memory_dataset"} {
		t.Logf("redis %s", infoValue(info, f))
	}

	lateness := make([][]time.Duration, workers)
	var acked atomic.Int64
	var claimTime [workers]time.Duration
	var claims [workers]int
	wctx, cancel := context.WithTimeout(ctx, lead+window+10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for acked.Load() < n && wctx.Err() == nil {
				t0 := time.Now()
				jobs, err := q.Claim(wctx, 100, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				claimTime[w] += time.Since(t0)
				claims[w]++
				for _, j := range jobs {
					claimed := j.LeaseEnd.Add(-time.Minute) // the server's time at the claim
					lateness[w] = append(lateness[w], claimed.Sub(j.Due))
					if err := q.Ack(wctx, j); err != nil {
						t.Error(err)
						return
					}
				}
				acked.Add(int64(len(jobs)))
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	var ct time.Duration
	var nc int
	for w := range workers {
		all = append(all, lateness[w]...)
		ct += claimTime[w]
		nc += claims[w]
	}
	if len(all) != n {
		t.Fatalf("claimed %d of %d keys", len(all), n)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	t.Logf("claim lateness over %d keys due within %v (%.0f keys/s): p50 %v, p90 %v, p99 %v, p99.9 %v, max %v",
		n, window, float64(n)/window.Seconds(), pct(0.5), pct(0.9), pct(0.99), pct(0.999), all[len(all)-1])
	t.Logf("mean Claim(100) call: %v over %d calls", ct/time.Duration(max(nc, 1)), nc)
	info, _ = c.Info(ctx, "persistence", "stats").Result()
	for _, f := range []string{"aof_rewrites", "latest_fork_usec", "aof_delayed_fsync", "total_forks"} {
		t.Logf("redis %s", infoValue(info, f))
	}
	if p99 := pct(0.99); p99 > time.Second {
		t.Errorf("p99 claim lateness %v, target ≤ 1s", p99)
	}
}

func infoValue(info, field string) string {
	for _, line := range splitLines(info) {
		if len(line) > len(field) && line[:len(field)+1] == field+":" {
			return line
		}
	}
	return field + ": ?"
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, trimCR(s[:i]))
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func trimCR(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\r' {
		return s[:len(s)-1]
	}
	return s
}
