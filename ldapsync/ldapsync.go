// Package ldapsync converges LDAP and Active Directory entries: DN building
// with RDN escaping and filter escaping for every outside value, the OpenLDAP
// and Active Directory dialects (object classes, disable via ppolicy or
// userAccountControl, anchors entryUUID/objectGUID), create-or-link, minimal
// modifies, renames and OU moves, group membership, delete, and drift reads.
//
// Directory is the ldap target kind (cmd/tenure builds it from config).
// Dialect is the seam between directory flavours: OpenLDAP and AD.
//
// # Foundation
//
//   - DNs and filters (dn.go): RDN, JoinDN, Parent, RDNValue, EqualDN and
//     UnderDN build and take apart DNs with RFC 4514 escaping; Eq, Present,
//     And, Or and Not build filters with RFC 4515 escaping. Every value
//     from outside goes through them; attribute names must pass
//     ValidAttribute (the builders panic otherwise, so a name can never
//     change a DN's or a filter's shape).
//   - Connections (conn.go): Pool keeps up to PoolSize bound connections
//     (ldaps:// or StartTLS, CA file, server name, optional client
//     certificate; verification cannot be turned off). Pool.Do runs an
//     operation honouring ctx, retries once on a new connection after a
//     connection-level failure, and counts it in
//     tenure_ldap_operations_total and
//     tenure_ldap_operation_duration_seconds. SearchAll pages (RFC 2696).
//   - Errors (errors.go): Classify maps result codes and transport
//     failures to targets.Retryable or targets.Permanent, keeping the
//     server's diagnostic message; the table and its reasons are there.
//
// # Target (target.go, openldap.go, ad.go, inventory.go)
//
// Directory is a targets.Target over a Pool and an AccountDialect (OpenLDAP:
// entryUUID anchor, disable by pwdAccountLockedTime 000001010000Z; AD:
// objectGUID anchor, userAccountControl, and the account-name and password
// rules documented on AD). Converge
// finds the entry by its anchor (Link.ID) under BaseDN, else by
// CorrelationAttribute, else creates it (entryAlreadyExists: the entry at
// that DN is taken over); then renames and moves it with one ModifyDN,
// modifies only the attributes that differ (and deletes those last applied
// and no longer desired, never others), enables or disables it in the same
// modify, and adds or removes its group memberships (already a member and
// not a member are success). Groups are never created: a missing group is
// a permanent error naming it. Desired !Exists deletes the entry (already
// gone is success). Every operation is idempotent: a second Converge with
// the returned link does nothing.
package ldapsync

import "github.com/go-ldap/ldap/v3"

// Dialect captures what differs between directory servers.
type Dialect interface {
	// Name is "openldap" or "ad".
	Name() string
	// AnchorAttribute is the immutable id that survives renames and moves
	// (entryUUID, objectGUID).
	AnchorAttribute() string
	// Anchor is e's anchor as the link stores it ("" if e has none):
	// entryUUID as is, objectGUID in its string form.
	Anchor(e *ldap.Entry) string
	// AnchorFilter matches the entry whose anchor is id; an id that
	// cannot be an anchor is an error.
	AnchorFilter(id string) (Filter, error)
}
