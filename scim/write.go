package scim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/store"
)

// maxWriteRuns bounds how often modify prepares a write again because
// another write changed the resource between its read and its transaction.
// Each run repeats the request's own work (a PATCH applied again to the
// newer version), never anyone else's wait; a resource that changes under
// every run is answered 503 with Retry-After.
const maxWriteRuns = 10

// errStale aborts a write transaction whose resource is no longer the
// version the write was prepared from.
var errStale = errors.New("scim: the resource changed while the write was prepared")

// modify changes an existing resource so that the request holds the store's
// writer (bbolt has one at a time) only for its own write. The resource is
// read in a read transaction (with If-Match checked), build makes the new
// resource from it (for a PATCH: parsing the operations' filters and
// applying them), the limits and userName rules are checked and an
// unchanged resource is recognised, all outside any write transaction. The
// write transaction then only checks that the version is still the one
// read, checks members that were not in the group before, writes and runs
// the write hook (the lifecycle intake, which must see the write in its
// transaction). If the version changed meanwhile, modify starts again from
// a fresh read, up to maxWriteRuns times.
//
// build returns nil when nothing changes; modify then writes nothing and
// returns the resource as read.
func (h *resourceHandler) modify(r *http.Request, id string, build func(old *store.Resource) (*store.Resource, error)) (*store.Resource, error) {
	ctx := r.Context()
	// Writers to one resource in this process take turns, so that they do
	// not make each other's prepared writes stale; runs start again only
	// for writes of other processes (Redis replicas) and deletes.
	defer h.srv.writing.lock(string(h.kind) + "/" + id)()
	for run := 1; ; run++ {
		if run > 1 {
			if err := pause(ctx, run); err != nil {
				return nil, err
			}
		}
		var old *store.Resource
		err := h.srv.view(ctx, func(rd store.Reader) error {
			var err error
			old, err = h.getForWrite(rd, r, id)
			return err
		})
		if err != nil {
			return nil, err
		}
		next, err := build(old)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return old, nil
		}
		res, err := h.prepare(old, next)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return old, nil
		}
		var out *store.Resource
		err = h.srv.update(ctx, func(tx store.Tx) error {
			cur, err := h.get(tx, ctx, id)
			if err != nil {
				return err
			}
			if cur.Version != old.Version {
				return errStale
			}
			put := clone(res)
			if err := h.checkMembers(tx, put, cur); err != nil {
				return err
			}
			put.Modified = h.srv.now().UTC()
			if err := tx.Put(put); err != nil {
				return err
			}
			out = put
			return h.srv.onWrite(tx, cur, put)
		})
		switch {
		case !errors.Is(err, errStale):
			return out, err
		case run == maxWriteRuns:
			return nil, answer(ctx, scimerr.ScimError{Status: http.StatusServiceUnavailable,
				Detail: fmt.Sprintf("The resource changed %d times while this request was applied to it; retry.", run)}, 1)
		}
	}
}

// prepare makes the resource a write would store in place of old: next with
// old's server-managed fields, the known members' types, and the userName
// rules and limits checked where the write changes a value. It returns nil
// when nothing a client can change differs, so repeated PUTs and PATCHes
// that change nothing leave the version (and the lifecycle) untouched.
//
// A userName is checked only when the write changes it: a user stored
// before the check keeps working (PUTs that resend its name, PATCHes of
// other attributes) until a write renames it. The limits in checkResource
// follow the same rule.
func (h *resourceHandler) prepare(old, next *store.Resource) (*store.Resource, error) {
	if h.kind == store.KindUser && next.Name != old.Name {
		if err := checkUserName(next.Name); err != nil {
			return nil, err
		}
	}
	if err := h.checkResource(old, next); err != nil {
		return nil, err
	}
	res := clone(next)
	res.ID, res.Source, res.Created, res.Version, res.Modified = old.ID, old.Source, old.Created, old.Version, old.Modified
	types := make(map[string]string, len(old.Members))
	for _, m := range old.Members {
		types[m.Value] = m.Type
	}
	for i, m := range res.Members {
		if m.Type == "" {
			res.Members[i].Type = types[m.Value]
		}
	}
	if sameContent(old, res) {
		return nil, nil
	}
	return res, nil
}

// clone copies a resource deeply enough for a write to set its version and
// its members' types: an update function may run more than once.
func clone(r *store.Resource) *store.Resource {
	c := *r
	c.Members = slices.Clone(r.Members)
	return &c
}

// pause waits a little before run n of a write, more for later runs and at
// random, so that writers of several processes that keep changing one
// resource under each other spread out.
func pause(ctx context.Context, n int) error {
	d := min(50*time.Millisecond, time.Millisecond<<min(n-2, 6))
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// keyedMutex is a mutex per key, held only while someone uses it.
type keyedMutex struct {
	mu   sync.Mutex
	keys map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns the unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]*keyLock{}
	}
	l := k.keys[key]
	if l == nil {
		l = &keyLock{}
		k.keys[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.keys, key)
		}
		k.mu.Unlock()
	}
}
