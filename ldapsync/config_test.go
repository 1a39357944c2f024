package ldapsync_test

// The ldap kind's configuration checks, through config.Parse as tenure
// config validate runs them.

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets/scimclient"
)

// parse is config.Parse with the kinds of the binary.
func parse(raw []byte) (*config.Config, error) {
	return config.Parse(raw, ldapsync.Kind{}, scimclient.Kind{})
}

// settings is target i's ldap block.
func settings(cfg *config.Config, i int) *ldapsync.Settings {
	return cfg.Targets[i].Settings.(*ldapsync.Settings)
}

var lineNote = regexp.MustCompile(` \(line \d+\)`)

// noLines is err's text without the line after each key.
func noLines(err error) string { return lineNote.ReplaceAllString(err.Error(), "") }

const ldapPreamble = `
sources: [{name: hr, token: {env: L_SCIM}}]
admin: {token: {env: L_ADMIN}}
`

// goodLDAP is a complete openldap target; tests edit a copy.
const goodLDAP = `
birthright:
  - name: all
    when: "true"
    grants: {dir: [staff, "cn=vpn,ou=groups,dc=example,dc=com"]}
targets:
  - name: dir
    kind: ldap
    ldap:
      url: ldap://ldap.example.com:389
      start_tls: true
      ca_file: /etc/ca.pem
      bind_dn: cn=tenure,dc=example,dc=com
      bind_password: {env: L_BIND}
      dialect: openldap
      lock_attribute: pwdAccountLockedTime
      base_dn: dc=example,dc=com
      users_ou: ou=people,dc=example,dc=com
      groups_ou: ou=groups,dc=example,dc=com
      rdn_attribute: uid
      object_classes: [top, inetOrgPerson, 1.3.6.1.4.1.1466.115.121.1.15]
      correlation_attribute: employeeNumber
      member_attribute: memberUid
      member_value: uid
      no_member_of: true
      write_only: []
      managed_ous: ["ou=people,dc=example,dc=com", "OU=Disabled, DC=Example,DC=com"]
    attributes: {uid: user.userName, employeeNumber: user.userName, "userCertificate;binary": user.title}
    leaver: {move_to: "ou=disabled,dc=EXAMPLE,dc=com"}
`

func ldapEnv(t *testing.T) {
	t.Setenv("L_SCIM", "scim")
	t.Setenv("L_ADMIN", "admin")
	t.Setenv("L_BIND", "bind-s3cret")
}

func TestLDAPTargetGood(t *testing.T) {
	ldapEnv(t)
	cfg, err := parse([]byte(ldapPreamble + goodLDAP))
	if err != nil {
		t.Fatal(err)
	}
	l := settings(cfg, 0)
	if l.BindPassword.Value() != "bind-s3cret" {
		t.Errorf("bind password not resolved")
	}
	if l.WriteOnly == nil || len(l.WriteOnly) != 0 {
		t.Errorf("write_only: [] must stay an empty non-nil list (none), got %#v", l.WriteOnly)
	}
	if !l.Encrypted() {
		t.Error("start_tls is encrypted")
	}
	ad := ldapPreamble + `
targets:
  - name: ad
    kind: ldap
    ldap:
      url: ldaps://dc1.corp.example.com
      bind_dn: CN=svc,DC=corp,DC=example,DC=com
      bind_password: {env: L_BIND}
      dialect: ad
      base_dn: DC=corp,DC=example,DC=com
      users_ou: OU=People,DC=corp,DC=example,DC=com
    attributes: {cn: user.userName}
`
	if _, err := parse([]byte(ad)); err != nil {
		t.Errorf("AD over ldaps: %v", err)
	}
	// AD binds by userPrincipalName or down-level name too; OpenLDAP only
	// by DN.
	for _, bind := range []string{"svc@corp.example.com", `'CORP\svc'`} {
		if _, err := parse([]byte(strings.Replace(ad, "CN=svc,DC=corp,DC=example,DC=com", bind, 1))); err != nil {
			t.Errorf("AD bound as %s: %v", bind, err)
		}
	}
	upn := strings.Replace(strings.Replace(ad, "CN=svc,DC=corp,DC=example,DC=com", "svc@corp.example.com", 1), "dialect: ad", "dialect: openldap", 1)
	if _, err := parse([]byte(upn)); err == nil || !strings.Contains(err.Error(), "bind_dn") {
		t.Errorf("OpenLDAP bound by UPN: %v, want a bind_dn error", err)
	}
}

func TestLDAPTargetErrors(t *testing.T) {
	ldapEnv(t)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "block missing",
			yaml: "targets: [{name: dir, kind: ldap}]\n",
			want: []string{"targets[0].ldap: required for kind ldap"},
		},
		{
			name: "block on another kind",
			yaml: "targets:\n  - {name: app, kind: scim, ldap: {url: ldap://x, dialect: openldap, base_dn: dc=x, users_ou: 'ou=p,dc=x'}}\n",
			want: []string{"targets[0].ldap: only for kind ldap"},
		},
		{
			name: "unknown key",
			yaml: strings.Replace(goodLDAP, "start_tls:", "starttls:", 1),
			want: []string{`unknown key "starttls"; did you mean start_tls?`},
		},
		{
			name: "every problem at once with its path",
			yaml: `
targets:
  - name: dir
    kind: ldap
    ldap:
      url: ftp://ldap.example.com
      client_cert_file: /c.pem
      bind_dn: nodn
      dial_timeout: -1s
      op_timeout: -1s
      pool_size: -1
      dialect: novell
      base_dn: dc=example,dc=com
      users_ou: ou=people,dc=other,dc=com
      groups_ou: "=x"
      rdn_attribute: 1uid
      object_classes: [top, "bad class"]
      correlation_attribute: "employee number"
      member_attribute: mem_ber
      member_of: memberOf
      no_member_of: true
      write_only: ["x y"]
      managed_ous: [dc=com]
      collision: rename
    attributes: {"bad name": user.userName, uid: user.userName}
    references: {"man ager": manager}
    leaver: {move_to: ou=disabled}
`,
			want: []string{
				`targets[0].ldap.url: must be ldap://host[:port] or ldaps://host[:port], got "ftp://ldap.example.com"`,
				"targets[0].ldap: client_cert_file and client_key_file go together",
				`targets[0].ldap.bind_dn: "nodn" is not a DN`,
				"targets[0].ldap.bind_password: required with bind_dn",
				"targets[0].ldap.dial_timeout: must not be negative",
				"targets[0].ldap.op_timeout: must not be negative",
				"targets[0].ldap.pool_size: must not be negative",
				`targets[0].ldap.dialect: must be openldap or ad, got "novell"`,
				`targets[0].ldap.users_ou: "ou=people,dc=other,dc=com" is not under base_dn "dc=example,dc=com"`,
				`targets[0].ldap.groups_ou: "=x" is not a DN`,
				`targets[0].ldap.rdn_attribute: "1uid" is not an LDAP attribute name`,
				`targets[0].ldap.object_classes[1]: "bad class" is not an object class name`,
				`targets[0].ldap.correlation_attribute: "employee number" is not an LDAP attribute name`,
				`targets[0].ldap.member_attribute: "mem_ber" is not an LDAP attribute name`,
				`targets[0].ldap.collision: must be fail or suffix, got "rename"`,
				"targets[0].ldap.member_of: set, but no_member_of",
				`targets[0].ldap.write_only[0]: "x y" is not an LDAP attribute name`,
				`targets[0].ldap.managed_ous[0]: "dc=com" is not under base_dn`,
				"targets[0].attributes.bad name: not an LDAP attribute name",
				"targets[0].references.man ager: not an LDAP attribute name",
				`targets[0].leaver.move_to: "ou=disabled" is not under base_dn`,
			},
		},
		{
			name: "required fields",
			yaml: "targets: [{name: dir, kind: ldap, ldap: {}}]\n",
			want: []string{
				"targets[0].ldap.url: required", "targets[0].ldap.dialect: required: openldap or ad",
				"targets[0].ldap.base_dn: required", "targets[0].ldap.users_ou: required",
			},
		},
		{
			name: "ad over a plain connection",
			yaml: strings.NewReplacer("dialect: openldap", "dialect: ad", "      lock_attribute: pwdAccountLockedTime\n", "",
				"      start_tls: true\n", "", "      ca_file: /etc/ca.pem\n", "").Replace(goodLDAP),
			want: []string{"targets[0].ldap: dialect ad needs ldaps:// or start_tls: AD sets a new account's initial password (unicodePwd) only over TLS"},
		},
		{
			name: "lock settings on ad",
			yaml: strings.Replace(goodLDAP, "dialect: openldap", "dialect: ad", 1),
			want: []string{"targets[0].ldap: lock_attribute and lock_value are for dialect openldap only"},
		},
		{
			name: "start_tls with ldaps",
			yaml: strings.Replace(goodLDAP, "ldap://ldap.example.com:389", "ldaps://ldap.example.com", 1),
			want: []string{"targets[0].ldap.start_tls: goes with ldap://, not ldaps://"},
		},
		{
			name: "TLS files without TLS",
			yaml: strings.Replace(goodLDAP, "start_tls: true", "start_tls: false", 1),
			want: []string{"targets[0].ldap: TLS settings given for a plain ldap:// connection"},
		},
		{
			name: "password without bind_dn",
			yaml: strings.Replace(goodLDAP, "      bind_dn: cn=tenure,dc=example,dc=com\n", "", 1),
			want: []string{"targets[0].ldap.bind_password: set, but bind_dn is empty"},
		},
		{
			name: "unset bind password variable",
			yaml: strings.Replace(goodLDAP, "env: L_BIND", "env: L_UNSET_FOR_TEST", 1),
			want: []string{"targets[0].ldap.bind_password: environment variable L_UNSET_FOR_TEST is not set"},
		},
		{
			name: "empty object classes",
			yaml: strings.Replace(goodLDAP, "object_classes: [top, inetOrgPerson, 1.3.6.1.4.1.1466.115.121.1.15]", "object_classes: []", 1),
			want: []string{"targets[0].ldap.object_classes: empty; leave it out for the dialect's default"},
		},
		{
			name: "no mapping for the RDN or correlation attribute",
			yaml: strings.Replace(goodLDAP, `attributes: {uid: user.userName, employeeNumber: user.userName, `, `attributes: {`, 1),
			want: []string{"targets[0].attributes: no mapping for uid (the RDN attribute, which names entries), employeeNumber (the correlation attribute)"},
		},
		{
			name: "a one-number OID",
			yaml: strings.Replace(goodLDAP, "rdn_attribute: uid", "rdn_attribute: \"2\"", 1),
			want: []string{`targets[0].ldap.rdn_attribute: "2" is not an LDAP attribute name`},
		},
		{
			name: "grants",
			yaml: strings.NewReplacer(`[staff, "cn=vpn,ou=groups,dc=example,dc=com"]`, `[staff, "cn=vpn,dc=other", "cn=x,"]`,
				"      groups_ou: ou=groups,dc=example,dc=com\n", "").Replace(goodLDAP),
			want: []string{
				`birthright[0].grants.dir[0]: group name "staff" needs the target's ldap.groups_ou`,
				`birthright[0].grants.dir[1]: group DN "cn=vpn,dc=other" is not under the target's base_dn`,
				`birthright[0].grants.dir[2]: "cn=x," is not a DN`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(ldapPreamble + tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(noLines(err), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "bind-s3cret") {
				t.Errorf("error reveals the bind password: %v", err)
			}
		})
	}
}

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
	cfg, err := parse([]byte(ldapPreamble + driftLDAP))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.Drift.Interval != 24*time.Hour || tg.Drift.Spread == nil || *tg.Drift.Spread != time.Hour {
		t.Errorf("drift = %v spread %v, want 24h spread 1h", tg.Drift.Interval, tg.Drift.Spread)
	}
	if len(tg.ExclusiveGroups) != 2 || len(settings(cfg, 0).KeepMembers) != 1 {
		t.Errorf("exclusive %v keep %v", tg.ExclusiveGroups, settings(cfg, 0).KeepMembers)
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
		cfg, err := parse([]byte(ldapPreamble + strings.Replace(driftLDAP, "{interval: 24h}", c.drift, 1)))
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
	cfg, err = parse([]byte(ldapPreamble + goodLDAP))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Targets[0].Drift; d.Interval != 0 || d.Spread != nil {
		t.Errorf("default drift = %+v, want off", d)
	}
	// member_value groups keep values, not DNs.
	posix := strings.Replace(goodLDAP, "      managed_ous:", "      keep_members: [placeholder]\n      managed_ous:", 1)
	if _, err := parse([]byte(ldapPreamble + posix)); err != nil {
		t.Errorf("keep_members with member_value: %v", err)
	}
}

func TestDriftErrors(t *testing.T) {
	ldapEnv(t)
	t.Setenv("S_BEARER", "bearer-s3cret")
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
			_, err := parse([]byte(ldapPreamble + yaml))
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
		yaml := ldapPreamble + `
birthright: [{name: all, when: "true", grants: {app: [everyone]}}]
targets:
  - name: app
    kind: scim
    scim: {base_url: https://app.example.com/scim/v2, auth: {bearer: {token: {env: S_BEARER}}}}
    exclusive_groups: [everyone]
    attributes: {userName: user.userName}
`
		_, err := parse([]byte(yaml))
		if err == nil || !strings.Contains(noLines(err), "targets[0].exclusive_groups: not supported by kind scim") {
			t.Errorf("error %v, want exclusive groups refused on a scim target", err)
		}
	})
}
