package tlsx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
)

func TestClient(t *testing.T) {
	pki := testenv.TLSFiles(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		files   Files
		wantErr string
		roots   bool
		certs   int
	}{
		{name: "system roots", files: Files{}},
		{name: "ca", files: Files{CAFile: pki.CAFile}, roots: true},
		{name: "ca and client cert", files: Files{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}, roots: true, certs: 1},
		{name: "missing ca", files: Files{CAFile: filepath.Join(t.TempDir(), "nope.pem")}, wantErr: "ca file"},
		{name: "ca without pem", files: Files{CAFile: notPEM}, wantErr: "holds no PEM certificate"},
		{name: "cert without key", files: Files{CertFile: pki.CertFile}, wantErr: "both its certificate and key"},
		{name: "bad key pair", files: Files{CertFile: pki.CertFile, KeyFile: notPEM}, wantErr: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := Client(tt.files, "ldap.example.com")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ServerName != "ldap.example.com" || tc.InsecureSkipVerify || tc.MinVersion < 0x0303 {
				t.Errorf("config = name %q, skip %v, min %x", tc.ServerName, tc.InsecureSkipVerify, tc.MinVersion)
			}
			if (tc.RootCAs != nil) != tt.roots || len(tc.Certificates) != tt.certs {
				t.Errorf("roots set %v, certs %d; want %v, %d", tc.RootCAs != nil, len(tc.Certificates), tt.roots, tt.certs)
			}
		})
	}
}
