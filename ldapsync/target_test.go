package ldapsync

import (
	"slices"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// testGroups are created under SlapdGroupsDN by newDirectory. groupOfNames
// needs at least one member, so each starts with the administrator's DN as
// a placeholder member (Tenure never removes members it did not add).
var testGroups = []string{"eng", "ops", "sales, EMEA"}

// newDirectory starts a slapd with testGroups and returns a Directory on it
// (correlating by corr, none if "") and the admin pool.
func newDirectory(t *testing.T, corr string) (*testenv.SlapdServer, *Directory, *Pool) {
	t.Helper()
	srv := testenv.Slapd(t)
	p, _ := newPool(t, startTLSConfig(srv))
	for _, g := range testGroups {
		err := add(t.Context(), p, JoinDN(RDN("cn", g), testenv.SlapdGroupsDN), map[string][]string{
			"objectClass": {"groupOfNames"}, "cn": {g}, "member": {testenv.SlapdBindDN},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewDirectory(p, OpenLDAP{}, DirectoryOptions{
		BaseDN:               testenv.SlapdBaseDN,
		UsersDN:              testenv.SlapdPeopleDN,
		GroupsDN:             testenv.SlapdGroupsDN,
		CorrelationAttribute: corr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, d, p
}

// person is an OpenLDAP account named uid; extra values replace (nil:
// remove) the defaults.
func person(uid string, extra map[string]any, groups ...string) *targets.Account {
	return withExtra(map[string]any{"uid": uid, "cn": "Jane Doe", "sn": "Doe", "userPassword": "pw-" + uid}, extra, groups)
}

func TestNewDirectoryOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect AccountDialect
		opts    DirectoryOptions
		ok      bool
		check   func(o DirectoryOptions) bool
	}{
		{"openldap defaults", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x"}, true, func(o DirectoryOptions) bool {
			return o.RDNAttribute == "uid" && o.MemberAttribute == "member" && o.MemberOf == "memberOf" &&
				slices.Contains(o.ObjectClasses, "inetOrgPerson") && slices.Equal(o.WriteOnly, []string{"userPassword"}) &&
				slices.Equal(o.ManagedDNs, []string{"ou=p,dc=x"})
		}},
		{"ad defaults", AD{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x"}, true, func(o DirectoryOptions) bool {
			return o.RDNAttribute == "cn" && slices.Contains(o.ObjectClasses, "user") && slices.Equal(o.WriteOnly, []string{"unicodePwd"})
		}},
		{"memberUid implies no memberOf", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", MemberAttribute: "memberUid", MemberValue: "uid"}, true,
			func(o DirectoryOptions) bool { return o.NoMemberOf }},
		{"no base", OpenLDAP{}, DirectoryOptions{UsersDN: "ou=p,dc=x"}, false, nil},
		{"bad users DN", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "nonsense"}, false, nil},
		{"bad managed DN", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", ManagedDNs: []string{"nonsense"}}, false, nil},
		{"bad RDN attribute", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", RDNAttribute: "u id"}, false, nil},
		{"bad correlation", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", CorrelationAttribute: "(uid"}, false, nil},
		{"bad member value", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", MemberValue: "u)"}, false, nil},
		{"no object classes", OpenLDAP{}, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x", ObjectClasses: []string{}}, false, nil},
		{"no dialect", nil, DirectoryOptions{BaseDN: "dc=x", UsersDN: "ou=p,dc=x"}, false, nil},
	} {
		d, err := NewDirectory(nil, tc.dialect, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err == nil && !tc.check(d.Options) {
			t.Errorf("%s: defaults not filled: %+v", tc.name, d.Options)
		}
	}
}
