package scim

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/internal/procs"
)

// BenchmarkPostDuringMaxPatch measures the latency of unrelated POSTs (4 at
// a time) on the embedded store, idle and while one client sends the
// heaviest user PATCH the limits allow back to back: 1,000 operations,
// each selecting by a value filter among 1,000 e-mail addresses (issue 15:
// p99 within 2× of idle). Reported: p50 and p99 of the POSTs, and the
// PATCHes sent meanwhile. Two controls: the lightest PATCH (one
// operation) sent back to back, and a goroutine that only burns CPU in
// slices as long as a heavy PATCH's. A PATCH that holds no lock costs the
// POSTs what they cost, on the same machine: the client and the server
// share its cores.
//
// The POSTs come two ways: closed loop (4 clients, each sending its next
// POST when the last is answered), and open loop ("/rate=N": one POST
// every 1/N s whether or not earlier ones are answered, each timed from
// when it was due, so a stall counts for every POST it delays).
//
//	go test -run '^$' -bench PostDuringMaxPatch -benchtime 2000x ./scim/
func BenchmarkPostDuringMaxPatch(b *testing.B) {
	// The runtime as tenure serve tunes it (its GC percent), unless the
	// environment says otherwise: the client's share is the same either
	// way.
	procs.Tune(slog.New(slog.DiscardHandler))
	type run struct {
		mode string
		rate int // POSTs a second, open loop; 0: closed loop, 4 clients
	}
	var runs []run
	for _, rate := range []int{0, 100} {
		for _, mode := range []string{"idle", "during-maxpatch", "during-1-op-patch", "during-cpu-burner"} {
			runs = append(runs, run{mode, rate})
		}
	}
	for _, r := range runs {
		mode, name := r.mode, r.mode
		if r.rate > 0 {
			name += fmt.Sprintf("/rate=%d", r.rate)
		}
		b.Run(name, func(b *testing.B) {
			url := benchServer(b, "embedded", 0, 0) // durable commits as in production; no lifecycle hook
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			do := func(method, path, body string, want int) {
				req, _ := http.NewRequest(method, url+Prefix+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testTokens["okta"])
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					b.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, raw)
				}
			}
			// The user the PATCHes change: 1,000 addresses.
			emails := make([]string, MaxValues)
			ops := make([]string, MaxOperations)
			for i := range MaxValues {
				emails[i] = fmt.Sprintf(`{"type":"t%d","value":"e%d@example.com"}`, i, i)
				ops[i] = fmt.Sprintf(`{"op":"replace","path":"emails[value co \"e%d@\"].display","value":"d%d-RUN"}`, i, i)
			}
			var created struct{ ID string }
			if err := benchPost(url+Prefix+"/Users", json.RawMessage(`{"schemas":["`+SchemaUser+`"],"userName":"heavy@example.com","emails":[`+
				strings.Join(emails, ",")+`]}`), &created); err != nil {
				b.Fatal(err)
			}
			id := created.ID
			patchBody := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`

			stop := make(chan struct{})
			var patches atomic.Int64
			var bg sync.WaitGroup
			switch mode {
			case "during-cpu-burner":
				bg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						burn(100 * time.Millisecond)
						patches.Add(1)
					}
				})
			case "during-maxpatch", "during-1-op-patch":
				body := patchBody
				if mode == "during-1-op-patch" {
					body = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"RUN"}]}`
				}
				bg.Go(func() {
					for n := 1; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						do(http.MethodPatch, "/Users/"+id, strings.ReplaceAll(body, "RUN", fmt.Sprint(n)), http.StatusOK)
						patches.Add(1)
					}
				})
			}
			time.Sleep(50 * time.Millisecond) // the first PATCH is under way

			post := func(i int64) {
				do(http.MethodPost, "/Users", fmt.Sprintf(`{"schemas":["%s"],"userName":"post%d@example.com","title":"Engineer"}`, SchemaUser, i), http.StatusCreated)
			}
			var all []time.Duration
			var wg sync.WaitGroup
			b.ResetTimer()
			if r.rate == 0 {
				const workers = 4
				var next atomic.Int64
				lats := make([][]time.Duration, workers)
				for w := range workers {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							t0 := time.Now()
							post(i)
							lats[w] = append(lats[w], time.Since(t0))
						}
					})
				}
				wg.Wait()
				all = slices.Concat(lats...)
			} else {
				all = make([]time.Duration, b.N)
				every := time.Second / time.Duration(r.rate)
				start := time.Now()
				for i := range b.N {
					due := start.Add(time.Duration(i) * every)
					time.Sleep(time.Until(due))
					wg.Go(func() {
						post(int64(i + 1))
						all[i] = time.Since(due)
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			close(stop)
			bg.Wait()
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(.50), "p50-ms")
			b.ReportMetric(pct(.99), "p99-ms")
			b.ReportMetric(float64(patches.Load()), "patches") // or burns
			b.ReportMetric(0, "ns/op")
		})
	}
}

// burn keeps a CPU busy for d.
func burn(d time.Duration) {
	x := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := range 10000 {
			x += i * i % 7
		}
	}
	sink.Store(int64(x))
}

var sink atomic.Int64
