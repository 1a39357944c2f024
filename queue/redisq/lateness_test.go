package redisq_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
)

// TestClaimLateness1M schedules a million keys due over a window and
// claims them as they fall due with 16 workers (Claim(100), then acks the
// batch as ackAll does), measuring claim lateness: the server's time at
// the claim minus the key's due time. Run it with
//
//	TENURE_BENCH_1M=1 go test -run TestClaimLateness1M -v -timeout 30m ./queue/redisq
//
// TENURE_BENCH_ACK picks how a worker acks its batch: each (default: an
// Ack per job in turn), concurrent (an Ack per job, all at once) or many
// (one AckMany).
// TENURE_BENCH_WINDOW (default 90s) sets the window the due times spread
// over; the rate the workers must keep up is 1M / window.
// TENURE_BENCH_REDIS_ARGS adds redis-server arguments, space-separated
// (for instance "--appendonly no"); the server otherwise runs as
// testenv.Redis starts it (AOF, appendfsync everysec, Redis's defaults).
// TENURE_BENCH_RESTART=1 restarts the server at the end and logs how long
// loading the AOF the run left took.
//
// Besides the lateness it logs what the server did meanwhile: each AOF
// rewrite (when, how long, the fork's cost), the CPU time of the workers,
// the server and its rewrite children, the server's command statistics,
// the latency monitor's events, and the seconds of the window in which
// claims fell behind, so that a miss can be traced to its cause.
func TestClaimLateness1M(t *testing.T) {
	if os.Getenv("TENURE_BENCH_1M") == "" {
		t.Skip("set TENURE_BENCH_1M=1 to run")
	}
	const n, workers, batch = 1_000_000, 16, 100
	window := 90 * time.Second
	if s := os.Getenv("TENURE_BENCH_WINDOW"); s != "" {
		var err error
		if window, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	ack := ackMode(cmp.Or(os.Getenv("TENURE_BENCH_ACK"), string(ackEach)))
	if !slices.Contains([]ackMode{ackEach, ackConcurrent, ackBatch}, ack) {
		t.Fatalf("TENURE_BENCH_ACK=%s: want each, concurrent or many", ack)
	}
	args := strings.Fields(os.Getenv("TENURE_BENCH_REDIS_ARGS"))
	srv := testenv.Redis(t, testenv.RedisArgs(args...))
	c := redis.NewUniversalClient(&redis.UniversalOptions{MaintNotificationsConfig: testenv.RedisNoMaint(), Addrs: []string{srv.Addr()}, PoolSize: 2 * workers})
	t.Cleanup(func() { c.Close() })
	q := openOn(t, c, "", queue.Options{}, redisq.Options{})
	ctx := t.Context()
	t.Logf("redis-server args: %q; acks: %s", args, ack)
	if err := c.ConfigSet(ctx, "latency-monitor-threshold", "50").Err(); err != nil {
		t.Fatal(err)
	}

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
	logInfo(t, c, "memory", "used_memory_human", "used_memory_dataset")
	logInfo(t, c, "persistence", "aof_rewrites", "aof_current_size", "aof_base_size")

	// Watch the server's persistence while the workers run.
	wctx, cancel := context.WithTimeout(ctx, lead+window+10*time.Minute)
	defer cancel()
	if err := c.ConfigResetStat(ctx).Err(); err != nil { // commandstats of the window only
		t.Fatal(err)
	}
	watch := watchPersistence(wctx, c, begin)
	cpu0, cpuFrom := cpuTimes(t, c), time.Now()

	lateness := make([][]time.Duration, workers)
	claimedAt := make([][]time.Time, workers)
	var acked atomic.Int64
	var claimTime [workers]time.Duration
	var claims [workers]int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for acked.Load() < n && wctx.Err() == nil {
				t0 := time.Now()
				jobs, err := q.Claim(wctx, batch, time.Minute)
				if err != nil {
					t.Error(err)
					cancel() // the count cannot complete: stop everyone
					return
				}
				if len(jobs) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				claimTime[w] += time.Since(t0)
				claims[w]++
				for _, j := range jobs {
					at := j.LeaseEnd.Add(-time.Minute) // the server's time at the claim
					lateness[w] = append(lateness[w], at.Sub(j.Due))
					claimedAt[w] = append(claimedAt[w], at)
				}
				if err := ackAll(wctx, q, jobs, ack); err != nil {
					t.Error(err)
					cancel()
					return
				}
				acked.Add(int64(len(jobs)))
			}
		})
	}
	wg.Wait()
	cancel()
	rewrites := <-watch
	cpu := cpuTimes(t, c)
	for i := range cpu {
		cpu[i] -= cpu0[i]
	}
	t.Logf("CPU from the end of scheduling to the last ack (%v): workers (this process) %v, redis %v, its rewrite children %v",
		time.Since(cpuFrom).Round(time.Second), cpu[0].Round(time.Millisecond), cpu[1].Round(time.Millisecond), cpu[2].Round(time.Millisecond))

	var all []time.Duration
	var ct time.Duration
	var nc int
	perSecond := map[int]time.Duration{} // second of the window → worst lateness of a claim in it
	for w := range workers {
		all = append(all, lateness[w]...)
		ct += claimTime[w]
		nc += claims[w]
		for i, at := range claimedAt[w] {
			s := int(at.Sub(begin) / time.Second)
			perSecond[s] = max(perSecond[s], lateness[w][i])
		}
	}
	if len(all) != n {
		t.Fatalf("claimed %d of %d keys", len(all), n)
	}
	if t.Failed() {
		return
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	t.Logf("claim lateness over %d keys due within %v (%.0f keys/s): p50 %v, p90 %v, p99 %v, p99.9 %v, max %v",
		n, window, float64(n)/window.Seconds(), pct(0.5), pct(0.9), pct(0.99), pct(0.999), all[len(all)-1])
	t.Logf("mean Claim(%d) call: %v over %d calls", batch, ct/time.Duration(max(nc, 1)), nc)

	for _, r := range rewrites {
		t.Logf("AOF rewrite from %v to %v of the window (fork %v)", r.from.Round(100*time.Millisecond),
			r.to.Round(100*time.Millisecond), r.fork)
	}
	var late []string
	for _, s := range slices.Sorted(maps.Keys(perSecond)) {
		if d := perSecond[s]; d > 100*time.Millisecond {
			rw := ""
			for _, r := range rewrites {
				if from, to := time.Duration(s)*time.Second, time.Duration(s+1)*time.Second; to > r.from && from < r.to+2*time.Second {
					rw = "*"
				}
			}
			late = append(late, fmt.Sprintf("%ds:%v%s", s, d.Round(time.Millisecond), rw))
		}
	}
	t.Logf("seconds with a claim over 100ms late (* = during an AOF rewrite or 2s after): %s", strings.Join(late, " "))
	logInfo(t, c, "persistence", "aof_rewrites", "aof_delayed_fsync", "aof_last_cow_size", "aof_current_size", "aof_base_size")
	logInfo(t, c, "stats", "total_forks", "latest_fork_usec")
	logInfo(t, c, "cpu", "used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children")
	if info, err := c.Info(ctx, "commandstats").Result(); err == nil {
		for line := range strings.Lines(info) {
			if strings.HasPrefix(line, "cmdstat_") {
				t.Logf("redis %s", strings.TrimSpace(line))
			}
		}
	}
	if ev, err := c.Do(ctx, "LATENCY", "LATEST").Slice(); err == nil {
		for _, e := range ev {
			t.Logf("latency monitor: %v", e)
		}
	}
	if log, err := os.ReadFile(srv.Dir() + "/redis.log"); err == nil {
		for line := range strings.Lines(string(log)) {
			if strings.Contains(line, "fsync is taking too long") || strings.Contains(line, "Background append only file rewriting") {
				t.Logf("redis.log: %s", strings.TrimSpace(line))
			}
		}
	}
	if p99 := pct(0.99); p99 > time.Second {
		t.Errorf("p99 claim lateness %v, target ≤ 1s", p99)
	}
	if os.Getenv("TENURE_BENCH_RESTART") != "" {
		// What the AOF left by the run costs a restart.
		start := time.Now()
		srv.Restart(t)
		t.Logf("restart: the server answered PING %v after it was started again", time.Since(start).Round(time.Millisecond))
		if log, err := os.ReadFile(srv.Dir() + "/redis.log"); err == nil {
			for line := range strings.Lines(string(log)) {
				if strings.Contains(line, "loaded from append only file") || strings.Contains(line, "DB loaded") {
					t.Logf("redis.log: %s", strings.TrimSpace(line))
				}
			}
		}
	}
}

// cpuTimes returns the CPU time (user + system) used so far by this
// process, by the Redis server and by its children (AOF rewrites).
func cpuTimes(t *testing.T, c redis.UniversalClient) [3]time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	info, err := c.Info(t.Context(), "cpu").Result()
	if err != nil {
		t.Fatal(err)
	}
	sec := func(fields ...string) time.Duration {
		var sum float64
		for _, f := range fields {
			v, _ := strconv.ParseFloat(infoField(info, f), 64)
			sum += v
		}
		return time.Duration(sum * float64(time.Second))
	}
	return [3]time.Duration{self, sec("used_cpu_user", "used_cpu_sys"), sec("used_cpu_user_children", "used_cpu_sys_children")}
}

// rewrite is an AOF rewrite seen by watchPersistence, in time since the
// window opened.
type rewrite struct {
	from, to time.Duration
	fork     time.Duration
}

// watchPersistence polls INFO persistence every 100ms until ctx ends and
// then sends the AOF rewrites it saw.
func watchPersistence(ctx context.Context, c redis.UniversalClient, begin time.Time) <-chan []rewrite {
	out := make(chan []rewrite, 1)
	go func() {
		var rs []rewrite
		var cur *rewrite
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if cur != nil {
					rs = append(rs, *cur)
				}
				out <- rs
				return
			case <-tick.C:
			}
			info, err := c.Info(context.WithoutCancel(ctx), "persistence", "stats").Result()
			if err != nil {
				continue
			}
			now := time.Since(begin)
			switch on := infoField(info, "aof_rewrite_in_progress") == "1"; {
			case on && cur == nil:
				us, _ := strconv.Atoi(infoField(info, "latest_fork_usec"))
				cur = &rewrite{from: now, fork: time.Duration(us) * time.Microsecond}
			case !on && cur != nil:
				cur.to = now
				rs = append(rs, *cur)
				cur = nil
			}
		}
	}()
	return out
}

func logInfo(t *testing.T, c redis.UniversalClient, section string, fields ...string) {
	t.Helper()
	info, err := c.Info(t.Context(), section).Result()
	if err != nil {
		t.Logf("INFO %s: %v", section, err)
		return
	}
	var parts []string
	for _, f := range fields {
		parts = append(parts, f+"="+infoField(info, f))
	}
	t.Logf("redis %s", strings.Join(parts, " "))
}

// infoField is a field of an INFO reply, or "?".
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), field+":"); ok {
			return v
		}
	}
	return "?"
}
