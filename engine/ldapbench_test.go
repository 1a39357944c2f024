package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/internal/procs"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
)

// benchPolicy gives every joiner an inetOrgPerson in ou=people and the
// birthright groups, correlating by employeeNumber (so a converge first
// looks for an entry to link, as in production).
func benchPolicy(groups []string) string {
	return `
lifecycle: {prehire_lead: 0s}
birthright:
  - {name: staff, when: 'true', grants: {dir: [` + strings.Join(groups, ", ") + `]}}
targets:
  - name: dir
    kind: test-directory
    attributes:
      uid: 'user.userName'
      cn: 'user.name.givenName + " " + user.name.familyName'
      sn: 'user.name.familyName'
      employeeNumber: 'enterprise.employeeNumber'
`
}

// timedTarget records when each identity's converge returned: the moment
// slapd acknowledged the last write, after which the entry and its groups
// are visible to every search.
type timedTarget struct {
	targets.Target
	mu    sync.Mutex
	done  map[string]time.Time
	ch    chan struct{}
	busy  time.Duration // in Converge, summed
	calls int
}

func (t *timedTarget) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	began := time.Now()
	res, err := t.Target.Converge(ctx, req)
	t.mu.Lock()
	t.busy += time.Since(began)
	t.calls++
	t.mu.Unlock()
	if err == nil && req.Desired.Exists {
		now := time.Now()
		t.mu.Lock()
		if _, seen := t.done[req.Identity]; !seen {
			t.done[req.Identity] = now
			t.ch <- struct{}{}
		}
		t.mu.Unlock()
	}
	return res, err
}

// BenchmarkLDAPJoiners compares joiners into a real slapd end to end —
// SCIM POST accepted, lifecycle intake, queue, engine, ldapsync:
// correlation lookup, add, read-back, member writes, the lookups, reads
// and member writes coalesced across converges — with the writes a joiner
// needs issued directly with go-ldap (add, one modify per group) in the
// same run, at the same concurrency (16 clients) over an LDAP pool of the
// same size. Two directories: "fsync", slapd syncing every write as a
// production directory runs (the directory is the bottleneck), with two
// birthright groups, 16 and 64 engine workers, pool 8; and "nosync"
// (olcDbNoSync, as many deployments run it and as a fast or replicated
// directory behaves for its client), with one group, as issue 21
// measures, 64 workers, pools of 8 and 16. The process runs with serve's
// runtime settings (procs.Tune). Then it runs joiners at half the
// end-to-end rate and reports SCIM-accept → entry-visible latency. b.N
// joiners per phase. It also reports CPU per joiner, this process's (Tenure
// and the benchmark's clients) and slapd's.
//
//	go test -run '^$' -bench 'LDAPJoiners/fsync' -benchtime 2000x ./engine/
//	go test -run '^$' -bench 'LDAPJoiners/nosync' -benchtime 3000x ./engine/
func BenchmarkLDAPJoiners(b *testing.B) {
	for _, dir := range []struct {
		name    string
		fsync   bool
		groups  []string
		workers []int
		pools   []int
	}{
		{"fsync", true, []string{"staff", "vpn"}, []int{16, 64}, []int{8}},
		{"nosync", false, []string{"staff"}, []int{64}, []int{8, 16}},
	} {
		for _, name := range []string{"embedded", "redis"} {
			for _, workers := range dir.workers {
				for _, pool := range dir.pools {
					b.Run(fmt.Sprintf("%s/%s/workers=%d/pool=%d", dir.name, name, workers, pool), func(b *testing.B) {
						benchLDAPJoiners(b, name, workers, pool, dir.fsync, dir.groups)
					})
				}
			}
		}
	}
}

func benchLDAPJoiners(b *testing.B, backendName string, workers, poolSize int, fsync bool, groups []string) {
	const conc = 16
	// As tenure serve runs (GOGC=400).
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	procs.Tune(slog.New(slog.DiscardHandler))
	var opts []testenv.SlapdOption
	if fsync {
		opts = append(opts, testenv.SlapdFsync())
	}
	srv := testenv.Slapd(b, opts...)
	cfg := ldapsync.Config{URL: srv.URL(), StartTLS: true, CAFile: srv.CAFile(), BindDN: srv.BindDN(), BindPassword: srv.BindPassword(), PoolSize: poolSize}
	poolReg := prometheus.NewRegistry()
	p, err := ldapsync.New(cfg, nil, poolReg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := b.Context()
	for _, g := range groups {
		err := p.Do(ctx, "add", func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(ldapsync.JoinDN(ldapsync.RDN("cn", g), testenv.SlapdGroupsDN), nil)
			req.Attribute("objectClass", []string{"groupOfNames"})
			req.Attribute("member", []string{testenv.SlapdBindDN})
			return c.Add(req)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	n := b.N

	// Direct: the writes a joiner needs, no more. Measured before and
	// after the end-to-end phase, and averaged: this disk's fsync rate
	// drifts between runs by a factor of two.
	directRun := func(tag string) float64 {
		r := runConcurrent(n, conc, func(i int) error { return directJoiner(ctx, p, fmt.Sprintf("%s%07d", tag, i), groups) })
		if r.err != nil {
			b.Fatal(r.err)
		}
		return r.rate
	}
	directOps := ldapOps(b, poolReg)
	cpu0 := cpuNow(b, srv.PID())
	directBefore := directRun("directa")
	directCPU := cpuNow(b, srv.PID()).sub(cpu0).per(n)
	directOps = (ldapOps(b, poolReg) - directOps) / float64(n)

	// End to end through Tenure.
	var be backend
	for _, x := range backends(b) {
		if x.name == backendName {
			be = x
		}
	}
	dir, err := ldapsync.NewDirectory(p, ldapsync.OpenLDAP{}, ldapsync.DirectoryOptions{
		BaseDN: testenv.SlapdBaseDN, UsersDN: testenv.SlapdPeopleDN, GroupsDN: testenv.SlapdGroupsDN, CorrelationAttribute: "employeeNumber",
	})
	if err != nil {
		b.Fatal(err)
	}
	tt := &timedTarget{Target: dir, done: map[string]time.Time{}, ch: make(chan struct{}, 4*n)}
	e := newEnvWith(b, be, benchPolicy(groups), map[string]targets.Target{"dir": tt})
	e.clock = nil
	e.workers = workers
	e.restartWithClock(time.Now)
	runCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = e.eng.Run(runCtx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	b.ResetTimer()
	opsBefore := ldapOps(b, poolReg)
	timeBefore := ldapTime(b, poolReg)
	cpu0 = cpuNow(b, srv.PID())
	start := time.Now()
	posted := runConcurrent(n, conc, func(i int) error {
		_, err := postJoiner(e, fmt.Sprintf("e2e%07d", i))
		return err
	})
	if posted.err != nil {
		b.Fatal(posted.err)
	}
	waitConverged(b, tt, n)
	e2e := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	e2eCPU := cpuNow(b, srv.PID()).sub(cpu0).per(n)
	e2eOps := (ldapOps(b, poolReg) - opsBefore) / float64(n)
	for op, v := range ldapTime(b, poolReg) {
		w := timeBefore[op]
		if c := v[1] - w[1]; c > 0 {
			b.Logf("ldap %s: %.0f ops, mean %.2f ms", op, c, (v[0]-w[0])/c*1000)
		}
	}
	tt.mu.Lock()
	convergeMS := tt.busy.Seconds() * 1000 / float64(tt.calls)
	tt.mu.Unlock()

	// Latency at half load: joiners POSTed at a steady rate, each from
	// its 201 until its converge returned. Half the end-to-end rate, and,
	// when Tenure outpaced the direct path (coalescing: at half the
	// end-to-end rate the directory itself may be near its limit), also
	// half the direct rate; otherwise the second figures are the first.
	converged := n
	latency := func(tag string, rate float64) (p50, p99 float64) {
		interval := time.Duration(float64(time.Second) / rate)
		accepted := make([]time.Time, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		var postErr atomic.Value
		next := time.Now()
		for i := range n {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := postJoiner(e, fmt.Sprintf("%s%07d", tag, i))
				if err != nil {
					postErr.Store(err)
					return
				}
				accepted[i], ids[i] = time.Now(), id
			}()
		}
		wg.Wait()
		if err, _ := postErr.Load().(error); err != nil {
			b.Fatal(err)
		}
		converged += n
		waitConverged(b, tt, converged)
		lat := make([]time.Duration, n)
		tt.mu.Lock()
		for i, id := range ids {
			lat[i] = tt.done[id].Sub(accepted[i])
		}
		tt.mu.Unlock()
		slices.Sort(lat)
		b.Logf("%s at %.0f/s: p50 %v, p90 %v, p99 %v, max %v", tag, rate, lat[n/2], lat[n*9/10], lat[n*99/100], lat[n-1])
		q := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
		return q(0.5), q(0.99)
	}
	p50, p99 := latency("lat", e2e/2)
	p50d, p99d := p50, p99
	if directBefore < e2e {
		p50d, p99d = latency("latd", directBefore/2)
	}

	// Every entry is in slapd with every group.
	var in []ldapsync.Filter
	for _, g := range groups {
		in = append(in, ldapsync.Eq("memberOf", ldapsync.JoinDN(ldapsync.RDN("cn", g), testenv.SlapdGroupsDN)))
	}
	es, err := p.SearchAll(ctx, ldap.NewSearchRequest(testenv.SlapdPeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		ldapsync.And(in[0], in[1:]...).String(), []string{"1.1"}, nil), 500)
	if err != nil || len(es) != converged+n {
		b.Fatalf("%d entries with every group (%v), want %d", len(es), err, converged+n)
	}
	direct := (directBefore + directRun("directb")) / 2
	b.ReportMetric(direct, "direct-joiners/s")
	b.ReportMetric(e2e, "e2e-joiners/s")
	b.ReportMetric(100*e2e/direct, "ratio-%")
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(p50d, "p50-ms@direct/2")
	b.ReportMetric(p99d, "p99-ms@direct/2")
	// Where the time goes: how fast the SCIM server accepted the joiners
	// (while converges ran), how long a converge spent in the target, and
	// how many LDAP requests a joiner cost each way.
	b.ReportMetric(posted.rate, "accepted/s")
	b.ReportMetric(convergeMS, "converge-ms")
	b.ReportMetric(e2eOps, "e2e-ldap-ops/joiner")
	b.ReportMetric(directOps, "direct-ldap-ops/joiner")
	// CPU per joiner, this process (Tenure and the benchmark's clients)
	// and slapd: on a machine of few cores, the sum bounds the rate.
	b.ReportMetric(directCPU.self, "direct-self-cpu-ms/joiner")
	b.ReportMetric(directCPU.slapd, "direct-slapd-cpu-ms/joiner")
	b.ReportMetric(e2eCPU.self, "e2e-self-cpu-ms/joiner")
	b.ReportMetric(e2eCPU.slapd, "e2e-slapd-cpu-ms/joiner")
}

// cpuTimes is CPU time used so far, in ms: this process's and slapd's.
type cpuTimes struct{ self, slapd float64 }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.self - o.self, c.slapd - o.slapd} }
func (c cpuTimes) per(n int) cpuTimes      { return cpuTimes{c.self / float64(n), c.slapd / float64(n)} }

// cpuNow reads this process's CPU time and slapd's, in ms.
func cpuNow(b *testing.B, slapdPID int) cpuTimes {
	self, err := testenv.SelfCPU()
	if err != nil {
		b.Fatal(err)
	}
	slapd, err := testenv.ProcessCPU(slapdPID)
	if err != nil {
		b.Fatal(err)
	}
	return cpuTimes{self: float64(self.Microseconds()) / 1000, slapd: float64(slapd.Microseconds()) / 1000}
}

// ldapTime is the pool's LDAP operations' summed duration by op so far.
func ldapTime(b *testing.B, reg *prometheus.Registry) map[string][2]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "tenure_ldap_operation_duration_seconds" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" {
						out[l.GetValue()] = [2]float64{m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())}
					}
				}
			}
		}
	}
	return out
}

// ldapOps is the pool's LDAP operations so far (tenure_ldap_operations_total).
func ldapOps(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "tenure_ldap_operations_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// directJoiner is a joiner's writes issued directly: the add, then one
// modify per group.
func directJoiner(ctx context.Context, p *ldapsync.Pool, uid string, groups []string) error {
	dn := ldapsync.JoinDN(ldapsync.RDN("uid", uid), testenv.SlapdPeopleDN)
	err := p.Do(ctx, "add", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
		req.Attribute("uid", []string{uid})
		req.Attribute("cn", []string{"Bench " + uid})
		req.Attribute("sn", []string{uid})
		req.Attribute("employeeNumber", []string{uid})
		return c.Add(req)
	})
	for _, g := range groups {
		if err != nil {
			break
		}
		err = p.Do(ctx, "grant", func(c *ldap.Conn) error {
			m := ldap.NewModifyRequest(ldapsync.JoinDN(ldapsync.RDN("cn", g), testenv.SlapdGroupsDN), nil)
			m.Add("member", []string{dn})
			return c.Modify(m)
		})
	}
	return err
}

type concResult struct {
	rate float64
	err  error
}

// runConcurrent runs fn(0..n-1) on conc goroutines and returns the rate.
func runConcurrent(n, conc int, fn func(i int) error) concResult {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err, _ := first.Load().(error)
	return concResult{rate: float64(n) / time.Since(start).Seconds(), err: err}
}

// postJoiner POSTs a user and returns its id; safe off the test goroutine.
func postJoiner(e *env, userName string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "active": true,
		"name":        map[string]any{"givenName": "Bench", "familyName": userName},
		enterpriseURN: map[string]any{"employeeNumber": userName},
	})
	req, _ := http.NewRequest("POST", e.http.URL+"/scim/v2/Users", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: status %d", userName, resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.ID, err
}

// waitConverged waits until total identities have converged.
func waitConverged(b *testing.B, tt *timedTarget, total int) {
	b.Helper()
	for {
		tt.mu.Lock()
		got := len(tt.done)
		tt.mu.Unlock()
		if got >= total {
			return
		}
		select {
		case <-tt.ch:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d joiners converged; the rest never did", got, total)
		}
	}
}
