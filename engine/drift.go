package engine

import "github.com/tenurehq/tenure/targets"

// countDrift is told, after each successful converge, what the plan from
// the last applied state expected (planned) and what the target really did
// (done): operations done beyond the plan repaired drift.
func (e *Engine) countDrift(target string, planned, done []targets.Op) {}
