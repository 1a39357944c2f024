package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
// candidates.
func (e *Engine) People(ctx context.Context, q PeopleQuery) (*PeoplePage, error) {
	if q.Limit <= 0 || q.Limit > MaxPeoplePage {
		q.Limit = MaxPeoplePage
	}
	switch q.State {
	case "", mapper.StatePending, mapper.StateActive, mapper.StateTerminated, mapper.StatePurged:
	default:
		return nil, fmt.Errorf("%w: state %q", ErrPlanInput, q.State)
	}
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
			if len(out.People) == q.Limit {
				// One more match exists: there is a next page.
				out.Next = out.People[len(out.People)-1].ID
				return false, nil
			}
			var s personSummary
			if err := json.Unmarshal(val, &s); err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsPerson, person, err)
			}
			rec := mapper.Record{Start: s.Start, End: s.End, Purged: s.Purged}
			p := PersonSummary{
				ID: person, Source: s.Source, UserName: s.Identity.User.UserName,
				DisplayName: s.Identity.User.DisplayName, Department: s.Identity.User.Enterprise.Department,
				State: rec.StateAt(now), Start: s.Start, End: s.End,
			}
			if !q.matches(p, search) {
				return true, nil
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
		if containsFold([]byte(f), search) {
			return true
		}
	}
	return false
}

// containsFold reports whether b holds lower (lower case) ignoring ASCII
// case; a non-ASCII needle is compared as it is. It allocates nothing,
// since it runs on every stored record of a search.
func containsFold(b, lower []byte) bool {
	if len(lower) == 0 {
		return true
	}
	first := lower[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+len(lower) <= len(b); i++ {
		c := b[i]
		if c != first && c != upper {
			// Jump to the next candidate start.
			j := bytes.IndexByte(b[i+1:], first)
			if upper != first {
				if k := bytes.IndexByte(b[i+1:], upper); k >= 0 && (j < 0 || k < j) {
					j = k
				}
			}
			if j < 0 {
				return false
			}
			i += j // the loop adds the 1
			continue
		}
		if equalFoldASCII(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func equalFoldASCII(b, lower []byte) bool {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
