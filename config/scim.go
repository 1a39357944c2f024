package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/internal/scimpath"
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
		ap, err := scimpath.Parse(k.name)
		if err != nil {
			add(p, `not a SCIM attribute path (attr, attr.sub, urn:…:attr[.sub] or attr[sub eq "x"].sub): %v`, err)
			continue
		}
		// The same name under attributes and references is reported by
		// validatePolicy; here the spellings that differ only in case.
		folded := strings.ToLower(k.name)
		if other, dup := seen[folded]; dup && other.name != k.name {
			add(p, "same SCIM attribute as %s.%s (names are case-insensitive)", other.section, other.name)
		}
		seen[folded] = k
		if k.section == "references" && (ap.Sub != "" || ap.Filtered()) {
			// A reference is written as {value: the other user's id}.
			add(p, "a reference names an attribute, not a sub-attribute")
		}
		if why, reserved := scimpath.Reserved(ap); reserved {
			add(p, "%s", why)
		}
		if k.section == "attributes" && ap.Schema == "" && strings.EqualFold(ap.Attr, "userName") && ap.Sub == "" && !ap.Filtered() {
			userName = true
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
