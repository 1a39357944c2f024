package ldapsync

import (
	"slices"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// TestPosixGroupMemberUid converges memberships held as memberUid values
// (posixGroup) rather than DNs: grant, the uid's rename moving the
// membership, revoke, and the delete taking the uid out of its groups.
func TestPosixGroupMemberUid(t *testing.T) {
	t.Parallel()
	s := slapdServer(t)
	ou := JoinDN(RDN("ou", "posix"), testenv.SlapdBaseDN)
	mustAdd(t, s.p, ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	for i, g := range []string{"devs", "ops, #1"} {
		mustAdd(t, s.p, JoinDN(RDN("cn", g), ou), map[string][]string{
			"objectClass": {"posixGroup"}, "cn": {g}, "gidNumber": {[]string{"5001", "5002"}[i]},
		})
	}
	d, err := NewDirectory(s.p, OpenLDAP{}, DirectoryOptions{
		BaseDN: testenv.SlapdBaseDN, UsersDN: testenv.SlapdPeopleDN, GroupsDN: ou,
		MemberAttribute: "memberUid", MemberValue: "uid",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &dirCase{dirServer: s, d: d, base: testenv.SlapdBaseDN, people: testenv.SlapdPeopleDN, groups: ou}
	uids := func(g string) []string {
		t.Helper()
		e, err := readDN(t.Context(), s.p, JoinDN(RDN("cn", g), ou), "memberUid")
		if err != nil {
			t.Fatal(err)
		}
		return e.GetAttributeValues("memberUid")
	}
	// "*)(uid=*" as a uid: memberUid values are plain strings, escaped in
	// no DN, but the uid still names the entry.
	name := "pat*)(uid=*"
	link := c.apply(t, nil, s.person(name, nil, "devs", "ops, #1"),
		[]targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "devs"}, {Kind: targets.OpGrant, Detail: "ops, #1"}})
	if !slices.Equal(uids("devs"), []string{name}) || !slices.Equal(uids("ops, #1"), []string{name}) {
		t.Fatalf("memberUid after create: %v %v", uids("devs"), uids("ops, #1"))
	}
	link = c.apply(t, link, s.person("pat2", nil, "devs", "ops, #1"), []targets.Op{{Kind: targets.OpUpdate, Detail: "[uid]"}})
	if !slices.Equal(uids("devs"), []string{"pat2"}) || !slices.Equal(uids("ops, #1"), []string{"pat2"}) {
		t.Errorf("memberUid after the rename: %v %v", uids("devs"), uids("ops, #1"))
	}
	link = c.apply(t, link, s.person("pat2", nil, "devs"), []targets.Op{{Kind: targets.OpRevoke, Detail: "ops, #1"}})
	if !slices.Equal(uids("devs"), []string{"pat2"}) || len(uids("ops, #1")) != 0 {
		t.Errorf("memberUid after the revoke: %v %v", uids("devs"), uids("ops, #1"))
	}
	c.apply(t, link, &targets.Account{}, []targets.Op{{Kind: targets.OpDelete}})
	if len(uids("devs")) != 0 {
		t.Errorf("memberUid after the delete: %v", uids("devs"))
	}
}
