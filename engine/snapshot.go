package engine

import (
	"context"
	"fmt"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// PersonState is one person as a snapshot holds them: the lifecycle
// record and, by target, the link to their account there.
type PersonState struct {
	Record *mapper.Record
	Links  map[string]*LinkState
}

// Snapshot calls fn for every person the engine keeps a record of, with
// their links, all read in one store View: on bbolt one consistent
// snapshot; on Redis (no snapshot reads) another replica's writes may land
// during the read. It writes nothing. fn runs inside the View, so it must
// not call back into the store; an error from fn stops the scan.
func (e *Engine) Snapshot(ctx context.Context, fn func(PersonState) error) error {
	err := e.st.View(ctx, func(r store.Reader) error {
		links := map[string]map[string]*LinkState{} // person → target → link
		err := r.ScanDocs(nsLink, "", false, func(key string, val []byte) (bool, error) {
			target, person, ok := SplitKey(key)
			if !ok {
				return true, nil
			}
			ls, err := decode[LinkState](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsLink, key, err)
			}
			if links[person] == nil {
				links[person] = map[string]*LinkState{}
			}
			links[person][target] = ls
			return true, nil
		})
		if err != nil {
			return err
		}
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			rec, err := decode[mapper.Record](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsPerson, person, err)
			}
			return true, fn(PersonState{Record: rec, Links: links[person]})
		})
	})
	if err != nil {
		return fmt.Errorf("engine: snapshot: %w", err)
	}
	return nil
}

// Target returns the named target as the engine built it, so that a
// reader can use its optional capabilities (targets.Inventory,
// targets.Memberships); false for a name the engine has no target for.
func (e *Engine) Target(name string) (targets.Target, bool) {
	t, ok := e.targets[name]
	return t, ok
}
