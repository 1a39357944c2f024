package ldapsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
)

func TestNewRejects(t *testing.T) {
	certs := testenv.TLSFiles(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"scheme", Config{URL: "http://x"}},
		{"ldapi", Config{URL: "ldapi:///run/slapd/ldapi"}},
		{"no host", Config{URL: "ldap://"}},
		{"path", Config{URL: "ldap://x/dc=example,dc=com"}},
		{"query", Config{URL: "ldap://x?cn"}},
		{"user info", Config{URL: "ldap://u:p@x"}},
		{"starttls over ldaps", Config{URL: "ldaps://x", StartTLS: true}},
		{"missing CA file", Config{URL: "ldaps://x", CAFile: "/nonexistent/ca.pem"}},
		{"CA file without PEM", Config{URL: "ldaps://x", CAFile: notPEM}},
		{"cert without key", Config{URL: "ldaps://x", ClientCertFile: certs.CertFile}},
		{"key without cert", Config{URL: "ldap://x", StartTLS: true, ClientKeyFile: certs.KeyFile}},
		{"key does not match", Config{URL: "ldaps://x", ClientCertFile: certs.CertFile, ClientKeyFile: certs.CAFile}},
		{"TLS files on plain ldap", Config{URL: "ldap://x", CAFile: certs.CAFile}},
	} {
		if p, err := New(tc.cfg, nil, nil); err == nil {
			p.Close()
			t.Errorf("%s: New(%+v) succeeded", tc.name, tc.cfg)
		}
	}
	for _, ok := range []Config{
		{URL: "ldap://x"},
		{URL: "ldap://x:1389/", StartTLS: true, CAFile: certs.CAFile},
		{URL: "ldaps://x", CAFile: certs.CAFile, ClientCertFile: certs.CertFile, ClientKeyFile: certs.KeyFile},
	} {
		p, err := New(ok, nil, nil)
		if err != nil {
			t.Errorf("New(%v): %v", ok, err)
			continue
		}
		p.Close()
	}
}

func TestConfigHidesPassword(t *testing.T) {
	const secret = "s3cr3t-bind-password"
	cfg := Config{URL: "ldap://x", BindDN: "cn=admin", BindPassword: secret}
	log, buf := bufferLog()
	log.Info("config", "ldap", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), buf.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("the password shows in %q", s)
		}
		if !strings.Contains(s, "cn=admin") {
			t.Errorf("the bind DN is missing from %q", s)
		}
	}
	// New warns about a cleartext bind, without the password.
	log, buf = bufferLog()
	p, err := New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if !strings.Contains(buf.String(), "unencrypted") || strings.Contains(buf.String(), secret) {
		t.Errorf("New logged %q", buf)
	}
	if cfg.Encrypted() || !(Config{URL: "ldaps://x"}).Encrypted() || !(Config{URL: "ldap://x", StartTLS: true}).Encrypted() {
		t.Error("Encrypted is wrong")
	}
}
