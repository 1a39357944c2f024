package boltdb

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// Tx implements store.Tx on a bolt transaction. The Reader that View passes
// is a Tx on a read-only transaction, whose write methods fail. A Tx is valid
// only inside the function it was passed to and not safe for concurrent use.
//
// Create, Put and Delete check everything that can fail before they write,
// so one that fails leaves the transaction as it was: a caller may handle
// the error and go on.
type Tx struct {
	btx *bbolt.Tx
}

var _ store.Tx = (*Tx)(nil)

// Bolt returns the bolt transaction t runs in, so that other packages can
// keep their own buckets in step with the store: what they write through it
// commits or rolls back together with the store's changes. A package holding
// only a store.Tx reaches it through Store.BoltTx, which checks that the
// transaction is the store's and writable.
//
// Inside Update the transaction is shared with the other calls of the same
// batch and fn may run more than once, in a new transaction each time: write
// only what fn is responsible for, and defer effects outside the file to
// btx.OnCommit. Do not commit or roll it back.
func (t *Tx) Bolt() *bbolt.Tx { return t.btx }

// record is what a resources bucket stores: the resource, whose Seq places
// it in the seq-ordered indexes.
type record = store.Resource

func (t *Tx) bucket(name string) *bbolt.Bucket { return t.btx.Bucket([]byte(name)) }

// load reads and decodes a record; it fails with store.ErrNotFound.
func (t *Tx) load(kb kindBuckets, id string) (*record, error) {
	if !validPart(id) {
		return nil, store.ErrNotFound
	}
	v := t.bucket(kb.resources).Get([]byte(id))
	if v == nil {
		return nil, store.ErrNotFound
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber() // attribute numbers stay json.Number, as store.Resource requires
	rec := new(record)
	if err := dec.Decode(rec); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return rec, nil
}

// loadIndexed loads a record an index points at; its absence is corruption,
// not store.ErrNotFound.
func (t *Tx) loadIndexed(kb kindBuckets, id string) (*record, error) {
	rec, err := t.load(kb, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("index lists %q, which has no record", id)
	}
	return rec, err
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

// entries are the index keys a resource owns.
type entries struct {
	order      []byte   // source 0x00 seq
	name       []byte   // users: source 0x00 fold(name); groups: that, 0x00, seq
	externalID []byte   // source 0x00 externalId 0x00 seq; nil without externalId
	members    []string // groups: distinct member ids
}

func entriesOf(r *store.Resource, seq uint64) entries {
	e := entries{
		order: appendSeq(sourcePrefix(r.Source), seq),
		name:  nameKey(r.Source, r.Name),
	}
	if r.Kind == store.KindGroup {
		e.name = appendSeq(append(e.name, 0), seq)
		seen := make(map[string]bool, len(r.Members))
		for _, m := range r.Members {
			if !seen[m.Value] {
				seen[m.Value] = true
				e.members = append(e.members, m.Value)
			}
		}
	}
	if r.ExternalID != "" {
		e.externalID = appendSeq(append(append(sourcePrefix(r.Source), r.ExternalID...), 0), seq)
	}
	return e
}

// check rejects keys bolt would refuse, before anything is written.
func (e entries) check(id string) error {
	if len(e.name) > bbolt.MaxKeySize {
		return fmt.Errorf("name of %d bytes is too long", len(e.name))
	}
	if len(e.externalID) > bbolt.MaxKeySize {
		return fmt.Errorf("externalId of %d bytes is too long", len(e.externalID))
	}
	if len(e.order) > bbolt.MaxKeySize || len(id) > bbolt.MaxKeySize {
		return errors.New("id or source too long")
	}
	for _, m := range e.members {
		if len(m)+1+len(id) > bbolt.MaxKeySize {
			return fmt.Errorf("member id of %d bytes is too long", len(m))
		}
	}
	return nil
}

// prepare checks what every write needs: a writable transaction and ids that
// can be key parts.
func (t *Tx) prepare(r *store.Resource) (kindBuckets, error) {
	if !t.btx.Writable() {
		return kindBuckets{}, bbolt.ErrTxNotWritable
	}
	kb, err := bucketsOf(r.Kind)
	if err != nil {
		return kindBuckets{}, err
	}
	if !validPart(r.ID) {
		return kindBuckets{}, errors.New("id is empty or contains NUL")
	}
	if !validPart(r.Source) {
		return kindBuckets{}, errors.New("source is empty or contains NUL")
	}
	if r.Kind == store.KindGroup {
		for _, m := range r.Members {
			if !validPart(m.Value) {
				return kindBuckets{}, fmt.Errorf("member id %q is empty or contains NUL", m.Value)
			}
		}
	}
	return kb, nil
}

// Create implements store.Tx.
func (t *Tx) Create(r *store.Resource) error {
	kb, err := t.prepare(r)
	if err == nil {
		err = t.create(kb, r)
	}
	if err != nil {
		return fmt.Errorf("boltdb: create %s %q: %w", r.Kind, r.ID, err)
	}
	return nil
}

func (t *Tx) create(kb kindBuckets, r *store.Resource) error {
	resources := t.bucket(kb.resources)
	if resources.Get([]byte(r.ID)) != nil {
		return fmt.Errorf("id exists: %w", store.ErrConflict)
	}
	names := t.bucket(kb.names)
	if r.Kind == store.KindUser {
		if names.Get(nameKey(r.Source, r.Name)) != nil {
			return fmt.Errorf("userName %q taken: %w", r.Name, store.ErrConflict)
		}
	}
	order := t.bucket(kb.order)
	seq := order.Sequence() + 1
	e := entriesOf(r, seq)
	if err := e.check(r.ID); err != nil {
		return err
	}
	val, err := encode(r, seq, 1)
	if err != nil {
		return err
	}

	// Past the checks, only a failure of bolt itself can stop the writes.
	if _, err := order.NextSequence(); err != nil {
		return err
	}
	id := []byte(r.ID)
	err = errors.Join(
		order.Put(e.order, id),
		names.Put(e.name, id),
		putIf(t.bucket(kb.externalIDs), e.externalID, id),
		addCount(t.bucket(kb.counts), r.Source, 1),
		t.moveMembers(r.ID, nil, e.members),
		t.name(r),
		resources.Put(id, val),
	)
	if err != nil {
		return err
	}
	r.Version, r.Seq = 1, seq
	return nil
}

// Put implements store.Tx.
func (t *Tx) Put(r *store.Resource) error {
	kb, err := t.prepare(r)
	if err == nil {
		err = t.put(kb, r)
	}
	if err != nil {
		return fmt.Errorf("boltdb: put %s %q: %w", r.Kind, r.ID, err)
	}
	return nil
}

func (t *Tx) put(kb kindBuckets, r *store.Resource) error {
	old, err := t.load(kb, r.ID)
	if err != nil {
		return err
	}
	oldE, newE := entriesOf(old, old.Seq), entriesOf(r, old.Seq)
	names := t.bucket(kb.names)
	if r.Kind == store.KindUser && !bytes.Equal(oldE.name, newE.name) {
		if names.Get(newE.name) != nil {
			return fmt.Errorf("userName %q taken: %w", r.Name, store.ErrConflict)
		}
	}
	if err := newE.check(r.ID); err != nil {
		return err
	}
	version := old.Version + 1
	val, err := encode(r, old.Seq, version)
	if err != nil {
		return err
	}

	// Past the checks, only a failure of bolt itself can stop the writes.
	// The seq stays, so the resource keeps its place in creation order.
	id := []byte(r.ID)
	counts := t.bucket(kb.counts)
	err = errors.Join(
		replace(t.bucket(kb.order), oldE.order, newE.order, id),
		replace(names, oldE.name, newE.name, id),
		replace(t.bucket(kb.externalIDs), oldE.externalID, newE.externalID, id),
		t.moveMembers(r.ID, oldE.members, newE.members),
		t.name(r),
		t.bucket(kb.resources).Put(id, val),
	)
	if err == nil && old.Source != r.Source {
		err = errors.Join(addCount(counts, old.Source, -1), addCount(counts, r.Source, 1))
	}
	if err != nil {
		return err
	}
	r.Version, r.Seq = version, old.Seq
	return nil
}

// Delete implements store.Tx.
func (t *Tx) Delete(kind store.Kind, id string) error {
	if err := t.delete(kind, id); err != nil {
		return fmt.Errorf("boltdb: delete %s %q: %w", kind, id, err)
	}
	return nil
}

func (t *Tx) delete(kind store.Kind, id string) error {
	if !t.btx.Writable() {
		return bbolt.ErrTxNotWritable
	}
	kb, err := bucketsOf(kind)
	if err != nil {
		return err
	}
	old, err := t.load(kb, id)
	if err != nil {
		return err
	}
	e := entriesOf(old, old.Seq)
	return errors.Join(
		t.bucket(kb.order).Delete(e.order),
		t.bucket(kb.names).Delete(e.name),
		replace(t.bucket(kb.externalIDs), e.externalID, nil, nil),
		addCount(t.bucket(kb.counts), old.Source, -1),
		t.moveMembers(id, e.members, nil),
		t.unname(kind, id),
		t.bucket(kb.resources).Delete([]byte(id)),
	)
}

// moveMembers updates the membership index of group groupID from the member
// ids in old to those in new.
func (t *Tx) moveMembers(groupID string, old, new []string) error {
	if len(old) == 0 && len(new) == 0 {
		return nil
	}
	b := t.bucket(bucketMembers)
	had := make(map[string]bool, len(old))
	for _, m := range old {
		had[m] = true
	}
	has := make(map[string]bool, len(new))
	var errs []error
	for _, m := range new {
		has[m] = true
		if !had[m] {
			errs = append(errs, b.Put(memberKey(m, groupID), []byte{}))
		}
	}
	for _, m := range old {
		if !has[m] {
			errs = append(errs, b.Delete(memberKey(m, groupID)))
		}
	}
	return errors.Join(errs...)
}

// replace moves an index entry from oldKey to newKey; a nil key is no entry.
func replace(b *bbolt.Bucket, oldKey, newKey, id []byte) error {
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	if oldKey != nil {
		if err := b.Delete(oldKey); err != nil {
			return err
		}
	}
	return putIf(b, newKey, id)
}

func putIf(b *bbolt.Bucket, key, val []byte) error {
	if key == nil {
		return nil
	}
	return b.Put(key, val)
}

// addCount adds delta to the source's counter, dropping counters that reach zero.
func addCount(b *bbolt.Bucket, source string, delta int64) error {
	key := []byte(source)
	n := int64(decodeCount(b.Get(key))) + delta
	if n <= 0 {
		return b.Delete(key)
	}
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func decodeCount(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Get implements store.Reader.
func (t *Tx) Get(kind store.Kind, id string) (*store.Resource, error) {
	kb, err := bucketsOf(kind)
	if err != nil {
		return nil, fmt.Errorf("boltdb: get: %w", err)
	}
	rec, err := t.load(kb, id)
	if err != nil {
		return nil, fmt.Errorf("boltdb: get %s %q: %w", kind, id, err)
	}
	return rec, nil
}

// LookupName implements store.Reader.
func (t *Tx) LookupName(kind store.Kind, source, name string) ([]string, error) {
	kb, err := bucketsOf(kind)
	if err != nil {
		return nil, fmt.Errorf("boltdb: lookup name: %w", err)
	}
	if !validPart(source) {
		return nil, nil
	}
	key := nameKey(source, name)
	if kind == store.KindUser {
		if id := t.bucket(kb.names).Get(key); id != nil {
			return []string{string(id)}, nil
		}
		return nil, nil
	}
	return seqScan(t.bucket(kb.names), append(key, 0)), nil
}

// LookupExternalID implements store.Reader.
func (t *Tx) LookupExternalID(kind store.Kind, source, externalID string) ([]string, error) {
	kb, err := bucketsOf(kind)
	if err != nil {
		return nil, fmt.Errorf("boltdb: lookup externalId: %w", err)
	}
	if !validPart(source) || externalID == "" {
		return nil, nil
	}
	prefix := append(append(sourcePrefix(source), externalID...), 0)
	return seqScan(t.bucket(kb.externalIDs), prefix), nil
}

// seqScan returns the values under the keys that are prefix followed by a
// seq, in seq order. Longer keys share the prefix when the name or
// externalId before it contains NUL; the length test leaves them out.
func seqScan(b *bbolt.Bucket, prefix []byte) []string {
	var ids []string
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix)+8 {
			ids = append(ids, string(v))
		}
	}
	return ids
}

// GroupsOf implements store.Reader.
func (t *Tx) GroupsOf(memberID string) ([]string, error) {
	if !validPart(memberID) {
		return nil, nil
	}
	prefix := append([]byte(memberID), 0)
	var ids []string
	c := t.bucket(bucketMembers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids, nil
}

// Count implements store.Reader.
func (t *Tx) Count(kind store.Kind, source string) (int, error) {
	kb, err := bucketsOf(kind)
	if err != nil {
		return 0, fmt.Errorf("boltdb: count: %w", err)
	}
	if !validPart(source) {
		return 0, nil
	}
	return int(decodeCount(t.bucket(kb.counts).Get([]byte(source)))), nil
}

// List implements store.Reader. Offsets count the resources that exist when
// List runs: deleting a resource the caller has already been given moves
// the later ones up by one, and the next page starts one further than the
// caller expects. Skipping offset entries walks order-index keys only; no
// skipped record is read.
func (t *Tx) List(kind store.Kind, source string, offset, limit int) ([]*store.Resource, error) {
	kb, err := bucketsOf(kind)
	if err != nil {
		return nil, fmt.Errorf("boltdb: list: %w", err)
	}
	if limit <= 0 || !validPart(source) {
		return nil, nil
	}
	prefix := sourcePrefix(source)
	c := t.bucket(kb.order).Cursor()
	k, v := c.Seek(prefix)
	for ; offset > 0 && k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		offset--
	}
	var ids []string
	for ; len(ids) < limit && k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ids = append(ids, string(v))
	}
	out := make([]*store.Resource, 0, len(ids))
	for _, id := range ids {
		rec, err := t.loadIndexed(kb, id)
		if err != nil {
			return nil, fmt.Errorf("boltdb: list %s: %w", kind, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// eachChunk is how many order-index entries Each reads before calling fn.
const eachChunk = 128

// Each implements store.Reader. It visits the source's resources that exist
// when it starts and still do when their turn comes, so fn may Put or Delete
// resources (any of them) inside an Update: Each reads the order index in
// chunks and seeks afresh after fn has run, since bolt cursors do not
// survive writes to their bucket. Resources fn creates are not visited.
// fn's error is returned as is.
func (t *Tx) Each(kind store.Kind, source string, fn func(*store.Resource) (bool, error)) error {
	kb, err := bucketsOf(kind)
	if err != nil {
		return fmt.Errorf("boltdb: each: %w", err)
	}
	if !validPart(source) {
		return nil
	}
	prefix := sourcePrefix(source)
	last := lastWithPrefix(t.bucket(kb.order).Cursor(), prefix)
	if last == nil {
		return nil
	}
	var after []byte
	for after == nil || bytes.Compare(after, last) < 0 {
		ids, end := chunk(t.bucket(kb.order).Cursor(), prefix, after, last)
		if len(ids) == 0 {
			return nil
		}
		after = end
		for _, id := range ids {
			rec, err := t.load(kb, id)
			if errors.Is(err, store.ErrNotFound) {
				continue // fn deleted it
			}
			if err != nil {
				return fmt.Errorf("boltdb: each %s: %w", kind, err)
			}
			if rec.Source != source {
				continue // fn moved it to another source
			}
			more, err := fn(rec)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// lastWithPrefix returns a copy of the last key with prefix, or nil.
// prefix ends in NUL, so prefix with its last byte raised to 1 is the
// smallest key after all of them.
func lastWithPrefix(c *bbolt.Cursor, prefix []byte) []byte {
	bound := bytes.Clone(prefix)
	bound[len(bound)-1] = 1
	k, _ := c.Seek(bound)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return bytes.Clone(k)
}

// chunk returns up to eachChunk ids from the keys after after (or from the
// first key with prefix when after is nil) up to last, and a copy of the
// last key it read.
func chunk(c *bbolt.Cursor, prefix, after, last []byte) (ids []string, end []byte) {
	var k, v []byte
	if after == nil {
		k, v = c.Seek(prefix)
	} else if k, v = c.Seek(after); bytes.Equal(k, after) {
		k, v = c.Next()
	}
	for ; k != nil && len(ids) < eachChunk && bytes.HasPrefix(k, prefix) && bytes.Compare(k, last) <= 0; k, v = c.Next() {
		ids = append(ids, string(v))
		end = k
	}
	return ids, bytes.Clone(end)
}
