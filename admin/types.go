package admin

import (
	"fmt"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
)

// The API's JSON bodies. Engine types are served as they are, except where
// a field's type has no JSON names of its own (queue.Entry, queue.Counts,
// mapper.Change): those are shadowed by a field of the same JSON name on
// the outer type, which encoding/json prefers to the embedded one.

// Error is every error response: {"error": "...", "status": N}.
type Error struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// Job is a queue entry.
type Job struct {
	Key   string      `json:"key"`
	State queue.State `json:"state"`
	// Due: scheduled, when it is due; in flight, when the lease ends; dead,
	// when it died.
	Due time.Time `json:"due"`
	// Pending is a due time recorded while the key is in flight.
	Pending   time.Time `json:"pending,omitzero"`
	Attempts  int       `json:"attempts"`
	FirstFail time.Time `json:"firstFail,omitzero"`
	LastError string    `json:"lastError,omitempty"`
}

func jobOf(e queue.Entry) *Job {
	return &Job{Key: e.Key, State: e.State, Due: e.Due, Pending: e.Pending,
		Attempts: e.Attempts, FirstFail: e.FirstFail, LastError: e.LastError}
}

// JobList is a page of GET /jobs.
type JobList struct {
	// State is the state listed; empty means every state (in flight,
	// then scheduled, then dead, each ordered by due time).
	State  queue.State `json:"state,omitempty"`
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Jobs   []Job       `json:"jobs"`
}

// Counts is GET /jobs/counts.
type Counts struct {
	Scheduled int `json:"scheduled"`
	InFlight  int `json:"inflight"`
	Dead      int `json:"dead"`
	// OldestDue is the earliest due time among scheduled keys.
	OldestDue time.Time `json:"oldestDue,omitzero"`
}

// JobAction is the answer to replay, cancel and run: the key and its queue
// entry afterwards (none after a cancel, unless it was in flight).
type JobAction struct {
	Action string `json:"action"`
	Key    string `json:"key"`
	Job    *Job   `json:"job,omitempty"`
}

// Identity is GET /identities/{id}: engine.IdentityView with its queue
// entries as Jobs.
type Identity struct {
	*engine.IdentityView
	Targets map[string]IdentityTarget `json:"targets"`
}

// IdentityTarget is one target's side of a person.
type IdentityTarget struct {
	Link *engine.LinkState `json:"link,omitempty"`
	Job  *Job              `json:"job,omitempty"`
}

// Plan is POST /plan: engine.Plan with the change's JSON names.
type Plan struct {
	*engine.Plan
	Change Change `json:"change"`
}

// Change is the transition a planned write would be (mapper.Change).
type Change struct {
	Transition mapper.Transition `json:"transition,omitempty"`
	Changed    []string          `json:"changed,omitempty"`
	Effective  time.Time         `json:"effective,omitzero"`
}

// ReconcileResult is POST /reconcile/{target}.
type ReconcileResult struct {
	Target    string `json:"target"`
	Scheduled int    `json:"scheduled"`
	// Orphans is what was done about accounts no link names.
	Orphans *Orphans `json:"orphans"`
	// Exclusive is the cleanup of the target's exclusive groups: members
	// no grant explains removed (or held by the guard); ExclusiveError
	// why it could not run.
	Exclusive      []engine.ExclusiveGroup `json:"exclusive,omitempty"`
	ExclusiveError string                  `json:"exclusiveError,omitempty"`
	// Started is when the reconcile began (the engine's clock) and Tally
	// the target's repair tally then: GET /drift/{target}?since=Started
	// tells how many people have not converged since, and the tally the
	// repairs have brought it to.
	Started time.Time         `json:"started"`
	Tally   engine.DriftTally `json:"tally"`
}

// What POST /reconcile/{target}?orphans= does with orphans.
const (
	OrphansReport = "report" // list them (the default)
	OrphansDelete = "delete" // list and delete them
	OrphansNone   = "none"   // leave them alone: only schedule converges
)

// Orphan statuses.
const (
	OrphansReported     = "reported"
	OrphansDeleted      = "deleted"
	OrphansSkipped      = "skipped"       // mode none
	OrphansNotSupported = "not supported" // the target cannot list its accounts
)

// Orphans is the orphan part of a reconcile: the mode asked, what was done
// and, when the target listed its accounts, the report (each orphan's
// anchor, DN and name; with delete, whether it was removed or the error).
type Orphans struct {
	Mode   string `json:"mode"`
	Status string `json:"status"`
	*engine.OrphanReport
}

// ReloadResult is POST /policy/reload.
type ReloadResult struct {
	Reloaded bool     `json:"reloaded"`
	Targets  []string `json:"targets"`
}
