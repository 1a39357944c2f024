package ldapsync

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// hostile are values from outside that must never change a DN's or a
// filter's shape; the server tests store and find each of them.
var hostile = []struct {
	name, value string
}{
	{"comma", "Smith, John"},
	{"plus", "a+b"},
	{"quote", `say "hi"`},
	{"backslash", `back\slash`},
	{"injection", "*)(uid=*"},
	{"leading space", " lead"},
	{"trailing space", "trail "},
	{"hash first", "#hash"},
	{"accent", "José Müller"},
	{"cjk", "日本"},
	{"equals", "a=b"},
	{"semicolon", "a;b"},
	{"angles", "<tag>"},
	{"all at once", ` #,+"\<>;=*()é `},
}

const people = "ou=people,dc=example,dc=com"

func TestEscapeRDNValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"Smith, John", `Smith\, John`},
		{"a+b", `a\+b`},
		{`say "hi"`, `say \"hi\"`},
		{`back\slash`, `back\\slash`},
		{"*)(uid=*", `*)(uid\=*`},
		{" lead", `\ lead`},
		{"trail ", `trail\ `},
		{"  two  ", `\  two \ `},
		{" ", `\ `},
		{"#hash", `\#hash`},
		{"mid#hash", "mid#hash"},
		{"José", "José"},
		{"日本", "日本"},
		{"a=b", `a\=b`},
		{"a;b", `a\;b`},
		{"<tag>", `\<tag\>`},
		{"nul\x00", `nul\00`},
		{"tab\tnl\n", `tab\09nl\0a`},
		{"del\x7f", `del\7f`},
		{"bad\xffutf8", `bad\ffutf8`},
		{"nbsp\u00a0", `nbsp\c2\a0`},
		{"", ""},
	} {
		if got := EscapeRDNValue(tc.in); got != tc.want {
			t.Errorf("EscapeRDNValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkRDNRoundTrip fails t unless RDN(cn, v) under people parses back to
// exactly v in one RDN, with people's three RDNs after it.
func checkRDNRoundTrip(t *testing.T, v string) {
	t.Helper()
	dn := JoinDN(RDN("cn", v), people)
	d, err := ldap.ParseDN(dn)
	if err != nil {
		t.Fatalf("ParseDN(%q) for value %q: %v", dn, v, err)
	}
	if len(d.RDNs) != 4 || len(d.RDNs[0].Attributes) != 1 {
		t.Fatalf("DN %q for value %q parsed into %d RDNs (first has %d attributes), want 4 (1)", dn, v, len(d.RDNs), len(d.RDNs[0].Attributes))
	}
	if a := d.RDNs[0].Attributes[0]; a.Type != "cn" || a.Value != v {
		t.Fatalf("DN %q parsed to %s=%q, want cn=%q", dn, a.Type, a.Value, v)
	}
	if attr, got, err := RDNValue(dn); err != nil || attr != "cn" || got != v {
		t.Fatalf("RDNValue(%q) = %q, %q, %v; want cn, %q", dn, attr, got, err, v)
	}
	if p, err := Parent(dn); err != nil || p != people {
		t.Fatalf("Parent(%q) = %q, %v; want %q", dn, p, err, people)
	}
}

func TestRDNRoundTrip(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) { checkRDNRoundTrip(t, h.value) })
	}
	for _, v := range []string{"nul\x00in", "\x00", "bad\xff", "  ", "#", "\\", "\\ ", "a\\", "é ", " é"} {
		checkRDNRoundTrip(t, v)
	}
}

func FuzzRDN(f *testing.F) {
	for _, h := range hostile {
		f.Add(h.value)
	}
	f.Add("")
	f.Add("\x00\xff\u00a0 ")
	f.Fuzz(checkRDNRoundTrip)
}

// checkFilterRoundTrip fails t unless Eq(uid, v) compiles to one equality
// assertion on uid with exactly v, and decompiles to itself.
func checkFilterRoundTrip(t *testing.T, v string) {
	t.Helper()
	f := Eq("uid", v)
	p, err := ldap.CompileFilter(f.String())
	if err != nil {
		t.Fatalf("CompileFilter(%q) for value %q: %v", f, v, err)
	}
	if p.Tag != ldap.FilterEqualityMatch || len(p.Children) != 2 {
		t.Fatalf("filter %q for value %q compiled to %s, want one equality match", f, v, ldap.FilterMap[uint64(p.Tag)])
	}
	if attr := string(p.Children[0].Data.Bytes()); attr != "uid" {
		t.Fatalf("filter %q asserts on %q, want uid", f, attr)
	}
	if got := p.Children[1].Data.Bytes(); !bytes.Equal(got, []byte(v)) {
		t.Fatalf("filter %q asserts value %q, want %q", f, got, v)
	}
	back, err := ldap.DecompileFilter(p)
	if err != nil || back != f.String() {
		t.Fatalf("DecompileFilter = %q, %v; want %q", back, err, f)
	}
}

func TestFilterRoundTrip(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) { checkFilterRoundTrip(t, h.value) })
	}
	checkFilterRoundTrip(t, "nul\x00\xff")
}

func FuzzFilter(f *testing.F) {
	for _, h := range hostile {
		f.Add(h.value)
	}
	f.Add("")
	f.Add("\x00\xff\\2a")
	f.Fuzz(checkFilterRoundTrip)
}

func TestFilterBuilders(t *testing.T) {
	for _, tc := range []struct {
		got  Filter
		want string
	}{
		{Eq("uid", "*)(uid=*"), `(uid=\2a\29\28uid=\2a)`},
		{Eq("cn", `a\b`), `(cn=a\5cb)`},
		{Eq("cn", "é\x00"), `(cn=\c3\a9\00)`},
		{Present("entryUUID"), "(entryUUID=*)"},
		{And(Eq("objectClass", "person")), "(&(objectClass=person))"},
		{And(Eq("objectClass", "person"), Eq("uid", "x*")), `(&(objectClass=person)(uid=x\2a))`},
		{Or(Eq("uid", "a"), Eq("mail", "(b)")), `(|(uid=a)(mail=\28b\29))`},
		{Not(Eq("cn", "c")), "(!(cn=c))"},
		{Eq("cn;lang-de", "x"), "(cn;lang-de=x)"},
		{Eq("2.5.4.3", "x"), "(2.5.4.3=x)"},
	} {
		if tc.got.String() != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
		if _, err := ldap.CompileFilter(tc.got.String()); err != nil {
			t.Errorf("CompileFilter(%q): %v", tc.got, err)
		}
	}
}

func TestValidAttribute(t *testing.T) {
	for _, ok := range []string{"cn", "sAMAccountName", "x-custom-1", "2.5.4.3", "cn;lang-de", "userCertificate;binary", "0.9"} {
		if err := ValidAttribute(ok); err != nil {
			t.Errorf("ValidAttribute(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1cn", "-cn", "cn=x", "uid=*)(cn", "c n", "cn;", ";x", "2..5", "01.2", "2.5.", "cn;a b", "é", "cn)(uid", "2"} {
		if ValidAttribute(bad) == nil {
			t.Errorf("ValidAttribute(%q) accepted it", bad)
		}
	}
}

func TestBadAttributePanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"RDN":     func() { RDN("cn=x", "v") },
		"Eq":      func() { Eq("uid=*)(cn", "v") },
		"Present": func() { Present("") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a bad attribute did not panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestEqualDN(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"cn=a,dc=x", "CN=A,DC=X", true},
		{`cn=a\,b,dc=x`, `cn=A\2cB, dc=x`, true},
		{"cn=a+sn=b,dc=x", "sn=b+cn=a,dc=x", true},
		{"cn=José,dc=x", `cn=Jos\c3\a9,dc=x`, true},
		{`cn=\ a,dc=x`, "cn=a,dc=x", false},
		{"cn=a,dc=x", "cn=a,dc=y", false},
		{"cn=a,dc=x", "cn=a,ou=p,dc=x", false},
		{"cn=a,dc=x", "not a dn", false},
	} {
		if got := EqualDN(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualDN(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestUnderDN(t *testing.T) {
	for _, tc := range []struct {
		dn, anc string
		want    bool
	}{
		{"cn=a,ou=People,dc=x", "ou=people,dc=x", true},
		{"cn=a,ou=sub,ou=people,dc=x", "ou=people,dc=x", true},
		{"ou=people,dc=x", "ou=people,dc=x", false},
		{"cn=a,ou=groups,dc=x", "ou=people,dc=x", false},
		{"cn=a", "(", false},
	} {
		if got := UnderDN(tc.dn, tc.anc); got != tc.want {
			t.Errorf("UnderDN(%q, %q) = %v, want %v", tc.dn, tc.anc, got, tc.want)
		}
	}
}

func TestParentAndRDNValue(t *testing.T) {
	for _, tc := range []struct {
		dn, parent, attr, value string
	}{
		{`cn=Smith\, John,ou=people,dc=x`, "ou=people,dc=x", "cn", "Smith, John"},
		{`cn=a\\,ou=p,dc=x`, "ou=p,dc=x", "cn", `a\`},
		{`cn=a\2cb, ou=p,dc=x`, "ou=p,dc=x", "cn", "a,b"},
		{`uid=x;ou=p`, "ou=p", "uid", "x"},
		{"dc=com", "", "dc", "com"},
	} {
		p, err := Parent(tc.dn)
		if err != nil || p != tc.parent {
			t.Errorf("Parent(%q) = %q, %v; want %q", tc.dn, p, err, tc.parent)
		}
		attr, v, err := RDNValue(tc.dn)
		if err != nil || attr != tc.attr || v != tc.value {
			t.Errorf("RDNValue(%q) = %q, %q, %v; want %q, %q", tc.dn, attr, v, err, tc.attr, tc.value)
		}
	}
	for _, bad := range []string{"", "no equals", `cn=a\`, "cn=a+sn=b,dc=x"} {
		_, _, err := RDNValue(bad)
		if err == nil {
			t.Errorf("RDNValue(%q) succeeded", bad)
		}
		if strings.Contains(bad, "+") {
			continue // a multi-valued RDN still has a parent
		}
		if _, err := Parent(bad); err == nil {
			t.Errorf("Parent(%q) succeeded", bad)
		}
	}
}
