package engine

import (
	"maps"
	"slices"
	"testing"

	"github.com/tenurehq/tenure/targets"
)

func TestDriftRepairsClassify(t *testing.T) {
	op := func(k targets.OpKind, d string) targets.Op { return targets.Op{Kind: k, Detail: d} }
	for _, c := range []struct {
		name          string
		planned, done []targets.Op
		want          map[string]int
	}{
		{"nothing done", []targets.Op{op(targets.OpUpdate, "[mail]")}, nil, nil},
		{"as planned", []targets.Op{op(targets.OpUpdate, "[mail title]"), op(targets.OpMove, "ou=a"), op(targets.OpDisable, ""), op(targets.OpRevoke, "eng")},
			[]targets.Op{op(targets.OpMove, "ou=a"), op(targets.OpUpdate, "[mail]"), op(targets.OpDisable, ""), op(targets.OpRevoke, "eng")}, nil},
		{"everything drifted", nil,
			[]targets.Op{op(targets.OpMove, "ou=a"), op(targets.OpUpdate, "[mail title]"), op(targets.OpEnable, ""), op(targets.OpGrant, "eng"), op(targets.OpRevoke, "ops")},
			map[string]int{DriftContainer: 1, DriftAttribute: 2, DriftStatus: 1, DriftMembership: 2}},
		{"beyond the plan", []targets.Op{op(targets.OpUpdate, "[title]"), op(targets.OpGrant, "eng")},
			[]targets.Op{op(targets.OpUpdate, "[mail title]"), op(targets.OpGrant, "eng"), op(targets.OpGrant, "staff")},
			map[string]int{DriftAttribute: 1, DriftMembership: 1}},
		{"a first converge repairs nothing", []targets.Op{op(targets.OpCreate, ""), op(targets.OpGrant, "eng")},
			[]targets.Op{op(targets.OpUpdate, "[mail]"), op(targets.OpEnable, "")}, nil},
		{"an account deleted by hand is created again", []targets.Op{op(targets.OpUpdate, "[title]")},
			[]targets.Op{op(targets.OpCreate, ""), op(targets.OpGrant, "eng"), op(targets.OpGrant, "staff")}, map[string]int{DriftAccount: 1}},
		{"a stray account deleted", nil, []targets.Op{op(targets.OpDelete, "")}, map[string]int{DriftAccount: 1}},
		{"SCIM paths with spaces", []targets.Op{op(targets.OpUpdate, `[emails[type eq "work"].value title]`)},
			[]targets.Op{op(targets.OpUpdate, `[emails[type eq "work"].value name.givenName]`)}, map[string]int{DriftAttribute: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := driftRepairs(c.planned, c.done)
			if len(got) == 0 && len(c.want) == 0 {
				return
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("driftRepairs = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDriftAttrNames(t *testing.T) {
	for detail, want := range map[string][]string{
		"[]":              nil,
		"[mail]":          {"mail"},
		"[cn mail title]": {"cn", "mail", "title"},
		`[emails[type eq "work"].value urn:x:y:User:a.b]`: {`emails[type eq "work"].value`, "urn:x:y:User:a.b"},
		`[addresses[type eq "home office"].locality]`:     {`addresses[type eq "home office"].locality`},
	} {
		if got := attrNames(detail); !slices.Equal(got, want) {
			t.Errorf("attrNames(%q) = %q, want %q", detail, got, want)
		}
	}
}

func TestDriftMemberKey(t *testing.T) {
	k := memberKey("cn=eng,ou=groups", "uid=x,ou=people")
	if k != "member uid=x,ou=people of cn=eng,ou=groups" || !isMemberKey(k) || isMemberKey("3f2c0d4e-person") {
		t.Errorf("memberKey = %q", k)
	}
}
