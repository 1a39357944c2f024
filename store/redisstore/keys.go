package redisstore

import (
	"fmt"
	"strings"

	"github.com/tenurehq/tenure/store"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "tenure"

// keys builds the store's key names; see the package documentation.
type keys struct {
	base string // "{prefix}:"
}

func newKeys(prefix string) (keys, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	// The prefix is the hash tag; braces inside it would end the tag early
	// and scatter the keys over cluster slots.
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("prefix %q contains a brace", prefix)
	}
	return keys{base: "{" + prefix + "}:"}, nil
}

// tx is WATCHed by every Update and never written: a cluster client needs a
// key to pick the node of a transaction, and go-redis releases a WATCH it
// issued itself even when an Update ends without EXEC.
func (k keys) tx() string  { return k.base + "tx" }
func (k keys) seq() string { return k.base + "seq" }

// layout holds the key layout version (see migrate.go); none is version 1.
func (k keys) layout() string { return k.base + "layout" }

func (k keys) res(kind store.Kind, id string) string { return k.resPrefix(kind) + id }

// resPrefix is what the range script puts before an id to read its record.
func (k keys) resPrefix(kind store.Kind) string { return k.base + "res:" + string(kind) + ":" }

func (k keys) order(kind store.Kind, source string) string {
	return k.base + "order:" + string(kind) + ":" + source
}

// uname holds the id of the user of source whose folded userName is fold:
// a key per name, so that creates of different names WATCH different keys.
func (k keys) uname(source, fold string) string { return k.unameHash(source) + "\x00" + fold }

// unameHash is layout 1's userName index, one hash per source (field fold,
// value id), which every create read and wrote. Layout 2 migrates it and
// reads it as a fallback; see migrate.go.
func (k keys) unameHash(source string) string { return k.base + "uname:User:" + source }

// gname holds the groups of a source whose folded displayName is fold. The
// NUL keeps the key unambiguous: a source cannot contain one, a name can.
func (k keys) gname(source, fold string) string {
	return k.base + "gname:Group:" + source + "\x00" + fold
}

func (k keys) xid(kind store.Kind, source, externalID string) string {
	return k.base + "xid:" + string(kind) + ":" + source + "\x00" + externalID
}

// groups is the set of groups that list memberID as a direct member.
func (k keys) groups(memberID string) string { return k.base + "groups:" + memberID }

// groupName holds a group's displayName (its Name), for MemberOf.
func (k keys) groupName(groupID string) string { return k.groupNamePrefix() + groupID }

// groupNamePrefix is what the member-of script puts before a group id.
func (k keys) groupNamePrefix() string { return k.base + "groupname:" }

// userName holds a user's userName (its Name), for Names.
func (k keys) userName(userID string) string { return k.base + "username:" + userID }

// name is the name key of a resource of kind.
func (k keys) name(kind store.Kind, id string) string {
	if kind == store.KindGroup {
		return k.groupName(id)
	}
	return k.userName(id)
}

// doc is the string key of document key in namespace ns. A namespace
// cannot contain ':' (store.Namespace.Valid), so the key is unambiguous.
func (k keys) doc(ns store.Namespace, key string) string { return k.docPrefix(ns) + key }

func (k keys) docPrefix(ns store.Namespace) string { return k.base + "doc:" + string(ns) + ":" }

// docIndex lists the keys of ns's documents, all with score 0, so that
// ZRANGE BYLEX walks them in byte order.
func (k keys) docIndex(ns store.Namespace) string { return k.base + "docidx:" + string(ns) }

// validPart reports whether s can be an id or source: not empty, no NUL.
func validPart(s string) bool {
	return s != "" && strings.IndexByte(s, 0) < 0
}
