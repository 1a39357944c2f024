package testenv

import (
	"testing"
	"time"
)

// checkSamba searches the domain as Administrator over StartTLS and makes
// an LDAPS handshake with Go's TLS client.
func checkSamba(t *testing.T, srv *SambaServer) {
	t.Helper()
	out := ldapOK(t, srv, "", "ldapsearch", "-b", srv.BaseDN(), "-s", "base", "objectClass")
	if !hasLine(out, "dn: "+SambaBaseDN) || !hasLine(out, "objectClass: domainDNS") {
		t.Errorf("%s: no domain at %s:\n%s", srv.URL(), SambaBaseDN, out)
	}
	checkLDAPS(t, srv)
}

// checkGone checks that neither the server nor any worker of it runs, and
// that its port is closed.
func checkGone(t *testing.T, srv *SambaServer, pid int) {
	t.Helper()
	if srv.PID() != 0 || groupAlive(pid) {
		t.Errorf("samba %d: processes left after it stopped", pid)
	}
	if !portClosed(t, srv.URL()) || !portClosed(t, srv.LDAPSURL()) {
		t.Errorf("samba %d: %s still open after it stopped", pid, srv.Addr())
	}
}

// TestSambaAD runs two servers at once, each on its own loopback address,
// then a third after them from the same template, and checks that each
// leaves nothing running.
func TestSambaAD(t *testing.T) {
	start := time.Now()
	a := SambaAD(t)
	t.Logf("first samba ready in %v (template lookup or provisioning, copy, start)", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	b := SambaAD(t)
	t.Logf("second samba ready in %v (copy, start)", time.Since(start).Round(time.Millisecond))
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	checkSamba(t, a)
	checkSamba(t, b)

	// A user added to one server is not in the other: they are copies.
	user := "CN=tenure-probe,CN=Users," + SambaBaseDN
	ldapOK(t, a, "dn: "+user+"\nobjectClass: user\nsAMAccountName: tenure-probe\n", "ldapadd")
	if out := ldapOK(t, b, "", "ldapsearch", "-b", SambaBaseDN, "(sAMAccountName=tenure-probe)", "dn"); hasLine(out, "dn: "+user) {
		t.Errorf("a user added to %s shows in %s", a.Addr(), b.Addr())
	}

	pidA, pidB := a.PID(), b.PID()
	start = time.Now()
	a.Stop()
	t.Logf("samba stopped in %v", time.Since(start).Round(time.Millisecond))
	checkGone(t, a, pidA)
	b.Kill()
	checkGone(t, b, pidB)
	a.Stop() // stopping twice is harmless

	start = time.Now()
	c := SambaAD(t)
	t.Logf("third samba ready in %v", time.Since(start).Round(time.Millisecond))
	checkSamba(t, c)
	start = time.Now()
	c.Restart(t)
	t.Logf("samba restarted in %v", time.Since(start).Round(time.Millisecond))
	checkSamba(t, c)
}
