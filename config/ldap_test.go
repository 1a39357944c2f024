package config

import (
	"strings"
	"testing"
)

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
    attributes: {uid: user.userName, "userCertificate;binary": user.title}
    leaver: {move_to: "ou=disabled,dc=EXAMPLE,dc=com"}
`

func ldapEnv(t *testing.T) {
	t.Setenv("L_SCIM", "scim")
	t.Setenv("L_ADMIN", "admin")
	t.Setenv("L_BIND", "bind-s3cret")
}

func TestLDAPTargetGood(t *testing.T) {
	ldapEnv(t)
	cfg, err := Parse([]byte(ldapPreamble + goodLDAP))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Targets[0].LDAP
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
	if _, err := Parse([]byte(ad)); err != nil {
		t.Errorf("AD over ldaps: %v", err)
	}
	// AD binds by userPrincipalName or down-level name too; OpenLDAP only
	// by DN.
	for _, bind := range []string{"svc@corp.example.com", `'CORP\svc'`} {
		if _, err := Parse([]byte(strings.Replace(ad, "CN=svc,DC=corp,DC=example,DC=com", bind, 1))); err != nil {
			t.Errorf("AD bound as %s: %v", bind, err)
		}
	}
	upn := strings.Replace(strings.Replace(ad, "CN=svc,DC=corp,DC=example,DC=com", "svc@corp.example.com", 1), "dialect: ad", "dialect: openldap", 1)
	if _, err := Parse([]byte(upn)); err == nil || !strings.Contains(err.Error(), "bind_dn") {
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
			_, err := Parse([]byte(ldapPreamble + tt.yaml))
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

func TestParseDN(t *testing.T) {
	tests := []struct {
		dn   string
		want []string // nil: not a DN
	}{
		{"dc=example,dc=com", []string{"dc=example", "dc=com"}},
		{" OU = People , DC=Example ", []string{"ou=people", "dc=example"}},
		{`cn=Doe\, Jane,ou=p`, []string{"cn=doe, jane", "ou=p"}},
		{`cn=Doe\2C Jane,ou=p`, []string{"cn=doe, jane", "ou=p"}},
		{`cn=a\=b+sn=c,2.5.4.11=x`, []string{"cn=a=b+sn=c", "2.5.4.11=x"}},
		{"", nil},
		{"dc=x,", nil},
		{"nodn", nil},
		{"=x", nil},
		{"c n=x", nil},
		{`cn=x\`, nil},
	}
	for _, tt := range tests {
		got, ok := parseDN(tt.dn)
		if ok != (tt.want != nil) || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("parseDN(%q) = %q, %v; want %q", tt.dn, got, ok, tt.want)
		}
	}
	base, _ := parseDN("dc=example,dc=com")
	for dn, want := range map[string]bool{
		"dc=example,dc=com": true, "ou=p,DC=Example,dc=com": true, "dc=com": false, "ou=p,dc=other,dc=com": false,
	} {
		d, _ := parseDN(dn)
		if atOrUnder(d, base) != want {
			t.Errorf("atOrUnder(%q) = %v", dn, !want)
		}
	}
}

func TestValidAttribute(t *testing.T) {
	for name, want := range map[string]bool{
		"uid": true, "sAMAccountName": true, "x-attr-1": true, "2.5.4.3": true, "userCertificate;binary": true,
		"": false, "1uid": false, "a_b": false, "a b": false, "2.5.04.3": false, "2": false, "uid;": false, "cn;x y": false,
	} {
		if validAttribute(name) != want {
			t.Errorf("validAttribute(%q) = %v", name, !want)
		}
	}
}
