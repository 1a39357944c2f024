package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/tenurehq/tenure/queue"
)

// MaxCounted bounds the jobs of each state TargetCounts reads: the queue
// keeps only totals, so counts by target are counted from its lists.
const MaxCounted = 10000

// TargetCount is the queue's jobs of one key prefix: a target's name, or
// the engine's own work (requests, reviews, notify).
type TargetCount struct {
	Prefix    string `json:"prefix"`
	Scheduled int    `json:"scheduled"`
	InFlight  int    `json:"inflight"`
	Dead      int    `json:"dead"`
}

// TargetCounts is GET /jobs/targets: the jobs of each prefix, by state.
// Truncated says a state held more than MaxCounted jobs and only the first
// were counted (the totals are in Counts).
type TargetCounts struct {
	Targets   []TargetCount `json:"targets"`
	Truncated bool          `json:"truncated,omitempty"`
}

// TargetCounts counts the queue's jobs by key prefix, reading at most
// MaxCounted of each state.
func (h *Handler) TargetCounts(ctx context.Context) (*TargetCounts, error) {
	by := map[string]*TargetCount{}
	out := &TargetCounts{Targets: []TargetCount{}}
	for _, st := range []queue.State{queue.Scheduled, queue.InFlight, queue.Dead} {
		for off := 0; ; {
			es, err := h.q.List(ctx, st, off, min(MaxLimit, MaxCounted-off))
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				prefix, _, _ := strings.Cut(e.Key, "/")
				tc := by[prefix]
				if tc == nil {
					tc = &TargetCount{Prefix: prefix}
					by[prefix] = tc
				}
				switch st {
				case queue.Scheduled:
					tc.Scheduled++
				case queue.InFlight:
					tc.InFlight++
				case queue.Dead:
					tc.Dead++
				}
			}
			off += len(es)
			if len(es) < MaxLimit {
				break
			}
			if off >= MaxCounted {
				out.Truncated = true
				break
			}
		}
	}
	for _, tc := range by {
		out.Targets = append(out.Targets, *tc)
	}
	slices.SortFunc(out.Targets, func(a, b TargetCount) int { return strings.Compare(a.Prefix, b.Prefix) })
	return out, nil
}

// GET /jobs/targets.
func (h *Handler) targetCounts(r *http.Request) (any, error) { return h.TargetCounts(r.Context()) }

// TargetCounts is GET /jobs/targets.
func (c *Client) TargetCounts(ctx context.Context) (*TargetCounts, error) {
	return get[TargetCounts](ctx, c, "/jobs/targets", nil)
}
