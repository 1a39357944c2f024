package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The domain every SambaAD server holds.
const (
	SambaRealm        = "EXAMPLE.COM"
	SambaDomain       = "EXAMPLE" // NetBIOS name
	SambaBaseDN       = "DC=example,DC=com"
	SambaBindDN       = "Administrator@example.com"
	SambaBindPassword = "Tenure-Adm1n-Passw0rd"
)

const (
	// sambaTemplateRevision names the provisioning recipe in the template
	// cache key: change it when sambaProvisionArgs or the smb.conf patch
	// changes in a way the arguments do not show.
	sambaTemplateRevision = "1"
	provisionTimeout      = 5 * time.Minute // ~10s on an idle machine
	sambaSetupDir         = "/usr/share/samba/setup"
)

// sambaLDAPPorts are the TCP ports the ldap service listens on, all fixed.
var sambaLDAPPorts = []int{389, 636, 3268}

// sambaProvisionArgs provision a DC that serves LDAP only (no DNS,
// Kerberos, SMB or RPC servers), with every runtime path inside target.
func sambaProvisionArgs(target string) []string {
	return []string{
		"domain", "provision",
		"--targetdir=" + target,
		"--backend-store=mdb",
		"--realm=" + SambaRealm,
		"--domain=" + SambaDomain,
		"--server-role=dc",
		"--dns-backend=NONE",
		"--adminpass=" + SambaBindPassword,
		"--host-name=dc1",
		"--host-ip=127.0.0.1",
		"--option=interfaces = lo",
		"--option=bind interfaces only = yes",
		"--option=server services = ldap, cldap",
		"--option=pid directory = " + target + "/run",
		"--option=ncalrpc dir = " + target + "/ncalrpc",
		"--option=winbindd socket directory = " + target + "/winbindd",
		"--option=ntp signd socket directory = " + target + "/ntp_signd",
		"--option=log file = " + target + "/log/samba.log",
	}
}

// Placeholders in the template's smb.conf, filled in for each server.
const (
	tmplTarget = "@TENURE_TARGET@"
	tmplAddr   = "@TENURE_ADDR@"
	tmplCA     = "@TENURE_CAFILE@"
	tmplCert   = "@TENURE_CERTFILE@"
	tmplKey    = "@TENURE_KEYFILE@"
)

// SambaServer is a private Samba AD domain controller serving LDAP. Its
// methods are safe for concurrent use.
type SambaServer struct {
	server
	addr string // the loopback address it alone listens on: 127.0.0.N
}

// SambaAD starts a Samba AD DC for the domain example.com (SambaRealm,
// SambaBaseDN) whose Administrator is SambaBindDN with SambaBindPassword.
// It serves LDAP only: ldap:// on port 389 (plain binds need StartTLS, as
// "ldap server require strong auth" is on, as by default), ldaps:// on 636
// and the global catalog on 3268, with a server certificate signed by
// CAFile that names the server's address and localhost. It returns once
// the server answers an LDAP bind, and stops it and all its workers when t
// ends. Without samba (or, on the first provisioning, samba-tool and the
// samba-ad-provision files) it skips t, or fails it when CI is "true".
//
// # Addresses
//
// Samba's ports are fixed, so each server listens on a loopback address of
// its own, 127.0.0.N with N from 2 to 254 (Linux routes all of 127.0.0.0/8
// to the loopback interface; nothing needs configuring; Samba's
// "interfaces = 127.0.0.N/8" with "bind interfaces only"). A server holds
// an flock on os.TempDir()/tenure-testenv-samba-127.0.0.N.lock until t
// ends, so that servers of one test process, and of concurrent test
// processes such as go test's parallel packages, never share an address,
// and Restart finds its own free; an address whose ports something else
// holds is passed over. URL and LDAPSURL name the address, which the
// server certificate names too.
//
// # Provisioning
//
// Provisioning a domain takes 5-13s, so it is done once per machine: the
// provisioned directory is kept as a template in the user's cache
// directory (tenure-testenv/samba-KEY, KEY a hash of the Samba version and
// the provisioning recipe) and copied for each server (~0.1s). Processes
// that find no template provision one at a time under a lock; a process
// looks the template up once. To provision afresh, delete the directory.
func SambaAD(t testing.TB) *SambaServer {
	t.Helper()
	bin := need(t, "samba")
	tmpl, err := sambaTemplate(t, bin)
	if err != nil {
		t.Fatalf("testenv: samba: %v", err)
	}
	// Not t.TempDir(): its long path would push Samba's sockets past the
	// 108-byte limit of a Unix socket's name.
	dir, err := os.MkdirTemp("", "tenure-samba-")
	if err != nil {
		t.Fatalf("testenv: samba: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // runs after Stop, registered later
	if err := copyTree(tmpl, dir); err != nil {
		t.Fatalf("testenv: samba: copy the template: %v", err)
	}
	s := &SambaServer{}
	s.d = &daemon{
		name:    "samba",
		bin:     bin,
		dir:     dir,
		args:    []string{"-s", filepath.Join(dir, "etc", "smb.conf"), "--foreground"},
		pidFile: filepath.Join(dir, "run", "samba.pid"),
		logs:    []string{filepath.Join(dir, "log", "samba.log")},
		group:   true,
		probe:   func(ctx context.Context) error { return ldapProbe(ctx, net.JoinHostPort(s.addr, "389")) },
	}
	tried := 0
	for n := range 253 {
		addr := "127.0.0." + strconv.Itoa(2+(os.Getpid()+n)%253)
		release, ok := claimAddr(addr)
		if !ok {
			continue
		}
		s.addr = addr
		if err = s.configure(t, tmpl); err == nil {
			err = s.d.start(t.Context())
		}
		if err == nil {
			t.Cleanup(release) // after Stop, registered next
			t.Cleanup(s.Stop)
			return s
		}
		release()
		if tried++; !errors.Is(err, errPortTaken) || tried == startTries {
			break
		}
	}
	if err == nil {
		err = errors.New("no free loopback address 127.0.0.2-254 for Samba's ports")
	}
	t.Fatalf("testenv: %v\n(template %s: delete it to provision afresh)", err, tmpl)
	return nil
}

// claimAddr takes addr's lock file and checks that Samba's ports on addr
// are free. It returns the lock's release, or ok false.
func claimAddr(addr string) (release func(), ok bool) {
	release, ok, err := lockFile(filepath.Join(os.TempDir(), "tenure-testenv-samba-"+addr+".lock"), false)
	if err != nil || !ok {
		return nil, false
	}
	for _, port := range sambaLDAPPorts {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			release()
			return nil, false
		}
		l.Close()
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "389")) // cldap
	if err != nil {
		release()
		return nil, false
	}
	c.Close()
	return release, true
}

// configure writes the server's smb.conf from the template's, with its
// directory, address and a certificate for that address.
func (s *SambaServer) configure(t testing.TB, tmpl string) error {
	s.certs = TLSFiles(t, s.addr, "dc1."+strings.ToLower(SambaRealm))
	conf, err := os.ReadFile(filepath.Join(tmpl, "etc", "smb.conf"))
	if err != nil {
		return err
	}
	r := strings.NewReplacer(tmplTarget, s.d.dir, tmplAddr, s.addr,
		tmplCA, s.certs.CAFile, tmplCert, s.certs.CertFile, tmplKey, s.certs.KeyFile)
	return os.WriteFile(filepath.Join(s.d.dir, "etc", "smb.conf"), []byte(r.Replace(string(conf))), 0o644)
}

// sambaTmpl is this process's template directory, once it exists.
var sambaTmpl struct {
	mu  sync.Mutex
	dir string
}

// sambaTemplate returns the provisioned template directory, provisioning
// it if the cache lacks it. It looks only once per process.
func sambaTemplate(t testing.TB, samba string) (string, error) {
	t.Helper()
	sambaTmpl.mu.Lock()
	defer sambaTmpl.mu.Unlock()
	if sambaTmpl.dir != "" {
		return sambaTmpl.dir, nil
	}
	dir, err := sambaTemplateDir(samba)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err != nil {
		// Needed to provision, not to run: a machine with a template but
		// without samba-tool does not skip.
		tool := need(t, "samba-tool")
		if _, err := os.Stat(sambaSetupDir); err != nil {
			msg := sambaSetupDir + " missing (package samba-ad-provision); run scripts/install-test-deps.sh"
			if os.Getenv("CI") == "true" {
				t.Fatal("testenv: " + msg + " (CI=true: a missing server fails the run)")
			}
			t.Skip("testenv: " + msg)
		}
		start := time.Now()
		if err := provisionTemplate(t.Context(), tool, dir); err != nil {
			return "", err
		}
		t.Logf("testenv: samba: template %s ready in %v", dir, time.Since(start).Round(time.Millisecond))
	}
	sambaTmpl.dir = dir
	return dir, nil
}

// sambaTemplateDir is where the template for this Samba version and recipe
// lives, whether it exists yet or not.
func sambaTemplateDir(samba string) (string, error) {
	version, err := exec.Command(samba, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("samba --version: %w", err)
	}
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", version, sambaTemplateRevision, strings.Join(sambaProvisionArgs(tmplTarget), "\x00"))
	return filepath.Join(root, "tenure-testenv", "samba-"+hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// provisionTemplate provisions a domain into dir unless another process
// has meanwhile: into a directory beside it, renamed into place when done,
// so that dir is complete whenever it exists.
func provisionTemplate(ctx context.Context, tool, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	release, _, err := lockFile(dir+".lock", true)
	if err != nil {
		return err
	}
	defer release()
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "provisioning-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	ctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, sambaProvisionArgs(tmp)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("samba-tool domain provision: %v\n%s", err, tail(out))
	}
	conf := filepath.Join(tmp, "etc", "smb.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	// Provisioning drops some --option settings, so the TLS files go in
	// here; Samba's own certificate names no SAN, which Go's TLS rejects.
	s := strings.ReplaceAll(string(data), tmp, tmplTarget)
	s, ok := strings.CutPrefix(s, "# Global parameters\n[global]\n")
	if !ok || !strings.Contains(s, "\tinterfaces = lo\n") {
		return fmt.Errorf("unexpected smb.conf from provisioning:\n%s", data)
	}
	s = strings.Replace(s, "\tinterfaces = lo\n", "\tinterfaces = "+tmplAddr+"/8\n", 1)
	s = "# Global parameters\n[global]\n" +
		"\ttls enabled = yes\n" +
		"\ttls cafile = " + tmplCA + "\n" +
		"\ttls certfile = " + tmplCert + "\n" +
		"\ttls keyfile = " + tmplKey + "\n" + s
	if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
		return err
	}
	for _, sub := range []string{"run", "log"} {
		if err := os.MkdirAll(filepath.Join(tmp, sub), 0o755); err != nil {
			return err
		}
	}
	return os.Rename(tmp, dir)
}

// tail is the end of a command's output, for error messages.
func tail(out []byte) []byte {
	if len(out) > 3000 {
		return out[len(out)-3000:]
	}
	return out
}

// copyTree copies the directory tree src to dst, which exists, keeping
// permissions and symbolic links.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel == "." {
				return os.Chmod(to, info.Mode().Perm())
			}
			return os.Mkdir(to, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, to)
		case d.Type().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		}
		return nil // sockets and the like belong to a running server
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Addr is the loopback address the server alone listens on, 127.0.0.N.
func (s *SambaServer) Addr() string { return s.addr }

// URL is the server's ldap:// URL; simple binds need StartTLS first.
func (s *SambaServer) URL() string { return "ldap://" + net.JoinHostPort(s.addr, "389") }

// LDAPSURL is the server's ldaps:// URL.
func (s *SambaServer) LDAPSURL() string { return "ldaps://" + net.JoinHostPort(s.addr, "636") }

// BaseDN is the domain's naming context, SambaBaseDN.
func (s *SambaServer) BaseDN() string { return SambaBaseDN }

// BindDN is the domain Administrator's user principal name, SambaBindDN,
// which AD accepts as a simple bind name.
func (s *SambaServer) BindDN() string { return SambaBindDN }

// BindPassword is the Administrator's password, SambaBindPassword.
func (s *SambaServer) BindPassword() string { return SambaBindPassword }

// Dir is the server's directory (Samba's targetdir): etc/smb.conf, private
// (the databases), log/samba.log and stdout.log.
func (s *SambaServer) Dir() string { return s.d.dir }
