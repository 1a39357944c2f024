package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
)

// The monitoring assets: Prometheus rules with their promtool unit tests,
// and the Grafana dashboard.
const (
	monitoringRules     = "../../configs/prometheus/tenure-alerts.yaml"
	monitoringRulesTest = "../../configs/prometheus/tenure-alerts_test.yaml"
	monitoringDashboard = "../../configs/grafana/tenure-dashboard.json"
)

// monitoringDirs hold the monitoring assets; config/config_test.go loads
// the top level of configs/ as Tenure configurations.
var monitoringDirs = []string{"../../configs/prometheus", "../../configs/grafana"}

// needPromtool returns the path of promtool, or ends the test the way
// internal/testenv does for a missing server: skipped, unless CI is "true",
// where a missing tool fails the run.
func needPromtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"} {
		p := filepath.Join(dir, "promtool")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := "promtool not found in PATH, /usr/bin or /usr/sbin; run scripts/install-test-deps.sh (Debian package prometheus)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing tool fails the run)")
	}
	t.Skip(msg)
	return ""
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(needPromtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ruleFile is the part of a Prometheus rule file the test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(monitoringRules)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("%s: %v", monitoringRules, err)
	}
	return rf
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(monitoringDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", monitoringDashboard, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// Every file under the monitoring folders parses as what its name says,
// every alert says how bad it is and what to do, and the dashboard has its
// variables and a query in every panel.
func TestMonitoringAssetsLoad(t *testing.T) {
	n := 0
	for _, dir := range monitoringDirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var v any
			switch filepath.Ext(path) {
			case ".json":
				err = json.Unmarshal(raw, &v)
			case ".yaml", ".yml":
				err = yaml.Unmarshal(raw, &v)
			default:
				err = fmt.Errorf("unexpected file type")
			}
			if err == nil && v == nil {
				err = fmt.Errorf("empty")
			}
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 3 {
		t.Errorf("found %d monitoring files, want at least 3", n)
	}

	rf := loadRules(t)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("alert %s: severity %q", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(r.Annotations["description"], "docs/operations.md#monitoring") {
				t.Errorf("alert %s: description does not point to docs/operations.md#monitoring", r.Alert)
			}
		}
	}
	// The alerts docs/operations.md explains.
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for a := range alerts {
		if !strings.Contains(string(doc), a) {
			t.Errorf("docs/operations.md does not explain %s", a)
		}
	}
	for _, a := range []string{"TenureDown", "TenureDeadLetters", "TenureGuardTripped", "TenureConvergenceSlow",
		"TenureQueueLate", "TenureTargetErrors", "TenureLDAPErrors", "TenureSCIMServerErrors"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}

	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard: uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["target"] != "query" {
		t.Errorf("dashboard variables: %v, want datasource (datasource) and target (query)", vars)
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource is not ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" {
				t.Errorf("panel %q: query %q without expr or refId", p.Title, q.RefID)
			}
		}
	}
}

// promtool accepts the rules, their unit tests pass, and every dashboard
// query is valid PromQL (checked as recording rules, with the Grafana
// variables replaced).
func TestMonitoringPromtool(t *testing.T) {
	needPromtool(t)
	promtool(t, "check", "rules", monitoringRules)
	promtool(t, "test", "rules", monitoringRulesTest)

	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
		"$job", "tenure", "$target", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, q := range p.Targets {
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:panel%d_%s", p.ID, q.RefID), Expr: vars.Replace(q.Expr)})
		}
	}
	raw, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", path)
}

// metricName finds metric names in the monitoring files: Tenure's own and
// the Go and process collectors'.
var metricName = regexp.MustCompile(`\b(?:tenure|go|process)_[a-z0-9_]+\b`)

// Every metric the rules, their tests and the dashboard name is one that
// tenure serve exposes. The families come from two places: the # HELP
// lines of a real serve on configs/quickstart.yaml after a SCIM and an
// admin request; and, for the families that only have samples once a
// target is used (the engine's per-target vectors, the LDAP pool's), the
// descriptors the engine and an LDAP target register while being built as
// serve builds them.
func TestMonitoringMetricNames(t *testing.T) {
	families := servedFamilies(t)
	declared := declaredFamilies(t)
	for _, want := range []string{"tenure_ldap_operations_total", "tenure_engine_dead_letters_total", "tenure_engine_guard_tripped"} {
		if !declared[want] {
			t.Fatalf("declared families lack %s: %v", want, slices.Sorted(maps.Keys(declared)))
		}
	}
	maps.Copy(families, declared)

	used := map[string][]string{}
	for _, path := range []string{monitoringRules, monitoringRulesTest, monitoringDashboard} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(raw), -1) {
			if !slices.Contains(used[m], path) {
				used[m] = append(used[m], path)
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in the monitoring files: %v", len(used), slices.Sorted(maps.Keys(used)))
	}
	for _, name := range slices.Sorted(maps.Keys(used)) {
		if families[name] {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if families[base] {
			continue
		}
		t.Errorf("%s (in %s) is not a metric tenure serve exposes", name, strings.Join(used[name], ", "))
	}
}

// servedFamilies scrapes a real tenure serve and returns the names of its
// # HELP lines.
func servedFamilies(t *testing.T) map[string]bool {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
	s := startServe(t, "../../configs/quickstart.yaml")
	if code, _, body := s.request(t, "POST", "/scim/v2/Users", "scim-test-token",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"monitor@example.com"}`); code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	if code, _, body := s.request(t, "GET", "/admin/v1/jobs/counts", "admin-test-token", ""); code != http.StatusOK {
		t.Fatalf("GET /admin/v1/jobs/counts: %d %s", code, body)
	}
	code, _, body := s.request(t, "GET", "/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	s.stop(t)
	families := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "HELP" {
			families[f[2]] = true
		}
	}
	for _, want := range []string{"tenure_scim_requests_total", "tenure_admin_requests_total", "tenure_queue_jobs", "tenure_build_info"} {
		if !families[want] {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
	}
	return families
}

// declaredFamilies builds the store, two LDAP targets (pools connect on
// first use, so nothing listens on their ports) and the engine as serve
// does, on a registerer that records the name of every descriptor.
func declaredFamilies(t *testing.T) map[string]bool {
	setLDAPEnv(t)
	cfg, err := config.Parse([]byte(twoDirectories(testenv.TLSFiles(t).CAFile, "cn")), configKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Kind = config.StoreEmbedded
	cfg.Store.Embedded.Path = filepath.Join(t.TempDir(), "tenure.db")
	pol, err := mapper.Compile("monitoring", cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &descRecorder{reg: prometheus.NewRegistry(), names: map[string]bool{}}
	log := slog.New(slog.DiscardHandler)
	be, err := backendOpeners()[cfg.Store.Kind](cfg.Store, queue.Options{RetryHorizon: cfg.Engine.RetryHorizon}, log, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	tgts, err := buildTargets(cfg, log, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTargets(tgts, log)
	eng, err := engine.New(engine.Options{Store: be.Store, Queue: be.Queue, Policy: pol, Targets: tgts, Logger: log, Registerer: rec})
	if err != nil {
		t.Fatal(err)
	}
	eng.Close()
	return rec.names
}

// descRecorder is a Registerer that records the fully-qualified names of
// the descriptors of every collector registered on it.
type descRecorder struct {
	reg   *prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.mu.Lock()
			r.names[m[1]] = true
			r.mu.Unlock()
		}
	}
	return r.reg.Register(c)
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *descRecorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }
