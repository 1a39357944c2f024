package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// layoutVersion is the key layout this build reads and writes, kept in
// {prefix}:layout. Layout 1 (no layout key) had one userName hash per
// source; layout 2 has a key per name (see usernames.go).
const layoutVersion = 2

// migrate brings the data to layoutVersion before this Store's first View
// or Update; the others wait for it. It is idempotent, so replicas starting
// together may all run it, and one that fails (ctx ended, Redis away) is
// run again by the next View or Update.
func (s *Store) migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	select {
	case s.migrating <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.migrating }()
	if s.migrated.Load() {
		return nil
	}
	if err := s.migrateNames(ctx); err != nil {
		return fmt.Errorf("migrate layout: %w", err)
	}
	s.migrated.Store(true)
	return nil
}

// migrateNames moves layout 1's userName hashes into name keys and then
// writes the layout version, unless a userName held by two users is left
// in its hash (see settleName): the next process start tries again.
func (s *Store) migrateNames(ctx context.Context) error {
	k := s.keys
	// The counter exists once a resource has been created: without it there
	// is nothing to migrate, and a new store skips the scan.
	got := s.client.MGet(ctx, k.layout(), k.seq())
	if err := got.Err(); err != nil {
		return err
	}
	switch v := got.Val()[0].(type) {
	case nil:
	case string:
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > layoutVersion {
			return fmt.Errorf("store layout version %q, this build reads %d", v, layoutVersion)
		} else if n == layoutVersion {
			return nil
		}
	}
	var moved, held int
	if got.Val()[1] != nil {
		hashPrefix := k.unameHash("")
		cursor := "0"
		for {
			res, err := scanHashesScript.Run(ctx, s.client, []string{k.layout()}, cursor, globEscape(hashPrefix)+"*").StringSlice()
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			if len(res) == 0 {
				return errors.New("scan: no cursor")
			}
			for _, hash := range res[1:] {
				m, h, err := s.migrateHash(ctx, hash, strings.TrimPrefix(hash, hashPrefix))
				if err != nil {
					return err
				}
				moved, held = moved+m, held+h
			}
			if cursor = res[0]; cursor == "0" {
				break
			}
		}
	}
	if moved > 0 {
		s.log.Info("store userName index migrated to a key per name", "backend", "redis", "users", moved)
	}
	if held > 0 {
		s.log.Warn("store userNames held by two users each stay in the old index; rename or delete one of each pair",
			"backend", "redis", "names", held)
		return nil
	}
	return s.client.Set(ctx, k.layout(), layoutVersion, 0).Err()
}

// migrateHash moves one source's hash into name keys, a chunk per script
// run. It returns how many entries it moved and how many names two users
// hold.
func (s *Store) migrateHash(ctx context.Context, hash, source string) (moved, held int, err error) {
	cursor := "0"
	for {
		res, err := migrateHashScript.Run(ctx, s.client, []string{hash}, cursor).Slice()
		if err != nil {
			return moved, held, fmt.Errorf("migrate %s: %w", hash, err)
		}
		if len(res) < 2 {
			return moved, held, fmt.Errorf("migrate %s: %d values", hash, len(res))
		}
		n, _ := res[1].(int64)
		moved += int(n)
		for _, f := range res[2:] {
			fold, _ := f.(string)
			settled, err := s.settleName(ctx, source, fold)
			if err != nil {
				return moved, held, fmt.Errorf("migrate %s: %w", hash, err)
			}
			if !settled {
				held++
				s.log.Warn("store userName held by two users", "backend", "redis", "source", source, "name", fold)
			}
		}
		if cursor, _ = res[0].(string); cursor == "0" {
			return moved, held, nil
		}
	}
}

// settleName resolves a name that the hash and a name key give to
// different users, which a replica on the older build causes during a
// rolling upgrade: it neither sees nor removes name keys. The entry whose
// user still has the name wins and ends in the key; stale ones go. It
// reports false when both users have the name, a duplicate left in the
// hash for an operator to resolve (LookupName answers the key's user).
func (s *Store) settleName(ctx context.Context, source, fold string) (bool, error) {
	settled := false
	err := s.update(ctx, func(tx store.Tx) error {
		t := tx.(*Tx)
		key, hash := s.keys.uname(source, fold), s.keys.unameHash(source)
		if err := t.fetch([]string{key}, []hkey{{hash, fold}}); err != nil {
			return err
		}
		holders, err := t.holders(t.nameEntries(key, hash, fold), source, fold)
		if err != nil {
			return err
		}
		switch settled = len(holders) < 2; len(holders) {
		case 0:
			t.setRecord(key, nil)
			t.hdel(hash, fold)
		case 1:
			t.setRecord(key, []byte(holders[0]))
			t.hdel(hash, fold)
		}
		return nil
	}, map[string]store.Kind{})
	return settled, err
}

// scanHashesScript runs one SCAN step over the keys of layout 1's userName
// hashes. It runs on the store's node (KEYS[1], the layout key, routes it
// in a cluster, where SCAN sees only the node it runs on).
//
//	ARGV[1]  the cursor
//	ARGV[2]  the MATCH pattern of {prefix}:uname:User:*
//
// It returns the next cursor, then the hashes: name keys match the pattern
// too, but have a NUL and are strings.
var scanHashesScript = redis.NewScript(`
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 1000)
local out = {r[1]}
for _, k in ipairs(r[2]) do
  if not string.find(k, '\0', 1, true) and redis.call('TYPE', k).ok == 'hash' then
    out[#out + 1] = k
  end
end
return out
`)

// migrateHashScript moves a chunk of a layout 1 hash (field fold, value id)
// into name keys (KEYS[1] .. NUL .. fold), deleting each field it moved, so
// the hash is gone once the last is.
//
//	KEYS[1]  the hash
//	ARGV[1]  the HSCAN cursor
//
// It returns the next cursor, the number of entries moved, then the folds
// whose name key holds another id, which it leaves in the hash.
var migrateHashScript = redis.NewScript(`
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', 500)
local out = {r[1], 0}
local f = r[2]
for i = 1, #f, 2 do
  local key = KEYS[1] .. '\0' .. f[i]
  local cur = redis.call('GET', key)
  if not cur then
    redis.call('SET', key, f[i + 1])
    out[2] = out[2] + 1
  end
  if not cur or cur == f[i + 1] then
    redis.call('HDEL', KEYS[1], f[i])
  else
    out[#out + 1] = f[i]
  end
end
return out
`)

// globEscape quotes the glob characters of s for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
