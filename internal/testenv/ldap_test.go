package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// directory is what the LDAP servers' harnesses have in common.
type directory interface {
	URL() string
	LDAPSURL() string
	BaseDN() string
	BindDN() string
	BindPassword() string
	CAFile() string
}

// ldapTool runs an ldap-utils command (ldapsearch, ldapadd, ldapmodify)
// against srv over StartTLS (-ZZ: fail if TLS fails), trusting only srv's
// CA, bound as dn with password pw. It returns the command's output and
// exit status, which is the LDAP result code when the server refused.
func ldapTool(t *testing.T, srv directory, dn, pw, stdin, tool string, args ...string) (string, int) {
	t.Helper()
	bin := need(t, tool)
	cmd := exec.Command(bin, append([]string{"-ZZ", "-x", "-o", "ldif-wrap=no", "-H", srv.URL(), "-D", dn, "-w", pw}, args...)...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+srv.CAFile(), "LDAPTLS_REQCERT=demand")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("%s: %v", tool, err)
	return "", 0
}

// ldapOK is ldapTool as the administrator, failing t unless it succeeds.
func ldapOK(t *testing.T, srv directory, stdin, tool string, args ...string) string {
	t.Helper()
	out, code := ldapTool(t, srv, srv.BindDN(), srv.BindPassword(), stdin, tool, args...)
	if code != 0 {
		t.Fatalf("%s %v: exit %d\n%s", tool, args, code, out)
	}
	return out
}

// checkLDAPS makes a TLS handshake with srv's LDAPS port as Go's TLS client
// would, trusting only srv's CA and checking the name in the URL.
func checkLDAPS(t *testing.T, srv directory) {
	t.Helper()
	u, err := url.Parse(srv.LDAPSURL())
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", srv.CAFile())
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: roots}}
	c, err := d.DialContext(t.Context(), "tcp", u.Host)
	if err != nil {
		t.Fatalf("TLS to %s with Go's verification: %v", srv.LDAPSURL(), err)
	}
	c.Close()
}

// portClosed reports whether nothing accepts connections at the host and
// port of rawURL.
func portClosed(t *testing.T, rawURL string) bool {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// hasLine reports whether out has a line equal to line, ignoring case (AD
// returns names in its own case).
func hasLine(out, line string) bool {
	for l := range strings.Lines(out) {
		if strings.EqualFold(strings.TrimRight(l, "\r\n"), line) {
			return true
		}
	}
	return false
}
