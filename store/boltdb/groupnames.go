package boltdb

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/store"
)

// The group name index (store/groupname: group id → displayName) answers
// MemberOf together with store/members without decoding group records: a
// group of 2,000 members is a 100 KB record, and a page of users that all
// belong to it would decode it once per user. Create, Put and Delete of a
// group keep it in the group's own transaction; a rename rewrites one
// entry, which every member's lookup reads.
//
// Files written before the index existed have no such bucket, and a build
// before this one writing to the file leaves it stale. Open therefore
// compares the index with the group records every time, reading each
// record only up to its name (store.RecordName), and repairs what differs
// in the transaction that checks the layout.

// syncGroupNames makes store/groupname hold exactly the name of every
// group record and returns how many entries it changed. A record it cannot
// read is left out of the index and returned in unreadable: MemberOf then
// reads it, and fails, as a Get would, instead of the whole store failing
// to open.
func syncGroupNames(btx *bbolt.Tx) (changed int, unreadable []string, err error) {
	t := &Tx{btx: btx}
	kb, _ := bucketsOf(store.KindGroup)
	groups, names := t.bucket(kb.resources), t.bucket(bucketGroupNames)
	fixes := map[string]string{}
	var stale []string
	err = groups.ForEach(func(id, v []byte) error {
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
		if groups.Get(id) == nil {
			stale = append(stale, string(id))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	// Written after the walks: a bucket must not change under ForEach.
	for id, name := range fixes {
		if err := t.putGroupName(id, name); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range stale {
		if err := t.unnameGroup(store.KindGroup, id); err != nil {
			return 0, nil, err
		}
	}
	return len(fixes) + len(stale), unreadable, nil
}

// putGroupName records a group's name in the index unless it is there.
func (t *Tx) putGroupName(id, name string) error {
	b := t.bucket(bucketGroupNames)
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

// nameGroup keeps the name index in step with a group Create or Put.
func (t *Tx) nameGroup(r *store.Resource) error {
	if r.Kind != store.KindGroup {
		return nil
	}
	return t.putGroupName(r.ID, r.Name)
}

// unnameGroup removes a deleted group from the name index.
func (t *Tx) unnameGroup(kind store.Kind, id string) error {
	if kind != store.KindGroup {
		return nil
	}
	return t.bucket(bucketGroupNames).Delete([]byte(id))
}
