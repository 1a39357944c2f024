package engine

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// EventKind classifies audit events.
type EventKind string

// Audit event kinds.
const (
	EventTransition EventKind = "transition" // a SCIM write classified
	EventApplied    EventKind = "applied"    // operations performed on a target
	EventFailed     EventKind = "failed"     // a converge failed (retrying or dead)
	EventGuard      EventKind = "guard"      // destructive work held by the guard
	EventAdmin      EventKind = "admin"      // an admin action
)

// Event is one append-only audit record of a person.
type Event struct {
	At         time.Time         `json:"at"`
	Person     string            `json:"person"`
	Kind       EventKind         `json:"kind"`
	Target     string            `json:"target,omitempty"`
	Transition mapper.Transition `json:"transition,omitempty"`
	Effective  time.Time         `json:"effective,omitzero"`
	Changed    []string          `json:"changed,omitempty"`
	Source     string            `json:"source,omitempty"`
	User       string            `json:"user,omitempty"`
	Generation uint64            `json:"generation,omitempty"`
	Ops        []targets.Op      `json:"ops,omitempty"`
	Error      string            `json:"error,omitempty"`
	Retry      bool              `json:"retry,omitempty"` // a failure that will be retried
	Actor      string            `json:"actor,omitempty"` // admin actions
	Detail     string            `json:"detail,omitempty"`
}

// auditor appends events inside one transaction. Keys are
// person/<unix nanos, zero-padded>/<sequence><random>, so a prefix scan is
// one person's history in time order; events with the same timestamp keep
// this process's order, and the random part keeps two replicas' events
// from ever sharing a key.
type auditor struct {
	tx  store.Tx
	now time.Time
}

var auditSeq atomic.Uint64

func newAuditor(tx store.Tx, now time.Time) *auditor { return &auditor{tx: tx, now: now} }

func (a *auditor) add(person string, ev Event) error {
	ev.At, ev.Person = a.now, person
	key := fmt.Sprintf("%s/%020d/%016x%08x", person, a.now.UnixNano(), auditSeq.Add(1), rand.Uint32())
	return putJSON(a.tx, nsAudit, key, ev)
}

// Events returns up to limit of the person's most recent events, newest first.
func Events(r store.Reader, person string, limit int) ([]Event, error) {
	var out []Event
	err := r.ScanDocs(nsAudit, person+"/", true, func(_ string, val []byte) (bool, error) {
		ev, err := decode[Event](val)
		if err != nil {
			return false, err
		}
		out = append(out, *ev)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}
