package admin

import (
	"fmt"
	"time"
)

// The API's JSON bodies: the queue's and the reconcile's here, the views of
// people, guards, plans and drift in views.go. None is an engine or queue
// type: the handlers copy those into these (convert.go).

// Error is every error response: {"error": "...", "status": N}.
type Error struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// Job states.
const (
	JobScheduled = "scheduled"
	JobInFlight  = "inflight"
	JobDead      = "dead"
)

// Job is a queue entry.
type Job struct {
	Key   string `json:"key"`
	State string `json:"state"`
	// Due: scheduled, when it is due; in flight, when the lease ends; dead,
	// when it died.
	Due time.Time `json:"due"`
	// Pending is a due time recorded while the key is in flight.
	Pending   time.Time `json:"pending,omitzero"`
	Attempts  int       `json:"attempts"`
	FirstFail time.Time `json:"firstFail,omitzero"`
	LastError string    `json:"lastError,omitempty"`
}

// JobList is a page of GET /jobs.
type JobList struct {
	// State is the state listed; empty means every state (in flight,
	// then scheduled, then dead, each ordered by due time).
	State  string `json:"state,omitempty"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Jobs   []Job  `json:"jobs"`
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

// Change is the transition a planned write would be, the position
// attributes it changed (a mover) and when it takes effect, if later.
type Change struct {
	Transition string    `json:"transition,omitempty"`
	Changed    []string  `json:"changed,omitempty"`
	Effective  time.Time `json:"effective,omitzero"`
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
	Exclusive      []ExclusiveGroup `json:"exclusive,omitempty"`
	ExclusiveError string           `json:"exclusiveError,omitempty"`
	// Started is when the reconcile began (the engine's clock) and Tally
	// the target's repair tally then: GET /drift/{target}?since=Started
	// tells how many people have not converged since, and the tally the
	// repairs have brought it to.
	Started time.Time  `json:"started"`
	Tally   DriftTally `json:"tally"`
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
	*OrphanReport
}

// ReloadResult is POST /policy/reload.
type ReloadResult struct {
	Reloaded bool     `json:"reloaded"`
	Targets  []string `json:"targets"`
}
