package boltdb

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// docs returns the bucket of namespace ns, or nil if nothing was ever
// written to it.
func (t *Tx) docs(ns store.Namespace) *bbolt.Bucket {
	return t.bucket(bucketDocs).Bucket([]byte(ns))
}

// GetDoc implements store.Reader.
func (t *Tx) GetDoc(ns store.Namespace, key string) ([]byte, error) {
	if err := store.CheckDoc(ns, key); err != nil {
		return nil, fmt.Errorf("boltdb: get doc %q %q: %w", ns, key, err)
	}
	var v []byte
	if b := t.docs(ns); b != nil {
		v = b.Get([]byte(key))
	}
	if v == nil {
		return nil, fmt.Errorf("boltdb: get doc %q %q: %w", ns, key, store.ErrNotFound)
	}
	// v lives in bolt's read-only memory map, and only until the
	// transaction ends. Clone keeps an empty document non-nil.
	return bytes.Clone(v), nil
}

// PutDoc implements store.Tx.
func (t *Tx) PutDoc(ns store.Namespace, key string, val []byte) error {
	if err := t.putDoc(ns, key, val); err != nil {
		return fmt.Errorf("boltdb: put doc %q %q: %w", ns, key, err)
	}
	return nil
}

func (t *Tx) putDoc(ns store.Namespace, key string, val []byte) error {
	if !t.btx.Writable() {
		return bbolt.ErrTxNotWritable
	}
	if err := store.CheckDoc(ns, key); err != nil {
		return err
	}
	if len(val) > bbolt.MaxValueSize {
		return fmt.Errorf("document of %d bytes is too large", len(val))
	}
	// Past the checks, only a failure of bolt itself can stop the writes.
	b, err := t.bucket(bucketDocs).CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return err
	}
	// bolt keeps the value slice until commit, so it must not be the
	// caller's; and a nil value would read back as no document.
	return b.Put([]byte(key), append(make([]byte, 0, len(val)), val...))
}

// DeleteDoc implements store.Tx.
func (t *Tx) DeleteDoc(ns store.Namespace, key string) error {
	if err := t.deleteDoc(ns, key); err != nil {
		return fmt.Errorf("boltdb: delete doc %q %q: %w", ns, key, err)
	}
	return nil
}

func (t *Tx) deleteDoc(ns store.Namespace, key string) error {
	if !t.btx.Writable() {
		return bbolt.ErrTxNotWritable
	}
	if err := store.CheckDoc(ns, key); err != nil {
		return err
	}
	b := t.docs(ns)
	if b == nil {
		return nil
	}
	return b.Delete([]byte(key))
}

// ScanDocs implements store.Reader with a cursor on the namespace's bucket.
// fn may write anywhere but in ns (bolt cursors do not survive writes to
// their own bucket); fn's error is returned as is.
func (t *Tx) ScanDocs(ns store.Namespace, prefix string, desc bool, fn func(key string, val []byte) (bool, error)) error {
	if !ns.Valid() {
		return fmt.Errorf("boltdb: scan docs %q: invalid namespace", ns)
	}
	b := t.docs(ns)
	if b == nil {
		return nil
	}
	p := []byte(prefix)
	c := b.Cursor()
	var k, v []byte
	next := c.Next
	if desc {
		k, v = lastWithDocPrefix(c, p)
		next = c.Prev
	} else {
		k, v = c.Seek(p)
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = next() {
		more, err := fn(string(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// lastWithDocPrefix positions c on the last key with prefix p, or on the
// key before where it would be when there is none.
func lastWithDocPrefix(c *bbolt.Cursor, p []byte) ([]byte, []byte) {
	end := prefixEnd(p)
	if end == nil {
		return c.Last()
	}
	if k, _ := c.Seek(end); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is empty or all 0xff): p without its
// trailing 0xff bytes, with the last remaining byte raised by one.
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			end := bytes.Clone(p[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}
