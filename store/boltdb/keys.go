package boltdb

import (
	"encoding/binary"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// Bucket names; see the package documentation for what each holds.
const (
	bucketMeta       = "store/meta"
	bucketMembers    = "store/members"
	bucketGroupNames = "store/groupname"
	bucketUserNames  = "store/username"
	bucketDocs       = "store/docs"

	// schemaVersion is the layout version kept under "schema" in store/meta.
	schemaVersion = 1
)

// kindBuckets names the buckets that hold one kind.
type kindBuckets struct {
	resources, order, names, externalIDs, counts string
}

func bucketsOf(k store.Kind) (kindBuckets, error) {
	if !k.Valid() {
		return kindBuckets{}, fmt.Errorf("unknown kind %q", k)
	}
	return kindBuckets{
		resources:   "store/resources/" + string(k),
		order:       "store/order/" + string(k),
		names:       "store/name/" + string(k),
		externalIDs: "store/externalid/" + string(k),
		counts:      "store/count/" + string(k),
	}, nil
}

// initBuckets creates the store's buckets and checks the layout version.
func initBuckets(btx *bbolt.Tx) error {
	names := []string{bucketMeta, bucketMembers, bucketGroupNames, bucketUserNames, bucketDocs}
	for _, k := range []store.Kind{store.KindUser, store.KindGroup} {
		kb, _ := bucketsOf(k)
		names = append(names, kb.resources, kb.order, kb.names, kb.externalIDs, kb.counts)
	}
	for _, name := range names {
		if _, err := btx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := btx.Bucket([]byte(bucketMeta))
	want := binary.BigEndian.AppendUint64(nil, schemaVersion)
	switch got := meta.Get([]byte("schema")); {
	case got == nil:
		return meta.Put([]byte("schema"), want)
	case len(got) != 8 || binary.BigEndian.Uint64(got) != schemaVersion:
		return fmt.Errorf("store layout version %x, this build reads %d", got, schemaVersion)
	}
	return nil
}

// validPart reports whether s can be one NUL-separated part of a key.
func validPart(s string) bool {
	return s != "" && strings.IndexByte(s, 0) < 0
}

// sourcePrefix returns source followed by NUL: the prefix of every key a
// source owns in the order, name and externalId indexes.
func sourcePrefix(source string) []byte {
	b := make([]byte, 0, len(source)+1+32)
	return append(append(b, source...), 0)
}

// nameKey is the unique userName index key, and the prefix of a group's name keys.
func nameKey(source, name string) []byte {
	return append(sourcePrefix(source), store.FoldName(name)...)
}

// appendSeq appends the 8-byte big-endian seq, which sorts in creation order.
func appendSeq(b []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(b, seq)
}

func memberKey(memberID, groupID string) []byte {
	b := make([]byte, 0, len(memberID)+1+len(groupID))
	return append(append(append(b, memberID...), 0), groupID...)
}
