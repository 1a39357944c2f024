package config

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// KindSCIM is the outbound SCIM 2.0 target kind (targets[].scim).
const KindSCIM = "scim"

// SCIM update and group modes; they mirror scimclient's constants, which
// config must not import (config is a leaf).
const (
	SCIMUpdatePatch = "patch"
	SCIMUpdatePut   = "put"
	SCIMGroupsPatch = "patch"
	SCIMGroupsPut   = "put"
	SCIMGroupsNone  = "none"
)

// SCIMTarget is the scim kind's block: how to reach one SCIM app. The
// modes default in applyPolicyDefaults; a zero rate limit, burst or
// timeout takes the scim client's default, which config cannot import.
type SCIMTarget struct {
	// BaseURL is the app's SCIM base, e.g. https://app.example.com/scim/v2.
	BaseURL string   `yaml:"base_url"`
	Auth    SCIMAuth `yaml:"auth"`
	// UpdateMode is "patch" (default) or "put": how a changed user is
	// written.
	UpdateMode string `yaml:"update_mode"`
	// GroupMode is "patch" (default), "put" or "none" (the app has no
	// groups).
	GroupMode string `yaml:"group_mode"`
	// CreateGroups creates a granted group the app lacks instead of
	// failing the converge.
	CreateGroups bool `yaml:"create_groups"`
	// RateLimit is requests per second; a pointer so that an explicit 0
	// (which an operator may mean as "unlimited") is an error rather than
	// silently the default.
	RateLimit *float64      `yaml:"rate_limit"`
	Burst     int           `yaml:"burst"`
	Timeout   time.Duration `yaml:"timeout"`
	// CAFile holds PEM CAs that verify the app instead of the system's.
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// SCIMAuth is exactly one way to authenticate to the app.
type SCIMAuth struct {
	Bearer *SCIMBearer `yaml:"bearer"`
	Basic  *SCIMBasic  `yaml:"basic"`
	OAuth2 *SCIMOAuth2 `yaml:"oauth2"`
}

// SCIMBearer is a static bearer token.
type SCIMBearer struct {
	Token Secret `yaml:"token"`
}

// SCIMBasic is HTTP basic authentication.
type SCIMBasic struct {
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// SCIMOAuth2 is the OAuth 2.0 client-credentials grant.
type SCIMOAuth2 struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret Secret   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// validateSCIMTargets checks every scim target's block and mappings and
// the grants on them; validateTargetKinds has checked which blocks are set.
func (c *Config) validateSCIMTargets(add addFunc) {
	for i := range c.Targets {
		if t := &c.Targets[i]; t.Kind == KindSCIM && t.SCIM != nil {
			t.validateSCIM(fmt.Sprintf("targets[%d]", i), add)
		}
	}
	c.validateSCIMGrants(add)
}

// validateSCIM checks t's scim block and the parts of t that name SCIM
// things (attribute paths, containers), and resolves the secrets.
func (t *Target) validateSCIM(path string, add addFunc) {
	s := t.SCIM
	sp := path + ".scim"

	plain := false
	if s.BaseURL == "" {
		add(sp+".base_url", "required")
	} else {
		_, plain = checkHTTPSURL(sp+".base_url", s.BaseURL, add)
	}
	if plain && (s.CAFile != "" || s.ServerName != "") {
		add(sp, "TLS settings given for an http:// base_url; use https://")
	}

	a := s.Auth
	ap := sp + ".auth"
	n := 0
	if b := a.Bearer; b != nil {
		n++
		resolveSecret(ap+".bearer.token", &b.Token, add)
	}
	if b := a.Basic; b != nil {
		n++
		switch {
		case b.Username == "":
			add(ap+".basic.username", "required")
		case strings.Contains(b.Username, ":"):
			// RFC 7617: the server splits user-id and password at the
			// first colon, so a username with one can never log in.
			add(ap+".basic.username", "must not contain ':' (basic auth splits at the first colon)")
		}
		resolveSecret(ap+".basic.password", &b.Password, add)
	}
	if o := a.OAuth2; o != nil {
		n++
		if o.TokenURL == "" {
			add(ap+".oauth2.token_url", "required")
		} else {
			checkHTTPSURL(ap+".oauth2.token_url", o.TokenURL, add)
		}
		if o.ClientID == "" {
			add(ap+".oauth2.client_id", "required")
		}
		resolveSecret(ap+".oauth2.client_secret", &o.ClientSecret, add)
		for i, sc := range o.Scopes {
			// The token request sends scopes space-separated (RFC 6749 §3.3).
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				add(fmt.Sprintf("%s.oauth2.scopes[%d]", ap, i), "%q is not a scope (no spaces, quotes or backslashes)", sc)
			}
		}
	}
	if n != 1 {
		add(ap, "exactly one of bearer, basic, oauth2")
	}

	switch s.UpdateMode {
	case SCIMUpdatePatch, SCIMUpdatePut:
	default:
		add(sp+".update_mode", "must be %s or %s, got %q", SCIMUpdatePatch, SCIMUpdatePut, s.UpdateMode)
	}
	switch s.GroupMode {
	case SCIMGroupsPatch, SCIMGroupsPut:
	case SCIMGroupsNone:
		if s.CreateGroups {
			add(sp+".create_groups", "set, but group_mode %s says the app has no groups", SCIMGroupsNone)
		}
	default:
		add(sp+".group_mode", "must be %s, %s or %s, got %q", SCIMGroupsPatch, SCIMGroupsPut, SCIMGroupsNone, s.GroupMode)
	}
	if r := s.RateLimit; r != nil && (*r <= 0 || math.IsInf(*r, 0) || math.IsNaN(*r)) {
		add(sp+".rate_limit", "must be a positive number of requests per second, got %v (leave it out for the default)", *r)
	}
	if s.Burst < 0 {
		add(sp+".burst", "must not be negative")
	}
	if s.Timeout < 0 {
		add(sp+".timeout", "must not be negative")
	}

	if t.Container != "" {
		add(path+".container", "SCIM has no containers")
	}
	if t.Leaver.MoveTo != "" {
		add(path+".leaver.move_to", "SCIM has no containers")
	}
	t.validateSCIMAttributes(path, add)
}

// validateSCIMAttributes checks the keys of attributes and references:
// each a SCIM attribute path, none twice (SCIM names are
// case-insensitive), none the app or the account's state owns, and
// userName mapped. It mirrors what scimclient accepts, so a bad key fails
// at load rather than on every converge.
func (t *Target) validateSCIMAttributes(path string, add addFunc) {
	type key struct{ section, name string }
	var keys []key
	for name := range t.Attributes {
		keys = append(keys, key{"attributes", name})
	}
	for name := range t.References {
		keys = append(keys, key{"references", name})
	}
	// Sorted, so the problems come out in the same order every time.
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.section+"."+a.name, b.section+"."+b.name)
	})
	seen := map[string]key{}
	userName := false
	for _, k := range keys {
		p := path + "." + k.section + "." + k.name
		ap, ok := parseSCIMPath(k.name)
		if !ok {
			add(p, `not a SCIM attribute path (attr, attr.sub, urn:…:attr[.sub] or attr[sub eq "x"].sub)`)
			continue
		}
		// The same name under attributes and references is reported by
		// validatePolicy; here the spellings that differ only in case.
		folded := strings.ToLower(k.name)
		if other, dup := seen[folded]; dup && other.name != k.name {
			add(p, "same SCIM attribute as %s.%s (names are case-insensitive)", other.section, other.name)
		}
		seen[folded] = k
		if k.section == "references" && (ap.sub != "" || ap.filtered) {
			// A reference is written as {value: the other user's id}.
			add(p, "a reference names an attribute, not a sub-attribute")
		}
		if !ap.core() {
			continue
		}
		switch strings.ToLower(ap.attr) {
		case "id", "meta", "schemas":
			add(p, "%s is set by the app, not mapped", ap.attr)
		case "groups":
			add(p, "groups are read-only on a SCIM user; grant them as entitlements (birthright grants)")
		case "active":
			add(p, "active follows the account's state (a leaver is disabled as active: false), not a mapping")
		case "username":
			if k.section == "attributes" && ap.sub == "" && !ap.filtered {
				userName = true
			}
		}
	}
	if !userName {
		add(path+".attributes", "userName must be mapped for kind %s (apps find and create users by it)", KindSCIM)
	}
}

// validateSCIMGrants checks the entitlements birthright rules grant on
// scim targets: group display names, and none on an app without groups.
func (c *Config) validateSCIMGrants(add addFunc) {
	scimTargets := map[string]*SCIMTarget{}
	for _, t := range c.Targets {
		if t.Kind == KindSCIM && t.SCIM != nil {
			scimTargets[t.Name] = t.SCIM
		}
	}
	for i, r := range c.Birthright {
		for tn, ents := range r.Grants {
			s := scimTargets[tn]
			if s == nil {
				continue
			}
			p := fmt.Sprintf("birthright[%d].grants.%s", i, tn)
			if s.GroupMode == SCIMGroupsNone && len(ents) > 0 {
				add(p, "the target's group_mode is %s: the app has no groups to grant", SCIMGroupsNone)
				continue
			}
			for j, e := range ents {
				if strings.TrimSpace(e) == "" {
					add(fmt.Sprintf("%s[%d]", p, j), "empty")
				}
			}
		}
	}
}

// resolveSecret reports a required secret that is missing or unreadable.
func resolveSecret(path string, s *Secret, add addFunc) {
	if err := s.resolve(); err != nil {
		add(path, "%v", err)
	}
}

// checkHTTPSURL reports raw unless it is an absolute https:// URL, or
// http:// to a loopback host. plain is true for a valid http:// URL.
func checkHTTPSURL(path, raw string, add addFunc) (ok, plain bool) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		add(path, "must be an absolute https:// URL, got %q", raw)
	case u.User != nil:
		add(path, "must not carry credentials; use auth")
	case u.RawQuery != "" || u.Fragment != "":
		add(path, "must not have a query or fragment, got %q", raw)
	case u.Scheme == "https":
		return true, false
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return true, true
	case u.Scheme == "http":
		// Every request carries the credentials (and people's data).
		add(path, "must be https://; http:// is allowed only for a loopback host, since credentials and personal data would cross the network in clear")
	default:
		add(path, "must be an absolute https:// URL, got %q", raw)
	}
	return false, false
}

// isLoopback reports whether host is localhost or a loopback address. A
// name is not resolved: only "localhost" counts, so DNS cannot make a
// remote host look local.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scimPath is a parsed SCIM attribute path.
type scimPath struct {
	schema   string // the URN before the attribute, or ""
	attr     string
	filtered bool   // attr[sub eq value]
	sub      string // the sub-attribute, or ""
}

// coreUserSchema is the URN of RFC 7643's core User schema.
const coreUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User"

// core reports whether p names a core User attribute (an extension may
// have attributes of the same names).
func (p scimPath) core() bool { return p.schema == "" || strings.EqualFold(p.schema, coreUserSchema) }

// parseSCIMPath parses a SCIM attribute path (RFC 7644 §3.10, plus the
// value-filter form of §3.5.2's PATH that mappings use): ATTRNAME or
// ATTRNAME.sub, either after a schema URN ("urn:…:Attr"), or
// ATTRNAME[sub eq "value"].sub.
// Sub-attributes are one level deep: SCIM complex attributes hold no
// complex attributes.
func parseSCIMPath(s string) (p scimPath, ok bool) {
	rest := s
	if len(s) >= 4 && strings.EqualFold(s[:4], "urn:") {
		// The schema URN ends at the last colon before the value filter,
		// whose value may hold colons itself.
		head := s
		if i := strings.IndexByte(s, '['); i >= 0 {
			head = s[:i]
		}
		i := strings.LastIndexByte(head, ':')
		if !validSchemaURN(s[:i]) {
			return p, false
		}
		p.schema, rest = s[:i], s[i+1:]
	}
	tail := ""
	p.attr = rest
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		p.attr, tail = rest[:i], rest[i:]
	}
	if !validSCIMName(p.attr) {
		return p, false
	}
	if strings.HasPrefix(tail, "[") {
		end := strings.LastIndexByte(tail, ']')
		if end < 0 || !validValueFilter(tail[1:end]) {
			return p, false
		}
		p.filtered, tail = true, tail[end+1:]
		// A filter selects one element of a multi-valued complex
		// attribute; a mapping writes one of its sub-attributes.
		if tail == "" {
			return p, false
		}
	}
	if tail != "" {
		// "$ref" is a sub-attribute name too (RFC 7643 §2.3.7).
		if tail[0] != '.' || (!validSCIMName(tail[1:]) && tail[1:] != "$ref") {
			return p, false
		}
		p.sub = tail[1:]
	}
	return p, true
}

// validSCIMName is RFC 7643's ATTRNAME: ALPHA *("-" / "_" / DIGIT / ALPHA).
func validSCIMName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validSchemaURN accepts urn:NID:NSS with colon-separated segments of
// letters, digits and "-._" — the shape of every SCIM schema URN.
func validSchemaURN(s string) bool {
	segs := strings.Split(s, ":")
	if len(segs) < 3 || !strings.EqualFold(segs[0], "urn") {
		return false
	}
	for _, seg := range segs[1:] {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
				return false
			}
		}
	}
	return true
}

// validValueFilter accepts `sub eq "value"`: the one filter that names a
// single element to write (other operators select several or none), with
// a JSON string value, the element's sub-attribute written with it.
func validValueFilter(f string) bool {
	name, rest, _ := strings.Cut(strings.TrimSpace(f), " ")
	op, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
	if !validSCIMName(name) || !strings.EqualFold(op, "eq") {
		return false
	}
	value = strings.TrimSpace(value)
	var v string
	// Unmarshal takes null as a string too; only a quoted value is one.
	return strings.HasPrefix(value, `"`) && json.Unmarshal([]byte(value), &v) == nil
}
