package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// The directory tree every Slapd server starts with.
const (
	SlapdBaseDN       = "dc=example,dc=com"
	SlapdBindDN       = "cn=admin,dc=example,dc=com" // the database's root DN
	SlapdBindPassword = "tenure-admin-secret"
	SlapdPeopleDN     = "ou=people,dc=example,dc=com"
	SlapdGroupsDN     = "ou=groups,dc=example,dc=com"
	SlapdDisabledDN   = "ou=disabled,dc=example,dc=com"
	// SlapdPolicyDN is the ppolicy overlay's default policy: lockout on,
	// no automatic lockout after failed binds. An entry with
	// pwdAccountLockedTime 000001010000Z is locked for good: its binds fail
	// with invalidCredentials (49).
	SlapdPolicyDN = "cn=default,ou=policies,dc=example,dc=com"
)

// slapdSchemas are loaded into cn=config, in order.
var slapdSchemas = []string{"core", "cosine", "inetorgperson", "nis"}

// SlapdOption configures Slapd.
type SlapdOption func(*slapdConfig)

type slapdConfig struct {
	fsync bool
	debug string
}

// SlapdFsync makes the database sync to disk on every commit
// (olcDbNoSync FALSE). By default it does not: a test's data needs to
// survive a clean Stop, not a power cut, and commits are ~4x faster.
func SlapdFsync() SlapdOption { return func(c *slapdConfig) { c.fsync = true } }

// SlapdDebug sets slapd's -d log level, such as "stats" or "stats,acl";
// the log goes to stdout.log in Dir and into start failures. The default,
// "none", logs only errors.
func SlapdDebug(level string) SlapdOption { return func(c *slapdConfig) { c.debug = level } }

// SlapdServer is a private OpenLDAP slapd. Its methods are safe for
// concurrent use.
type SlapdServer struct {
	server
	port    int // ldap:// with StartTLS
	tlsPort int // ldaps://
}

// Slapd starts an OpenLDAP slapd (2.5) on two free loopback ports, ldap://
// (plain and StartTLS) and ldaps://, with its configuration (cn=config) and
// an mdb database in a directory of t.TempDir(). The database has the
// memberof overlay (groupOfNames member → memberOf, with referential
// integrity on rename and delete), the ppolicy overlay with SlapdPolicyDN
// as default policy, the core, cosine, inetorgperson and nis schemas, and
// the entries SlapdBaseDN, SlapdPeopleDN, SlapdGroupsDN, SlapdDisabledDN
// and the policy. The server certificate is signed by CAFile and names
// localhost and 127.0.0.1. It returns once the server answers an LDAP bind,
// and stops it when t ends. Without slapd it skips t, or fails it when CI
// is "true".
func Slapd(t testing.TB, opts ...SlapdOption) *SlapdServer {
	t.Helper()
	cfg := slapdConfig{debug: "none"}
	for _, o := range opts {
		o(&cfg)
	}
	bin := need(t, "slapd")
	slapadd := need(t, "slapadd")
	dir := t.TempDir()
	s := &SlapdServer{server: server{certs: TLSFiles(t)}}
	if err := s.initDir(slapadd, dir, cfg); err != nil {
		t.Fatalf("testenv: slapd: %v", err)
	}
	// slapd writes its pid file only once it has bound its ports, so a pid
	// file naming our child means the ports are ours.
	s.d = &daemon{
		name:    "slapd",
		bin:     bin,
		dir:     dir,
		pidFile: filepath.Join(dir, "slapd.pid"),
		probe:   func(ctx context.Context) error { return ldapProbe(ctx, s.addr(s.port)) },
	}
	var err error
	for range startTries {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("testenv: slapd: %v", err)
		}
		if s.tlsPort, err = freePort(); err != nil {
			t.Fatalf("testenv: slapd: %v", err)
		}
		// -d keeps slapd in the foreground; "none" still logs errors.
		s.d.args = []string{"-F", filepath.Join(dir, "slapd.d"), "-h", s.URL() + "/ " + s.LDAPSURL() + "/", "-d", cfg.debug}
		if err = s.d.start(t.Context()); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("testenv: %v", err)
	return nil
}

// initDir writes config.ldif and base.ldif into dir and loads them with
// slapadd: cn=config into dir/slapd.d, the entries into dir/data.
func (s *SlapdServer) initDir(slapadd, dir string, cfg slapdConfig) error {
	for _, sub := range []string{"slapd.d", "data"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	noSync := "TRUE"
	if cfg.fsync {
		noSync = "FALSE"
	}
	var c bytes.Buffer
	fmt.Fprintf(&c, `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcArgsFile: %[1]s/slapd.args
olcTLSCACertificateFile: %[2]s
olcTLSCertificateFile: %[3]s
olcTLSCertificateKeyFile: %[4]s

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema
`, dir, s.certs.CAFile, s.certs.CertFile, s.certs.KeyFile)
	for _, name := range slapdSchemas {
		fmt.Fprintf(&c, "\ninclude: file:///etc/ldap/schema/%s.ldif\n", name)
	}
	// The ppolicy schema is built into the 2.5 overlay.
	fmt.Fprintf(&c, `
dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %[1]s
olcRootDN: %[2]s
olcRootPW: %[3]s
olcDbDirectory: %[4]s/data
olcDbNoSync: %[5]s
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: cn eq
olcDbIndex: mail eq
olcDbIndex: member eq
olcDbIndex: memberOf eq
olcDbIndex: entryUUID eq
olcDbIndex: employeeNumber eq

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={1}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {1}ppolicy
olcPPolicyDefault: %[6]s
olcPPolicyUseLockout: TRUE
`, SlapdBaseDN, SlapdBindDN, SlapdBindPassword, dir, noSync, SlapdPolicyDN)

	base := fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: %[2]s
objectClass: organizationalUnit
ou: people

dn: %[3]s
objectClass: organizationalUnit
ou: groups

dn: %[4]s
objectClass: organizationalUnit
ou: disabled

dn: ou=policies,%[1]s
objectClass: organizationalUnit
ou: policies

dn: %[5]s
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 0
`, SlapdBaseDN, SlapdPeopleDN, SlapdGroupsDN, SlapdDisabledDN, SlapdPolicyDN)

	slapdD := filepath.Join(dir, "slapd.d")
	for _, load := range []struct {
		file, data string
		args       []string
	}{
		{"config.ldif", c.String(), []string{"-n0"}},
		{"base.ldif", base, []string{"-q", "-n1"}},
	} {
		path := filepath.Join(dir, load.file)
		if err := os.WriteFile(path, []byte(load.data), 0o600); err != nil {
			return err
		}
		cmd := exec.Command(slapadd, append(load.args, "-F", slapdD, "-l", path)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("slapadd %s: %v\n%s", load.file, err, out)
		}
	}
	return nil
}

func (s *SlapdServer) addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// URL is the server's ldap:// URL; it offers StartTLS.
func (s *SlapdServer) URL() string { return "ldap://" + s.addr(s.port) }

// LDAPSURL is the server's ldaps:// URL (TLS from the first byte).
func (s *SlapdServer) LDAPSURL() string { return "ldaps://" + s.addr(s.tlsPort) }

// BaseDN is the suffix of the server's database, SlapdBaseDN.
func (s *SlapdServer) BaseDN() string { return SlapdBaseDN }

// BindDN is the database's root DN, which may do anything, SlapdBindDN.
func (s *SlapdServer) BindDN() string { return SlapdBindDN }

// BindPassword is BindDN's password, SlapdBindPassword.
func (s *SlapdServer) BindPassword() string { return SlapdBindPassword }

// Dir is the server's directory: config.ldif and base.ldif as loaded,
// slapd.d (cn=config), data (the mdb database) and stdout.log.
func (s *SlapdServer) Dir() string { return s.d.dir }
