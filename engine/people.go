package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// PeopleQuery selects a page of people: those matching every filter
// given, in person id order, after the person id After (keyset
// pagination: a page costs the same wherever it is).
type PeopleQuery struct {
	// Search matches, case-insensitively, a substring of the person id,
	// the userName, the displayName or the department.
	Search     string
	State      mapper.State
	Source     string
	Department string // exact, case-insensitively
	After      string
	Limit      int
}

// PersonSummary is one person as a listing shows them.
type PersonSummary struct {
	ID          string
	Source      string
	UserName    string
	DisplayName string
	Department  string
	State       mapper.State
	Start       time.Time
	End         time.Time
	Purged      time.Time
}

// PeoplePage is a page of people; Next is the After of the next page, ""
// on the last.
type PeoplePage struct {
	People []PersonSummary
	Next   string
}

// MaxPeoplePage is the largest page People returns.
const MaxPeoplePage = 500

// enterpriseURN is the SCIM enterprise user extension, where the
// department is.
const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// personSummary is the part of a stored record a listing needs: decoding
// it skips the history, grants and the rest of the user.
type personSummary struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	Identity struct {
		User struct {
			UserName    string `json:"userName"`
			DisplayName string `json:"displayName"`
			Enterprise  struct {
				Department string `json:"department"`
			} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
		} `json:"user"`
	} `json:"identity"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Purged time.Time `json:"purged"`
}

// People lists people page by page, read in one store View. Filters are
// checked on the stored bytes before anything is decoded where they can
// be (source, search), so a search over 100,000 people decodes only the
// candidates. A page deep in a large population still reads every key
// before it; PeopleSnapshot and Page answer from memory instead.
func (e *Engine) People(ctx context.Context, q PeopleQuery) (*PeoplePage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	q.Limit = pageLimit(q.Limit)
	now := e.now()
	search := []byte(strings.ToLower(q.Search))
	var sourceNeedle []byte
	if q.Source != "" {
		// Records are written by encoding/json, so the source is exactly
		// this where it is the record's.
		b, _ := json.Marshal(q.Source)
		sourceNeedle = append([]byte(`"source":`), b...)
	}
	out := &PeoplePage{People: []PersonSummary{}}
	err := e.st.View(ctx, func(r store.Reader) error {
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if person <= q.After {
				return true, nil
			}
			if sourceNeedle != nil && !bytes.Contains(val, sourceNeedle) {
				return true, nil
			}
			if len(search) > 0 && !containsFold(val, search) {
				return true, nil
			}
			p, err := summaryOf(person, val, now)
			if err != nil || !q.matches(p, search) {
				return err == nil, err
			}
			if len(out.People) == q.Limit {
				// One more match exists: there is a next page.
				out.Next = out.People[len(out.People)-1].ID
				return false, nil
			}
			out.People = append(out.People, p)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: people: %w", err)
	}
	return out, nil
}

func (q PeopleQuery) check() error {
	switch q.State {
	case "", mapper.StatePending, mapper.StateActive, mapper.StateTerminated, mapper.StatePurged:
		return nil
	}
	return fmt.Errorf("%w: state %q", ErrPlanInput, q.State)
}

func pageLimit(n int) int {
	if n <= 0 || n > MaxPeoplePage {
		return MaxPeoplePage
	}
	return n
}

// summaryOf decodes a stored record's summary, its state at now.
func summaryOf(person string, val []byte, now time.Time) (PersonSummary, error) {
	var s personSummary
	if err := json.Unmarshal(val, &s); err != nil {
		return PersonSummary{}, fmt.Errorf("%s/%s: %w", nsPerson, person, err)
	}
	p := PersonSummary{
		ID: person, Source: s.Source, UserName: s.Identity.User.UserName,
		DisplayName: s.Identity.User.DisplayName, Department: s.Identity.User.Enterprise.Department,
		Start: s.Start, End: s.End, Purged: s.Purged,
	}
	p.State = p.stateAt(now)
	return p, nil
}

func (p PersonSummary) stateAt(t time.Time) mapper.State {
	return (&mapper.Record{Start: p.Start, End: p.End, Purged: p.Purged}).StateAt(t)
}

// PeopleSnapshot is every person's summary as of At, in person id order.
type PeopleSnapshot struct {
	At     time.Time
	People []PersonSummary
}

// PeopleSnapshot reads every person's summary in one store View: for a
// listing that pages and filters 100,000 people in memory (Page), where
// a scan per page would read them all for a filter or a deep page.
func (e *Engine) PeopleSnapshot(ctx context.Context) (*PeopleSnapshot, error) {
	now := e.now()
	out := &PeopleSnapshot{At: now}
	err := e.st.View(ctx, func(r store.Reader) error {
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			p, err := summaryOf(person, val, now)
			out.People = append(out.People, p)
			return err == nil, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: people snapshot: %w", err)
	}
	return out, nil
}

// Page answers q from s, as People would have at s.At, with each state
// as of now (a start or end date passed since s.At counts).
func (q PeopleQuery) Page(s *PeopleSnapshot, now time.Time) (*PeoplePage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	limit := pageLimit(q.Limit)
	search := []byte(strings.ToLower(q.Search))
	out := &PeoplePage{People: []PersonSummary{}}
	i, _ := slices.BinarySearchFunc(s.People, q.After, func(p PersonSummary, after string) int {
		return strings.Compare(p.ID, after)
	})
	for ; i < len(s.People); i++ {
		p := s.People[i]
		if p.ID <= q.After {
			continue
		}
		p.State = p.stateAt(now)
		if !q.matches(p, search) {
			continue
		}
		if len(out.People) == limit {
			out.Next = out.People[len(out.People)-1].ID
			break
		}
		out.People = append(out.People, p)
	}
	return out, nil
}

// matches checks the filters on the decoded summary (the byte checks
// before it only rule people out).
func (q PeopleQuery) matches(p PersonSummary, search []byte) bool {
	if q.State != "" && p.State != q.State || q.Source != "" && p.Source != q.Source {
		return false
	}
	if q.Department != "" && !strings.EqualFold(p.Department, q.Department) {
		return false
	}
	if len(search) == 0 {
		return true
	}
	for _, f := range []string{p.ID, p.UserName, p.DisplayName, p.Department} {
		if containsFold(f, search) {
			return true
		}
	}
	return false
}

// containsFold reports whether b holds lower (lower case) ignoring ASCII
// case; a non-ASCII needle is compared as it is. It allocates nothing,
// since it runs on every stored record of a search, and on strings and
// bytes alike.
func containsFold[T ~string | ~[]byte](b T, lower []byte) bool {
	if len(lower) == 0 {
		return true
	}
	first := lower[0]
	for i := 0; i+len(lower) <= len(b); i++ {
		if c := b[i]; c != first && c|0x20 != first {
			continue
		}
		if equalFoldASCII(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func equalFoldASCII[T ~string | ~[]byte](b T, lower []byte) bool {
	for i := range len(lower) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
