package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/config"
)

// TestPolicyReloadRefusesChangedTargetBlock: a target's connection (pool,
// HTTP client) is built at start, so a changed ldap or scim block cannot
// take effect on reload; saying so beats a reload that looks like it
// worked.
func TestPolicyReloadRefusesChangedTargetBlock(t *testing.T) {
	setSCIMEnv(t)
	t.Setenv("TENURE_LDAP_PASSWORD", "secret")
	t.Setenv("TENURE_ENTRA_TOKEN", "entra-token")
	for _, tc := range []struct {
		file, old, new, want string
	}{
		{"entra-to-openldap.yaml", "url: ldap://ldap.example.org", "url: ldap://ldap2.example.org", "targets[0] (directory): the ldap block changed"},
		{"scim-app.yaml", "base_url: https://api.app.example.com/scim/v2", "base_url: https://api2.app.example.com/scim/v2", "targets[0] (app): the scim block changed"},
		{"scim-app.yaml", "rate_limit: 8", "rate_limit: 9", "targets[0] (app): the scim block changed"},
	} {
		t.Run(tc.file+" "+tc.new, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../../configs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "tenure.yaml")
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			started, err := config.Load(path, configKinds()...)
			if err != nil {
				t.Fatal(err)
			}
			changed := strings.Replace(string(raw), tc.old, tc.new, 1)
			if changed == string(raw) {
				t.Fatalf("the example's %q line moved; update the test", tc.old)
			}
			if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
				t.Fatal(err)
			}
			// The engine is nil: a reload that got past the check would panic.
			_, err = policyReloader(path, started, nil, slog.New(slog.DiscardHandler))(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want+", which needs a restart") {
				t.Errorf("reload: %v", err)
			}
		})
	}
}
