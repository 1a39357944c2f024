package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/targettest"
)

// TestAddedKind: a kind added with its package and one registry line is
// whole: config validate checks its block with the file's keys and lines,
// the targets build, and a reload that changes its block is refused.
func TestAddedKind(t *testing.T) {
	setLDAPEnv(t)
	testKinds = []targets.Kind{targettest.MemoryKind{}} // the registry line
	t.Cleanup(func() { testKinds = nil })

	dir := t.TempDir()
	good := ldapTestPreamble + `
store: {kind: embedded, embedded: {path: ` + filepath.Join(dir, "tenure.db") + `}}
birthright: [{name: all, when: "true", grants: {mem: [staff]}}]
targets:
  - name: mem
    kind: memory
    memory: {collision: suffix, groups: [staff]}
    attributes: {name: user.userName}
`
	path := filepath.Join(dir, "tenure.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	if err := run(context.Background(), []string{"config", "validate", "--config", path}, io.Discard, io.Discard); err != nil {
		t.Fatalf("config validate: %v", err)
	}
	cfg, err := config.Load(path, configKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	tgts, err := buildTargets(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := tgts["mem"].(*targettest.Memory); !ok || m.Collision != "suffix" {
		t.Errorf("mem is %#v", tgts["mem"])
	}

	write(strings.NewReplacer("collision: suffix", "collision: rename", "grants: {mem: [staff]}", "grants: {mem: [admins]}",
		"    memory: {", "    memory: {colision: x, ").Replace(good))
	err = run(context.Background(), []string{"config", "validate", "--config", path}, io.Discard, io.Discard)
	for _, w := range []string{
		`birthright[0].grants.mem[0] (line 6): "admins" is not one of the target's memory.groups`,
		`targets[0].memory.colision (line 10): unknown key "colision"; did you mean collision?`,
		`targets[0].memory.collision (line 10): must be fail or suffix, got "rename"`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("config validate: %v\nlacks %q", err, w)
		}
	}

	write(strings.Replace(good, "collision: suffix", "collision: fail", 1))
	_, err = policyReloader(path, cfg, nil, log)(t.Context())
	if err == nil || !strings.Contains(err.Error(), "targets[0] (mem): the memory block changed, which needs a restart") {
		t.Errorf("reload: %v", err)
	}
}
