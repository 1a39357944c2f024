package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CertFiles are PEM files of a throwaway CA and of a server certificate and
// key it signed.
type CertFiles struct {
	CAFile   string // the CA certificate, for clients to trust
	CertFile string // the server certificate
	KeyFile  string // the server's private key (PKCS #8, mode 0600)
}

// TLSFiles writes a fresh CA and a server certificate into a directory of
// t.TempDir(). The certificate names localhost, 127.0.0.1 and ::1 as
// subject alternative names, plus hosts (IP addresses or DNS names): Go's
// TLS client checks SANs only, never the common name. Keys are ECDSA P-256,
// which OpenSSL, GnuTLS (slapd, Samba) and Go all accept.
func TLSFiles(t testing.TB, hosts ...string) CertFiles {
	t.Helper()
	f, err := writeTLSFiles(t.TempDir(), hosts)
	if err != nil {
		t.Fatalf("testenv: TLS files: %v", err)
	}
	return f
}

func writeTLSFiles(dir string, hosts []string) (CertFiles, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertFiles{}, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Tenure test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return CertFiles{}, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return CertFiles{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertFiles{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return CertFiles{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return CertFiles{}, err
	}
	f := CertFiles{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	// Samba refuses a private key that others can read.
	for _, w := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{f.CAFile, "CERTIFICATE", caDER, 0o644},
		{f.CertFile, "CERTIFICATE", leafDER, 0o644},
		{f.KeyFile, "PRIVATE KEY", keyDER, 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der})
		if err := os.WriteFile(w.path, data, w.mode); err != nil {
			return CertFiles{}, fmt.Errorf("write %s: %w", w.path, err)
		}
	}
	return f, nil
}
