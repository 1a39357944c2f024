package ldapsync

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/tenurehq/tenure/targets"
)

func TestGUID(t *testing.T) {
	// Microsoft's layout: {00112233-4455-6677-8899-aabbccddeeff} is stored
	// as 33 22 11 00 55 44 77 66 88 99 aa bb cc dd ee ff.
	raw := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	const s = "00112233-4455-6677-8899-aabbccddeeff"
	if got := FormatGUID(raw); got != s {
		t.Errorf("FormatGUID = %s, want %s", got, s)
	}
	back, err := ParseGUID(s)
	if err != nil || !bytes.Equal(back, raw) {
		t.Errorf("ParseGUID = %x, %v", back, err)
	}
	f, err := AD{}.AnchorFilter(s)
	if err != nil || f.String() != `(objectGUID=\33\22\11\00\55\44\77\66\88\99\aa\bb\cc\dd\ee\ff)` {
		t.Errorf("AnchorFilter = %s, %v", f, err)
	}
	for _, bad := range []string{"", "00112233-4455-6677-8899", "00112233-4455-6677-8899-aabbccddeeffaa", "0011223g-4455-6677-8899-aabbccddeeff", "*)(objectGUID=*", "001122334-455-6677-8899-aabbccddeeff"} {
		if _, err := (AD{}).AnchorFilter(bad); err == nil {
			t.Errorf("AnchorFilter(%q) accepted", bad)
		}
	}
}

func TestSAMAccountName(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		taken      []string
		out        string
		permanent  bool
	}{
		{"short", "jdoe", nil, "jdoe", false},
		{"exactly 20", "abcdefghijklmnopqrst", nil, "abcdefghijklmnopqrst", false},
		{"cut to 20", "maximilian.featherstonehaugh", nil, "maximilian.featherst", false},
		{"cut by characters not bytes", "éééééééééééééééééééééé", nil, "éééééééééééééééééééé", false},
		{"forbidden characters", `a"b/c\d[e]f:g;h|i=j`, nil, "a_b_c_d_e_f_g_h_i_j", false},
		{"more forbidden", "k,l+m*n?o<p>q@r", nil, "k_l_m_n_o_p_q_r", false},
		{"control characters", "a\tb\x00c", nil, "a_b_c", false},
		{"spaces and dots trimmed", "  jdoe.. ", nil, "jdoe", false},
		{"collision", "jdoe", []string{"jdoe"}, "jdoe2", false},
		{"second collision", "jdoe", []string{"jdoe", "jdoe2"}, "jdoe3", false},
		{"collision when cut", "maximilian.featherstonehaugh", []string{"maximilian.featherst"}, "maximilian.feathers2", false},
		{"collision past 9", "maximilian.featherstonehaugh", []string{"maximilian.featherst", "maximilian.feathers2", "maximilian.feathers3", "maximilian.feathers4", "maximilian.feathers5", "maximilian.feathers6", "maximilian.feathers7", "maximilian.feathers8", "maximilian.feathers9"}, "maximilian.feather10", false},
		{"no dot before the number", "abcdefghijklmnopqr.s", []string{"abcdefghijklmnopqr.s"}, "abcdefghijklmnopqr2", false},
		{"nothing left", " ... ", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SAMAccountName(tc.want, func(c string) (bool, error) {
				for _, x := range tc.taken {
					if x == c {
						return true, nil
					}
				}
				return false, nil
			})
			if tc.permanent {
				if err == nil || targets.IsRetryable(err) {
					t.Errorf("got %q, %v; want a permanent error", got, err)
				}
				return
			}
			if err != nil || got != tc.out {
				t.Errorf("got %q, %v; want %q", got, err, tc.out)
			}
		})
	}
	// Every candidate taken: permanent.
	_, err := SAMAccountName("jdoe", func(string) (bool, error) { return true, nil })
	if err == nil || targets.IsRetryable(err) || !strings.Contains(err.Error(), "all taken") {
		t.Errorf("all taken: %v", err)
	}
	// A failed lookup is returned as it is (the pool classified it).
	lookup := targets.Retryable("ldap search", fmt.Errorf("busy"), 0)
	if _, err := SAMAccountName("jdoe", func(string) (bool, error) { return false, lookup }); err != lookup {
		t.Errorf("lookup failure: %v", err)
	}
}

func TestADCredentials(t *testing.T) {
	for _, tc := range []struct {
		encrypted, enabled bool
		uac                string
		password           bool
	}{
		{true, true, "512", true},
		{true, false, "514", true},
		{false, true, "514", false},
		{false, false, "514", false},
	} {
		attrs := map[string][]string{ADPassword: {"from the policy"}}
		if err := adCredentials(attrs, tc.encrypted, tc.enabled); err != nil {
			t.Fatal(err)
		}
		if got := attrs[ADAccountControl]; len(got) != 1 || got[0] != tc.uac {
			t.Errorf("encrypted %v enabled %v: userAccountControl %v, want %s", tc.encrypted, tc.enabled, got, tc.uac)
		}
		pw := attrs[ADPassword]
		if (len(pw) == 1) != tc.password {
			t.Errorf("encrypted %v: password set %v", tc.encrypted, len(pw) == 1)
			continue
		}
		if !tc.password {
			continue
		}
		// "…" in UTF-16LE, 32 characters with upper, lower, digit, symbol.
		b := []byte(pw[0])
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		s := string(utf16.Decode(u))
		if len(s) != adPasswordLength+2 || s[0] != '"' || s[len(s)-1] != '"' || s[1:len(s)-1] == "from the policy" {
			t.Errorf("unicodePwd decodes to %q", s)
		}
		inner := s[1 : len(s)-1]
		for _, class := range []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%+-.:=?@^_~"} {
			if !strings.ContainsAny(inner, class) {
				t.Errorf("password %q lacks one of %q", inner, class)
			}
		}
	}
}

func TestDNSDomain(t *testing.T) {
	for dn, want := range map[string]string{
		"DC=example,DC=com":                          "example.com",
		"OU=Staff,OU=Corp,DC=Corp,DC=Example,DC=com": "corp.example.com",
		"OU=x\\,y,DC=example,DC=com":                 "example.com",
		"o=acme":                                     "",
	} {
		if got := dnsDomain(dn); got != want {
			t.Errorf("dnsDomain(%q) = %q, want %q", dn, got, want)
		}
	}
}

// TestADAccountNames creates people whose names cut to the same
// sAMAccountName on a real AD, checks the collision rule, the default
// userPrincipalName and that a password was set (over StartTLS), and that
// a rename keeps the sAMAccountName.
func TestADAccountNames(t *testing.T) {
	t.Parallel()
	s := sambaServer(t)
	c := s.newCase(t, "")
	long := "Maximilian Featherstonehaugh"
	var links []*targets.Link
	for i, ou := range []string{c.people, c.disabled} {
		p := s.person(long, map[string]any{"description": fmt.Sprint(i)})
		p.Container = ou
		links = append(links, c.apply(t, nil, p, []targets.Op{{Kind: targets.OpCreate, Detail: ou}}))
	}
	// Cut at 20; the second gets 19 characters and "2".
	for i, wantSAM := range []string{"Maximilian Featherst", "Maximilian Feathers2"} {
		e := c.read(t, links[i].Ref)
		sam := e.GetAttributeValue(ADSAMAccountName)
		if sam != wantSAM {
			t.Errorf("account %d: sAMAccountName %q, want %q", i, sam, wantSAM)
		}
		if upn := e.GetAttributeValue(ADUserPrincipal); upn != wantSAM+"@example.com" {
			t.Errorf("account %d: userPrincipalName %q", i, upn)
		}
		if e.GetAttributeValue("pwdLastSet") == "0" || e.GetAttributeValue("pwdLastSet") == "" {
			t.Errorf("account %d: pwdLastSet %q: no initial password was set", i, e.GetAttributeValue("pwdLastSet"))
		}
		if e.GetAttributeValue(ADAccountControl) != "512" {
			t.Errorf("account %d: userAccountControl %q, want 512", i, e.GetAttributeValue(ADAccountControl))
		}
	}
	// A mapped sAMAccountName and userPrincipalName are used; a rename
	// and a changed sAMAccountName leave the sAMAccountName alone.
	p := s.person("Jane Mapped", map[string]any{ADSAMAccountName: "jmapped", ADUserPrincipal: "jane.mapped@corp.example.com"})
	link := c.apply(t, nil, p, []targets.Op{{Kind: targets.OpCreate}})
	p2 := s.person("Jane Renamed", map[string]any{ADSAMAccountName: "jrenamed", ADUserPrincipal: "jane.renamed@corp.example.com"})
	link = c.apply(t, link, p2, []targets.Op{{Kind: targets.OpUpdate, Detail: "[cn]"}, {Kind: targets.OpUpdate, Detail: "[userPrincipalName]"}})
	e := c.read(t, link.Ref)
	if sam := e.GetAttributeValue(ADSAMAccountName); sam != "jmapped" {
		t.Errorf("sAMAccountName %q after the rename, want jmapped", sam)
	}
	if upn := e.GetAttributeValue(ADUserPrincipal); upn != "jane.renamed@corp.example.com" {
		t.Errorf("userPrincipalName %q", upn)
	}
}
