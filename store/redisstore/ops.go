package redisstore

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// entries are the index entries a resource owns.
type entries struct {
	order     string   // creation-order sorted set
	uname     string   // users: the userName key
	unameHash string   // users: layout 1's userName hash of the source, field fold
	gname     string   // groups: the displayName sorted set
	fold      string   // the folded name
	xid       string   // externalId sorted set; "" without externalId
	members   []string // groups: distinct member ids
}

func (t *Tx) entriesOf(r *store.Resource) entries {
	k := t.s.keys
	e := entries{order: k.order(r.Kind, r.Source), fold: store.FoldName(r.Name)}
	if r.Kind == store.KindUser {
		e.uname, e.unameHash = k.uname(r.Source, e.fold), k.unameHash(r.Source)
	} else {
		e.gname = k.gname(r.Source, e.fold)
		seen := make(map[string]bool, len(r.Members))
		for _, m := range r.Members {
			if !seen[m.Value] {
				seen[m.Value] = true
				e.members = append(e.members, m.Value)
			}
		}
	}
	if r.ExternalID != "" {
		e.xid = k.xid(r.Kind, r.Source, r.ExternalID)
	}
	return e
}

// prepare checks what every write needs: a writable transaction and ids
// that can be key parts.
func (t *Tx) prepare(r *store.Resource) error {
	if t.rtx == nil {
		return errReadOnly
	}
	if !r.Kind.Valid() {
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	if !validPart(r.ID) {
		return errors.New("id is empty or contains NUL")
	}
	if !validPart(r.Source) {
		return errors.New("source is empty or contains NUL")
	}
	if r.Kind == store.KindGroup {
		for _, m := range r.Members {
			if !validPart(m.Value) {
				return fmt.Errorf("member id %q is empty or contains NUL", m.Value)
			}
		}
	}
	return nil
}

// load reads and decodes a record; it fails with store.ErrNotFound.
func (t *Tx) load(kind store.Kind, id string) (*store.Resource, error) {
	if !validPart(id) {
		return nil, store.ErrNotFound
	}
	data, err := t.record(t.s.keys.res(kind, id))
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, store.ErrNotFound
	}
	return decode(data)
}

// Create implements store.Tx.
func (t *Tx) Create(r *store.Resource) error {
	err := t.prepare(r)
	if err == nil {
		err = t.create(r)
	}
	if err != nil {
		return fmt.Errorf("redisstore: create %s %q: %w", r.Kind, r.ID, err)
	}
	return nil
}

func (t *Tx) create(r *store.Resource) error {
	key := t.s.keys.res(r.Kind, r.ID)
	e := t.entriesOf(r)
	// One round trip: the record, a user's name entries and a creation
	// number. The number is taken even if the create fails or runs again:
	// numbers are unique and increase, with gaps.
	strs, fields := []string{key}, []hkey(nil)
	if r.Kind == store.KindUser {
		strs, fields = append(strs, e.uname), []hkey{{e.unameHash, e.fold}}
	}
	incr := redis.NewIntCmd(t.ctx, "incr", t.s.keys.seq())
	if err := t.fetch(strs, fields, incr); err != nil {
		return err
	}
	if t.recs[key].data != nil {
		return fmt.Errorf("id exists: %w", store.ErrConflict)
	}
	if r.Kind == store.KindUser {
		if owner, err := t.userOwner(r.Source, e.fold); err != nil {
			return err
		} else if owner != "" {
			return fmt.Errorf("userName %q taken: %w", r.Name, store.ErrConflict)
		}
	}
	seq := uint64(incr.Val())
	data, err := encode(r, seq, 1)
	if err != nil {
		return err
	}

	// Past the checks: only buffered writes from here on.
	score := float64(seq)
	t.setRecord(key, data)
	t.zadd(e.order, r.ID, score)
	if r.Kind == store.KindUser {
		t.claimName(e, r.ID)
	} else {
		t.zadd(e.gname, r.ID, score)
	}
	if e.xid != "" {
		t.zadd(e.xid, r.ID, score)
	}
	for _, m := range e.members {
		t.sadd(t.s.keys.groups(m), r.ID)
	}
	t.setName(r.Kind, r.ID, r.Name)
	r.Version, r.Seq = 1, seq
	return nil
}

// Put implements store.Tx.
func (t *Tx) Put(r *store.Resource) error {
	err := t.prepare(r)
	if err == nil {
		err = t.put(r)
	}
	if err != nil {
		return fmt.Errorf("redisstore: put %s %q: %w", r.Kind, r.ID, err)
	}
	return nil
}

func (t *Tx) put(r *store.Resource) error {
	// The record and the name entry in one round trip. Comparing with the
	// entry rather than the old record's name also mends an entry that a
	// replica without the index left stale.
	recs, err := t.records([]string{t.s.keys.res(r.Kind, r.ID), t.s.keys.name(r.Kind, r.ID)})
	if err != nil {
		return err
	}
	named := recs[1] != nil && string(recs[1]) == r.Name
	old, err := t.load(r.Kind, r.ID)
	if err != nil {
		return err
	}
	oldE, newE := t.entriesOf(old), t.entriesOf(r)
	renamed := oldE.uname != newE.uname // users: another folded name or source
	if renamed {
		if owner, err := t.userOwner(r.Source, newE.fold); err != nil {
			return err
		} else if owner != "" {
			return fmt.Errorf("userName %q taken: %w", r.Name, store.ErrConflict)
		}
	}
	version := old.Version + 1
	data, err := encode(r, old.Seq, version)
	if err != nil {
		return err
	}

	// Past the checks: only buffered writes from here on. The seq stays, so
	// the resource keeps its place in every creation-ordered index.
	score := float64(old.Seq)
	if oldE.order != newE.order {
		t.zrem(oldE.order, r.ID)
		t.zadd(newE.order, r.ID, score)
	}
	switch {
	case renamed:
		t.dropName(oldE, r.ID)
		t.claimName(newE, r.ID)
	case r.Kind == store.KindGroup && oldE.gname != newE.gname:
		t.zrem(oldE.gname, r.ID)
		t.zadd(newE.gname, r.ID, score)
	}
	if oldE.xid != newE.xid {
		if oldE.xid != "" {
			t.zrem(oldE.xid, r.ID)
		}
		if newE.xid != "" {
			t.zadd(newE.xid, r.ID, score)
		}
	}
	t.moveMembers(r.ID, oldE.members, newE.members)
	if !named {
		t.setName(r.Kind, r.ID, r.Name)
	}
	t.setRecord(t.s.keys.res(r.Kind, r.ID), data)
	r.Version, r.Seq = version, old.Seq
	return nil
}

// Delete implements store.Tx.
func (t *Tx) Delete(kind store.Kind, id string) error {
	if err := t.delete(kind, id); err != nil {
		return fmt.Errorf("redisstore: delete %s %q: %w", kind, id, err)
	}
	return nil
}

func (t *Tx) delete(kind store.Kind, id string) error {
	if t.rtx == nil {
		return errReadOnly
	}
	if !kind.Valid() {
		return fmt.Errorf("unknown kind %q", kind)
	}
	old, err := t.load(kind, id)
	if err != nil {
		return err
	}
	e := t.entriesOf(old)
	t.zrem(e.order, id)
	if kind == store.KindUser {
		t.dropName(e, id)
	} else {
		t.zrem(e.gname, id)
	}
	if e.xid != "" {
		t.zrem(e.xid, id)
	}
	t.moveMembers(id, e.members, nil)
	t.setRecord(t.s.keys.name(kind, id), nil)
	t.setRecord(t.s.keys.res(kind, id), nil)
	return nil
}

// moveMembers updates the membership sets of group groupID from the member
// ids in old to those in new.
func (t *Tx) moveMembers(groupID string, old, new []string) {
	had := make(map[string]bool, len(old))
	for _, m := range old {
		had[m] = true
	}
	has := make(map[string]bool, len(new))
	for _, m := range new {
		has[m] = true
		if !had[m] {
			t.sadd(t.s.keys.groups(m), groupID)
		}
	}
	for _, m := range old {
		if !has[m] {
			t.srem(t.s.keys.groups(m), groupID)
		}
	}
}

// Get implements store.Reader.
func (t *Tx) Get(kind store.Kind, id string) (*store.Resource, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("redisstore: get: unknown kind %q", kind)
	}
	r, err := t.load(kind, id)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %s %q: %w", kind, id, err)
	}
	return r, nil
}

// LookupName implements store.Reader.
func (t *Tx) LookupName(kind store.Kind, source, name string) ([]string, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("redisstore: lookup name: unknown kind %q", kind)
	}
	if !validPart(source) {
		return nil, nil
	}
	fold := store.FoldName(name)
	if kind == store.KindUser {
		id, err := t.userOwner(source, fold)
		if err != nil || id == "" {
			return nil, wrap("lookup name", err)
		}
		return []string{id}, nil
	}
	ids, err := t.members(t.s.keys.gname(source, fold))
	return ids, wrap("lookup name", err)
}

// LookupExternalID implements store.Reader.
func (t *Tx) LookupExternalID(kind store.Kind, source, externalID string) ([]string, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("redisstore: lookup externalId: unknown kind %q", kind)
	}
	if !validPart(source) || externalID == "" {
		return nil, nil
	}
	ids, err := t.members(t.s.keys.xid(kind, source, externalID))
	return ids, wrap("lookup externalId", err)
}

// members returns the members of a seq-scored index in creation order.
func (t *Tx) members(key string) ([]string, error) {
	zs, err := t.zrange(key, 0, -1)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i] = z.member
	}
	return ids, nil
}

// GroupsOf implements store.Reader.
func (t *Tx) GroupsOf(memberID string) ([]string, error) {
	if !validPart(memberID) {
		return nil, nil
	}
	ids, err := t.smembers(t.s.keys.groups(memberID))
	return ids, wrap("groups of", err)
}

// Count implements store.Reader: the size of the creation-order set.
func (t *Tx) Count(kind store.Kind, source string) (int, error) {
	if !kind.Valid() {
		return 0, fmt.Errorf("redisstore: count: unknown kind %q", kind)
	}
	if !validPart(source) {
		return 0, nil
	}
	n, err := t.zcard(t.s.keys.order(kind, source))
	return n, wrap("count", err)
}

// List implements store.Reader. Offsets count the resources that exist when
// List runs, as ranks in the creation-order set.
func (t *Tx) List(kind store.Kind, source string, offset, limit int) ([]*store.Resource, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("redisstore: list: unknown kind %q", kind)
	}
	if limit <= 0 || !validPart(source) {
		return nil, nil
	}
	offset = max(offset, 0)
	key := t.s.keys.order(kind, source)
	var items []item
	var err error
	if t.rtx == nil {
		items, err = t.rangeView(kind, key, "rank", strconv.Itoa(offset), strconv.Itoa(offset+limit-1), "0")
	} else {
		items, err = t.rangeTx(kind, key, func() ([]zmember, error) { return t.zrange(key, offset, offset+limit-1) })
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: list %s: %w", kind, err)
	}
	out := make([]*store.Resource, 0, len(items))
	for _, it := range items {
		if it.data == nil {
			return nil, fmt.Errorf("redisstore: list %s: index lists %q, which has no record", kind, it.id)
		}
		r, err := decode(it.data)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list %s %q: %w", kind, it.id, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// eachChunk is how many resources Each reads per round trip.
const eachChunk = 128

// Each implements store.Reader. It walks the creation-order set by score in
// chunks, up to the last resource that existed when it started, so
// resources created meanwhile (by fn or anyone else) are not visited and
// resources fn deletes or moves to another source are skipped. fn's error
// is returned as is.
func (t *Tx) Each(kind store.Kind, source string, fn func(*store.Resource) (bool, error)) error {
	if !kind.Valid() {
		return fmt.Errorf("redisstore: each: unknown kind %q", kind)
	}
	if !validPart(source) {
		return nil
	}
	key := t.s.keys.order(kind, source)
	last, err := t.zrange(key, -1, -1)
	if err != nil {
		return fmt.Errorf("redisstore: each %s: %w", kind, err)
	}
	if len(last) == 0 {
		return nil
	}
	upTo, after := last[0].score, math.Inf(-1)
	for after < upTo {
		var items []item
		if t.rtx == nil {
			items, err = t.rangeView(kind, key, "score", "("+fmtScore(after), fmtScore(upTo), strconv.Itoa(eachChunk))
		} else {
			items, err = t.rangeTx(kind, key, func() ([]zmember, error) { return t.zrangeAfter(key, after, upTo, eachChunk) })
		}
		if err != nil {
			return fmt.Errorf("redisstore: each %s: %w", kind, err)
		}
		if len(items) == 0 {
			return nil
		}
		after = items[len(items)-1].score
		for i, it := range items {
			data := it.data
			if t.rtx != nil && i > 0 {
				// fn may have changed it; the Tx knows, without a round trip.
				if data, err = t.record(t.s.keys.res(kind, it.id)); err != nil {
					return fmt.Errorf("redisstore: each %s: %w", kind, err)
				}
			}
			if data == nil {
				continue // deleted since the index was read
			}
			r, err := decode(data)
			if err != nil {
				return fmt.Errorf("redisstore: each %s %q: %w", kind, it.id, err)
			}
			if r.Source != source {
				continue // moved to another source
			}
			more, err := fn(r)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// item is an index entry with its record (nil if there is none).
type item struct {
	id    string
	score float64
	data  []byte
}

// rangeTx reads index entries with ids, then their records, WATCHing both.
func (t *Tx) rangeTx(kind store.Kind, key string, ids func() ([]zmember, error)) ([]item, error) {
	zs, err := ids()
	if err != nil || len(zs) == 0 {
		return nil, err
	}
	keys := make([]string, len(zs))
	for i, z := range zs {
		keys[i] = t.s.keys.res(kind, z.member)
	}
	datas, err := t.records(keys)
	if err != nil {
		return nil, err
	}
	items := make([]item, len(zs))
	for i, z := range zs {
		items[i] = item{id: z.member, score: z.score, data: datas[i]}
	}
	return items, nil
}

// rangeView reads index entries and their records in one atomic script, so
// a View never sees an entry whose record another client just deleted.
func (t *Tx) rangeView(kind store.Kind, key, mode, from, to, limit string) ([]item, error) {
	res, err := rangeScript.Run(t.ctx, t.view, []string{key}, mode, from, to, limit, t.s.keys.resPrefix(kind)).Slice()
	if err != nil {
		return nil, err
	}
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("range script: %d values", len(res))
	}
	items := make([]item, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		id, _ := res[i].(string)
		sc, _ := res[i+1].(string)
		score, err := strconv.ParseFloat(sc, 64)
		if err != nil {
			return nil, fmt.Errorf("range script: score %q: %w", sc, err)
		}
		var data []byte
		if s, ok := res[i+2].(string); ok {
			data = []byte(s)
		}
		items = append(items, item{id: id, score: score, data: data})
	}
	return items, nil
}

// rangeScript reads a creation-order set and the records of its members.
//
//	KEYS[1]  the sorted set
//	ARGV[1]  "rank": ARGV[2], ARGV[3] are start and stop ranks;
//	         "score": they are ZRANGE BYSCORE bounds ("(12", "40") and
//	         ARGV[4] is the limit
//	ARGV[5]  the prefix that makes a member's record key
//
// It returns id, score, record (false if none) for each member. The
// records' keys are not declared: they share KEYS[1]'s hash tag, so they
// live on its cluster slot.
var rangeScript = redis.NewScript(`
local zs
if ARGV[1] == 'rank' then
  zs = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'WITHSCORES')
else
  zs = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYSCORE', 'LIMIT', 0, ARGV[4], 'WITHSCORES')
end
local out = {}
for i = 1, #zs, 2 do
  out[#out + 1] = zs[i]
  out[#out + 1] = zs[i + 1]
  out[#out + 1] = redis.call('GET', ARGV[5] .. zs[i])
end
return out
`)

// wrap prefixes a read error with the operation; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
