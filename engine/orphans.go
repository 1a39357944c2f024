package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// Errors orphan callers branch on.
var (
	// ErrNoInventory: the target cannot list its accounts (it is not a
	// targets.Inventory), so it has no orphan report.
	ErrNoInventory = errors.New("engine: the target cannot list its accounts")
	// ErrNoRemover: removal was asked of a target that cannot remove
	// accounts by anchor (not a targets.Remover).
	ErrNoRemover = errors.New("engine: the target cannot remove accounts")
	// ErrPendingLinks: orphans were not removed because some people on the
	// target have changes not converged yet and no account linked: their
	// converge may link (by correlation) an account that looks orphaned now.
	ErrPendingLinks = errors.New("engine: people on the target are waiting for their first link")
)

// Orphan is an account on a target that no link names.
type Orphan struct {
	targets.Found
	// Removed: deleted by this call. Error: why its removal failed.
	Removed bool   `json:"removed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// OrphanReport is what Orphans found (and removed) on a target.
type OrphanReport struct {
	Target string `json:"target"`
	// Listed is how many accounts the target listed.
	Listed int `json:"listed"`
	// Orphans are sorted by Ref.
	Orphans []Orphan `json:"orphans"`
	Removed int      `json:"removed"`
	Failed  int      `json:"failed"`
}

// maxPendingNamed bounds the people an ErrPendingLinks message names.
const maxPendingNamed = 5

// Orphans lists the target's accounts (targets.Inventory) and reports
// those whose anchor no person's link on the target holds. With remove,
// it deletes them through targets.Remover, each failure reported with its
// orphan and the rest still tried.
//
// Removal is an operator's explicit action: it is not counted by, nor held
// for, the target's guard. It is refused (ErrPendingLinks) while some
// person with no linked account has an unconverged change, since that
// converge may adopt an account that looks orphaned now.
//
// A converge running during the listing may create an account and commit
// its link only afterwards; so the links are read before the listing and
// again after it, and an account either read names is not an orphan. A
// converge that links an account between that second read and its
// removal still loses it (its next converge creates a new one).
func (e *Engine) Orphans(ctx context.Context, target string, remove bool) (*OrphanReport, error) {
	if _, ok := e.Policy().Target(target); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTarget, target)
	}
	tgt := e.targets[target]
	inv, ok := tgt.(targets.Inventory)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoInventory, target)
	}
	var rm targets.Remover
	if remove {
		if rm, ok = tgt.(targets.Remover); !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoRemover, target)
		}
	}
	before, err := e.links(ctx, target, false)
	if err != nil {
		return nil, err
	}
	rep := &OrphanReport{Target: target, Orphans: []Orphan{}}
	var candidates []targets.Found
	seen := map[string]bool{}
	err = inv.Accounts(ctx, func(f targets.Found) error {
		rep.Listed++
		if f.ID != "" && (before.ids[f.ID] || seen[f.ID]) {
			return nil
		}
		seen[f.ID] = f.ID != ""
		candidates = append(candidates, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: orphans on %s: list accounts: %w", target, err)
	}
	if len(candidates) == 0 {
		return rep, nil
	}
	after, err := e.links(ctx, target, remove)
	if err != nil {
		return nil, err
	}
	for _, f := range candidates {
		if f.ID != "" && after.ids[f.ID] {
			continue // linked by a converge that ran during the listing
		}
		rep.Orphans = append(rep.Orphans, Orphan{Found: f})
	}
	slices.SortFunc(rep.Orphans, func(a, b Orphan) int {
		return cmp.Or(strings.Compare(a.Ref, b.Ref), strings.Compare(a.ID, b.ID))
	})
	if !remove || len(rep.Orphans) == 0 {
		return rep, nil
	}
	if n := len(after.pending); n > 0 {
		named := strings.Join(after.pending[:min(n, maxPendingNamed)], ", ")
		if n > maxPendingNamed {
			named += ", …"
		}
		return nil, fmt.Errorf("%w: %d on %s (%s) have changes not converged and no account linked, and one of the %d orphan(s) may be the account a converge will link: let them converge (tenure jobs list), then remove orphans",
			ErrPendingLinks, n, target, named, len(rep.Orphans))
	}
	for i := range rep.Orphans {
		o := &rep.Orphans[i]
		if o.ID == "" {
			o.Error = "the account has no anchor: it cannot be removed by Tenure"
			rep.Failed++
			continue
		}
		if err := rm.Remove(ctx, o.ID); err != nil {
			o.Error = err.Error()
			rep.Failed++
			e.metrics.operations.WithLabelValues(target, orphanOp, "error").Inc()
			e.log.Warn("engine: orphan removal failed", "target", target, "id", o.ID, "ref", o.Ref, "err", err)
			continue
		}
		o.Removed = true
		rep.Removed++
		e.metrics.operations.WithLabelValues(target, orphanOp, "ok").Inc()
		e.log.Info("engine: orphan removed", "target", target, "id", o.ID, "ref", o.Ref, "name", o.Name)
	}
	return rep, nil
}

// orphanOp is the op label of orphan removals in
// tenure_engine_operations_total: not an OpKind, since no person's plan
// has it.
const orphanOp = "remove_orphan"

// linkScan is what links reads of a target's links.
type linkScan struct {
	ids map[string]bool // the anchors the links hold
	// pending are the people with no account linked whose record has a
	// generation not converged on the target (the sweep's rule).
	pending []string
}

// links reads every link on target and, with pending, the people waiting
// for their first link.
func (e *Engine) links(ctx context.Context, target string, pending bool) (*linkScan, error) {
	var s *linkScan
	err := e.st.View(ctx, func(r store.Reader) error {
		s = &linkScan{ids: map[string]bool{}}
		linked := map[string]uint64{} // person → generation, for people with an anchor
		err := r.ScanDocs(nsLink, target+"/", false, func(key string, val []byte) (bool, error) {
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsLink, key, err)
			}
			if ls.ID != "" {
				s.ids[ls.ID] = true
			}
			if pending {
				linked[key[len(target)+1:]] = ls.Generation
				if ls.ID != "" {
					linked[key[len(target)+1:]] = ^uint64(0) // has its account: never pending
				}
			}
			return true, nil
		})
		if err != nil || !pending {
			return err
		}
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			rec, err := decode[mapper.Record](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsPerson, person, err)
			}
			if gen, ok := linked[person]; !ok || gen < rec.Generation {
				s.pending = append(s.pending, person)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: orphans on %s: read links: %w", target, err)
	}
	return s, nil
}
