package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	t.Setenv("SCIM_TOK", "s3cret-scim")
	t.Setenv("ADMIN_TOK", "s3cret-admin")
	cfg, err := Parse([]byte(`
sources:
  - name: okta
    token: {env: SCIM_TOK}
admin:
  token: {env: ADMIN_TOK}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.MaxBodyBytes != 1<<20 || cfg.Server.ReadTimeout != 30*time.Second {
		t.Errorf("server defaults not applied: %+v", cfg.Server)
	}
	if cfg.Store.Kind != StoreEmbedded || cfg.Store.Embedded.Path != filepath.Join("data", "tenure.db") {
		t.Errorf("store defaults not applied: %+v", cfg.Store)
	}
	if cfg.Engine.Workers != 64 || cfg.Engine.Poll != 250*time.Millisecond {
		t.Errorf("engine defaults not applied: %+v", cfg.Engine)
	}
	if got := cfg.Sources[0].Token.Value(); got != "s3cret-scim" {
		t.Errorf("token = %q", got)
	}
	if s := cfg.Sources[0].Token.String(); strings.Contains(s, "s3cret") {
		t.Errorf("Secret.String leaks the value: %q", s)
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("SCIM_TOK", "a")
	t.Setenv("SCIM_TOK2", "b")
	t.Setenv("ADMIN_TOK", "admin")
	secretFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // substrings that must all appear in the error
	}{
		{
			name: "unknown key is an error",
			yaml: "server:\n  lisen: 1.2.3.4:5\n",
			want: []string{`server.lisen: unknown key "lisen"; did you mean listen?`},
		},
		{
			name: "every problem at once with its path",
			yaml: `
server:
  listen: nope
  base_url: ftp://x
  max_body_bytes: 10
store:
  kind: cassandra
sources:
  - name: Bad Name
    token: {env: SCIM_TOK}
  - name: ok
    token: {env: SCIM_TOK}
  - name: ok
    token: {env: UNSET_VAR_FOR_TEST, file: /x}
admin:
  token: {env: SCIM_TOK2}
log:
  level: loud
`,
			want: []string{
				"server.listen: must be host:port",
				"server.base_url: must be an absolute http(s) URL",
				"server.max_body_bytes: must be at least 1024",
				`store.kind: unknown kind "cassandra"`,
				"sources[0].name: want 1 to 63 lowercase letters",
				`sources[1].token: same token as source "Bad Name"`,
				"sources[2].name: duplicate of sources[1]",
				"sources[2].token: set env or file, not both",
				"log.level: must be debug, info, warn or error",
			},
		},
		{
			name: "no sources, no admin token",
			yaml: "log: {format: json}\n",
			want: []string{"sources: at least one source is required", "admin.token: required: set env or file"},
		},
		{
			name: "unset env var in a secret",
			yaml: "sources: [{name: a, token: {env: UNSET_VAR_FOR_TEST}}]\nadmin: {token: {env: ADMIN_TOK}}\n",
			want: []string{"sources[0].token: environment variable UNSET_VAR_FOR_TEST is not set"},
		},
		{
			name: "admin token equal to a source token",
			yaml: "sources: [{name: a, token: {env: ADMIN_TOK}}]\nadmin: {token: {env: ADMIN_TOK}}\n",
			want: []string{`admin.token: must differ from the token of source "a"`},
		},
		{
			name: "unset variable referenced without default",
			yaml: "store: {embedded: {path: ${UNSET_VAR_FOR_TEST}/x.db}}\n",
			want: []string{"store.embedded.path: environment variable UNSET_VAR_FOR_TEST is not set"},
		},
		{
			name: "two documents",
			yaml: "log: {level: info}\n---\nlog: {level: debug}\n",
			want: []string{"more than one YAML document"},
		},
		{
			name: "missing secret file",
			yaml: "sources: [{name: a, token: {file: /nonexistent/tok}}]\nadmin: {token: {file: " + secretFile + "}}\n",
			want: []string{"sources[0].token: read /nonexistent/tok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(noLines(err), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, secret := range []string{"from-file", "admin"} {
				if strings.Contains(err.Error(), ": "+secret) {
					t.Errorf("error reveals a secret value: %v", err)
				}
			}
		})
	}
}

func TestRedisStore(t *testing.T) {
	t.Setenv("ADMIN_TOK", "admin")
	t.Setenv("SCIM_TOK", "scim")
	base := "sources: [{name: a, token: {env: SCIM_TOK}}]\nadmin: {token: {env: ADMIN_TOK}}\n"
	cfg, err := Parse([]byte(base + "store: {kind: redis, redis: {url: redis://localhost:6379/2}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Store.Redis; r.Prefix != "tenure" || r.DialTimeout != 5*time.Second || cfg.Store.Embedded != nil {
		t.Errorf("redis defaults: %+v, embedded %+v", r, cfg.Store.Embedded)
	}
	// The pool holds a connection per worker and spare ones for requests.
	for _, tt := range []struct {
		yaml string
		want int
	}{
		{"", 64 + 32},
		{"engine: {workers: 200}\n", 200 + 32},
		{"engine: {workers: 200}\nstore: {kind: redis, redis: {url: redis://localhost:6379/2, pool_size: 10}}\n", 10},
	} {
		y := base + tt.yaml
		if !strings.Contains(tt.yaml, "store:") {
			y += "store: {kind: redis, redis: {url: redis://localhost:6379/2}}\n"
		}
		c, err := Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Store.Redis.PoolSize; got != tt.want {
			t.Errorf("%q: pool_size = %d, want %d", tt.yaml, got, tt.want)
		}
	}
	for _, tt := range []struct{ yaml, want string }{
		{"store: {kind: redis}", "store.redis: required when store.kind is redis"},
		{"store: {kind: redis, redis: {}}", "store.redis: set url or sentinel"},
		{"store: {kind: redis, redis: {url: http://x, sentinel: {master: m, addresses: [a:1]}}}", "set url or sentinel, not both"},
		{"store: {kind: redis, redis: {url: http://x}}", "store.redis.url: must be redis://"},
		{"store: {kind: redis, redis: {sentinel: {addresses: [nohost]}}}", "store.redis.sentinel.master: required"},
		{"store: {kind: redis, redis: {sentinel: {master: m, addresses: [nohost]}}}", "store.redis.sentinel.addresses[0]: must be host:port"},
		{"store: {kind: redis, redis: {url: redis://x:1, password: {env: UNSET_VAR_FOR_TEST}}}", "store.redis.password: environment variable UNSET_VAR_FOR_TEST is not set"},
		{"store: {kind: redis, redis: {url: redis://x:1, prefix: 'a b'}}", `store.redis.prefix: want 1 to 64 letters, digits, _, . and -, got "a b"`},
		{"store: {kind: redis, redis: {url: redis://x:1, tls: {cert_file: c}}}", "store.redis.tls: cert_file and key_file go together"},
		{"store: {kind: embedded, redis: {url: redis://x:1}}", "store.redis: set, but store.kind is embedded"},
	} {
		_, err := Parse([]byte(base + tt.yaml + "\n"))
		if err == nil || !strings.Contains(noLines(err), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestSecretFromFileAndEnvExpansion(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("file-token\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ADMIN_TOK", "admin-token")
	t.Setenv("DATA", dir)
	cfg, err := Parse([]byte(`
store: {embedded: {path: "${DATA}/t.db"}}
server: {listen: "${LISTEN_UNSET:-127.0.0.1:9999}"}
sources: [{name: hr, token: {file: ` + tok + `}}]
admin: {token: {env: ADMIN_TOK}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sources[0].Token.Value(); got != "file-token" {
		t.Errorf("file token = %q, want trailing newline trimmed", got)
	}
	if cfg.Store.Embedded.Path != dir+"/t.db" {
		t.Errorf("path = %q", cfg.Store.Embedded.Path)
	}
	if cfg.Server.Listen != "127.0.0.1:9999" {
		t.Errorf("listen = %q, want the default from ${VAR:-default}", cfg.Server.Listen)
	}
}

// Every file in configs/ must load: examples that rot mislead operators.
func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, env := range []string{"TENURE_SCIM_TOKEN", "TENURE_OKTA_TOKEN", "TENURE_ENTRA_TOKEN", "TENURE_ADMIN_TOKEN",
		"TENURE_REDIS_PASSWORD", "TENURE_SENTINEL_PASSWORD", "TENURE_LDAP_PASSWORD", "TENURE_APP_TOKEN", "TENURE_WEBHOOK_SECRET",
		"TENURE_SLACK_BOT_TOKEN", "TENURE_SLACK_SIGNING_SECRET", "TENURE_SMTP_PASSWORD", "TENURE_LINK_SECRET"} {
		t.Setenv(env, "token-for-"+env)
	}
	t.Setenv("TENURE_REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestZeroDurationsAreNotDefaults(t *testing.T) {
	t.Setenv("T_SCIM", "s")
	t.Setenv("T_ADMIN", "a")
	cfg, err := Parse([]byte(`
sources: [{name: x, token: {env: T_SCIM}}]
admin: {token: {env: T_ADMIN}}
lifecycle: {prehire_lead: 0s, mover_grace: 0s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Lifecycle.PrehireLead != 0 || *cfg.Lifecycle.MoverGrace != 0 {
		t.Errorf("prehire_lead %v, mover_grace %v; want both 0", *cfg.Lifecycle.PrehireLead, *cfg.Lifecycle.MoverGrace)
	}
	def, err := Parse([]byte("sources: [{name: x, token: {env: T_SCIM}}]\nadmin: {token: {env: T_ADMIN}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *def.Lifecycle.PrehireLead != 72*time.Hour || *def.Lifecycle.MoverGrace != 72*time.Hour {
		t.Errorf("defaults: prehire_lead %v, mover_grace %v; want 72h", *def.Lifecycle.PrehireLead, *def.Lifecycle.MoverGrace)
	}
}

var lineNote = regexp.MustCompile(` \(line \d+\)`)

// noLines is err's text without the line after each key, for the tests
// that check what the problems say.
func noLines(err error) string { return lineNote.ReplaceAllString(err.Error(), "") }

// create_on_filtered_replace is per source and off unless set: only the
// source that needs Entra's element-creating replace gets it.
func TestSourceCreateOnFilteredReplace(t *testing.T) {
	t.Setenv("OKTA_TOK", "okta-token")
	t.Setenv("ENTRA_TOK", "entra-token")
	t.Setenv("ADMIN_TOK", "admin-token")
	cfg, err := Parse([]byte(`
sources:
  - name: okta
    token: {env: OKTA_TOK}
  - name: entra
    token: {env: ENTRA_TOK}
    create_on_filtered_replace: true
admin:
  token: {env: ADMIN_TOK}
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true} {
		if got := cfg.Sources[i].CreateOnFilteredReplace; got != want {
			t.Errorf("sources[%d] (%s).create_on_filtered_replace = %v, want %v", i, cfg.Sources[i].Name, got, want)
		}
	}
	_, err = Parse([]byte("sources:\n  - name: entra\n    token: {env: ENTRA_TOK}\n    create_on_filtered_replace: yes please\nadmin:\n  token: {env: ADMIN_TOK}\n"))
	if err == nil || !strings.Contains(err.Error(), "sources[0].create_on_filtered_replace") {
		t.Errorf("a non-boolean setting: err = %v, want one naming sources[0].create_on_filtered_replace", err)
	}
}
