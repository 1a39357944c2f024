// Package tlsx builds client TLS configurations from file paths, the way
// every outbound connection Tenure makes (Redis, LDAP) is configured: an
// optional CA bundle replacing the system roots, an optional client
// certificate, TLS 1.2 at least, and never a switch to skip verification.
package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of a client TLS setup; all are optional.
type Files struct {
	CAFile   string // CA bundle to trust instead of the system roots
	CertFile string // client certificate ...
	KeyFile  string // ... and its key; both or neither
}

// Client returns a client configuration verifying serverName.
func Client(f Files, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s holds no PEM certificate", f.CAFile)
		}
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("a client certificate needs both its certificate and key files")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
