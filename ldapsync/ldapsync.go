// Package ldapsync converges LDAP and Active Directory entries: DN building
// with RDN escaping and filter escaping for every outside value, the OpenLDAP
// and Active Directory dialects (object classes, disable via ppolicy or
// userAccountControl, anchors entryUUID/objectGUID), create-or-link, minimal
// modifies, renames and OU moves, group membership, delete, and drift reads.
//
// It is used by the ldap target kind; the implementation arrives with the
// LDAP target issue. Dialect is the seam between directory flavours.
package ldapsync

// Dialect captures what differs between directory servers.
type Dialect interface {
	// Name is "openldap" or "ad".
	Name() string
	// AnchorAttribute is the immutable id that survives renames and moves
	// (entryUUID, objectGUID).
	AnchorAttribute() string
}
