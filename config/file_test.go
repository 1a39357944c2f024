package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryProblemWithItsLine: a file with a mistake of each kind — an
// unknown key, a value of the wrong type, an unknown kind, a secret
// written in the file, a duration without a unit, a key set twice, an
// unset variable — gets every one reported in one run, in file order, each
// with its key and line and in the file's terms, and nothing that follows
// from them (a default standing in for the unreadable value).
func TestEveryProblemWithItsLine(t *testing.T) {
	t.Setenv("T_ADMIN", "an-admin-token-long-enough-to-pass-0123")
	file := `server:
  listn: 127.0.0.1:8080
  max_body_bytes: 1MB
store:
  kind: embeded
sources:
  - name: hr
    token: s3cret-written-in-the-file
admin:
  token: {env: T_ADMIN}
engine:
  lease: 5 minutes
  sweep: 30
  workers: 8
  workers: 16
log: {level: loud, format: ${T_UNSET_FORMAT}}
lifecycle:
  guard: {threshold: many}
`
	f := CheckBytes([]byte(file))
	want := []string{
		`server.listn (line 2): unknown key "listn"; did you mean listen?`,
		`server.max_body_bytes (line 3): want a whole number, got "1MB"`,
		`store.kind (line 5): unknown kind "embeded"; want embedded or redis`,
		`sources[0].token (line 8): want {env: NAME} or {file: PATH}: a secret is never written in the file`,
		`engine.lease (line 12): want a duration with a unit, such as 30s, 15m or 72h, got "5 minutes"`,
		`engine.sweep (line 13): want a duration with a unit, such as 30s, 15m or 72h, got 30`,
		`engine.workers (line 15): set twice (first on line 14); keep one`,
		`log.format (line 16): environment variable T_UNSET_FORMAT is not set (${T_UNSET_FORMAT:-default} gives a default)`,
		`log.level (line 16): must be debug, info, warn or error, got "loud"`,
		`lifecycle.guard.threshold (line 18): want a whole number, got "many"`,
	}
	var got []string
	for _, p := range f.Problems() {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if f.Config == nil {
		t.Fatal("no configuration to look further into")
	}

	// Load says the same, with the file's name, and never the secret.
	path := filepath.Join(t.TempDir(), "tenure.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != len(want) || !strings.HasPrefix(err.Error(), "config "+path+": 10 problems:\n  server.listn (line 2)") {
		t.Errorf("Load: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error reveals the secret: %v", err)
	}
}

// TestProblemLines: the line of a problem is its key's, or the nearest
// enclosing key's for a key that is missing; the caller's own problems
// (a policy expression) get the same treatment, except under a key whose
// value did not decode.
func TestProblemLines(t *testing.T) {
	t.Setenv("T_ADMIN", "an-admin-token-long-enough-to-pass-0123")
	t.Setenv("T_SCIM", "a-scim-token-long-enough-to-pass-01234")
	f := CheckBytes([]byte(`sources: [{name: hr, token: {env: T_SCIM}}]
admin: {token: {env: T_ADMIN}}
store:
  kind: redis
targets:
  - name: app
    kind: ldap
    scope: 'user.active &&'
    leaver: {delete_after: soon}
`), testKind{})
	for path, want := range map[string]int{
		"store.redis":                    3, // missing: its parent
		"targets[0].scope":               8,
		"targets[0]":                     6,
		"targets[0].attributes.userName": 6,
		"engine.workers":                 0,
	} {
		if got := f.Line(path); got != want {
			t.Errorf("Line(%s) = %d, want %d", path, got, want)
		}
	}
	f.Add("targets[0].scope", "does not compile")
	f.Add("targets[0].leaver.delete_after", "a follow-on")
	got := f.Err().Error()
	for _, w := range []string{
		"store.redis (line 3): required when store.kind is redis",
		"targets[0].ldap (line 6): required for kind ldap",
		"targets[0].leaver.delete_after (line 9): want a duration with a unit",
		"targets[0].scope (line 8): does not compile",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("problems lack %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "follow-on") {
		t.Errorf("a problem under a value that did not decode is reported:\n%s", got)
	}
}

// TestNotYAML: a syntax error stops the reading (the parser cannot go on),
// with its line; so does a file that is not keys at the top, or holds two
// documents. Anchors and merge keys are YAML like any other.
func TestNotYAML(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"server:\n  listen: a\n   base_url: b\n", "line 3: not valid YAML: mapping values are not allowed in this context"},
		{"server:\n\tlisten: a\n", "line 2: not valid YAML: found character that cannot start any token (YAML indents with spaces, not tabs)"},
		{"- a\n- b\n", "line 1: want keys (server:, store:, sources: …) at the top of the file, got a list"},
		{"log: {level: info}\n---\nlog: {level: debug}\n", "line 2: more than one YAML document (remove the --- separator)"},
	} {
		err := CheckBytes([]byte(tt.yaml)).Err()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}

	t.Setenv("T_ADMIN", "an-admin-token-long-enough-to-pass-0123")
	t.Setenv("T_SCIM", "a-scim-token-long-enough-to-pass-01234")
	cfg, err := Parse([]byte(`timeouts: &t {read_timeout: 5s, write_timeout: 6s}
server:
  <<: *t
  listen: 127.0.0.1:9
sources: [{name: hr, token: {env: T_SCIM}}]
admin: {token: {env: T_ADMIN}}
`))
	if err == nil || !strings.Contains(err.Error(), `timeouts (line 1): unknown key "timeouts"`) {
		t.Errorf("an anchor on an unknown key: %v", err)
	}
	cfg, err = Parse([]byte(`server:
  <<: {read_timeout: 5s, write_timeout: 6s, listen: 127.0.0.1:1}
  listen: 127.0.0.1:9
sources: [{name: hr, token: {env: T_SCIM}}]
admin: {token: {env: T_ADMIN}}
`))
	if err != nil || cfg.Server.ReadTimeout.String() != "5s" || cfg.Server.Listen != "127.0.0.1:9" {
		t.Errorf("merge key: %v %+v", err, cfg)
	}
	if _, err := Parse([]byte("server:\n  <<: {lisen: x}\n")); err == nil || !strings.Contains(err.Error(), `server.lisen (line 2): unknown key "lisen"`) {
		t.Errorf("merged unknown key: %v", err)
	}
}

// TestShortTokenWarning: a source or admin token shorter than 32 bytes
// loads, with a warning naming the key and its line, never the token.
func TestShortTokenWarning(t *testing.T) {
	t.Setenv("T_SHORT", "abc")
	t.Setenv("T_LONG", strings.Repeat("x", MinTokenBytes))
	cfg, err := Parse([]byte(`sources:
  - {name: a, token: {env: T_LONG}}
  - {name: b, token: {env: T_SHORT}}
admin:
  token: {env: T_SHORT_ADMIN}
`))
	if err == nil {
		t.Fatal("the admin token's variable is unset")
	}
	t.Setenv("T_SHORT_ADMIN", "short-admin")
	cfg, err = Parse([]byte(`sources:
  - {name: a, token: {env: T_LONG}}
  - {name: b, token: {env: T_SHORT}}
admin:
  token: {env: T_SHORT_ADMIN}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		"sources[1].token (line 3): the token is 3 bytes long, shorter than 32: a short token can be guessed; make one with openssl rand -hex 32",
		"admin.token (line 5): the token is 11 bytes long, shorter than 32: a short token can be guessed; make one with openssl rand -hex 32",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
