package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// errReadOnly is what writes in a View fail with.
var errReadOnly = errors.New("read-only transaction")

// Tx implements store.Tx. Inside Update it reads on a connection of its
// own, WATCHing every key before it reads it, and buffers its writes, which
// commit as one MULTI/EXEC; the Reader that View passes reads with plain
// commands and cannot write. A Tx is valid only inside the function it was
// passed to and is not safe for concurrent use.
//
// Reads inside Update see the transaction's own writes: the Tx keeps what
// it has read and written per key and answers from that before asking
// Redis. Create, Put, Delete, PutDoc and DeleteDoc check everything that
// can fail before they change that state, so one that fails leaves the
// transaction as it was.
type Tx struct {
	s   *Store
	ctx context.Context
	rtx *redis.Tx // the watched connection; nil in a View
	// view is a View's connection (see Store.View); nil in an Update.
	view redisConn

	recs   map[string]*rec               // record or document key → value read or written
	hashes map[string]map[string]*hfield // hash key → field → value read or written
	zsets  map[string]*zset              // sorted set key → members added and removed
	sets   map[string]*set               // set key → members added and removed
	queued []func(redis.Pipeliner) error
	// watched is set once a read has WATCHed keys besides keys.tx, after
	// which an update function's outcome depends on what it read.
	watched bool

	// unindexed holds the names MemberOf and Names read from the records
	// of resources without a name key; backfill collects their ids and
	// kinds for the Store to write those keys once the View or Update is
	// over (see backfill).
	unindexed map[string]string
	backfill  map[string]store.Kind
}

var _ store.Tx = (*Tx)(nil)

// rec is a string key (a resource record or a document) as this
// transaction knows it.
type rec struct {
	data  []byte // the value; nil when there is none, non-nil when empty
	dirty bool   // written by this transaction
	// only, with data nil and dirty, deletes the key only if it holds this
	// value at EXEC (a name entry this transaction did not read).
	only string
}

type hfield struct {
	val    string
	exists bool
	dirty  bool
	only   string // as rec.only, for a field
}

// zset is a sorted set's pending changes and, once a read needed to merge
// them, its members as Redis holds them.
type zset struct {
	add    map[string]float64
	rem    map[string]bool
	base   map[string]float64
	loaded bool
}

func (z *zset) dirty() bool { return len(z.add) > 0 || len(z.rem) > 0 }

type set struct {
	add, rem map[string]bool
	base     []string
	loaded   bool
}

func (s *set) dirty() bool { return len(s.add) > 0 || len(s.rem) > 0 }

type zmember struct {
	member string
	score  float64
}

func newTx(s *Store, ctx context.Context, rtx *redis.Tx) *Tx {
	t := &Tx{s: s, ctx: ctx, rtx: rtx}
	if rtx != nil {
		t.recs = map[string]*rec{}
		t.hashes = map[string]map[string]*hfield{}
		t.zsets = map[string]*zset{}
		t.sets = map[string]*set{}
	}
	return t
}

// Queue adds commands to the MULTI/EXEC that commits the transaction, after
// the store's own writes, so that they commit together or not at all. fn
// runs when the update function has returned nil; an error from it aborts
// the transaction and Update returns it as is. The commands run inside
// MULTI: their replies are not available to fn, and a script must be sent
// with EVAL (Script.Eval), since EVALSHA of a script the server has not
// cached (after a restart or failover) fails there without failing the
// rest of the transaction.
//
// Redis does not roll back a transaction in which a command fails at run
// time (a script error, a command on a key of the wrong type): validate
// before queueing, so that the commands cannot fail.
//
// Keys must share the store's hash tag (see [Tx.HashTag]) for a cluster to
// accept the transaction. A View's Tx refuses Queue.
func (t *Tx) Queue(fn func(redis.Pipeliner) error) error {
	if t.rtx == nil {
		return fmt.Errorf("redisstore: queue: %w", errReadOnly)
	}
	t.queued = append(t.queued, fn)
	return nil
}

// Watch WATCHes keys on the transaction's connection: if another client
// changes one of them before EXEC, the update function runs again. Watch
// a key before reading it (with [Tx.Reader]) for the read to be safe.
func (t *Tx) Watch(keys ...string) error {
	if t.rtx == nil {
		return fmt.Errorf("redisstore: watch: %w", errReadOnly)
	}
	if err := t.read(keys); err != nil {
		return fmt.Errorf("redisstore: watch: %w", err)
	}
	return nil
}

// Reader returns the commands of the transaction's connection, for reads
// of keys passed to [Tx.Watch]. Commands sent through it run at once,
// outside the MULTI/EXEC: write with [Tx.Queue] instead. In a View it is
// the store's client.
func (t *Tx) Reader() redis.Cmdable {
	if t.rtx == nil {
		return t.view
	}
	return t.rtx
}

// Context is the context the transaction's commands run with.
func (t *Tx) Context() context.Context { return t.ctx }

// HashTag is the "{prefix}" every key of the store contains; keys queued
// in the same transaction need it in a Redis Cluster.
func (t *Tx) HashTag() string { return t.s.HashTag() }

// read sends cmds in one round trip. Inside an Update it WATCHes watch
// first, so that the reply and the watch start from the same state.
func (t *Tx) read(watch []string, cmds ...redis.Cmder) error {
	var pipe redis.Pipeliner
	if t.rtx != nil {
		pipe = t.rtx.Pipeline()
		if len(watch) > 0 {
			args := make([]any, 0, 1+len(watch))
			args = append(args, "watch")
			for _, k := range watch {
				args = append(args, k)
			}
			pipe.Do(t.ctx, args...)
			t.watched = true
		}
	} else {
		if len(cmds) == 1 {
			return replyErr(t.view.Process(t.ctx, cmds[0]))
		}
		pipe = t.view.Pipeline()
	}
	for _, c := range cmds {
		_ = pipe.Process(t.ctx, c)
	}
	if pipe.Len() == 0 {
		return nil
	}
	done, err := pipe.Exec(t.ctx)
	if err == nil {
		return nil
	}
	// Exec reports the first failed command; a missing key is no failure.
	for _, c := range done {
		if err := replyErr(c.Err()); err != nil {
			return err
		}
	}
	return nil
}

func replyErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// record returns the value of the string key, or nil if there is none.
func (t *Tx) record(key string) ([]byte, error) {
	if r, ok := t.recs[key]; ok {
		return r.data, nil
	}
	cmd := redis.NewStringCmd(t.ctx, "get", key)
	if err := t.read([]string{key}, cmd); err != nil {
		return nil, err
	}
	data, err := cmd.Bytes()
	if errors.Is(err, redis.Nil) {
		data = nil
	}
	if t.recs != nil {
		t.recs[key] = &rec{data: data}
	}
	return data, nil
}

// records returns the encoded records under keys (nil for none), fetching
// those it does not know yet in one round trip.
func (t *Tx) records(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var missing []string
	var at []int
	for i, k := range keys {
		if r, ok := t.recs[k]; ok {
			out[i] = r.data
		} else {
			missing = append(missing, k)
			at = append(at, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	args := make([]any, 0, 1+len(missing))
	args = append(args, "mget")
	for _, k := range missing {
		args = append(args, k)
	}
	cmd := redis.NewSliceCmd(t.ctx, args...)
	if err := t.read(missing, cmd); err != nil {
		return nil, err
	}
	vals := cmd.Val()
	if len(vals) != len(missing) {
		return nil, fmt.Errorf("mget: %d values for %d keys", len(vals), len(missing))
	}
	for j, v := range vals {
		var data []byte
		if s, ok := v.(string); ok {
			data = []byte(s)
		}
		out[at[j]] = data
		if t.recs != nil {
			t.recs[missing[j]] = &rec{data: data}
		}
	}
	return out, nil
}

func (t *Tx) setRecord(key string, data []byte) { t.recs[key] = &rec{data: data, dirty: true} }

// hkey names a hash field.
type hkey struct{ key, field string }

// fetch reads the string keys and hash fields this Update does not know
// yet, WATCHing their keys, and sends extra along, all in one round trip;
// t.recs and t.hashes then answer for every one of them.
func (t *Tx) fetch(strs []string, fields []hkey, extra ...redis.Cmder) error {
	var watch []string
	var cmds []redis.Cmder
	gets := map[string]*redis.StringCmd{}
	for _, k := range strs {
		if _, ok := t.recs[k]; !ok && gets[k] == nil {
			gets[k] = redis.NewStringCmd(t.ctx, "get", k)
			watch, cmds = append(watch, k), append(cmds, gets[k])
		}
	}
	hgets := map[hkey]*redis.StringCmd{}
	for _, f := range fields {
		if t.hashes[f.key][f.field] == nil && hgets[f] == nil {
			hgets[f] = redis.NewStringCmd(t.ctx, "hget", f.key, f.field)
			watch, cmds = append(watch, f.key), append(cmds, hgets[f])
		}
	}
	if err := t.read(watch, append(cmds, extra...)...); err != nil {
		return err
	}
	for k, c := range gets {
		data, err := c.Bytes()
		if err != nil { // redis.Nil: read returned any other error
			data = nil
		}
		t.recs[k] = &rec{data: data}
	}
	for f, c := range hgets {
		val, err := c.Result()
		t.hashOf(f.key)[f.field] = &hfield{val: val, exists: err == nil}
	}
	return nil
}

func (t *Tx) hashOf(key string) map[string]*hfield {
	if t.hashes[key] == nil {
		t.hashes[key] = map[string]*hfield{}
	}
	return t.hashes[key]
}

func (t *Tx) hdel(key, field string) { t.hashOf(key)[field] = &hfield{dirty: true} }

// delIfScript deletes KEYS[1] if it holds ARGV[1]; hdelIfScript deletes
// field ARGV[1] of hash KEYS[1] if it holds ARGV[2]. Neither changes a key
// that does not hold the value, so neither disturbs a WATCH then.
var (
	delIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
	hdelIfScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`)
)

func (t *Tx) zsetOf(key string) *zset {
	z := t.zsets[key]
	if z == nil {
		z = &zset{add: map[string]float64{}, rem: map[string]bool{}}
		t.zsets[key] = z
	}
	return z
}

func (t *Tx) zadd(key, member string, score float64) {
	z := t.zsetOf(key)
	delete(z.rem, member)
	z.add[member] = score
}

func (t *Tx) zrem(key, member string) {
	z := t.zsetOf(key)
	delete(z.add, member)
	z.rem[member] = true
}

// merged returns the members of a sorted set this transaction changed, as
// they will be after commit, in Redis order: by score, then member.
func (t *Tx) merged(key string, z *zset) ([]zmember, error) {
	if !z.loaded {
		cmd := redis.NewZSliceCmd(t.ctx, "zrange", key, 0, -1, "withscores")
		if err := t.read([]string{key}, cmd); err != nil {
			return nil, err
		}
		z.base = make(map[string]float64, len(cmd.Val()))
		for _, m := range cmd.Val() {
			z.base[m.Member.(string)] = m.Score
		}
		z.loaded = true
	}
	all := maps.Clone(z.base)
	for m := range z.rem {
		delete(all, m)
	}
	maps.Copy(all, z.add)
	out := make([]zmember, 0, len(all))
	for m, s := range all {
		out = append(out, zmember{m, s})
	}
	slices.SortFunc(out, func(a, b zmember) int {
		if a.score != b.score {
			if a.score < b.score {
				return -1
			}
			return 1
		}
		return bytes.Compare([]byte(a.member), []byte(b.member))
	})
	return out, nil
}

// zrange returns the members ranked start to stop (inclusive; stop -1 is
// the last), with this transaction's changes applied.
func (t *Tx) zrange(key string, start, stop int) ([]zmember, error) {
	if z := t.zsets[key]; z != nil && z.dirty() {
		all, err := t.merged(key, z)
		if err != nil {
			return nil, err
		}
		if stop < 0 || stop >= len(all) {
			stop = len(all) - 1
		}
		if start >= len(all) || start > stop {
			return nil, nil
		}
		return all[start : stop+1], nil
	}
	cmd := redis.NewZSliceCmd(t.ctx, "zrange", key, start, stop, "withscores")
	if err := t.read([]string{key}, cmd); err != nil {
		return nil, err
	}
	return fromZ(cmd.Val()), nil
}

// zrangeAfter returns up to limit members with after < score <= upTo.
func (t *Tx) zrangeAfter(key string, after, upTo float64, limit int) ([]zmember, error) {
	if z := t.zsets[key]; z != nil && z.dirty() {
		all, err := t.merged(key, z)
		if err != nil {
			return nil, err
		}
		var out []zmember
		for _, m := range all {
			if m.score > after && m.score <= upTo && len(out) < limit {
				out = append(out, m)
			}
		}
		return out, nil
	}
	cmd := redis.NewZSliceCmd(t.ctx, "zrange", key, "("+fmtScore(after), fmtScore(upTo), "byscore", "limit", 0, limit, "withscores")
	if err := t.read([]string{key}, cmd); err != nil {
		return nil, err
	}
	return fromZ(cmd.Val()), nil
}

func (t *Tx) zcard(key string) (int, error) {
	if z := t.zsets[key]; z != nil && z.dirty() {
		all, err := t.merged(key, z)
		return len(all), err
	}
	cmd := redis.NewIntCmd(t.ctx, "zcard", key)
	if err := t.read([]string{key}, cmd); err != nil {
		return 0, err
	}
	return int(cmd.Val()), nil
}

func fromZ(zs []redis.Z) []zmember {
	out := make([]zmember, len(zs))
	for i, z := range zs {
		out[i] = zmember{member: z.Member.(string), score: z.Score}
	}
	return out
}

func fmtScore(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (t *Tx) setOf(key string) *set {
	s := t.sets[key]
	if s == nil {
		s = &set{add: map[string]bool{}, rem: map[string]bool{}}
		t.sets[key] = s
	}
	return s
}

func (t *Tx) sadd(key, member string) {
	s := t.setOf(key)
	delete(s.rem, member)
	s.add[member] = true
}

func (t *Tx) srem(key, member string) {
	s := t.setOf(key)
	delete(s.add, member)
	s.rem[member] = true
}

// smembers returns a set's members, with this transaction's changes, sorted.
func (t *Tx) smembers(key string) ([]string, error) {
	s := t.sets[key]
	if s == nil || !s.dirty() {
		return t.fetchMembers(key)
	}
	if !s.loaded {
		base, err := t.fetchMembers(key)
		if err != nil {
			return nil, err
		}
		s.base, s.loaded = base, true
	}
	all := map[string]bool{}
	for _, m := range s.base {
		all[m] = true
	}
	for m := range s.rem {
		delete(all, m)
	}
	maps.Copy(all, s.add)
	return slices.Sorted(maps.Keys(all)), nil
}

func (t *Tx) fetchMembers(key string) ([]string, error) {
	cmd := redis.NewStringSliceCmd(t.ctx, "smembers", key)
	if err := t.read([]string{key}, cmd); err != nil {
		return nil, err
	}
	out := cmd.Val()
	sort.Strings(out)
	return out, nil
}

// writeTo queues the transaction's writes. The order of commands does not
// matter: every key gets at most one command per kind of change.
func (t *Tx) writeTo(p redis.Pipeliner) {
	ctx := t.ctx
	for _, key := range slices.Sorted(maps.Keys(t.recs)) {
		switch r := t.recs[key]; {
		case !r.dirty:
		case r.data == nil && r.only != "":
			delIfScript.Eval(ctx, p, []string{key}, r.only)
		case r.data == nil:
			p.Del(ctx, key)
		default:
			p.Set(ctx, key, r.data, 0)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(t.hashes)) {
		var set []any
		var del []string
		for field, f := range t.hashes[key] {
			switch {
			case !f.dirty:
			case !f.exists && f.only != "":
				hdelIfScript.Eval(ctx, p, []string{key}, field, f.only)
			case f.exists:
				set = append(set, field, f.val)
			default:
				del = append(del, field)
			}
		}
		if len(del) > 0 {
			p.HDel(ctx, key, del...)
		}
		if len(set) > 0 {
			p.HSet(ctx, key, set...)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(t.zsets)) {
		z := t.zsets[key]
		if len(z.rem) > 0 {
			p.ZRem(ctx, key, anys(slices.Collect(maps.Keys(z.rem)))...)
		}
		if len(z.add) > 0 {
			zs := make([]redis.Z, 0, len(z.add))
			for m, s := range z.add {
				zs = append(zs, redis.Z{Score: s, Member: m})
			}
			p.ZAdd(ctx, key, zs...)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(t.sets)) {
		s := t.sets[key]
		if len(s.rem) > 0 {
			p.SRem(ctx, key, anys(slices.Collect(maps.Keys(s.rem)))...)
		}
		if len(s.add) > 0 {
			p.SAdd(ctx, key, anys(slices.Collect(maps.Keys(s.add)))...)
		}
	}
}

// hasWrites reports whether commit has anything to send.
func (t *Tx) hasWrites() bool {
	if len(t.queued) > 0 {
		return true
	}
	for _, r := range t.recs {
		if r.dirty {
			return true
		}
	}
	for _, h := range t.hashes {
		for _, f := range h {
			if f.dirty {
				return true
			}
		}
	}
	for _, z := range t.zsets {
		if z.dirty() {
			return true
		}
	}
	for _, s := range t.sets {
		if s.dirty() {
			return true
		}
	}
	return false
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func decode(data []byte) (*store.Resource, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // attribute numbers stay json.Number, as store.Resource requires
	r := new(store.Resource)
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return r, nil
}

func encode(r *store.Resource, seq, version uint64) ([]byte, error) {
	rec := *r
	rec.Seq, rec.Version = seq, version
	b, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b, nil
}
