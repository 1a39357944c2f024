package boltq

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/queue"
)

// txn is the queue's part of one bolt transaction. Its methods are the
// queue's transitions; each checks everything that can refuse it
// (ErrLeaseLost, ErrNotFound) before it writes, so a refused transition
// leaves the transaction as it was.
type txn struct {
	jobs, due, leases, dead, meta *bbolt.Bucket
}

func openTxn(btx *bbolt.Tx) (*txn, error) {
	t := &txn{
		jobs:   btx.Bucket([]byte(bucketJobs)),
		due:    btx.Bucket([]byte(bucketDue)),
		leases: btx.Bucket([]byte(bucketLeases)),
		dead:   btx.Bucket([]byte(bucketDead)),
		meta:   btx.Bucket([]byte(bucketMeta)),
	}
	if t.jobs == nil || t.due == nil || t.leases == nil || t.dead == nil || t.meta == nil {
		return nil, errors.New("queue buckets missing: the file was not opened with boltq.New")
	}
	return t, nil
}

// initBuckets creates the queue's buckets and checks the layout version.
func initBuckets(btx *bbolt.Tx) error {
	for _, name := range []string{bucketJobs, bucketDue, bucketLeases, bucketDead, bucketMeta} {
		if _, err := btx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := btx.Bucket([]byte(bucketMeta))
	want := binary.BigEndian.AppendUint64(nil, schemaVersion)
	switch got := meta.Get(metaSchema); {
	case got == nil:
		return meta.Put(metaSchema, want)
	case len(got) != 8 || binary.BigEndian.Uint64(got) != schemaVersion:
		return fmt.Errorf("queue layout version %x, this build reads %d", got, schemaVersion)
	}
	return nil
}

func (t *txn) index(s state) *bbolt.Bucket {
	switch s {
	case stateScheduled:
		return t.due
	case stateInFlight:
		return t.leases
	default:
		return t.dead
	}
}

// load returns key's record, or nil if the queue does not hold it.
func (t *txn) load(key string) (*record, error) {
	v := t.jobs.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return r, nil
}

// loadIndexed loads a record that the index of state s lists; anything
// else means the file is corrupt.
func (t *txn) loadIndexed(key string, s state) (*record, error) {
	r, err := t.load(key)
	if err == nil && (r == nil || r.state != s) {
		err = fmt.Errorf("the %s index lists %q, whose record is %+v", s, key, r)
	}
	return r, err
}

// write moves key from old to rec, keeping the indexes and counts in step:
// every change of a record goes through here. A nil old is a new key; a
// nil rec removes it.
func (t *txn) write(key string, old, rec *record) error {
	var oldIdx, newIdx []byte
	if old != nil {
		oldIdx = indexKey(old.indexAt(), key)
	}
	if rec != nil {
		newIdx = indexKey(rec.indexAt(), key)
	}
	sameIdx := old != nil && rec != nil && old.state == rec.state && string(oldIdx) == string(newIdx)
	if old != nil && !sameIdx {
		if err := t.index(old.state).Delete(oldIdx); err != nil {
			return err
		}
	}
	if rec != nil && !sameIdx {
		if err := t.index(rec.state).Put(newIdx, []byte{}); err != nil {
			return err
		}
	}
	if err := t.count(old, rec); err != nil {
		return err
	}
	if rec == nil {
		return t.jobs.Delete([]byte(key))
	}
	return t.jobs.Put([]byte(key), rec.encode())
}

// counts are the number of keys per state, kept in queue/meta so that
// Counts (and every metrics scrape) reads three numbers instead of
// walking the indexes.
type counts [stateDead + 1]int64

func (t *txn) counts() counts {
	var c counts
	if v := t.meta.Get(metaCounts); len(v) == 8*len(c) {
		for i := range c {
			c[i] = int64(binary.BigEndian.Uint64(v[8*i:]))
		}
	}
	return c
}

func (t *txn) count(old, rec *record) error {
	if old != nil && rec != nil && old.state == rec.state {
		return nil
	}
	c := t.counts()
	if old != nil {
		c[old.state]--
	}
	if rec != nil {
		c[rec.state]++
	}
	v := make([]byte, 0, 8*len(c))
	for _, n := range c {
		v = binary.BigEndian.AppendUint64(v, uint64(n))
	}
	return t.meta.Put(metaCounts, v)
}

// startsBy reports whether the first entry of an index is listed at or
// before now.
func startsBy(b *bbolt.Bucket, now int64) bool {
	k, _ := b.Cursor().First()
	if k == nil {
		return false
	}
	at, _ := splitIndexKey(k)
	return at <= now
}

// upTo returns the keys of the first n index entries listed at or before
// now, with their times. The caller writes only after the scan, since a
// bolt cursor does not survive writes to its bucket.
func upTo(b *bbolt.Bucket, now int64, n int) (keys []string, ats []int64) {
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < n; k, _ = c.Next() {
		at, key := splitIndexKey(k)
		if at > now {
			break
		}
		keys, ats = append(keys, key), append(ats, at)
	}
	return keys, ats
}

// schedule implements Queue.Schedule.
func (t *txn) schedule(key string, due int64) error {
	old, err := t.load(key)
	if err != nil {
		return err
	}
	if old == nil {
		return t.write(key, nil, newScheduled(due))
	}
	rec := *old
	switch {
	case old.state == stateScheduled && due < old.due:
		rec.due = due
	case old.state == stateInFlight && (old.pending == noTime || due < old.pending):
		rec.pending = due
	default:
		return nil // a later time, or a dead key
	}
	return t.write(key, old, &rec)
}

// expiry is a lease that ran out.
type expiry struct {
	key      string
	leaseEnd int64
	attempts uint32 // failed attempts, this one included
	died     bool   // past the retry horizon: a dead letter now
}

// sweep ends every lease that ran out at or before now. Each is a failed
// attempt at its lease end, handled as Retry handles one: the key dies if
// it has been failing for longer than horizon, else it is scheduled at the
// earlier of the due time it was claimed at and its pending due.
func (t *txn) sweep(now int64, horizon time.Duration) ([]expiry, error) {
	keys, ends := upTo(t.leases, now, math.MaxInt)
	out := make([]expiry, len(keys))
	for i, key := range keys {
		old, err := t.loadIndexed(key, stateInFlight)
		if err != nil {
			return nil, err
		}
		rec := failed(old, ends[i], old.due, horizon, queue.LeaseExpiredError)
		if err := t.write(key, old, &rec); err != nil {
			return nil, err
		}
		out[i] = expiry{key: key, leaseEnd: ends[i], attempts: rec.attempts, died: rec.state == stateDead}
	}
	return out, nil
}

// claim leases up to n keys due at or before now, earliest first.
func (t *txn) claim(now int64, n int, lease time.Duration) ([]queue.Job, error) {
	keys, _ := upTo(t.due, now, n)
	end := plus(now, lease)
	jobs := make([]queue.Job, 0, len(keys))
	for _, key := range keys {
		old, err := t.loadIndexed(key, stateScheduled)
		if err != nil {
			return nil, err
		}
		rec := *old
		rec.state, rec.lease, rec.leaseEnd = stateInFlight, rand.Text(), end
		if err := t.write(key, old, &rec); err != nil {
			return nil, err
		}
		jobs = append(jobs, queue.Job{
			Key:      key,
			Due:      timeOf(rec.due),
			Attempts: int(rec.attempts),
			Lease:    rec.lease,
			LeaseEnd: timeOf(end),
		})
	}
	return jobs, nil
}

// held returns the record of job's key if job holds its lease at now.
func (t *txn) held(job queue.Job, now int64) (*record, error) {
	rec, err := t.load(job.Key)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.state != stateInFlight || job.Lease == "" || rec.lease != job.Lease || now >= rec.leaseEnd {
		return nil, queue.ErrLeaseLost
	}
	return rec, nil
}

// extend implements Queue.Extend.
func (t *txn) extend(job queue.Job, now int64, lease time.Duration) (queue.Job, error) {
	old, err := t.held(job, now)
	if err != nil {
		return queue.Job{}, err
	}
	rec := *old
	rec.leaseEnd = plus(now, lease)
	if err := t.write(job.Key, old, &rec); err != nil {
		return queue.Job{}, err
	}
	return queue.Job{
		Key:      job.Key,
		Due:      timeOf(rec.due),
		Attempts: int(rec.attempts),
		Lease:    rec.lease,
		LeaseEnd: timeOf(rec.leaseEnd),
	}, nil
}

// ack implements Queue.Ack.
func (t *txn) ack(job queue.Job, now int64) error {
	old, err := t.held(job, now)
	if err != nil {
		return err
	}
	if old.pending == noTime {
		return t.write(job.Key, old, nil)
	}
	return t.write(job.Key, old, newScheduled(old.pending))
}

// counted is old after a failed attempt at time at: counted, with its
// error kept, and no longer leased or pending.
func counted(old *record, at int64, msg string) record {
	rec := *old
	rec.attempts++
	if rec.firstFail == noTime {
		rec.firstFail = at
	}
	rec.lastError = msg
	rec.pending, rec.lease, rec.leaseEnd = noTime, "", 0
	return rec
}

// failed is an in-flight old after a failed attempt at time at (Retry, an
// expired lease): a dead letter if the key has been failing for longer
// than horizon, else scheduled at the earlier of due and its pending due.
func failed(old *record, at, due int64, horizon time.Duration, msg string) record {
	rec := counted(old, at, msg)
	if at-rec.firstFail > int64(horizon) {
		rec.state, rec.due = stateDead, at
	} else {
		rec.state, rec.due = stateScheduled, earliest(due, old.pending)
	}
	return rec
}

// retry implements Queue.Retry and reports whether the key died.
func (t *txn) retry(job queue.Job, now int64, wait, horizon time.Duration, msg string) (died bool, err error) {
	old, err := t.held(job, now)
	if err != nil {
		return false, err
	}
	rec := failed(old, now, plus(now, wait), horizon, msg)
	return rec.state == stateDead, t.write(job.Key, old, &rec)
}

// kill implements Queue.Kill.
func (t *txn) kill(job queue.Job, now int64, msg string) error {
	old, err := t.held(job, now)
	if err != nil {
		return err
	}
	rec := counted(old, now, msg)
	rec.state, rec.due = stateDead, now
	return t.write(job.Key, old, &rec)
}

// replay implements Queue.Replay.
func (t *txn) replay(key string, now int64) error {
	old, err := t.load(key)
	if err != nil {
		return err
	}
	if old == nil || old.state != stateDead {
		return queue.ErrNotFound
	}
	return t.write(key, old, newScheduled(now))
}

// cancel implements Queue.Cancel.
func (t *txn) cancel(key string) error {
	old, err := t.load(key)
	if err != nil || old == nil {
		return err
	}
	if old.state != stateInFlight {
		return t.write(key, old, nil)
	}
	if old.pending == noTime {
		return nil
	}
	rec := *old
	rec.pending = noTime
	return t.write(key, old, &rec)
}
