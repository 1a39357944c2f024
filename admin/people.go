package admin

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/mapper"
)

// Page sizes of GET /identities.
const DefaultPeopleLimit = 50

// PeopleQuery is GET /identities's parameters: a search (a substring of
// the person id, userName, displayName or department, any case), the
// filters, and the page (the people after the person id After).
type PeopleQuery struct {
	Search     string `json:"q,omitempty"`
	State      string `json:"state,omitempty"`
	Source     string `json:"source,omitempty"`
	Department string `json:"department,omitempty"`
	After      string `json:"after,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// PersonSummary is one person of a listing.
type PersonSummary struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	UserName    string    `json:"userName,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	Department  string    `json:"department,omitempty"`
	State       string    `json:"state"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
}

// PeoplePage is GET /identities: Next is the after of the next page,
// absent on the last.
type PeoplePage struct {
	People []PersonSummary `json:"people"`
	Next   string          `json:"next,omitempty"`
}

func peoplePageOf(p *engine.PeoplePage) *PeoplePage {
	return &PeoplePage{Next: p.Next, People: convertSlice(p.People, func(s engine.PersonSummary) PersonSummary {
		return PersonSummary{ID: s.ID, Source: s.Source, UserName: s.UserName, DisplayName: s.DisplayName,
			Department: s.Department, State: string(s.State), Start: s.Start, End: s.End}
	})}
}

// PeopleIndex answers People queries from a snapshot of everyone taken at
// most MaxAge ago, for a listing browsed page by page (the console): the
// same query (engine.PeopleQuery) as GET /identities, answered in memory,
// so that a filter or a deep page over 100,000 people does not read them
// all again. A stale snapshot is still served while the next one is read
// in the background; only the first query waits for one.
type PeopleIndex struct {
	h      *Handler
	maxAge time.Duration
	ctx    context.Context // the index's life: ends background reads
	stop   context.CancelFunc

	mu       sync.Mutex
	snap     *engine.PeopleSnapshot
	stale    bool          // Invalidate was called since snap was read
	building chan struct{} // closed when the read under way ends; nil if none
	err      error         // the last read's failure
}

// NewPeopleIndex returns an index of people at most maxAge old. Close
// ends a read under way.
func (h *Handler) NewPeopleIndex(maxAge time.Duration) *PeopleIndex {
	ctx, stop := context.WithCancel(context.Background())
	return &PeopleIndex{h: h, maxAge: maxAge, ctx: ctx, stop: stop}
}

// Close stops a snapshot read under way.
func (x *PeopleIndex) Close() { x.stop() }

// Invalidate makes the next query start a new snapshot (after an action
// that changed people).
func (x *PeopleIndex) Invalidate() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stale = true
}

// People is Handler.People answered from the snapshot, and the time the
// snapshot was taken.
func (x *PeopleIndex) People(ctx context.Context, q PeopleQuery) (*PeoplePage, time.Time, error) {
	if err := checkPeopleQuery(q); err != nil {
		return nil, time.Time{}, err
	}
	snap, err := x.snapshot(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	p, err := engineQuery(q).Page(snap, x.h.now())
	if err != nil {
		return nil, time.Time{}, err
	}
	return peoplePageOf(p), snap.At, nil
}

func (x *PeopleIndex) snapshot(ctx context.Context) (*engine.PeopleSnapshot, error) {
	x.mu.Lock()
	snap, fresh := x.snap, x.snap != nil && !x.stale && x.h.now().Sub(x.snap.At) < x.maxAge
	if !fresh && x.building == nil {
		x.building = make(chan struct{})
		go x.build(x.building)
	}
	wait := x.building
	x.mu.Unlock()
	if snap != nil {
		return snap, nil
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.snap == nil {
		return nil, fmt.Errorf("admin: people index: %w", x.err)
	}
	return x.snap, nil
}

func (x *PeopleIndex) build(done chan struct{}) {
	snap, err := x.h.eng.PeopleSnapshot(x.ctx)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err == nil {
		x.snap, x.stale = snap, false
	} else {
		x.h.log.Warn("admin: people index: read failed", "err", err)
	}
	x.err, x.building = err, nil
	close(done)
}

func checkPeopleQuery(q PeopleQuery) error {
	switch q.State {
	case "", StatePending, StateActive, StateTerminated, StatePurged:
		return nil
	}
	return errorf(http.StatusBadRequest, "state must be %s, %s, %s or %s, got %q",
		StatePending, StateActive, StateTerminated, StatePurged, q.State)
}

func engineQuery(q PeopleQuery) engine.PeopleQuery {
	if q.Limit <= 0 {
		q.Limit = DefaultPeopleLimit
	}
	return engine.PeopleQuery{Search: q.Search, State: mapper.State(q.State), Source: q.Source,
		Department: q.Department, After: q.After, Limit: min(q.Limit, engine.MaxPeoplePage)}
}
