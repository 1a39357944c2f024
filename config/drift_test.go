package config

import (
	"strings"
	"testing"
	"time"
)

// driftLDAP is goodLDAP with DN members (no memberUid), a drift pass and
// exclusive groups: "staff" by name and the vpn group by a DN spelled
// differently from its grant.
var driftLDAP = strings.NewReplacer(
	"      member_attribute: memberUid\n      member_value: uid\n      no_member_of: true\n", "",
	"    leaver:", `    drift: {interval: 24h}
    exclusive_groups: [staff, "CN=VPN, ou=Groups,dc=example,dc=com"]
    leaver:`,
	"      managed_ous:", "      keep_members: [\"cn=tenure,dc=example,dc=com\"]\n      managed_ous:",
).Replace(goodLDAP)

func TestDriftGood(t *testing.T) {
	ldapEnv(t)
	cfg, err := Parse([]byte(ldapPreamble + driftLDAP))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.Drift.Interval != 24*time.Hour || tg.Drift.Spread == nil || *tg.Drift.Spread != time.Hour {
		t.Errorf("drift = %v spread %v, want 24h spread 1h", tg.Drift.Interval, tg.Drift.Spread)
	}
	if len(tg.ExclusiveGroups) != 2 || len(tg.LDAP.KeepMembers) != 1 {
		t.Errorf("exclusive %v keep %v", tg.ExclusiveGroups, tg.LDAP.KeepMembers)
	}
	for _, c := range []struct {
		drift  string
		spread *time.Duration
	}{
		{"{interval: 30m}", new(15 * time.Minute)},
		{"{interval: 1m, spread: 0s}", new(time.Duration(0))},
		{"{interval: 48h, spread: 48h}", new(48 * time.Hour)},
		{"{}", nil},
	} {
		cfg, err := Parse([]byte(ldapPreamble + strings.Replace(driftLDAP, "{interval: 24h}", c.drift, 1)))
		if err != nil {
			t.Errorf("drift %s: %v", c.drift, err)
			continue
		}
		got := cfg.Targets[0].Drift.Spread
		if (got == nil) != (c.spread == nil) || (got != nil && *got != *c.spread) {
			t.Errorf("drift %s: spread %v, want %v", c.drift, got, c.spread)
		}
	}
	// Off by default.
	cfg, err = Parse([]byte(ldapPreamble + goodLDAP))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Targets[0].Drift; d.Interval != 0 || d.Spread != nil {
		t.Errorf("default drift = %+v, want off", d)
	}
	// member_value groups keep values, not DNs.
	posix := strings.Replace(goodLDAP, "      managed_ous:", "      keep_members: [placeholder]\n      managed_ous:", 1)
	if _, err := Parse([]byte(ldapPreamble + posix)); err != nil {
		t.Errorf("keep_members with member_value: %v", err)
	}
}

func TestDriftErrors(t *testing.T) {
	ldapEnv(t)
	scimEnv(t)
	for _, c := range []struct {
		name, from, to string
		want           []string
	}{
		{"interval too short", "{interval: 24h}", "{interval: 30s}", []string{"targets[0].drift.interval: must be at least 1m0s, got 30s"}},
		{"negative interval", "{interval: 24h}", "{interval: -1h}", []string{"targets[0].drift.interval: must not be negative"}},
		{"spread longer than the interval", "{interval: 24h}", "{interval: 1h, spread: 2h}", []string{"targets[0].drift.spread: 2h0m0s is longer than drift.interval 1h0m0s"}},
		{"negative spread", "{interval: 24h}", "{interval: 1h, spread: -1s}", []string{"targets[0].drift.spread: must not be negative"}},
		{"spread without a pass", "{interval: 24h}", "{spread: 1h}", []string{"targets[0].drift.spread: set, but drift.interval is not"}},
		{"unknown key", "{interval: 24h}", "{interval: 24h, every: 1h}", []string{`drift.every: unknown key "every"; the keys here are interval, spread`}},
		{"a group no rule grants", `[staff, "CN=VPN, ou=Groups,dc=example,dc=com"]`, "[staff, admins]",
			[]string{`targets[0].exclusive_groups[1]: "admins" is granted by no birthright rule on dir: the drift pass would remove every member`}},
		{"the same group twice", `[staff, "CN=VPN, ou=Groups,dc=example,dc=com"]`, `[staff, "cn=staff,ou=groups,dc=example,dc=com"]`,
			[]string{"targets[0].exclusive_groups[1]: the same group as targets[0].exclusive_groups[0]"}},
		{"not under base_dn", `[staff, "CN=VPN, ou=Groups,dc=example,dc=com"]`, `[staff, "cn=vpn,dc=other"]`,
			[]string{`targets[0].exclusive_groups[1]: group DN "cn=vpn,dc=other" is not under the target's base_dn`}},
		{"empty", `[staff, "CN=VPN, ou=Groups,dc=example,dc=com"]`, `[staff, ""]`, []string{"targets[0].exclusive_groups[1]: empty"}},
		{"keep_members not DNs", `keep_members: ["cn=tenure,dc=example,dc=com"]`, "keep_members: [tenure, '']",
			[]string{`targets[0].ldap.keep_members[0]: "tenure" is not a DN`, "targets[0].ldap.keep_members[1]: empty"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := strings.Replace(driftLDAP, c.from, c.to, 1)
			if yaml == driftLDAP {
				t.Fatalf("%q not in the config", c.from)
			}
			_, err := Parse([]byte(ldapPreamble + yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(noLines(err), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	t.Run("scim target", func(t *testing.T) {
		yaml := scimPreamble + strings.Replace(goodSCIM, "    attributes:", "    exclusive_groups: [everyone]\n    attributes:", 1)
		_, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(noLines(err), "targets[0].exclusive_groups: not supported by kind scim") {
			t.Errorf("error %v, want exclusive groups refused on a scim target", err)
		}
	})
}
