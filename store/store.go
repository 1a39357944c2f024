// Package store holds the SCIM resources that sources push to Tenure: users and
// groups, their indexes and their group memberships.
//
// The interface is transactional rather than a list of CRUD calls: every
// read-modify-write runs as an updater function inside the backend's own
// transaction (a bbolt read-write transaction, or a Redis WATCH/MULTI/EXEC),
// so a SCIM write, the lifecycle record it changes and the jobs it schedules
// can later commit as one unit. Backends live in subpackages (store/boltdb,
// store/redis) and all pass the suite in store/conformance.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Sentinel errors that callers branch on. Backends wrap them with %w.
var (
	// ErrNotFound is returned when a resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write would break uniqueness: an id that
	// already exists, or a userName already taken (case-insensitively) within
	// the same source.
	ErrConflict = errors.New("conflict")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store closed")
)

// Kind is the SCIM resource type of a Resource.
type Kind string

// The resource kinds Tenure stores.
const (
	KindUser  Kind = "User"
	KindGroup Kind = "Group"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindUser || k == KindGroup }

// Member is one direct member of a group. Membership lives on the group only;
// the reverse lookups (GroupsOf, MemberOf) are indexes the backend maintains.
type Member struct {
	Value   string `json:"value"`             // id of the member resource
	Display string `json:"display,omitempty"` // display name as the client sent it
	Type    string `json:"type,omitempty"`    // "User" or "Group" when the client said so
}

// GroupRef is a group as MemberOf lists it: its id and its Name (displayName).
type GroupRef struct {
	ID   string
	Name string
}

// Resource is a stored SCIM user or group.
//
// Attributes holds the resource in canonical SCIM form, without id, meta,
// schemas, externalId and (for groups) members, which have fields of their own.
// Extension attributes are nested under their schema URN. Values are JSON
// shaped: string, bool, json.Number, []any, map[string]any.
type Resource struct {
	Kind       Kind           `json:"kind"`
	ID         string         `json:"id"`
	Source     string         `json:"source"`               // the source (SCIM client) that owns it
	ExternalID string         `json:"externalId,omitempty"` // as the client sent it; case-exact
	Name       string         `json:"name"`                 // userName for users, displayName for groups
	Members    []Member       `json:"members,omitempty"`    // groups only
	Attributes map[string]any `json:"attributes,omitempty"`
	// Version increases by one on every write; the SCIM layer serves it as
	// the ETag. Create sets it to 1; Put sets it to the stored version + 1.
	Version uint64 `json:"version"`
	// Seq is the creation sequence the backend assigns on Create and keeps
	// on Put: it orders resources stably (List, Each, index lookups).
	// The caller's value is ignored.
	Seq      uint64    `json:"seq"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
}

// Reader is the read side of a transaction. Lookups are scoped to a source:
// one source never sees another's resources through an index. Resources a
// Reader returns are the caller's own copies. "Case-insensitively" means
// FoldName equality (strings.EqualFold).
type Reader interface {
	// Get returns the resource or an error wrapping ErrNotFound.
	Get(kind Kind, id string) (*Resource, error)
	// LookupName returns the ids whose Name equals name case-insensitively,
	// in creation order. For users the result has at most one element.
	LookupName(kind Kind, source, name string) ([]string, error)
	// LookupExternalID returns the ids whose ExternalID equals externalID
	// exactly, in creation order.
	LookupExternalID(kind Kind, source, externalID string) ([]string, error)
	// GroupsOf returns the ids of the groups that list memberID as a direct
	// member, in ascending id order.
	GroupsOf(memberID string) ([]string, error)
	// MemberOf returns the groups GroupsOf returns, in the same order, each
	// with its displayName (the group's Name) as of the same read. Backends
	// answer it from indexes kept in the transactions that write groups,
	// without reading the group records, so it costs the same whatever the
	// size of the groups: it is what a user's groups attribute is made of.
	MemberOf(memberID string) ([]GroupRef, error)
	// Names returns the current Name (a user's userName, a group's
	// displayName) of each resource of kind in ids, in the order of ids,
	// "" for an id that names no such resource. Backends answer it from
	// indexes kept in the transactions that write the resources, without
	// reading the records: it is what the display of a group's members is
	// made of, and it follows a rename as soon as the rename commits.
	Names(kind Kind, ids []string) ([]string, error)
	// Count returns how many resources of kind the source owns.
	Count(kind Kind, source string) (int, error)
	// List returns up to limit resources of the source, skipping the first
	// offset, in creation order (Seq; a resource keeps its place when Put).
	// The offset counts the resources that exist at the time of the call, so
	// deleting one the caller has already paged past shifts later pages up
	// by one. A limit <= 0 returns nothing.
	List(kind Kind, source string, offset, limit int) ([]*Resource, error)
	// Each calls fn for every resource of the source in creation order until
	// fn returns false or an error. Inside Update, fn may write; resources
	// created during Each are not visited.
	Each(kind Kind, source string, fn func(*Resource) (bool, error)) error

	// GetDoc returns the document stored under ns/key, or an error wrapping
	// ErrNotFound. The returned slice is the caller's (non-nil for an empty
	// document). An invalid namespace or key (see PutDoc) is an error that
	// does not wrap ErrNotFound.
	GetDoc(ns Namespace, key string) ([]byte, error)
	// ScanDocs calls fn for every document of ns whose key starts with
	// prefix, in ascending byte order of the key (descending if desc), until
	// fn returns false or an error. Inside Update it sees the transaction's
	// own writes; fn must not write to ns. The val passed to fn is fn's to
	// keep. An invalid namespace is an error.
	ScanDocs(ns Namespace, prefix string, desc bool, fn func(key string, val []byte) (bool, error)) error
}

// Namespace names a keyspace of documents: the engine's own state beside the
// resources (lifecycle records, target links, audit events, guard state).
// Documents are opaque bytes to the store; their owners encode them.
type Namespace string

// Valid reports whether ns can name a namespace: non-empty, at most 64
// bytes of [a-z0-9_.-].
func (ns Namespace) Valid() bool {
	if ns == "" || len(ns) > 64 {
		return false
	}
	for _, c := range []byte(ns) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// MaxDocKey is the longest document key a backend must accept, in bytes.
const MaxDocKey = 512

// CheckDoc rejects a namespace or document key the contract does not allow;
// backends call it before touching anything.
func CheckDoc(ns Namespace, key string) error {
	if !ns.Valid() {
		return errors.New("invalid namespace")
	}
	switch {
	case key == "":
		return errors.New("empty document key")
	case len(key) > MaxDocKey:
		return fmt.Errorf("document key of %d bytes is longer than %d", len(key), MaxDocKey)
	case strings.IndexByte(key, 0) >= 0:
		return errors.New("document key contains NUL")
	}
	return nil
}

// Tx is a read-write transaction. A Create, Put or Delete that fails leaves
// the transaction as it was, so fn may handle the error and still commit.
//
// Ids are unique across kinds (GroupsOf is keyed by member id alone), and
// ids and sources must not contain NUL. Deleting a resource does not remove
// it from the groups that list it: that is the caller's business, in the
// same transaction.
type Tx interface {
	Reader
	// Create stores a new resource with Version 1. It fails with ErrConflict
	// if the id exists or, for users, the Name is taken within the source.
	// It sets r.Version.
	Create(r *Resource) error
	// Put replaces an existing resource and its indexes. It fails with
	// ErrNotFound if it does not exist and ErrConflict if a user's new Name
	// is taken. It sets r.Version to the stored version + 1.
	Put(r *Resource) error
	// Delete removes a resource and its index entries; ErrNotFound if absent.
	Delete(kind Kind, id string) error
	// PutDoc stores val under ns/key, replacing any previous document. Keys
	// are non-empty, at most MaxDocKey bytes and contain no NUL; an invalid
	// namespace or key is an error (not ErrNotFound). The store keeps a copy
	// of val.
	PutDoc(ns Namespace, key string, val []byte) error
	// DeleteDoc removes ns/key; deleting an absent document is not an error.
	DeleteDoc(ns Namespace, key string) error
}

// Store is implemented by every backend.
type Store interface {
	// View runs fn against a consistent snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a read-write transaction and returns once the
	// transaction is durable (committed and synced). Concurrent Updates may
	// share one commit, and fn may therefore run more than once: it must have
	// no effects outside the transaction. An error from fn aborts the
	// transaction and is returned as is. ctx is checked before the
	// transaction starts; once started it runs to the end, because an
	// abandoned commit would leave the caller unsure whether it happened.
	Update(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the backend can serve requests (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend; later calls fail with ErrClosed. Calling
	// it twice is harmless.
	Close() error
}

// Backuper is a Store that can write a consistent copy of itself while it
// serves (the embedded backend). The copy is a file the backend opens as
// is. Redis has its own tools (BGSAVE, AOF copies): see docs/operations.md.
type Backuper interface {
	// Backup writes the copy to w and returns its size. ctx aborts it.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Get reads one resource in its own snapshot.
func Get(ctx context.Context, s Store, kind Kind, id string) (*Resource, error) {
	var out *Resource
	err := s.View(ctx, func(r Reader) error {
		var err error
		out, err = r.Get(kind, id)
		return err
	})
	return out, err
}

// Modify reads a resource, passes it to updater and writes the result, all in
// one transaction. updater may run more than once and must only change the
// resource it is given. It returns the resource as stored.
func Modify(ctx context.Context, s Store, kind Kind, id string, updater func(*Resource) error) (*Resource, error) {
	var out *Resource
	err := s.Update(ctx, func(tx Tx) error {
		r, err := tx.Get(kind, id)
		if err != nil {
			return err
		}
		if err := updater(r); err != nil {
			return err
		}
		if err := tx.Put(r); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}
