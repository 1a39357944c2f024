package redisstore

import (
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// The userName index has a key per folded name, {prefix}:uname:User:
// <source>\0<fold> → id, so that an Update creating or renaming a user
// WATCHes the key of its own name only and creates of different names
// never conflict. Layout 1 kept one hash per source, {prefix}:uname:User:
// <source> (field fold → id), which every create read and wrote; migrate.go
// moves it into the keys. Lookups still read the hash's field, in the same
// round trip, because a replica on the older build keeps writing it during
// a rolling upgrade; and they only believe an entry whose user's record
// still has that source and folded name, because such a replica deletes and
// renames users without touching their name keys. An entry that fails that
// check is stale: a create of the name replaces it.

// userOwner returns the id of the user of source whose folded userName is
// fold, or "" if there is none. Inside Update the entries and the records
// it reads are WATCHed: two records at most, and only when entries exist.
func (t *Tx) userOwner(source, fold string) (string, error) {
	key, hash := t.s.keys.uname(source, fold), t.s.keys.unameHash(source)
	if t.rtx == nil {
		return t.userOwnerView(key, hash, source, fold)
	}
	if err := t.fetch([]string{key}, []hkey{{hash, fold}}); err != nil {
		return "", err
	}
	holders, err := t.holders(t.nameEntries(key, hash, fold), source, fold)
	if err != nil || len(holders) == 0 {
		return "", err
	}
	return holders[0], nil
}

// holders returns those of ids whose user record has source and a name
// that folds to fold, in the order of ids, reading the records in one
// round trip.
func (t *Tx) holders(ids []string, source, fold string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = t.s.keys.res(store.KindUser, id)
	}
	datas, err := t.records(keys)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, data := range datas {
		if ok, err := holdsName(data, source, fold); err != nil {
			return nil, err
		} else if ok {
			out = append(out, ids[i])
		}
	}
	return out, nil
}

// nameEntries returns the distinct ids the name key and the hash field
// give, as this Update knows them (fetched or written).
func (t *Tx) nameEntries(key, hash, fold string) []string {
	var ids []string
	if r := t.recs[key]; r != nil && len(r.data) > 0 {
		ids = append(ids, string(r.data))
	}
	if f := t.hashes[hash][fold]; f != nil && f.exists && f.val != "" && (len(ids) == 0 || ids[0] != f.val) {
		ids = append(ids, f.val)
	}
	return ids
}

// userOwnerView is userOwner in a View: the entries and their records in
// one atomic script.
func (t *Tx) userOwnerView(key, hash, source, fold string) (string, error) {
	res, err := nameScript.Run(t.ctx, t.view, []string{key, hash}, fold, t.s.keys.resPrefix(store.KindUser)).Slice()
	if err != nil {
		return "", err
	}
	if len(res)%2 != 0 {
		return "", fmt.Errorf("name script: %d values", len(res))
	}
	for i := 0; i < len(res); i += 2 {
		id, _ := res[i].(string)
		data, _ := res[i+1].(string)
		if ok, err := holdsName([]byte(data), source, fold); err != nil || ok {
			return id, err
		}
	}
	return "", nil
}

// nameScript reads a userName's entries and their users' records.
//
//	KEYS[1]  the name key
//	KEYS[2]  the source's layout 1 hash
//	ARGV[1]  the folded name (the hash field)
//	ARGV[2]  the prefix that makes a user's record key
//
// It returns id, record (false if none) for the name key's id, then for
// the hash field's. The records' keys share KEYS[1]'s hash tag.
var nameScript = redis.NewScript(`
local ids = {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], ARGV[1])}
local out = {}
for i = 1, 2 do
  local id = ids[i]
  if id and id ~= '' and not (i == 2 and id == ids[1]) then
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', ARGV[2] .. id)
  end
end
return out
`)

// holdsName reports whether the user record data (nil or empty: none) has
// source and a name that folds to fold.
func holdsName(data []byte, source, fold string) (bool, error) {
	if len(data) == 0 {
		return false, nil
	}
	var r struct {
		Source string `json:"source"`
		Name   string `json:"name"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return false, fmt.Errorf("decode user record: %w", err)
	}
	return r.Source == source && store.FoldName(r.Name) == fold, nil
}

// claimName buffers the name entry of a user that takes e's name. A stale
// field of layout 1's hash for the name goes too, so it never outlives the
// key that replaced it.
func (t *Tx) claimName(e entries, id string) {
	t.setRecord(e.uname, []byte(id))
	if f := t.hashes[e.unameHash][e.fold]; f != nil && f.exists {
		t.hdel(e.unameHash, e.fold)
	}
}

// dropName buffers the removal of user id's name entries: the key and the
// field of layout 1's hash, which a replica on the older build may have
// written. Neither is read: each goes at EXEC if it still gives id, so a
// name another user holds (see settleName) keeps its entry, and an entry
// that does not exist, the usual case for the field, disturbs no WATCH.
func (t *Tx) dropName(e entries, id string) {
	t.recs[e.uname] = &rec{dirty: true, only: id}
	t.hashOf(e.unameHash)[e.fold] = &hfield{dirty: true, only: id}
}
