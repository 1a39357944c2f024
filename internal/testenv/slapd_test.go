package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSlapd(t *testing.T) {
	start := time.Now()
	srv := Slapd(t)
	t.Logf("slapd ready in %v (config, base entries, start)", time.Since(start).Round(time.Millisecond))

	out := ldapOK(t, srv, "", "ldapsearch", "-b", srv.BaseDN(), "-s", "sub", "dn")
	for _, dn := range []string{SlapdBaseDN, SlapdPeopleDN, SlapdGroupsDN, SlapdDisabledDN, SlapdPolicyDN} {
		if !hasLine(out, "dn: "+dn) {
			t.Errorf("base entries lack %s:\n%s", dn, out)
		}
	}
	checkLDAPS(t, srv)

	alice := "uid=alice," + SlapdPeopleDN
	staff := "cn=staff," + SlapdGroupsDN
	ldapOK(t, srv, `dn: `+alice+`
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
mail: alice@example.com
userPassword: alice-secret

dn: `+staff+`
objectClass: groupOfNames
cn: staff
member: `+alice+`
`, "ldapadd")
	memberOf := func() string {
		return ldapOK(t, srv, "", "ldapsearch", "-b", alice, "-s", "base", "memberOf", "entryUUID")
	}
	out = memberOf()
	if !hasLine(out, "memberOf: "+staff) {
		t.Errorf("memberof overlay: alice has no memberOf %s:\n%s", staff, out)
	}

	// Disable through ppolicy: the lock is accepted and alice's binds fail.
	bind := func() int {
		_, code := ldapTool(t, srv, alice, "alice-secret", "", "ldapsearch", "-b", alice, "-s", "base", "dn")
		return code
	}
	if code := bind(); code != 0 {
		t.Fatalf("alice cannot bind before the lock: exit %d", code)
	}
	ldapOK(t, srv, "dn: "+alice+"\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n", "ldapmodify")
	if code := bind(); code != 49 {
		t.Errorf("locked alice binds with exit %d, want 49 (invalid credentials)", code)
	}
	ldapOK(t, srv, "dn: "+alice+"\nchangetype: modify\ndelete: pwdAccountLockedTime\n", "ldapmodify")
	if code := bind(); code != 0 {
		t.Errorf("unlocked alice binds with exit %d, want 0", code)
	}

	// The pid file names the server; Restart keeps the data.
	pid := srv.PID()
	if data, err := os.ReadFile(filepath.Join(srv.Dir(), "slapd.pid")); err != nil || string(data) != strconv.Itoa(pid)+"\n" {
		t.Errorf("slapd.pid = %q, %v; want %d", data, err, pid)
	}
	start = time.Now()
	srv.Restart(t)
	t.Logf("slapd restarted in %v", time.Since(start).Round(time.Millisecond))
	if srv.PID() == pid {
		t.Error("Restart kept the old process")
	}
	if after := memberOf(); after != out {
		t.Errorf("after restart alice reads\n%s\nwant\n%s", after, out)
	}

	srv.Stop()
	if srv.PID() != 0 || !portClosed(t, srv.URL()) || !portClosed(t, srv.LDAPSURL()) {
		t.Error("slapd still serves after Stop")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("process %d still exists after Stop", pid)
	}
	srv.Stop() // stopping twice is harmless
}

// TestSlapdKill checks that a crashed server restarts with what it had
// synced: with SlapdFsync, every acknowledged write.
func TestSlapdKill(t *testing.T) {
	srv := Slapd(t, SlapdFsync())
	bob := "uid=bob," + SlapdPeopleDN
	ldapOK(t, srv, "dn: "+bob+"\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\nsn: Builder\n", "ldapadd")
	srv.Kill()
	if srv.PID() != 0 || !portClosed(t, srv.URL()) {
		t.Fatal("slapd still serves after Kill")
	}
	srv.Restart(t)
	if out := ldapOK(t, srv, "", "ldapsearch", "-b", bob, "-s", "base", "uid"); !hasLine(out, "uid: bob") {
		t.Errorf("after kill and restart:\n%s", out)
	}
}
