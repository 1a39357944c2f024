package admin

import (
	"time"

	"github.com/tenurehq/tenure/engine"
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
