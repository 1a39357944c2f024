package recommend_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tenurehq/tenure/recommend"
	"github.com/tenurehq/tenure/recommend/recommendtest"
)

// BenchmarkAnalyze100k is issue 20's speed goal: 100,000 people and 200
// entitlements (each holds about 11), four attributes and their pairs,
// analysed in under 10 s and 1 GiB. It reports the peak heap (sampled
// every 5 ms, the input included) besides the allocation per run, and
// the suggestions and outliers, so a change that finds less is seen.
//
//	go test ./recommend -run '^$' -bench Analyze100k -benchtime 3x -benchmem
func BenchmarkAnalyze100k(b *testing.B) {
	org := recommendtest.Generate(recommendtest.Options{Seed: 42, People: 100_000, Entitlements: 200, TitleApps: 5})
	held := 0
	for _, p := range org.Input.People {
		held += len(p.Held)
	}
	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var rep *recommend.Report
	b.ResetTimer()
	for b.Loop() {
		var err error
		rep, err = recommend.Analyze(context.Background(), org.Input, recommend.Options{Attributes: org.Attributes}, at)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(len(rep.Suggestions)), "suggestions")
	b.ReportMetric(float64(len(rep.Outliers)), "outliers")
	b.ReportMetric(float64(rep.Entitlements), "entitlements")
	b.ReportMetric(float64(held)/float64(len(org.Input.People)), "held/person")
	q := recommendtest.Score(org, rep)
	b.ReportMetric(q.RulePrecision, "rule-precision")
	b.ReportMetric(q.RuleRecall, "rule-recall")
	b.ReportMetric(q.OutlierPrecision, "outlier-precision")
	b.ReportMetric(q.OutlierRecall, "outlier-recall")
}
