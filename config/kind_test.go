package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// testKind is a kind with a block of its own, named ldap so that the
// tests read like a file with the real kind.
type testKind struct{}

type testSettings struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	Secret  Secret        `yaml:"secret"`
}

func (testKind) Name() string     { return "ldap" }
func (testKind) NewSettings() any { return new(testSettings) }
func (testKind) Check(c *TargetCheck) {
	s := c.Target.Settings.(*testSettings)
	if s.URL == "" {
		c.Add("ldap.url", "required")
	}
	if s.Secret.IsSet() {
		c.Resolve("ldap.secret", &s.Secret)
	}
	for path, ents := range c.Grants() {
		if slices.Contains(ents, "") {
			c.AddAt(path, "an empty grant")
		}
	}
}

// plainKind is a kind without a block.
type plainKind struct{}

func (plainKind) Name() string       { return "plain" }
func (plainKind) NewSettings() any   { return nil }
func (plainKind) Check(*TargetCheck) {}

// TestTargetKinds: a target's block is decoded and checked by its kind,
// with the same words and lines as the rest of the file; with no kinds the
// blocks are kept as written.
func TestTargetKinds(t *testing.T) {
	t.Setenv("T_ADMIN", "an-admin-token-long-enough-to-pass-0123")
	t.Setenv("T_SCIM", "a-scim-token-long-enough-to-pass-01234")
	file := `sources: [{name: hr, token: {env: T_SCIM}}]
admin: {token: {env: T_ADMIN}}
birthright: [{name: all, when: "true", grants: {dir: [""], other: [x]}}]
targets:
  - name: dir
    kind: ldap
    ldap:
      timeout: 30
      secret: in-the-file
      urll: ldap://x
  - name: other
    kind: plain
    ldap: {url: ldap://x}
  - name: third
    kind: novell
    ldpa: {}
  - name: fourth
    kind: ldap
`
	f := CheckBytes([]byte(file), testKind{}, plainKind{})
	var got []string
	for _, p := range f.Problems() {
		got = append(got, p.String())
	}
	want := []string{
		`birthright[0].grants.dir (line 3): an empty grant`,
		`targets[0].ldap.url (line 7): required`,
		`targets[0].ldap.timeout (line 8): want a duration with a unit, such as 30s, 15m or 72h, got 30`,
		`targets[0].ldap.secret (line 9): want {env: NAME} or {file: PATH}: a secret is never written in the file`,
		`targets[0].ldap.urll (line 10): unknown key "urll"; did you mean url?`,
		`targets[1].ldap (line 13): only for kind ldap`,
		`targets[2].kind (line 15): "novell" is not a kind this binary knows; want ldap or plain`,
		`targets[2].ldpa (line 16): unknown key "ldpa"; the keys here are attributes, container, drift, exclusive_groups, kind, leaver, name, references, scope`,
		`targets[3].ldap (line 17): required for kind ldap`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// Without the kinds, the shape every target shares; the blocks kept.
	good := strings.NewReplacer(`[""]`, "[a]", "      timeout: 30\n      secret: in-the-file\n      urll: ldap://x\n", "      url: ldap://x\n",
		"    kind: plain\n    ldap: {url: ldap://x}\n", "    kind: plain\n", "    ldpa: {}\n", "").Replace(file)
	cfg, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := cfg.Targets[0].Blocks["ldap"]; !ok || cfg.Targets[0].Settings != nil || len(n.Content) != 2 {
		t.Errorf("target 0: blocks %v settings %v", cfg.Targets[0].Blocks, cfg.Targets[0].Settings)
	}
	cfg, err = Parse([]byte(strings.Replace(good, "  - name: third\n    kind: novell\n  - name: fourth\n    kind: ldap\n", "", 1)), testKind{}, plainKind{})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := cfg.Targets[0].Settings.(*testSettings); !ok || s.URL != "ldap://x" {
		t.Errorf("target 0's settings: %#v", cfg.Targets[0].Settings)
	}
}
