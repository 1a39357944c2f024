package ldapsync

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

// Active Directory attributes and userAccountControl flags.
const (
	ADAnchorAttribute  = "objectGUID"
	ADSAMAccountName   = "sAMAccountName"
	ADUserPrincipal    = "userPrincipalName"
	ADAccountControl   = "userAccountControl"
	ADPassword         = "unicodePwd"
	ADMaxSAMLength     = 20
	adAccountDisable   = 0x2
	adNormalAccount    = 0x200
	adPasswordLength   = 32
	adMaxSAMCollisions = 99
)

// adSAMForbidden are the characters AD refuses in a sAMAccountName.
const adSAMForbidden = `"/\[]:;|=,+*?<>@`

// AD is the Active Directory dialect (Windows Server and Samba AD DC):
//
//   - objectGUID is the anchor, stored in links in its string form
//     (1e3c7d0a-…, Microsoft's mixed-endian layout).
//   - New entries are user objects named by cn. Disable sets bit 0x2 of
//     userAccountControl and enable clears it; other bits are kept.
//   - A new account gets a random 32-character initial unicodePwd when,
//     and only when, the connection is encrypted (ldaps:// or StartTLS);
//     AD refuses to enable an account without one, so over a plain
//     connection an account is created disabled and enabling it fails
//     with AD's message. Nobody learns the password: people set theirs
//     through the organisation's reset flow.
//   - sAMAccountName is chosen when the entry is created and never
//     changed afterwards (logons, home folders and ACLs key on it); see
//     SAMAccountName for the rule. A linked existing entry keeps its own.
//   - userPrincipalName, when the policy maps none, is
//     sAMAccountName@<the DNS domain of BaseDN's DC= components>, set on
//     create.
type AD struct{}

var (
	_ AccountDialect = AD{}
	_ Provisioner    = AD{}
)

// Name is "ad".
func (AD) Name() string { return "ad" }

// AnchorAttribute is objectGUID.
func (AD) AnchorAttribute() string { return ADAnchorAttribute }

// DNAttribute implements DNAttributer.
func (AD) DNAttribute() string { return "distinguishedName" }

// Anchor is e's objectGUID in string form.
func (AD) Anchor(e *ldap.Entry) string {
	raw := e.GetEqualFoldRawAttributeValue(ADAnchorAttribute)
	if len(raw) != 16 {
		return ""
	}
	return FormatGUID(raw)
}

// AnchorFilter matches objectGUID's bytes (every byte escaped).
func (AD) AnchorFilter(id string) (Filter, error) {
	raw, err := ParseGUID(id)
	if err != nil {
		return "", err
	}
	return EqBytes(ADAnchorAttribute, raw), nil
}

// FormatGUID writes a 16-byte objectGUID as AD shows it: the first three
// fields little-endian, the rest in byte order.
func FormatGUID(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16]))
}

// ParseGUID is FormatGUID's inverse.
func ParseGUID(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	lens := []int{8, 4, 4, 4, 12}
	if len(parts) != len(lens) {
		return nil, fmt.Errorf("ldapsync: %q is not a GUID", s)
	}
	var raw []byte
	for i, p := range parts {
		b, err := hex.DecodeString(p)
		if err != nil || len(p) != lens[i] {
			return nil, fmt.Errorf("ldapsync: %q is not a GUID", s)
		}
		if i < 3 { // little-endian fields
			for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
				b[l], b[r] = b[r], b[l]
			}
		}
		raw = append(raw, b...)
	}
	return raw, nil
}

// StatusAttributes is userAccountControl.
func (AD) StatusAttributes() []string { return []string{ADAccountControl} }

// SetEnabled sets or clears the disable bit, keeping every other flag.
func (AD) SetEnabled(m *ldap.ModifyRequest, e *ldap.Entry, enabled bool) bool {
	uac, err := strconv.ParseUint(e.GetEqualFoldAttributeValue(ADAccountControl), 10, 32)
	if err != nil {
		uac = adNormalAccount | adAccountDisable
	}
	want := uac | adAccountDisable
	if enabled {
		want = uac &^ adAccountDisable
	}
	if want == uac && e.GetEqualFoldAttributeValue(ADAccountControl) != "" {
		return false
	}
	m.Replace(ADAccountControl, []string{strconv.FormatUint(want, 10)})
	return true
}

// Defaults are cn-named user objects; unicodePwd is never compared.
func (AD) Defaults() DirectoryOptions {
	return DirectoryOptions{
		RDNAttribute:  "cn",
		ObjectClasses: []string{"top", "person", "organizationalPerson", "user"},
		WriteOnly:     []string{ADPassword},
	}
}

// CreateOnly is sAMAccountName.
func (AD) CreateOnly() []string { return []string{ADSAMAccountName} }

// PrepareAdd chooses the sAMAccountName (SAMAccountName), defaults the
// userPrincipalName, and sets userAccountControl and, over an encrypted
// connection, a random unicodePwd.
func (AD) PrepareAdd(ctx context.Context, d *Directory, attrs map[string][]string, desired *targets.Account, rdnValue string) error {
	base := rdnValue
	if v := attrs[ADSAMAccountName]; len(v) > 0 {
		base = v[0]
	}
	sam, err := SAMAccountName(base, func(cand string) (bool, error) {
		es, err := d.Pool.SearchAll(ctx, ldap.NewSearchRequest(domainDN(d.Options.BaseDN), ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 1, 0, false, Eq(ADSAMAccountName, cand).String(), []string{"1.1"}, nil), 0)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return true, nil
		}
		return len(es) > 0, err
	})
	if err != nil {
		return err
	}
	attrs[ADSAMAccountName] = []string{sam}
	if len(attrs[ADUserPrincipal]) == 0 {
		if dns := dnsDomain(d.Options.BaseDN); dns != "" {
			attrs[ADUserPrincipal] = []string{sam + "@" + dns}
		}
	}
	return adCredentials(attrs, d.Pool.Encrypted(), desired.Enabled)
}

// adCredentials sets a new account's userAccountControl and, only when
// encrypted, a random unicodePwd; without a password the account starts
// disabled whatever enabled says, as AD will not enable it.
func adCredentials(attrs map[string][]string, encrypted, enabled bool) error {
	uac := adNormalAccount | adAccountDisable
	delete(attrs, ADPassword)
	if encrypted {
		pw, err := randomPassword()
		if err != nil {
			return permanentf("add", "random password: %w", err)
		}
		attrs[ADPassword] = []string{pw}
		if enabled {
			uac = adNormalAccount
		}
	}
	attrs[ADAccountControl] = []string{strconv.Itoa(uac)}
	return nil
}

// SAMAccountName derives a sAMAccountName from want by this rule:
//
//  1. Each character AD forbids (" / \ [ ] : ; | = , + * ? < > @ and
//     control characters) becomes "_"; leading and trailing spaces and
//     trailing dots are dropped.
//  2. The result is cut to 20 characters.
//  3. If taken reports that name in use by another entry, the candidates
//     are the first 20−len(n) characters followed by n, for n = 2 … 99
//     ("averyveryverylongna2"); the first free one wins. When all are
//     taken, or nothing is left of want, it is a permanent error.
func SAMAccountName(want string, taken func(string) (bool, error)) (string, error) {
	clean := strings.Map(func(r rune) rune {
		if strings.ContainsRune(adSAMForbidden, r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, want)
	clean = strings.TrimRight(strings.TrimSpace(clean), ".")
	rs := []rune(clean)
	if len(rs) == 0 {
		return "", permanentf("add", "no sAMAccountName can be made of %q", want)
	}
	cut := func(n int) string {
		if len(rs) > n {
			return string(rs[:n])
		}
		return string(rs)
	}
	cand := cut(ADMaxSAMLength)
	for n := 2; ; n++ {
		used, err := taken(cand)
		if err != nil {
			return "", err
		}
		if !used {
			return cand, nil
		}
		if n > adMaxSAMCollisions {
			return "", permanentf("add", "sAMAccountName %q and its numbered variants up to %d are all taken", cut(ADMaxSAMLength), adMaxSAMCollisions)
		}
		suffix := strconv.Itoa(n)
		cand = strings.TrimRight(cut(ADMaxSAMLength-len(suffix)), ". ") + suffix
	}
}

// domainDN is the DC= tail of dn (the domain's naming context), or dn
// itself when it has none.
func domainDN(dn string) string {
	parsed, err := ParseDN(dn)
	if err != nil {
		return dn
	}
	var dcs []string
	for _, rdn := range parsed.RDNs {
		if len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, "dc") {
			dcs = append(dcs, RDN("DC", rdn.Attributes[0].Value))
		} else {
			dcs = dcs[:0]
		}
	}
	if len(dcs) == 0 {
		return dn
	}
	return strings.Join(dcs, ",")
}

// dnsDomain is the DNS name of dn's domain: DC=corp,DC=example,DC=com is
// corp.example.com.
func dnsDomain(dn string) string {
	parsed, err := ParseDN(domainDN(dn))
	if err != nil {
		return ""
	}
	var labels []string
	for _, rdn := range parsed.RDNs {
		if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "dc") {
			return ""
		}
		labels = append(labels, rdn.Attributes[0].Value)
	}
	return strings.ToLower(strings.Join(labels, "."))
}

// randomPassword is a random password meeting AD's complexity rule (upper,
// lower, digit and symbol), quoted and UTF-16LE encoded as unicodePwd
// wants it.
func randomPassword() (string, error) {
	const (
		lower   = "abcdefghijkmnopqrstuvwxyz"
		upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits  = "23456789"
		symbols = "!#%+-.:=?@^_~"
		all     = lower + upper + digits + symbols
	)
	buf := make([]byte, adPasswordLength)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	pw := make([]byte, adPasswordLength)
	for i, b := range buf {
		set := all
		switch i { // one of each class, at fixed places; the rest at random
		case 0:
			set = upper
		case 1:
			set = lower
		case 2:
			set = digits
		case 3:
			set = symbols
		}
		pw[i] = set[int(b)%len(set)]
	}
	u := utf16.Encode([]rune(`"` + string(pw) + `"`))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return string(out), nil
}
