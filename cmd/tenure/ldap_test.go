package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/ldapsync"
)

const ldapTestPreamble = `
sources: [{name: hr, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
`

func setLDAPEnv(t *testing.T) {
	t.Setenv("TENURE_SCIM_TOKEN", "scim-test-token")
	t.Setenv("TENURE_ADMIN_TOKEN", "admin-test-token")
	t.Setenv("TENURE_LDAP_PASSWORD", testenv.SlapdBindPassword)
}

// twoDirectories is an OpenLDAP and an AD target; nothing listens on
// their ports, which building must not notice (pools connect on first use).
func twoDirectories(caFile, adRDN string) string {
	return ldapTestPreamble + `
targets:
  - name: people
    kind: ldap
    ldap:
      url: ldap://127.0.0.1:1
      bind_dn: cn=admin,dc=example,dc=com
      bind_password: {env: TENURE_LDAP_PASSWORD}
      dialect: openldap
      lock_attribute: x-lock
      lock_value: "1"
      base_dn: dc=example,dc=com
      users_ou: ou=people,dc=example,dc=com
    attributes: {uid: user.userName}
    leaver: {move_to: "ou=disabled,dc=example,dc=com"}
  - name: corp
    kind: ldap
    ldap:
      url: ldaps://127.0.0.1:2
      ca_file: ` + caFile + `
      dialect: ad
      base_dn: DC=corp,DC=example,DC=com
      users_ou: OU=People,DC=corp,DC=example,DC=com
      correlation_attribute: employeeID
      managed_ous: ["OU=People,DC=corp,DC=example,DC=com", "OU=Contractors,DC=corp,DC=example,DC=com"]
    attributes: {` + adRDN + `: user.userName, employeeID: enterprise.employeeNumber}
`
}

func TestLDAPKindBuilds(t *testing.T) {
	setLDAPEnv(t)
	ca := testenv.TLSFiles(t).CAFile
	cfg, err := config.Parse([]byte(twoDirectories(ca, "cn")), configKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	// Both targets on one registry: their metrics are told apart by the
	// target name as server label.
	tgts, err := buildTargets(cfg, log, reg)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	people, ok := tgts["people"].(ldapsync.OwnedDirectory)
	if !ok {
		t.Fatalf("people is %T", tgts["people"])
	}
	if want := (ldapsync.OpenLDAP{LockAttribute: "x-lock", LockValue: "1"}); people.Dialect != want {
		t.Errorf("dialect %#v, want %#v", people.Dialect, want)
	}
	o := people.Options
	if o.RDNAttribute != "uid" || !slices.Equal(o.ManagedDNs, []string{"ou=people,dc=example,dc=com", "ou=disabled,dc=example,dc=com"}) {
		t.Errorf("people options: RDN %q, managed %q", o.RDNAttribute, o.ManagedDNs)
	}
	corp := tgts["corp"].(ldapsync.OwnedDirectory)
	if _, ok := corp.Dialect.(ldapsync.AD); !ok || !corp.Pool.Encrypted() {
		t.Errorf("corp: dialect %T, encrypted %v", corp.Dialect, corp.Pool.Encrypted())
	}
	if o := corp.Options; o.RDNAttribute != "cn" || o.CorrelationAttribute != "employeeID" ||
		!reflect.DeepEqual(o.ManagedDNs, cfg.Targets[1].Settings.(*ldapsync.Settings).ManagedOUs) {
		t.Errorf("corp options: %+v", o)
	}

	closeTargets(tgts, log)
	for name, tg := range tgts {
		err := tg.(ldapsync.OwnedDirectory).Pool.Do(t.Context(), "search", func(*ldap.Conn) error { return nil })
		if !errors.Is(err, ldapsync.ErrPoolClosed) {
			t.Errorf("%s after close: %v, want ErrPoolClosed", name, err)
		}
	}
	// Closing unregistered the metrics: the same targets build again.
	again, err := buildTargets(cfg, log, reg)
	if err != nil {
		t.Fatalf("build after close: %v", err)
	}
	closeTargets(again, log)
}

// A policy without a mapping for the RDN attribute is refused by config
// validate (the RDN attribute defaults by dialect, which the kind knows);
// a target that fails to build closes the ones built before it, and the
// error names the target.
func TestLDAPKindBuildErrors(t *testing.T) {
	setLDAPEnv(t)
	ca := testenv.TLSFiles(t).CAFile
	_, err := config.Parse([]byte(twoDirectories(ca, "sAMAccountName")), configKinds()...)
	if err == nil || !strings.Contains(noLines(err), "targets[1].attributes: no mapping for cn (the RDN attribute") {
		t.Fatalf("err = %v", err)
	}
	cfg, err := config.Parse([]byte(twoDirectories(ca, "cn")), configKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	cfg.Targets[1].Settings.(*ldapsync.Settings).CAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err = buildTargets(cfg, log, reg)
	if err == nil || !strings.Contains(err.Error(), "targets[1] (corp): ldap pool:") {
		t.Fatalf("err = %v", err)
	}
	cfg.Targets = cfg.Targets[:1]
	tgts, err := buildTargets(cfg, log, reg)
	if err != nil {
		t.Fatalf("people was not closed after the failed build: %v", err)
	}
	closeTargets(tgts, log)
}

func TestLDAPConfigValidate(t *testing.T) {
	setLDAPEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	yaml := strings.Replace(twoDirectories("/ca.pem", "cn"), "dialect: openldap", "dialect: novell", 1)
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"config", "validate", "--config", bad}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(noLines(err), `targets[0].ldap.dialect: must be openldap or ad, got "novell"`) {
		t.Errorf("unknown dialect: %v", err)
	}
	// The examples in configs/ are validated by TestExampleConfigsServe.
}

// tenure serve with an ldap target on a private slapd: a SCIM POST of a
// user becomes an entry in ou=people with its birthright group.
func TestServeLDAP(t *testing.T) {
	srv := testenv.Slapd(t)
	setLDAPEnv(t)
	admin, err := ldapsync.New(ldapsync.Config{
		URL: srv.URL(), StartTLS: true, CAFile: srv.CAFile(), BindDN: srv.BindDN(), BindPassword: srv.BindPassword(),
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	staffDN := "cn=staff," + testenv.SlapdGroupsDN
	err = admin.Do(t.Context(), "add", func(l *ldap.Conn) error {
		req := ldap.NewAddRequest(staffDN, nil)
		req.Attribute("objectClass", []string{"groupOfNames"})
		req.Attribute("cn", []string{"staff"})
		req.Attribute("member", []string{testenv.SlapdBindDN}) // groupOfNames needs one
		return l.Add(req)
	})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tenure.yaml")
	cfg := ldapTestPreamble + `
store: {kind: embedded, embedded: {path: ` + filepath.Join(dir, "tenure.db") + `}}
engine: {poll: 20ms}
birthright:
  - {name: staff, when: "true", grants: {directory: [staff]}}
targets:
  - name: directory
    kind: ldap
    ldap:
      url: ` + srv.URL() + `
      start_tls: true
      ca_file: ` + srv.CAFile() + `
      bind_dn: ` + testenv.SlapdBindDN + `
      bind_password: {env: TENURE_LDAP_PASSWORD}
      dialect: openldap
      base_dn: ` + testenv.SlapdBaseDN + `
      users_ou: ` + testenv.SlapdPeopleDN + `
      groups_ou: ` + testenv.SlapdGroupsDN + `
    attributes:
      uid: user.userName
      cn: user.?displayName.orValue(user.userName)
      sn: user.name.familyName
    leaver: {move_to: "` + testenv.SlapdDisabledDN + `"}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, cfgPath)
	code, _, body := s.request(t, "POST", "/scim/v2/Users", "scim-test-token",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe","displayName":"Jane Doe",
		  "name":{"givenName":"Jane","familyName":"Doe"},"active":true}`)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}

	userDN := "uid=jdoe," + testenv.SlapdPeopleDN
	deadline := time.Now().Add(30 * time.Second)
	for {
		es, err := admin.SearchAll(t.Context(), ldap.NewSearchRequest(testenv.SlapdPeopleDN, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 0, 0, false, ldapsync.Eq("uid", "jdoe").String(), []string{"cn", "sn", "memberOf"}, nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 && slices.ContainsFunc(es[0].GetAttributeValues("memberOf"), func(g string) bool { return ldapsync.EqualDN(g, staffDN) }) {
			if !ldapsync.EqualDN(es[0].DN, userDN) || es[0].GetAttributeValue("cn") != "Jane Doe" || es[0].GetAttributeValue("sn") != "Doe" {
				t.Errorf("entry %s: cn %q sn %q", es[0].DN, es[0].GetAttributeValue("cn"), es[0].GetAttributeValue("sn"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry for jdoe in staff; entries %d\n%s", len(es), s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	_, _, metrics := s.request(t, "GET", "/metrics", "", "")
	if !strings.Contains(metrics, `tenure_ldap_operations_total{op="add",result="ok",server="directory"}`) {
		t.Errorf("/metrics lacks the directory's LDAP operations")
	}
	s.stop(t)
	if strings.Contains(s.logs.String(), testenv.SlapdBindPassword) {
		t.Error("the bind password reached the logs")
	}
}
