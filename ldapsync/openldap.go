package ldapsync

import "github.com/go-ldap/ldap/v3"

// OpenLDAP defaults.
const (
	// OpenLDAPLockAttribute is ppolicy's lock attribute.
	OpenLDAPLockAttribute = "pwdAccountLockedTime"
	// OpenLDAPLockValue locks an entry until an administrator removes it.
	OpenLDAPLockValue = "000001010000Z"
)

// OpenLDAP is the OpenLDAP dialect: entryUUID as anchor, disable by a
// lock attribute and value (ppolicy's pwdAccountLockedTime 000001010000Z
// by default), enable by deleting that value.
//
// An entry carries another value of the lock attribute when ppolicy
// locked it after failed binds: enabling leaves that lockout alone (it
// expires or an administrator clears it); disabling replaces it with the
// permanent value.
type OpenLDAP struct {
	// LockAttribute and LockValue disable an entry (OpenLDAPLockAttribute,
	// OpenLDAPLockValue when empty).
	LockAttribute, LockValue string
}

var _ AccountDialect = OpenLDAP{}

// Name is "openldap".
func (OpenLDAP) Name() string { return "openldap" }

// AnchorAttribute is entryUUID.
func (OpenLDAP) AnchorAttribute() string { return "entryUUID" }

// DNAttribute implements DNAttributer.
func (OpenLDAP) DNAttribute() string { return "entryDN" }

func (d OpenLDAP) lock() (attr, value string) {
	attr, value = d.LockAttribute, d.LockValue
	if attr == "" {
		attr = OpenLDAPLockAttribute
	}
	if value == "" {
		value = OpenLDAPLockValue
	}
	return attr, value
}

// StatusAttributes is the lock attribute (operational: read explicitly).
func (d OpenLDAP) StatusAttributes() []string {
	attr, _ := d.lock()
	return []string{attr}
}

// SetEnabled sets or deletes the lock value.
func (d OpenLDAP) SetEnabled(m *ldap.ModifyRequest, e *ldap.Entry, enabled bool) bool {
	attr, value := d.lock()
	cur := e.GetEqualFoldAttributeValues(attr)
	locked := len(cur) == 1 && cur[0] == value
	switch {
	case enabled && locked:
		m.Delete(attr, []string{value})
	case !enabled && !locked:
		m.Replace(attr, []string{value})
	default:
		return false
	}
	return true
}

// Anchor is e's entryUUID.
func (OpenLDAP) Anchor(e *ldap.Entry) string { return e.GetEqualFoldAttributeValue("entryUUID") }

// AnchorFilter is (entryUUID=id).
func (OpenLDAP) AnchorFilter(id string) (Filter, error) { return Eq("entryUUID", id), nil }

// Defaults are uid-named inetOrgPerson entries; userPassword is never
// compared (the server may hash it).
func (OpenLDAP) Defaults() DirectoryOptions {
	return DirectoryOptions{
		RDNAttribute:  "uid",
		ObjectClasses: []string{"top", "person", "organizationalPerson", "inetOrgPerson"},
		WriteOnly:     []string{"userPassword"},
	}
}
