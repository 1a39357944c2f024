package ldapsync

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// TestGroupMembers lists an exclusive group's members with the accounts
// they name, and removes one, on OpenLDAP and AD: a converged account, an
// entry added to the group by hand, an entry outside the base DN and a
// kept placeholder (the bind DN on OpenLDAP's groupOfNames, a
// keep_members DN on AD).
func TestGroupMembers(t *testing.T) {
	t.Parallel()
	forEachDirectory(t, func(t *testing.T, s *dirServer) {
		c := s.newCase(t, "")
		ctx := t.Context()
		link := c.apply(t, nil, s.person("member", nil, "eng"), []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "eng"}})
		hand := JoinDN(RDN(s.rdn, "hand added"), c.people)
		s.addEntry(t, s, hand, "hand added", map[string][]string{})
		// Outside the case's base: it names no account Tenure can link.
		outside := JoinDN(RDN("ou", "outside "+strings.ReplaceAll(t.Name(), "/", " ")), s.root)
		mustAdd(t, s.p, outside, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
		keep := JoinDN(RDN("ou", "placeholder"), c.base)
		mustAdd(t, s.p, keep, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
		err := s.p.Do(ctx, "modify", func(l *ldap.Conn) error {
			m := ldap.NewModifyRequest(c.groupDN("eng"), nil)
			m.Add("member", []string{hand, outside, keep})
			return l.Modify(m)
		})
		if err != nil {
			t.Fatal(err)
		}
		d := *c.d
		d.Options.KeepMembers = []string{strings.ToUpper(keep)}

		upper := strings.ToUpper(c.groupDN("eng"))
		r1, err1 := d.GroupRef("eng")
		r2, err2 := d.GroupRef(upper)
		if err1 != nil || err2 != nil || r1 != r2 {
			t.Errorf("GroupRef(eng) = %q, %v; GroupRef(%s) = %q, %v: want one group", r1, err1, upper, r2, err2)
		}
		if r, _ := d.GroupRef("ops"); r == r1 {
			t.Errorf("GroupRef(ops) = GroupRef(eng) = %q", r)
		}

		members, err := d.GroupMembers(ctx, "eng")
		if err != nil {
			t.Fatal(err)
		}
		handID := s.dialect.Anchor(c.read(t, hand))
		got := map[string]string{}
		for _, m := range members {
			got[normalDN(m.Ref)] = m.ID
		}
		want := map[string]string{normalDN(link.Ref): link.ID, normalDN(hand): handID, normalDN(outside): ""}
		if len(got) != len(want) || len(members) != len(want) {
			t.Errorf("members %+v, want %v", members, want)
		}
		for dn, id := range want {
			if gid, ok := got[dn]; !ok || gid != id {
				t.Errorf("member %s: anchor %q (listed %v), want %q", dn, gid, ok, id)
			}
		}

		// Removing the hand-added member; again is success; a kept
		// member is refused.
		for range 2 {
			if err := d.RemoveMember(ctx, "eng", hand); err != nil {
				t.Fatalf("RemoveMember: %v", err)
			}
		}
		if c.isMember(t, "eng", hand) || !c.isMember(t, "eng", link.Ref) {
			t.Errorf("after the removal: members %v", c.members(t, "eng"))
		}
		if err := d.RemoveMember(ctx, "eng", keep); !errors.Is(err, targets.ErrPermanent) {
			t.Errorf("RemoveMember(kept) = %v, want a permanent error", err)
		}
		if s.name == "openldap" {
			if err := d.RemoveMember(ctx, "eng", testenv.SlapdBindDN); !errors.Is(err, targets.ErrPermanent) {
				t.Errorf("RemoveMember(bind DN) = %v, want a permanent error", err)
			}
		}
		if _, err := d.GroupMembers(ctx, "no such group"); !errors.Is(err, targets.ErrPermanent) {
			t.Errorf("GroupMembers(missing group) = %v, want a permanent error", err)
		}
	})
}

// TestGroupMembersMemberUid lists a posixGroup's memberUid values with the
// accounts whose uid they are.
func TestGroupMembersMemberUid(t *testing.T) {
	t.Parallel()
	s := slapdServer(t)
	ou := JoinDN(RDN("ou", "posix exclusive"), testenv.SlapdBaseDN)
	mustAdd(t, s.p, ou, map[string][]string{"objectClass": {"organizationalUnit"}})
	mustAdd(t, s.p, JoinDN(RDN("cn", "devs"), ou), map[string][]string{
		"objectClass": {"posixGroup"}, "cn": {"devs"}, "gidNumber": {"5101"}, "memberUid": {"ghost", "keeper"},
	})
	d, err := NewDirectory(s.p, OpenLDAP{}, DirectoryOptions{
		BaseDN: testenv.SlapdBaseDN, UsersDN: testenv.SlapdPeopleDN, GroupsDN: ou,
		MemberAttribute: "memberUid", MemberValue: "uid", KeepMembers: []string{"Keeper"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &dirCase{dirServer: s, d: d, base: testenv.SlapdBaseDN, people: testenv.SlapdPeopleDN, groups: ou}
	link := c.apply(t, nil, s.person("posix-exclusive", nil, "devs"), []targets.Op{{Kind: targets.OpCreate}, {Kind: targets.OpGrant, Detail: "devs"}})
	members, err := d.GroupMembers(t.Context(), "devs")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(members, func(a, b targets.Found) int { return strings.Compare(a.Ref, b.Ref) })
	want := []targets.Found{{Ref: "ghost", Name: "ghost"}, {ID: link.ID, Ref: "posix-exclusive", Name: "posix-exclusive"}}
	if !slices.Equal(members, want) {
		t.Errorf("members %+v, want %+v", members, want)
	}
	if err := d.RemoveMember(t.Context(), "devs", "ghost"); err != nil {
		t.Fatal(err)
	}
	e, err := readDN(t.Context(), s.p, JoinDN(RDN("cn", "devs"), ou), "memberUid")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.GetAttributeValues("memberUid"); !slices.Equal(got, []string{"keeper", "posix-exclusive"}) {
		t.Errorf("memberUid after the removal: %v", got)
	}
}
