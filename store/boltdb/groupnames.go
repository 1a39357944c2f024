package boltdb

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// The name indexes (store/groupname: group id → displayName, and
// store/username: user id → userName) answer MemberOf and Names without
// decoding records: a group of 2,000 members is a 100 KB record, and a page
// of users that all belong to it would decode it once per user; a group's
// members' display would decode every member. Create, Put and Delete keep
// them in the resource's own transaction; a rename rewrites one entry,
// which every lookup reads.
//
// Files written before an index existed have no such bucket, and a build
// before this one writing to the file leaves it stale. Open therefore
// compares each index with the records every time, reading each record only
// up to its name (store.RecordName), and repairs what differs in the
// transaction that checks the layout.

// nameBucket is the name index of kind.
func nameBucket(kind store.Kind) string {
	if kind == store.KindGroup {
		return bucketGroupNames
	}
	return bucketUserNames
}

// syncNames makes kind's name index hold exactly the name of every record
// of kind and returns how many entries it changed. A record it cannot read
// is left out of the index and returned in unreadable: MemberOf then reads
// it, and fails, as a Get would, instead of the whole store failing to
// open; Names gives it no name.
func syncNames(btx *bbolt.Tx, kind store.Kind) (changed int, unreadable []string, err error) {
	t := &Tx{btx: btx}
	kb, _ := bucketsOf(kind)
	records, names := t.bucket(kb.resources), t.bucket(nameBucket(kind))
	fixes := map[string]string{}
	var stale []string
	err = records.ForEach(func(id, v []byte) error {
		name, err := store.RecordName(v)
		switch {
		case err != nil:
			unreadable = append(unreadable, string(id))
			if names.Get(id) != nil {
				stale = append(stale, string(id))
			}
		case names.Get(id) == nil || string(names.Get(id)) != name:
			fixes[string(id)] = name
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	err = names.ForEach(func(id, _ []byte) error {
		if records.Get(id) == nil {
			stale = append(stale, string(id))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	// Written after the walks: a bucket must not change under ForEach.
	for id, name := range fixes {
		if err := t.putName(kind, id, name); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range stale {
		if err := t.unname(kind, id); err != nil {
			return 0, nil, err
		}
	}
	return len(fixes) + len(stale), unreadable, nil
}

// putName records a resource's name in its kind's index unless it is there.
func (t *Tx) putName(kind store.Kind, id, name string) error {
	b := t.bucket(nameBucket(kind))
	if cur := b.Get([]byte(id)); cur != nil && string(cur) == name {
		return nil
	}
	return b.Put([]byte(id), append([]byte{}, name...)) // non-nil when empty
}

// MemberOf implements store.Reader: the membership index gives the groups,
// the name index their names. A group missing from the name index (which
// Open rules out) is read from its record.
func (t *Tx) MemberOf(memberID string) ([]store.GroupRef, error) {
	ids, err := t.GroupsOf(memberID)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	names := t.bucket(bucketGroupNames)
	out := make([]store.GroupRef, 0, len(ids))
	for _, id := range ids {
		if name := names.Get([]byte(id)); name != nil {
			out = append(out, store.GroupRef{ID: id, Name: string(name)})
			continue
		}
		g, err := t.Get(store.KindGroup, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("boltdb: member of %q: %w", memberID, err)
		}
		out = append(out, store.GroupRef{ID: id, Name: g.Name})
	}
	return out, nil
}

// Names implements store.Reader from kind's name index, which Open made
// complete.
func (t *Tx) Names(kind store.Kind, ids []string) ([]string, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("boltdb: names: unknown kind %q", kind)
	}
	b := t.bucket(nameBucket(kind))
	out := make([]string, len(ids))
	for i, id := range ids {
		if id != "" {
			out[i] = string(b.Get([]byte(id)))
		}
	}
	return out, nil
}

// name keeps the name index in step with a Create or Put.
func (t *Tx) name(r *store.Resource) error {
	return t.putName(r.Kind, r.ID, r.Name)
}

// unname removes a deleted resource from the name index.
func (t *Tx) unname(kind store.Kind, id string) error {
	return t.bucket(nameBucket(kind)).Delete([]byte(id))
}
