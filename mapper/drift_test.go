package mapper

import (
	"slices"
	"testing"
	"time"
)

// The drift pass and the exclusive groups reach the compiled policy;
// a target without them has neither.
func TestCompileDrift(t *testing.T) {
	p := compilePolicy(t, `
birthright:
  - {name: all, when: "true", grants: {dir: [staff, vpn], app: [x]}}
targets:
  - name: dir
    kind: test
    drift: {interval: 24h}
    exclusive_groups: [vpn]
  - name: slow
    kind: test
    drift: {interval: 10m, spread: 0s}
  - name: app
    kind: test
`)
	dir, slow, app := p.Targets["dir"], p.Targets["slow"], p.Targets["app"]
	if dir.DriftInterval != 24*time.Hour || dir.DriftSpread != time.Hour || !slices.Equal(dir.Exclusive, []string{"vpn"}) {
		t.Errorf("dir: drift %v spread %v exclusive %v", dir.DriftInterval, dir.DriftSpread, dir.Exclusive)
	}
	if slow.DriftInterval != 10*time.Minute || slow.DriftSpread != 0 {
		t.Errorf("slow: drift %v spread %v", slow.DriftInterval, slow.DriftSpread)
	}
	if app.DriftInterval != 0 || app.DriftSpread != 0 || app.Exclusive != nil {
		t.Errorf("app: drift %v spread %v exclusive %v, want none", app.DriftInterval, app.DriftSpread, app.Exclusive)
	}
}
