package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/config"
)

// TestConfigValidateEveryProblem: one run of `tenure config validate`
// reports the file's structural mistakes, its validation problems, every
// policy expression that does not compile and a kind this binary lacks
// together, in file order, each with its key and line: a broken structure
// hides no broken expression.
func TestConfigValidateEveryProblem(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", strings.Repeat("s", 32))
	t.Setenv("TENURE_ADMIN_TOKEN", strings.Repeat("a", 32))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`server:
  listn: 127.0.0.1:8080
store:
  kind: embeded
sources:
  - name: hr
    token: {env: TENURE_SCIM_TOKEN}
admin:
  token: {env: TENURE_ADMIN_TOKEN}
lifecycle:
  timezone: Mars/Olympus
birthright:
  - name: everyone
    when: 'user.active &&'
    grants: {app: [Everyone]}
targets:
  - name: app
    kind: scimm
    attributes:
      title: person.title
    leaver: {delete_after: 30 days}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "validate", "--config", bad}, &out, &errOut)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("validate: %v", err)
	}
	got := err.Error()
	want := []string{
		"config " + bad + ": 7 problems:",
		`  server.listn (line 2): unknown key "listn"; did you mean listen?`,
		`  store.kind (line 4): unknown kind "embeded"; want embedded or redis`,
		`  lifecycle.timezone (line 11): unknown time zone "Mars/Olympus"`,
		`  birthright[0].when (line 14): does not compile: "user.active &&": at 1:15 of the expression: Syntax error:`,
		`  targets[0].kind (line 18): "scimm" is not a kind this binary knows; want ldap or scim`,
		`  targets[0].attributes.title (line 20): does not compile: "person.title": at 1:1 of the expression: undeclared reference to 'person'`,
		`  targets[0].leaver.delete_after (line 21): want a duration with a unit, such as 30s, 15m or 72h, got "30 days"`,
	}
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Errorf("the problems lack, or not in this order, %q:\n%s", w, got)
			continue
		}
		at += i + len(w)
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
}

// TestConfigValidateShortToken: a token shorter than 32 bytes is valid,
// with a warning on stderr naming the key and its line, never the token.
func TestConfigValidateShortToken(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "abc")
	t.Setenv("TENURE_ADMIN_TOKEN", strings.Repeat("a", config.MinTokenBytes))
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"config", "validate", "--config", "../../configs/quickstart.yaml"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want := "../../configs/quickstart.yaml: warning: sources[0].token (line 16): the token is 3 bytes long, shorter than 32"
	if !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one warning starting %q", errOut.String(), want)
	}
	if !strings.Contains(out.String(), ": ok (") {
		t.Errorf("stdout %q", out.String())
	}
}
