package config

import (
	"strings"
	"testing"
	"time"
)

func TestConsole(t *testing.T) {
	t.Setenv("SCIM_TOK", "s3cret-scim")
	t.Setenv("ADMIN_TOK", "s3cret-admin")
	t.Setenv("OIDC_SECRET", "s3cret-oidc")
	const head = `
sources: [{name: okta, token: {env: SCIM_TOK}}]
admin: {token: {env: ADMIN_TOK}}
`
	const oidc = `
  oidc: {issuer: "https://example.okta.com", client_id: tenure, client_secret: {env: OIDC_SECRET}}
  roles: {admin: "true"}`
	for _, c := range []struct {
		name string
		yaml string
		want []string // substrings of the error; none: it loads
	}{
		{name: "defaults", yaml: "server: {base_url: https://t.example.com}\nconsole:" + oidc},
		{name: "own listener and url", yaml: "console:\n  listen: 0.0.0.0:8443\n  url: https://console.example.com/console" + oidc},
		{name: "loopback http", yaml: "console:\n  url: http://127.0.0.1:8080/console\n  break_glass: true\n  roles: {auditor: 'true'}"},
		{name: "no url", yaml: "console:" + oidc, want: []string{"console.url: required"}},
		{name: "plain http url", yaml: "console:\n  url: http://console.example.com/console" + oidc,
			want: []string{"console.url: must be an https URL"}},
		{name: "url path differs", yaml: "console:\n  url: https://t.example.com/ui" + oidc,
			want: []string{`console.url: its path "/ui" must be console.path "/console"`}},
		{name: "path on the admin API", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  path: /admin/ui" + oidc,
			want: []string{"console.path: /admin is the server's own"}},
		{name: "bad path", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  path: console/" + oidc,
			want: []string{"console.path: must be an absolute path"}},
		{name: "nothing to sign in with", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  roles: {admin: 'true'}",
			want: []string{"console: set oidc (or break_glass)"}},
		{name: "oidc incomplete", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  oidc: {issuer: 'http://idp.example.com', client_secret: {env: NOPE_UNSET}}\n  roles: {admin: 'true'}",
			want: []string{"console.oidc.issuer: must be an https URL", "console.oidc.client_id: required", "console.oidc.client_secret: environment variable NOPE_UNSET is not set"}},
		{name: "no roles", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  break_glass: true",
			want: []string{"console.roles: set at least one"}},
		{name: "session bounds", yaml: "server: {base_url: https://t.example.com}\nconsole:\n  session: {ttl: 30s, idle: 2h}" + oidc,
			want: []string{"console.session.ttl: must be at least 1m", "console.session.idle: must be between 1m and session.ttl"}},
		{name: "unknown key", yaml: "console:\n  breakglass: true" + oidc, want: []string{`console.breakglass: unknown key "breakglass"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head + c.yaml))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				cs := cfg.Console
				if cs.Path != "/console" || cs.Session.TTL != 8*time.Hour || cs.Session.Idle != time.Hour {
					t.Errorf("defaults not applied: %+v", cs)
				}
				if o := cs.OIDC; o != nil && (o.Claim != "email" || len(o.Scopes) != 2 || o.ClientSecret.Value() != "s3cret-oidc") {
					t.Errorf("oidc defaults not applied: %+v", o)
				}
				if c.name == "defaults" && cs.URL != "https://t.example.com/console" {
					t.Errorf("url %q; want server.base_url + path", cs.URL)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", c.want)
			}
			// Each problem as "path: message", without its line.
			msg := noLines(err)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
