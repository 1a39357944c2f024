package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// The name keys ({prefix}:groupname:<group id> → displayName and
// {prefix}:username:<user id> → userName) answer MemberOf, together with
// the membership sets, and Names without decoding records: a group of 2,000
// members is a 100 KB record, and a page of users that all belong to it
// would decode it once per user; a group's members' display would decode
// every member. Create, Put and Delete keep the key in the resource's own
// MULTI/EXEC; a rename rewrites one key, which every lookup reads.
//
// Redis written by a build without these keys has none, and during a
// rolling upgrade replicas still on such a build write resources without
// them. MemberOf and Names therefore read a resource that has no name key
// from its record (once per transaction), and the Store writes the missing
// keys after that View or Update (backfill), so the cost is paid once per
// resource. A resource renamed by such a replica keeps a stale key until an
// upgraded replica next writes it: Put compares the key, not the old
// record, with the new name.

// setName buffers the write of a resource's name key.
func (t *Tx) setName(kind store.Kind, id, name string) {
	t.setRecord(t.s.keys.name(kind, id), append([]byte{}, name...)) // non-nil when empty
}

// namesChunk is how many name keys Names reads in one MGET.
const namesChunk = 1000

// Names implements store.Reader.
func (t *Tx) Names(kind store.Kind, ids []string) ([]string, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("redisstore: names: unknown kind %q", kind)
	}
	out := make([]string, len(ids))
	for start := 0; start < len(ids); start += namesChunk {
		chunk := ids[start:min(len(ids), start+namesChunk)]
		keys := make([]string, 0, len(chunk))
		at := make([]int, 0, len(chunk))
		for i, id := range chunk {
			if validPart(id) {
				keys = append(keys, t.s.keys.name(kind, id))
				at = append(at, start+i)
			}
		}
		if len(keys) == 0 {
			continue
		}
		names, err := t.records(keys)
		if err != nil {
			return nil, wrap("names", err)
		}
		for j, name := range names {
			if name != nil {
				out[at[j]] = string(name)
				continue
			}
			if out[at[j]], _, err = t.unindexedName(kind, ids[at[j]]); err != nil {
				return nil, wrap("names", err)
			}
		}
	}
	return out, nil
}

// MemberOf implements store.Reader.
func (t *Tx) MemberOf(memberID string) ([]store.GroupRef, error) {
	if !validPart(memberID) {
		return nil, nil
	}
	ids, names, err := t.groupNames(memberID)
	if err != nil {
		return nil, wrap("member of", err)
	}
	out := make([]store.GroupRef, 0, len(ids))
	for i, id := range ids {
		if names[i] != nil {
			out = append(out, store.GroupRef{ID: id, Name: string(names[i])})
			continue
		}
		name, ok, err := t.unindexedName(store.KindGroup, id)
		if err != nil {
			return nil, wrap("member of", err)
		}
		if ok {
			out = append(out, store.GroupRef{ID: id, Name: name})
		}
	}
	return out, nil
}

// groupNames returns the ids of the groups listing memberID, sorted, and
// each one's name key (nil where there is none). A View reads both in one
// atomic script; an Update reads them WATCHed, with its own writes.
func (t *Tx) groupNames(memberID string) ([]string, [][]byte, error) {
	k := t.s.keys
	if t.rtx != nil {
		ids, err := t.smembers(k.groups(memberID))
		if err != nil || len(ids) == 0 {
			return nil, nil, err
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = k.groupName(id)
		}
		names, err := t.records(keys)
		return ids, names, err
	}
	res, err := memberOfScript.Run(t.ctx, t.view, []string{k.groups(memberID)}, k.groupNamePrefix()).Slice()
	if err != nil {
		return nil, nil, err
	}
	if len(res)%2 != 0 {
		return nil, nil, fmt.Errorf("member-of script: %d values", len(res))
	}
	byID := make(map[string][]byte, len(res)/2)
	for i := 0; i < len(res); i += 2 {
		id, _ := res[i].(string)
		var name []byte
		if s, ok := res[i+1].(string); ok {
			name = append([]byte{}, s...)
		}
		byID[id] = name
	}
	ids := slices.Sorted(maps.Keys(byID))
	names := make([][]byte, len(ids))
	for i, id := range ids {
		names[i] = byID[id]
	}
	return ids, names, nil
}

// memberOfScript reads a membership set and the name key of each group in
// it.
//
//	KEYS[1]  the set ({prefix}:groups:<member id>)
//	ARGV[1]  the prefix that makes a group's name key
//
// It returns group id, name (false if none) for each group. The name keys
// are not declared: they share KEYS[1]'s hash tag, so they live on its
// cluster slot.
var memberOfScript = redis.NewScript(`
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('GET', ARGV[1] .. id)
end
return out
`)

// unindexedName reads the name of a resource that has no name key from
// its record, and notes it for the backfill. ok is false when the resource
// does not exist.
func (t *Tx) unindexedName(kind store.Kind, id string) (name string, ok bool, err error) {
	if name, ok := t.unindexed[id]; ok {
		return name, true, nil
	}
	g, err := t.load(kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if t.unindexed == nil {
		t.unindexed = map[string]string{}
	}
	t.unindexed[id] = g.Name
	if t.backfill != nil {
		t.backfill[id] = kind
	}
	return g.Name, true, nil
}

// backfillChunk is how many resources one backfill transaction names.
const backfillChunk = 128

// backfill writes the name keys of resources that MemberOf or Names found
// without one, a chunk per transaction, each reading the records it names
// WATCHed. It runs after the View or Update that found them (never inside:
// a commit waits for this Store's open Views); a failure only leaves the
// work to a later read, so it is logged, not returned.
func (s *Store) backfill(ctx context.Context, found map[string]store.Kind) {
	if len(found) == 0 {
		return
	}
	ids := slices.Sorted(maps.Keys(found))
	for chunk := range slices.Chunk(ids, backfillChunk) {
		n := 0
		err := s.Update(ctx, func(tx store.Tx) error {
			t := tx.(*Tx)
			keys := make([]string, 0, 2*len(chunk))
			for _, id := range chunk {
				keys = append(keys, s.keys.res(found[id], id), s.keys.name(found[id], id))
			}
			recs, err := t.records(keys)
			if err != nil {
				return err
			}
			n = 0
			for i, id := range chunk {
				rec, cur := recs[2*i], recs[2*i+1]
				if rec == nil || cur != nil {
					continue // deleted, or named meanwhile
				}
				name, err := store.RecordName(rec)
				if err != nil {
					return fmt.Errorf("%s %q: %w", found[id], id, err)
				}
				t.setName(found[id], id, name)
				n++
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, store.ErrClosed) && ctx.Err() == nil {
				s.log.Warn("store name backfill failed", "backend", "redis", "resources", len(chunk), "err", err)
			}
			return
		}
		if n > 0 {
			s.log.Info("store names backfilled", "backend", "redis", "resources", n)
		}
	}
}
