package engine

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
)

// References (a manager, any `references:` mapping) name another person by
// the id a source sent. They resolve through the person, never the SCIM
// record, so they survive rehires, and they follow the referenced account:
//
//   - ref/<target>/<referenced person>/<referrer> is the reverse index,
//     kept by record from LinkState.Refs; when an account's reference (its
//     DN) changes or it goes away, every referrer is scheduled in the same
//     transaction (no scan).
//   - a reference to a person with no account on the target yet holds the
//     referrer back a few times (wait/…, woken when the account appears),
//     then converges without it.
//   - an id that names no person yet is recorded on the link
//     (LinkState.Unresolved, shown by `tenure identity show`), logged and
//     counted once, and waits under waitid/<id>/<target>/<referrer> for a
//     user with that id or externalId to be written.

// refResolution is how a person's references resolve on a target.
type refResolution struct {
	// refs: attribute → referenced person, for the ones that resolved to
	// a person (with an account or not).
	refs map[string]string
	// waiting: people referenced who have no account on the target yet.
	waiting []string
	// unknown: attribute → the id that names no person.
	unknown map[string]string
}

// referent finds the person a reference id names, as sent by source: a
// SCIM user id (current, or a record superseded by a rehire), a person id,
// or the externalId of a user of the same source (Okta sends its own ids).
// References never cross sources: a person of another source is nobody
// here, as its SCIM records are invisible to this source.
func referent(r store.Reader, source, id string) (string, error) {
	p, err := personOf(r, id)
	if err == nil && p == "" {
		p, err = getString(r, nsAlias, id)
	}
	if err == nil && p == "" {
		p = id // a person id
	}
	if err != nil {
		return "", err
	}
	if rec, err := loadRecord(r, p); err != nil || (rec != nil && rec.Source == source) {
		if rec == nil {
			return "", err
		}
		return rec.ID, nil
	}
	ids, err := r.LookupExternalID(store.KindUser, source, id)
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return personOf(r, ids[0])
}

// resolveRefs replaces the ids in d.References with the referenced
// people's Refs on target; references that do not resolve to an account
// are left out of d, as a converge applies them.
func resolveRefs(r store.Reader, target string, rec *mapper.Record, d *mapper.Desired) (*refResolution, error) {
	res := &refResolution{}
	for _, attr := range slices.Sorted(maps.Keys(d.References)) {
		id := d.References[attr]
		other, err := referent(r, rec.Source, id)
		if err != nil {
			return nil, err
		}
		if other == "" {
			if res.unknown == nil {
				res.unknown = map[string]string{}
			}
			res.unknown[attr] = id
			delete(d.References, attr)
			continue
		}
		if res.refs == nil {
			res.refs = map[string]string{}
		}
		res.refs[attr] = other
		l, err := loadLink(r, target, other)
		if err != nil {
			return nil, err
		}
		if l == nil || l.Ref == "" {
			delete(d.References, attr)
			if !slices.Contains(res.waiting, other) {
				res.waiting = append(res.waiting, other)
			}
			continue
		}
		d.References[attr] = l.Ref
	}
	return res, nil
}

// resolve resolves d's references for a converge of person on target
// (resolveRefs) and registers the person to be woken when what they wait
// for appears: another person's account, or a user with an unknown id.
func (e *Engine) resolve(ctx context.Context, target string, rec *mapper.Record, d *mapper.Desired) (*refResolution, error) {
	if len(d.References) == 0 {
		return &refResolution{}, nil
	}
	var res *refResolution
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		res, err = resolveRefs(r, target, rec, d)
		return err
	})
	if err != nil || (len(res.waiting) == 0 && len(res.unknown) == 0) {
		return res, err
	}
	err = e.st.Update(ctx, func(tx store.Tx) error {
		for _, other := range res.waiting {
			if err := tx.PutDoc(nsWait, target+"/"+other+"/"+rec.ID, nil); err != nil {
				return err
			}
		}
		for _, id := range res.unknown {
			if err := tx.PutDoc(nsWaitID, waitIDKey(id, target, rec.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

func waitIDKey(id, target, person string) string { return id + "\x1f" + target + "/" + person }

// wakeWaitingFor schedules, in tx, the people whose references name id
// (a user id or externalId just written) and forgets their wait.
func (e *Engine) wakeWaitingFor(tx store.Tx, id string, now time.Time) error {
	if id == "" {
		return nil
	}
	var keys []string
	err := tx.ScanDocs(nsWaitID, id+"\x1f", false, func(k string, _ []byte) (bool, error) {
		keys = append(keys, k)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.sched.ScheduleTx(tx, k[len(id)+1:], now); err != nil {
			return err
		}
		if err := tx.DeleteDoc(nsWaitID, k); err != nil {
			return err
		}
	}
	return nil
}

// keepRefIndex updates the reverse-reference index for person on target
// from old to now (attribute → referenced person).
func keepRefIndex(tx store.Tx, target, person string, old, now map[string]string) error {
	had, has := map[string]bool{}, map[string]bool{}
	for _, p := range old {
		had[p] = true
	}
	for _, p := range now {
		has[p] = true
	}
	for p := range had {
		if !has[p] {
			if err := tx.DeleteDoc(nsRef, refKey(target, p, person)); err != nil {
				return err
			}
		}
	}
	for p := range has {
		if !had[p] {
			if err := tx.PutDoc(nsRef, refKey(target, p, person), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func refKey(target, referenced, referrer string) string {
	return target + "/" + referenced + "/" + referrer
}

// referrers lists the people whose accounts on target reference person's.
func referrers(r store.Reader, target, person string) ([]string, error) {
	prefix := target + "/" + person + "/"
	var out []string
	err := r.ScanDocs(nsRef, prefix, false, func(k string, _ []byte) (bool, error) {
		out = append(out, k[len(prefix):])
		return true, nil
	})
	return out, err
}
