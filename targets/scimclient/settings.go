package scimclient

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/scimpath"
)

// Check fills in a scim target's modes and checks its block, the parts of
// the target that name SCIM things (attribute paths, containers) and the
// groups rules grant on it, and resolves the secrets.
func (Kind) Check(c *config.TargetCheck) {
	s, ok := c.Target.Settings.(*Settings)
	if !ok || s == nil {
		return // config calls Check only with the block decoded
	}
	if s.UpdateMode == "" {
		s.UpdateMode = UpdatePatch
	}
	if s.GroupMode == "" {
		s.GroupMode = GroupsPatch
	}

	plain := false
	if s.BaseURL == "" {
		c.Add("scim.base_url", "required")
	} else {
		_, plain = checkHTTPSURL(c, "scim.base_url", s.BaseURL)
	}
	if plain && (s.CAFile != "" || s.ServerName != "") {
		c.Add("scim", "TLS settings given for an http:// base_url; use https://")
	}
	s.Auth.check(c)

	switch s.UpdateMode {
	case UpdatePatch, UpdatePut:
	default:
		c.Add("scim.update_mode", "must be %s or %s, got %q", UpdatePatch, UpdatePut, s.UpdateMode)
	}
	switch s.GroupMode {
	case GroupsPatch, GroupsPut:
	case GroupsNone:
		if s.CreateGroups {
			c.Add("scim.create_groups", "set, but group_mode %s says the app has no groups", GroupsNone)
		}
	default:
		c.Add("scim.group_mode", "must be %s, %s or %s, got %q", GroupsPatch, GroupsPut, GroupsNone, s.GroupMode)
	}
	if r := s.RateLimit; r != nil && (*r <= 0 || math.IsInf(*r, 0) || math.IsNaN(*r)) {
		c.Add("scim.rate_limit", "must be a positive number of requests per second, got %v (leave it out for the default)", *r)
	}
	if s.Burst < 0 {
		c.Add("scim.burst", "must not be negative")
	}
	if s.Timeout < 0 {
		c.Add("scim.timeout", "must not be negative")
	}

	if c.Target.Container != "" {
		c.Add("container", "SCIM has no containers")
	}
	if c.Target.Leaver.MoveTo != "" {
		c.Add("leaver.move_to", "SCIM has no containers")
	}
	checkAttributes(c)
	for path, ents := range c.Grants() {
		if s.GroupMode == GroupsNone && len(ents) > 0 {
			c.AddAt(path, "the target's group_mode is %s: the app has no groups to grant", GroupsNone)
			continue
		}
		for j, e := range ents {
			if strings.TrimSpace(e) == "" {
				c.AddAt(fmt.Sprintf("%s[%d]", path, j), "empty")
			}
		}
	}
}

// check checks that a is one way to authenticate, and resolves its
// secrets.
func (a *AuthSettings) check(c *config.TargetCheck) {
	n := 0
	if b := a.Bearer; b != nil {
		n++
		c.Resolve("scim.auth.bearer.token", &b.Token)
	}
	if b := a.Basic; b != nil {
		n++
		switch {
		case b.Username == "":
			c.Add("scim.auth.basic.username", "required")
		case strings.Contains(b.Username, ":"):
			// RFC 7617: the server splits user-id and password at the
			// first colon, so a username with one can never log in.
			c.Add("scim.auth.basic.username", "must not contain ':' (basic auth splits at the first colon)")
		}
		c.Resolve("scim.auth.basic.password", &b.Password)
	}
	if o := a.OAuth2; o != nil {
		n++
		if o.TokenURL == "" {
			c.Add("scim.auth.oauth2.token_url", "required")
		} else {
			checkHTTPSURL(c, "scim.auth.oauth2.token_url", o.TokenURL)
		}
		if o.ClientID == "" {
			c.Add("scim.auth.oauth2.client_id", "required")
		}
		c.Resolve("scim.auth.oauth2.client_secret", &o.ClientSecret)
		for i, sc := range o.Scopes {
			// The token request sends scopes space-separated (RFC 6749 §3.3).
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				c.Add(fmt.Sprintf("scim.auth.oauth2.scopes[%d]", i), "%q is not a scope (no spaces, quotes or backslashes)", sc)
			}
		}
	}
	if n != 1 {
		c.Add("scim.auth", "exactly one of bearer, basic, oauth2")
	}
}

// checkAttributes checks the keys of attributes and references: each a
// SCIM attribute path, none twice (SCIM names are case-insensitive), none
// the app or the account's state owns, and userName mapped. It mirrors
// what the client accepts, so a bad key fails at load rather than on every
// converge.
func checkAttributes(c *config.TargetCheck) {
	type key struct{ section, name string }
	var keys []key
	for name := range c.Target.Attributes {
		keys = append(keys, key{"attributes", name})
	}
	for name := range c.Target.References {
		keys = append(keys, key{"references", name})
	}
	// Sorted, so the problems come out in the same order every time.
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.section+"."+a.name, b.section+"."+b.name)
	})
	seen := map[string]key{}
	userName := false
	for _, k := range keys {
		p := k.section + "." + k.name
		ap, err := scimpath.Parse(k.name)
		if err != nil {
			c.Add(p, `not a SCIM attribute path (attr, attr.sub, urn:…:attr[.sub] or attr[sub eq "x"].sub): %v`, err)
			continue
		}
		// The same name under attributes and references is reported by
		// config; here the spellings that differ only in case.
		folded := strings.ToLower(k.name)
		if other, dup := seen[folded]; dup && other.name != k.name {
			c.Add(p, "same SCIM attribute as %s.%s (names are case-insensitive)", other.section, other.name)
		}
		seen[folded] = k
		if k.section == "references" && (ap.Sub != "" || ap.Filtered()) {
			// A reference is written as {value: the other user's id}.
			c.Add(p, "a reference names an attribute, not a sub-attribute")
		}
		if why, reserved := scimpath.Reserved(ap); reserved {
			c.Add(p, "%s", why)
		}
		if k.section == "attributes" && ap.Schema == "" && strings.EqualFold(ap.Attr, "userName") && ap.Sub == "" && !ap.Filtered() {
			userName = true
		}
	}
	if !userName {
		c.Add("attributes", "userName must be mapped for kind %s (apps find and create users by it)", KindName)
	}
}

// checkHTTPSURL reports raw, at key, unless it is an absolute https://
// URL, or http:// to a loopback host. plain is true for a valid http://
// URL.
func checkHTTPSURL(c *config.TargetCheck, key, raw string) (ok, plain bool) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		c.Add(key, "must be an absolute https:// URL, got %q", raw)
	case u.User != nil:
		c.Add(key, "must not carry credentials; use auth")
	case u.RawQuery != "" || u.Fragment != "":
		c.Add(key, "must not have a query or fragment, got %q", raw)
	case u.Scheme == "https":
		return true, false
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return true, true
	case u.Scheme == "http":
		// Every request carries the credentials (and people's data).
		c.Add(key, "must be https://; http:// is allowed only for a loopback host, since credentials and personal data would cross the network in clear")
	default:
		c.Add(key, "must be an absolute https:// URL, got %q", raw)
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
