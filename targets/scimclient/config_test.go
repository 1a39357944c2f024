package scimclient

// The scim kind's configuration checks, through config.Parse as tenure
// config validate runs them.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenurehq/tenure/config"
)

// parse is config.Parse with the scim kind.
func parse(raw []byte) (*config.Config, error) { return config.Parse(raw, Kind{}) }

// settings is target i's scim block.
func settings(cfg *config.Config, i int) *Settings { return cfg.Targets[i].Settings.(*Settings) }

var lineNote = regexp.MustCompile(` \(line \d+\)`)

// noLines is err's text without the line after each key.
func noLines(err error) string { return lineNote.ReplaceAllString(err.Error(), "") }

const scimPreamble = `
sources: [{name: hr, token: {env: S_SCIM}}]
admin: {token: {env: S_ADMIN}}
`

// goodSCIM is a complete scim target with a bearer token; tests edit a
// copy. The auth line is replaced to try the other kinds.
const goodSCIM = `
birthright:
  - {name: all, when: "true", grants: {app: [Everyone, "Sales EMEA"]}}
targets:
  - name: app
    kind: scim
    scim:
      base_url: https://app.example.com/scim/v2
      auth: {bearer: {token: {env: S_BEARER}}}
      create_groups: true
      rate_limit: 2.5
      burst: 3
      timeout: 20s
      ca_file: /etc/app-ca.pem
      server_name: app.internal
    attributes:
      userName: user.userName
      name.givenName: user.name.givenName
      'emails[type eq "work"].value': user.emails[0].value
      'phoneNumbers[type eq "mobile"].value': user.phoneNumbers[0].value
      urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department: enterprise.department
    references:
      urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager: manager
      sponsor: user.id
    leaver: {mode: disable, delete_after: 720h}
`

const bearerAuth = "auth: {bearer: {token: {env: S_BEARER}}}"

func scimEnv(t *testing.T) {
	t.Setenv("S_SCIM", "scim")
	t.Setenv("S_ADMIN", "admin")
	t.Setenv("S_BEARER", "bearer-s3cret")
	t.Setenv("S_BASIC", "basic-s3cret")
	t.Setenv("S_OAUTH", "oauth-s3cret")
}

func TestSCIMTargetGood(t *testing.T) {
	scimEnv(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("file-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		auth  string
		check func(t *testing.T, s *Settings)
	}{
		{"bearer", bearerAuth, func(t *testing.T, s *Settings) {
			if s.Auth.Bearer.Token.Value() != "bearer-s3cret" {
				t.Error("bearer token not resolved")
			}
		}},
		{"basic", "auth: {basic: {username: tenure, password: {file: " + secretFile + "}}}", func(t *testing.T, s *Settings) {
			if b := s.Auth.Basic; b.Username != "tenure" || b.Password.Value() != "file-s3cret" {
				t.Errorf("basic = %q / resolved %v", b.Username, b.Password.Value() == "file-s3cret")
			}
		}},
		{"oauth2", "auth: {oauth2: {token_url: https://login.example.com/oauth2/token, client_id: tenure, client_secret: {env: S_OAUTH}, scopes: [scim.write, 'api://app/.default']}}", func(t *testing.T, s *Settings) {
			if o := s.Auth.OAuth2; o.ClientSecret.Value() != "oauth-s3cret" || len(o.Scopes) != 2 {
				t.Errorf("oauth2 = %+v", o)
			}
		}},
		{"oauth2 on loopback", "auth: {oauth2: {token_url: http://127.0.0.1:9000/token, client_id: x, client_secret: {env: S_OAUTH}}}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse([]byte(scimPreamble + strings.Replace(goodSCIM, bearerAuth, tt.auth, 1)))
			if err != nil {
				t.Fatal(err)
			}
			s := settings(cfg, 0)
			// Defaults applied; the rest as written.
			if s.UpdateMode != UpdatePatch || s.GroupMode != GroupsPatch || !s.CreateGroups ||
				*s.RateLimit != 2.5 || s.Burst != 3 || s.Timeout != 20*time.Second || s.CAFile != "/etc/app-ca.pem" {
				t.Errorf("block = %+v", s)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}

	// The smallest block: http:// to a loopback host, modes spelled out.
	minimal := scimPreamble + `
targets:
  - name: local
    kind: scim
    scim: {base_url: "http://localhost:8081/scim", update_mode: put, group_mode: none, auth: {bearer: {token: {env: S_BEARER}}}}
    attributes: {userName: user.userName}
  - name: v6
    kind: scim
    scim: {base_url: "http://[::1]:8081/scim", auth: {bearer: {token: {env: S_BEARER}}}}
    attributes: {urn:ietf:params:scim:schemas:core:2.0:User:userName: user.userName}
    leaver: {mode: delete}
`
	cfg, err := parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(cfg, 0); s.UpdateMode != UpdatePut || s.GroupMode != GroupsNone || s.RateLimit != nil {
		t.Errorf("minimal block = %+v", s)
	}
}

func TestSCIMTargetErrors(t *testing.T) {
	scimEnv(t)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "block missing",
			yaml: "targets: [{name: app, kind: scim, attributes: {userName: user.userName}}]\n",
			want: []string{"targets[0].scim: required for kind scim"},
		},
		{
			name: "block on another kind",
			yaml: "targets:\n  - {name: dir, kind: ldap, scim: {base_url: https://x}}\n",
			want: []string{"targets[0].scim: only for kind scim"},
		},
		{
			name: "unknown key",
			yaml: strings.Replace(goodSCIM, "rate_limit:", "ratelimit:", 1),
			want: []string{`unknown key "ratelimit"; did you mean rate_limit?`},
		},
		{
			name: "no auth",
			yaml: strings.Replace(goodSCIM, bearerAuth, "auth: {}", 1),
			want: []string{"targets[0].scim.auth: exactly one of bearer, basic, oauth2"},
		},
		{
			name: "two auths",
			yaml: strings.Replace(goodSCIM, bearerAuth, "auth: {bearer: {token: {env: S_BEARER}}, basic: {username: u, password: {env: S_BASIC}}}", 1),
			want: []string{"targets[0].scim.auth: exactly one of bearer, basic, oauth2"},
		},
		{
			name: "plain http to a remote host",
			yaml: strings.NewReplacer("https://app.example.com/scim/v2", "http://app.example.com/scim/v2",
				"      ca_file: /etc/app-ca.pem\n", "", "      server_name: app.internal\n", "").Replace(goodSCIM),
			want: []string{"targets[0].scim.base_url: must be https://; http:// is allowed only for a loopback host, since credentials and personal data would cross the network in clear"},
		},
		{
			name: "TLS settings on loopback http",
			yaml: strings.Replace(goodSCIM, "https://app.example.com/scim/v2", "http://127.0.0.1:8081/scim/v2", 1),
			want: []string{"targets[0].scim: TLS settings given for an http:// base_url"},
		},
		{
			name: "unset token variable",
			yaml: strings.Replace(goodSCIM, "env: S_BEARER", "env: S_UNSET_FOR_TEST", 1),
			want: []string{"targets[0].scim.auth.bearer.token: environment variable S_UNSET_FOR_TEST is not set"},
		},
		{
			name: "zero rate limit",
			yaml: strings.Replace(goodSCIM, "rate_limit: 2.5", "rate_limit: 0", 1),
			want: []string{"targets[0].scim.rate_limit: must be a positive number of requests per second, got 0"},
		},
		{
			name: "infinite rate limit",
			yaml: strings.Replace(goodSCIM, "rate_limit: 2.5", "rate_limit: .inf", 1),
			want: []string{"targets[0].scim.rate_limit: must be a positive number"},
		},
		{
			name: "userName not mapped",
			yaml: strings.Replace(goodSCIM, "      userName: user.userName\n", "      userName.x: user.userName\n", 1),
			want: []string{"targets[0].attributes: userName must be mapped for kind scim"},
		},
		{
			name: "userName only as a reference",
			yaml: strings.NewReplacer("      userName: user.userName\n", "", "    references:\n", "    references:\n      userName: manager\n").Replace(goodSCIM),
			want: []string{"targets[0].attributes: userName must be mapped for kind scim"},
		},
		{
			name: "group mode none with grants",
			yaml: strings.NewReplacer("create_groups: true", "group_mode: none").Replace(goodSCIM),
			want: []string{"birthright[0].grants.app: the target's group_mode is none: the app has no groups to grant"},
		},
		{
			name: "every problem at once with its path",
			yaml: `
birthright:
  - {name: all, when: "true", grants: {app: [" "]}}
targets:
  - name: app
    kind: scim
    scim:
      base_url: ftp://app.example.com
      auth:
        bearer: {token: {env: S_UNSET_FOR_TEST}}
        basic: {username: "a:b"}
        oauth2: {token_url: "http://login.example.com/token", scopes: ["a b"]}
      update_mode: merge
      group_mode: none
      create_groups: true
      rate_limit: -1
      burst: -1
      timeout: -1s
    container: '"ou=x"'
    attributes:
      "bad name": user.userName
      id: user.id
      Title: user.title
      title: user.title
      groups: groups
      Active: lifecycle.state == "active"
      meta.created: user.meta.created
      emails[type eq "work"]: user.emails[0].value
      emails[type ne "work"].value: user.emails[0].value
      name.givenName.first: user.name.givenName
      "urn:x:groups": groups
    references:
      name.formatted: manager
    leaver: {move_to: ou=disabled}
`,
			want: []string{
				`targets[0].scim.base_url: must be an absolute https:// URL, got "ftp://app.example.com"`,
				"targets[0].references.name.formatted: a reference names an attribute, not a sub-attribute",
				"targets[0].scim.auth.bearer.token: environment variable S_UNSET_FOR_TEST is not set",
				"targets[0].scim.auth.basic.username: must not contain ':'",
				"targets[0].scim.auth.basic.password: required: set env or file",
				"targets[0].scim.auth.oauth2.token_url: must be https://; http:// is allowed only for a loopback host",
				"targets[0].scim.auth.oauth2.client_id: required",
				"targets[0].scim.auth.oauth2.client_secret: required: set env or file",
				`targets[0].scim.auth.oauth2.scopes[0]: "a b" is not a scope`,
				"targets[0].scim.auth: exactly one of bearer, basic, oauth2",
				`targets[0].scim.update_mode: must be patch or put, got "merge"`,
				"targets[0].scim.create_groups: set, but group_mode none says the app has no groups",
				"targets[0].scim.rate_limit: must be a positive number of requests per second, got -1",
				"targets[0].scim.burst: must not be negative",
				"targets[0].scim.timeout: must not be negative",
				"targets[0].container: SCIM has no containers",
				"targets[0].leaver.move_to: SCIM has no containers",
				"targets[0].attributes.bad name: not a SCIM attribute path",
				"targets[0].attributes.id: id is set by the app, not mapped",
				"targets[0].attributes.title: same SCIM attribute as attributes.Title (names are case-insensitive)",
				"targets[0].attributes.groups: groups are read-only on a SCIM user",
				"targets[0].attributes.Active: active follows the account's state",
				"targets[0].attributes.meta.created: meta is set by the app, not mapped",
				`targets[0].attributes.emails[type eq "work"]: not a SCIM attribute path`,
				`targets[0].attributes.emails[type ne "work"].value: not a SCIM attribute path`,
				"targets[0].attributes.name.givenName.first: not a SCIM attribute path",
				"targets[0].attributes.urn:x:groups: not a SCIM attribute path",
				"targets[0].attributes: userName must be mapped for kind scim",
				"birthright[0].grants.app: the target's group_mode is none",
			},
		},
		{
			name: "bad group name",
			yaml: strings.Replace(goodSCIM, `[Everyone, "Sales EMEA"]`, `[Everyone, ""]`, 1),
			want: []string{"birthright[0].grants.app[1]: empty"},
		},
		{
			name: "bad group mode and base_url parts",
			yaml: strings.NewReplacer("create_groups: true", "group_mode: replace",
				"https://app.example.com/scim/v2", "https://u@app.example.com/scim/v2?x=1").Replace(goodSCIM),
			want: []string{
				`targets[0].scim.group_mode: must be patch, put or none, got "replace"`,
				"targets[0].scim.base_url: must not carry credentials; use auth",
			},
		},
		{
			name: "required fields",
			yaml: "targets: [{name: app, kind: scim, scim: {}, attributes: {userName: user.userName}}]\n",
			want: []string{"targets[0].scim.base_url: required", "targets[0].scim.auth: exactly one of bearer, basic, oauth2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(scimPreamble + tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(noLines(err), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, secret := range []string{"bearer-s3cret", "basic-s3cret", "oauth-s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"localhost.example.com": false, "10.0.0.1": false, "::": false, "example.com": false, "": false,
	} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}
