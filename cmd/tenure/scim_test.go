package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets/scimclient"
)

func setSCIMEnv(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_APP_TOKEN", "app-bearer-s3cret")
	t.Setenv("TENURE_APP_PASSWORD", "app-basic-s3cret")
	t.Setenv("TENURE_APP_CLIENT_SECRET", "app-oauth-s3cret")
	t.Setenv("TENURE_DATA_DIR", t.TempDir())
}

// scimApp is one scim target with the given auth and extra block lines
// (indented six spaces).
func scimApp(auth, extra string) string {
	return ldapTestPreamble + `
targets:
  - name: app
    kind: scim
    scim:
      base_url: https://app.example.com/scim/v2
      auth: ` + auth + `
` + extra + `
    attributes: {userName: user.userName}
`
}

func TestSCIMOptions(t *testing.T) {
	setSCIMEnv(t)
	// A TLS server whose certificate only its own CA vouches for: the
	// options' client must reach it through ca_file and server_name.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	// The default client's refused handshake below is expected.
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "app-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, auth, extra string
		want              scimclient.Options // HTTPClient checked apart
		tls               bool
	}{
		{
			name: "bearer with defaults",
			auth: "{bearer: {token: {env: TENURE_APP_TOKEN}}}",
			want: scimclient.Options{
				BaseURL: "https://app.example.com/scim/v2", Auth: scimclient.Bearer{Token: "app-bearer-s3cret"},
				UpdateMode: scimclient.UpdatePatch, GroupMode: scimclient.GroupsPatch, Name: "app",
			},
		},
		{
			name:  "basic with every setting",
			auth:  "{basic: {username: tenure, password: {env: TENURE_APP_PASSWORD}}}",
			extra: "      update_mode: put\n      group_mode: put\n      create_groups: true\n      rate_limit: 2.5\n      burst: 7\n      timeout: 12s\n      ca_file: " + caFile + "\n      server_name: example.com",
			want: scimclient.Options{
				BaseURL: "https://app.example.com/scim/v2", Auth: scimclient.Basic{Username: "tenure", Password: "app-basic-s3cret"},
				UpdateMode: scimclient.UpdatePut, GroupMode: scimclient.GroupsPut, CreateGroups: true,
				RateLimit: 2.5, Burst: 7, Timeout: 12 * time.Second, Name: "app",
			},
			tls: true,
		},
		{
			name:  "oauth2 without groups",
			auth:  "{oauth2: {token_url: https://login.example.com/token, client_id: tenure-app, client_secret: {env: TENURE_APP_CLIENT_SECRET}, scopes: [scim.read, scim.write]}}",
			extra: "      group_mode: none",
			want: scimclient.Options{
				BaseURL: "https://app.example.com/scim/v2",
				Auth: scimclient.ClientCredentials{
					TokenURL: "https://login.example.com/token", ClientID: "tenure-app",
					ClientSecret: "app-oauth-s3cret", Scopes: []string{"scim.read", "scim.write"},
				},
				UpdateMode: scimclient.UpdatePatch, GroupMode: scimclient.GroupsNone, Name: "app",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(scimApp(tt.auth, tt.extra)), configKinds()...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := scimclient.OptionsOf(cfg.Targets[0])
			if err != nil {
				t.Fatal(err)
			}
			hc := got.HTTPClient
			got.HTTPClient = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options\n got %#v\nwant %#v", got, tt.want)
			}
			if !tt.tls {
				if hc != nil {
					t.Errorf("HTTPClient set without TLS settings: the client's default (system roots) is wanted")
				}
				return
			}
			tr, ok := hc.Transport.(*http.Transport)
			if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.ServerName != "example.com" || tr.TLSClientConfig.InsecureSkipVerify {
				t.Fatalf("transport %#v", hc.Transport)
			}
			resp, err := hc.Get(srv.URL)
			if err != nil {
				t.Fatalf("GET through ca_file: %v", err)
			}
			resp.Body.Close()
			// The system roots are replaced, not added to: the default
			// client does not trust the test CA.
			if _, err := http.Get(srv.URL); err == nil {
				t.Error("the default client trusts the test server; the check above proves nothing")
			}
		})
	}

	cfg, err := config.Parse([]byte(scimApp("{bearer: {token: {env: TENURE_APP_TOKEN}}}", "      ca_file: "+filepath.Join(t.TempDir(), "missing.pem"))), configKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scimclient.OptionsOf(cfg.Targets[0]); err == nil || !strings.Contains(err.Error(), "scim tls: ca file") {
		t.Errorf("missing ca_file: %v", err)
	}
	if _, err := buildTargets(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil ||
		!strings.Contains(err.Error(), "targets[0] (app): scim tls: ca file") {
		t.Errorf("build with a missing ca_file: %v", err)
	}
}

// TestSCIMKindBuilds runs the whole builder: kind "scim" is registered and
// builds a *scimclient.Client for each kind of auth, which serve closes.
func TestSCIMKindBuilds(t *testing.T) {
	setSCIMEnv(t)
	for _, auth := range []string{
		"{bearer: {token: {env: TENURE_APP_TOKEN}}}",
		"{basic: {username: tenure, password: {env: TENURE_APP_PASSWORD}}}",
		"{oauth2: {token_url: https://login.example.com/token, client_id: x, client_secret: {env: TENURE_APP_CLIENT_SECRET}}}",
	} {
		cfg, err := config.Parse([]byte(scimApp(auth, "")), configKinds()...)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := kindsByName()[scimclient.KindName]; !ok {
			t.Fatal("kind scim is not registered")
		}
		log := slog.New(slog.DiscardHandler)
		tgts, err := buildTargets(cfg, log, prometheus.NewRegistry())
		if err != nil {
			t.Errorf("%s: %v", auth, err)
			continue
		}
		if _, ok := tgts["app"].(*scimclient.Client); !ok {
			t.Errorf("%s: app is %T", auth, tgts["app"])
		}
		if _, ok := tgts["app"].(io.Closer); !ok {
			t.Errorf("%s: the client is no io.Closer, so serve would never close it", auth)
		}
		closeTargets(tgts, log)
	}
}

func TestSCIMConfigValidate(t *testing.T) {
	setSCIMEnv(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"config", "validate", "--config", "../../configs/scim-app.yaml"}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "1 target(s), 3 birthright rule(s)") {
		t.Errorf("configs/scim-app.yaml: %v %s", err, out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	yaml := scimApp("{bearer: {token: {env: TENURE_APP_TOKEN}}, basic: {username: u, password: {env: TENURE_APP_PASSWORD}}}",
		"      rate_limit: 0")
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(context.Background(), []string{"config", "validate", "--config", bad}, &out, io.Discard)
	for _, want := range []string{
		"targets[0].scim.auth: exactly one of bearer, basic, oauth2",
		"targets[0].scim.rate_limit: must be a positive number of requests per second, got 0",
	} {
		if err == nil || !strings.Contains(noLines(err), want) {
			t.Errorf("bad config: error lacks %q: %v", want, err)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "app-bearer-s3cret") || strings.Contains(err.Error(), "app-basic-s3cret")) {
		t.Errorf("the error reveals a secret: %v", err)
	}
}
