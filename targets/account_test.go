package targets

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	acct := func(enabled bool, container string, attrs map[string]any, ents ...string) *Account {
		return &Account{Exists: true, Enabled: enabled, Container: container, Attributes: attrs, Entitlements: ents}
	}
	base := map[string]any{"uid": "jdoe", "title": "Engineer", "groups": []string{"a", "b"}}
	for _, tc := range []struct {
		name             string
		applied, desired *Account
		want             []Op
	}{
		{"never applied, must not exist", nil, &Account{}, nil},
		{"applied absent, must not exist", &Account{}, &Account{}, nil},
		{"delete", acct(true, "", base), &Account{}, []Op{{Kind: OpDelete}}},
		{"create enabled with grants", nil, acct(true, "ou=people", base, "eng", "ops"),
			[]Op{{Kind: OpCreate, Detail: "ou=people"}, {Kind: OpGrant, Detail: "eng"}, {Kind: OpGrant, Detail: "ops"}}},
		{"create disabled (pre-hire)", &Account{}, acct(false, "", base, "eng"),
			[]Op{{Kind: OpCreate}, {Kind: OpDisable}, {Kind: OpGrant, Detail: "eng"}}},
		{"nothing to do", acct(true, "", base, "eng"), acct(true, "", map[string]any{"uid": "jdoe", "title": "Engineer", "groups": []string{"a", "b"}}, "eng"), nil},
		{"attribute changed, added and removed", acct(true, "", base),
			acct(true, "", map[string]any{"uid": "jdoe", "title": "Manager", "mail": "j@x", "groups": []string{"a", "b"}}),
			[]Op{{Kind: OpUpdate, Detail: "[mail title]"}}},
		{"list order is a change", acct(true, "", base), acct(true, "", map[string]any{"uid": "jdoe", "title": "Engineer", "groups": []string{"b", "a"}}),
			[]Op{{Kind: OpUpdate, Detail: "[groups]"}}},
		{"leaver: move, disable, revoke all", acct(true, "ou=people", base, "eng", "ops"), acct(false, "ou=disabled", base),
			[]Op{{Kind: OpMove, Detail: "ou=disabled"}, {Kind: OpDisable}, {Kind: OpRevoke, Detail: "eng"}, {Kind: OpRevoke, Detail: "ops"}}},
		{"rehire: move back, enable, grant", acct(false, "ou=disabled", base), acct(true, "ou=people", base, "eng"),
			[]Op{{Kind: OpMove, Detail: "ou=people"}, {Kind: OpEnable}, {Kind: OpGrant, Detail: "eng"}}},
		{"group swap", acct(true, "", base, "eng", "ops"), acct(true, "", base, "ops", "sales"),
			[]Op{{Kind: OpGrant, Detail: "sales"}, {Kind: OpRevoke, Detail: "eng"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plan(tc.applied, tc.desired); !slices.Equal(got, tc.want) {
				t.Errorf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
	// References are attributes too.
	a := acct(true, "", nil)
	a.References = map[string]string{"manager": "uid=boss"}
	d := acct(true, "", nil)
	d.References = map[string]string{"manager": "uid=other"}
	if got := Plan(a, d); !slices.Equal(got, []Op{{Kind: OpUpdate, Detail: "[manager]"}}) {
		t.Errorf("reference change: %v", got)
	}
}

func TestDestructive(t *testing.T) {
	for _, k := range []OpKind{OpCreate, OpUpdate, OpMove, OpEnable, OpDisable, OpGrant, OpRevoke, OpDelete} {
		if want := k == OpDisable || k == OpDelete; k.Destructive() != want {
			t.Errorf("%s.Destructive() = %v", k, !want)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	a := &Account{Exists: true, Attributes: map[string]any{"l": []string{"x"}}, References: map[string]string{"m": "r"}, Entitlements: []string{"e"}}
	c := a.Clone()
	c.Attributes["l"].([]string)[0] = "changed"
	c.Attributes["new"] = 1
	c.References["m"] = "changed"
	c.Entitlements[0] = "changed"
	if a.Attributes["l"].([]string)[0] != "x" || a.Attributes["new"] != nil || a.References["m"] != "r" || a.Entitlements[0] != "e" {
		t.Errorf("the clone shares state: %+v", a)
	}
	if (*Account)(nil).Clone() != nil {
		t.Error("nil clone")
	}
}

func TestErrorClasses(t *testing.T) {
	cause := errors.New("server said no")
	r := Retryable("ldap add", cause, 30*time.Second)
	p := Permanent("ldap add", cause)
	var te *Error
	if !IsRetryable(r) || IsRetryable(p) || !errors.As(r, &te) || te.RetryAfter != 30*time.Second {
		t.Errorf("classes: retryable %v permanent %v", IsRetryable(r), IsRetryable(p))
	}
	if !errors.Is(p, cause) || !errors.Is(p, ErrPermanent) || !errors.Is(r, ErrRetryable) {
		t.Error("Unwrap hides the class or the cause")
	}
	if p.Error() != "ldap add: server said no" {
		t.Errorf("message %q", p.Error())
	}
	// Unclassified errors are retried: losing a change is worse.
	if !IsRetryable(fmt.Errorf("wrapped: %w", cause)) || IsRetryable(nil) {
		t.Error("unclassified or nil")
	}
}
