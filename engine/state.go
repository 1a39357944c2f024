package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/targets"
)

// The engine's documents in the store, beside the SCIM resources.
const (
	nsPerson store.Namespace = "person" // person id → mapper.Record
	nsUser   store.Namespace = "user"   // SCIM user id → person id
	nsCorr   store.Namespace = "corr"   // source/correlation key → person id
	nsLink   store.Namespace = "link"   // target/person → LinkState
	nsAudit  store.Namespace = "audit"  // person/time/n → Event
	nsGuard  store.Namespace = "guard"  // target → GuardState
	nsWait   store.Namespace = "wait"   // target/referenced person/waiting person → ""
	nsOwner  store.Namespace = "owner"  // target/account anchor → person id: one owner per account
	nsClash  store.Namespace = "clash"  // owner person/target/parked person → "": who contests an owner's account
	nsRef    store.Namespace = "ref"    // target/referenced person/referrer → "": the reverse-reference index
	nsWaitID store.Namespace = "waitid" // id \x1f target/person → "": a reference to an id no person has yet
	nsAlias  store.Namespace = "alias"  // SCIM user id a rehire superseded → person id (references keep resolving)
)

// LinkState is what the engine keeps per (target, person).
type LinkState struct {
	targets.Link
	// Generation is the record generation last converged.
	Generation uint64 `json:"generation"`
	// Next is the next boundary scheduled for the key.
	Next time.Time `json:"next,omitzero"`
	// At is when the last converge finished; Result is "ok" or the error.
	At     time.Time `json:"at"`
	Result string    `json:"result"`
	// Conflict is set while the key is parked on an ownership conflict.
	Conflict *ConflictState `json:"conflict,omitempty"`
	// Refs are the people the account's references name (attribute →
	// person), kept in the reverse-reference index.
	Refs map[string]string `json:"refs,omitempty"`
	// Unresolved are references whose id names no person yet
	// (attribute → id); they are retried when such a user is written.
	Unresolved map[string]string `json:"unresolved,omitempty"`
}

// ConflictState is a parked ownership conflict.
type ConflictState struct {
	targets.Conflict
	// Since is when it was first found; Generation the record generation
	// it was found at (a newer write runs the key again).
	Since      time.Time `json:"since"`
	Generation uint64    `json:"generation"`
}

// Linked reports whether the target holds an account for the person.
func (l *LinkState) Linked() bool {
	return l != nil && (l.ID != "" || l.Ref != "" || (l.Applied != nil && l.Applied.Exists))
}

// Key is a queue key: "target/person".
func Key(target, person string) string { return target + "/" + person }

// SplitKey splits a queue key.
func SplitKey(key string) (target, person string, ok bool) {
	return strings.Cut(key, "/")
}

func getJSON[T any](r store.Reader, ns store.Namespace, key string) (*T, error) {
	b, err := r.GetDoc(ns, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := decode[T](b)
	if err != nil {
		return nil, fmt.Errorf("engine: %s/%s: %w", ns, key, err)
	}
	return v, nil
}

func decode[T any](b []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

func putJSON(tx store.Tx, ns store.Namespace, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("engine: encode %s/%s: %w", ns, key, err)
	}
	return tx.PutDoc(ns, key, b)
}

func getString(r store.Reader, ns store.Namespace, key string) (string, error) {
	b, err := r.GetDoc(ns, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// loadRecord returns the person's record, or nil.
func loadRecord(r store.Reader, person string) (*mapper.Record, error) {
	return getJSON[mapper.Record](r, nsPerson, person)
}

// personOf maps a SCIM user id to its person id ("" if unknown).
func personOf(r store.Reader, userID string) (string, error) {
	return getString(r, nsUser, userID)
}

func loadLink(r store.Reader, target, person string) (*LinkState, error) {
	return getJSON[LinkState](r, nsLink, Key(target, person))
}
