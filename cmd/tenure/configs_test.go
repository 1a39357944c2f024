package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/targets/scimclient"
)

// TestExampleConfigsServe: every configuration in configs/ passes `tenure
// config validate` (strict YAML, every CEL expression compiled and
// type-checked) and its targets build with this binary's kinds, so an
// example cannot rot into one `tenure serve` would refuse.
func TestExampleConfigsServe(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, env := range []string{"TENURE_SCIM_TOKEN", "TENURE_OKTA_TOKEN", "TENURE_ENTRA_TOKEN", "TENURE_ADMIN_TOKEN",
		"TENURE_REDIS_PASSWORD", "TENURE_SENTINEL_PASSWORD", "TENURE_LDAP_PASSWORD", "TENURE_APP_TOKEN", "TENURE_WEBHOOK_SECRET",
		"TENURE_SLACK_BOT_TOKEN", "TENURE_SLACK_SIGNING_SECRET", "TENURE_SMTP_PASSWORD", "TENURE_LINK_SECRET"} {
		t.Setenv(env, "secret-for-"+strings.ToLower(env))
	}
	t.Setenv("TENURE_REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
	ca := testenv.TLSFiles(t, "localhost")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"config", "validate", "--config", f}, &out, io.Discard); err != nil {
				t.Fatalf("config validate: %v", err)
			}
			if !strings.Contains(out.String(), ": ok (") {
				t.Errorf("config validate said %q", out.String())
			}
			cfg, err := config.Load(f, configKinds()...)
			if err != nil {
				t.Fatal(err)
			}
			// The examples' CA files are paths on a production host.
			for _, tc := range cfg.Targets {
				switch s := tc.Settings.(type) {
				case *ldapsync.Settings:
					if s.CAFile != "" {
						s.CAFile = ca.CAFile
					}
				case *scimclient.Settings:
					if s.CAFile != "" {
						s.CAFile = ca.CAFile
					}
				}
			}
			log := slog.New(slog.DiscardHandler)
			tgts, err := buildTargets(cfg, log, prometheus.NewRegistry())
			if err != nil {
				t.Fatalf("build targets: %v", err)
			}
			if len(tgts) != len(cfg.Targets) {
				t.Errorf("%d targets built, %d configured", len(tgts), len(cfg.Targets))
			}
			closeTargets(tgts, log)
			st, err := boltdb.Open(filepath.Join(t.TempDir(), "tenure.db"), boltdb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ns, err := buildNotifiers(cfg, st, log, prometheus.NewRegistry())
			ch := cfg.Requests.Channels
			if want := btoi(ch.Webhook != nil) + btoi(ch.Slack != nil) + btoi(ch.Email != nil); err != nil || len(ns) != want {
				t.Errorf("notification channels: %d built, %d configured, %v", len(ns), want, err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
