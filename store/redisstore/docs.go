package redisstore

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// maxDoc is the largest document Redis accepts: its default
// proto-max-bulk-len, past which it refuses the whole request.
const maxDoc = 512 << 20

// GetDoc implements store.Reader. Inside Update it WATCHes the document's
// own key only, so read-modify-writes of different documents of one
// namespace do not conflict.
func (t *Tx) GetDoc(ns store.Namespace, key string) ([]byte, error) {
	if err := store.CheckDoc(ns, key); err != nil {
		return nil, fmt.Errorf("redisstore: get doc %q %q: %w", ns, key, err)
	}
	data, err := t.record(t.s.keys.doc(ns, key))
	if err != nil {
		return nil, fmt.Errorf("redisstore: get doc %q %q: %w", ns, key, err)
	}
	if data == nil {
		return nil, fmt.Errorf("redisstore: get doc %q %q: %w", ns, key, store.ErrNotFound)
	}
	return bytes.Clone(data), nil // the Tx keeps data for later reads
}

// PutDoc implements store.Tx. It reads nothing, so it WATCHes nothing.
func (t *Tx) PutDoc(ns store.Namespace, key string, val []byte) error {
	if len(val) > maxDoc {
		return fmt.Errorf("redisstore: put doc %q %q: document of %d bytes is too large", ns, key, len(val))
	}
	// A copy of the caller's bytes, non-nil even when empty: nil is no document.
	if err := t.writeDoc(ns, key, append(make([]byte, 0, len(val)), val...)); err != nil {
		return fmt.Errorf("redisstore: put doc %q %q: %w", ns, key, err)
	}
	return nil
}

// DeleteDoc implements store.Tx.
func (t *Tx) DeleteDoc(ns store.Namespace, key string) error {
	if err := t.writeDoc(ns, key, nil); err != nil {
		return fmt.Errorf("redisstore: delete doc %q %q: %w", ns, key, err)
	}
	return nil
}

// writeDoc buffers a document (nil deletes it) and its index entry. The
// commit sends ZADD even for a key already listed: that leaves the index,
// and the scans WATCHing it, untouched.
func (t *Tx) writeDoc(ns store.Namespace, key string, val []byte) error {
	if t.rtx == nil {
		return errReadOnly
	}
	if err := store.CheckDoc(ns, key); err != nil {
		return err
	}
	t.setRecord(t.s.keys.doc(ns, key), val)
	if idx := t.s.keys.docIndex(ns); val == nil {
		t.zrem(idx, key)
	} else {
		t.zadd(idx, key, 0)
	}
	return nil
}

// docChunk is how many index entries ScanDocs reads per round trip.
const docChunk = 128

// ScanDocs implements store.Reader. It reads the namespace's index a chunk
// of docChunk keys at a time by lexicographic range, then the chunk's
// documents in one MGET, skipping keys whose document is gone by then.
//
// Inside Update it WATCHes the index and every document it reads, so that
// any change to the scanned namespace by another client before EXEC runs
// the function again, and it merges this transaction's own writes into the
// chunks: its puts join the chunk whose range holds them, and the values of
// keys it wrote or deleted come from its buffer. In a View another
// process's writes can land between two chunks. fn's error is returned as is.
func (t *Tx) ScanDocs(ns store.Namespace, prefix string, desc bool, fn func(key string, val []byte) (bool, error)) error {
	if !ns.Valid() {
		return fmt.Errorf("redisstore: scan docs %q: invalid namespace", ns)
	}
	idx := t.s.keys.docIndex(ns)
	lo, hi := "-", "+"
	if prefix != "" {
		lo = "[" + prefix
		if end := prefixEnd(prefix); end != "" {
			hi = "(" + end
		}
	}
	pending := t.pendingDocs(idx, prefix, desc)
	docPrefix := t.s.keys.docPrefix(ns)
	for {
		keys, err := t.lexRange(idx, lo, hi, desc)
		if err != nil {
			return fmt.Errorf("redisstore: scan docs %q: %w", ns, err)
		}
		full := len(keys) == docChunk
		// The pending puts up to the chunk's last key belong to it; after
		// the last chunk, all the rest do.
		n := len(pending)
		var last string
		if full {
			last = keys[len(keys)-1]
			n = 0
			for n < len(pending) && (!desc && pending[n] <= last || desc && pending[n] >= last) {
				n++
			}
		}
		batch := append(keys, pending[:n]...)
		pending = pending[n:]
		slices.Sort(batch)
		batch = slices.Compact(batch) // a key both listed and put
		if desc {
			slices.Reverse(batch)
		}
		docKeys := make([]string, len(batch))
		for i, k := range batch {
			docKeys[i] = docPrefix + k
		}
		vals, err := t.records(docKeys)
		if err != nil {
			return fmt.Errorf("redisstore: scan docs %q: %w", ns, err)
		}
		for i, k := range batch {
			if vals[i] == nil {
				continue // deleted by this transaction, or by another client since the index was read
			}
			more, err := fn(k, bytes.Clone(vals[i]))
			if err != nil || !more {
				return err
			}
		}
		if !full {
			return nil
		}
		if desc {
			hi = "(" + last
		} else {
			lo = "(" + last
		}
	}
}

// pendingDocs returns the keys with prefix that this transaction put in
// the index idx, in scan order.
func (t *Tx) pendingDocs(idx, prefix string, desc bool) []string {
	z := t.zsets[idx]
	if z == nil {
		return nil
	}
	var keys []string
	for k := range z.add {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if desc {
		slices.Reverse(keys)
	}
	return keys
}

// lexRange reads up to docChunk members of idx between the ZRANGE BYLEX
// bounds lo and hi, from hi down when desc.
func (t *Tx) lexRange(idx, lo, hi string, desc bool) ([]string, error) {
	args := []any{"zrange", idx, lo, hi, "bylex", "limit", 0, docChunk}
	if desc {
		args = []any{"zrange", idx, hi, lo, "bylex", "rev", "limit", 0, docChunk}
	}
	cmd := redis.NewStringSliceCmd(t.ctx, args...)
	if err := t.read([]string{idx}, cmd); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// prefixEnd returns the smallest string greater than every string with
// prefix p, or "" when there is none (p is empty or all 0xff): p without
// its trailing 0xff bytes, with the last remaining byte raised by one.
func prefixEnd(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			return p[:i] + string([]byte{p[i] + 1})
		}
	}
	return ""
}
