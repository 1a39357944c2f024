package config

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Console configures the web console (docs/console.md). Absent, there is
// none. Its role expressions are CEL, compiled where the policy is (by the
// console package, through cmd), so config validate reports them too.
type Console struct {
	// Path is where the console is served: /console by default.
	Path string `yaml:"path"`
	// Listen, when set, serves the console on a listener of its own
	// (host:port), so that it can be exposed without /admin and /scim;
	// empty, it shares server.listen.
	Listen string `yaml:"listen"`
	// URL is the console's external URL, path included
	// (https://tenure.example.com/console): the OIDC redirect URL is
	// under it and a state-changing request must come from its origin.
	// Default: server.base_url followed by path.
	URL  string       `yaml:"url"`
	OIDC *ConsoleOIDC `yaml:"oidc"`
	// Roles are CEL expressions over person and claims (docs/console.md).
	Roles   ConsoleRoles   `yaml:"roles"`
	Session ConsoleSession `yaml:"session"`
	// BreakGlass allows signing in with the admin token, as an admin who
	// is no person; for when the IdP is down. Off by default.
	BreakGlass bool `yaml:"break_glass"`
}

// ConsoleOIDC is the OpenID provider the console signs people in with.
type ConsoleOIDC struct {
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecret may be left out for a public client (PKCE alone).
	ClientSecret Secret `yaml:"client_secret"`
	// Scopes asked for besides openid; default email and profile.
	Scopes []string `yaml:"scopes"`
	// Claim is the ID token claim that holds the person's userName:
	// email by default (preferred_username, upn, …).
	Claim string `yaml:"claim"`
}

// ConsoleRoles are the console's roles, each a CEL expression that must
// be a bool; an empty one grants the role to no one.
type ConsoleRoles struct {
	Admin    string `yaml:"admin"`
	Approver string `yaml:"approver"`
	Auditor  string `yaml:"auditor"`
}

// ConsoleSession bounds a console session.
type ConsoleSession struct {
	// TTL is how long a session lasts at most (8h); Idle how long it
	// lasts unused (1h).
	TTL  time.Duration `yaml:"ttl"`
	Idle time.Duration `yaml:"idle"`
}

func (c *Config) applyConsoleDefaults() {
	cs := c.Console
	if cs == nil {
		return
	}
	def(&cs.Path, "/console")
	if cs.URL == "" && c.Server.BaseURL != "" {
		cs.URL = strings.TrimRight(c.Server.BaseURL, "/") + cs.Path
	}
	if o := cs.OIDC; o != nil {
		def(&o.Claim, "email")
		if o.Scopes == nil {
			o.Scopes = []string{"email", "profile"}
		}
	}
	def(&cs.Session.TTL, 8*time.Hour)
	def(&cs.Session.Idle, time.Hour)
}

// consolePath is a path of one or more segments of [A-Za-z0-9._~-], with
// no trailing slash.
var consolePath = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

func (c *Config) validateConsole(add func(path, format string, args ...any)) {
	cs := c.Console
	if cs == nil {
		return
	}
	if !consolePath.MatchString(cs.Path) {
		add("console.path", "must be an absolute path such as /console, without a trailing slash, got %q", cs.Path)
	}
	for _, taken := range []string{"/scim", "/admin", "/metrics", "/healthz", "/readyz"} {
		if cs.Listen == "" && (cs.Path == taken || strings.HasPrefix(cs.Path+"/", taken+"/")) {
			add("console.path", "%s is the server's own", taken)
		}
	}
	if cs.Listen != "" {
		if _, _, err := net.SplitHostPort(cs.Listen); err != nil {
			add("console.listen", "must be host:port: %v", err)
		} else if cs.Listen == c.Server.Listen {
			add("console.listen", "is server.listen: leave it empty to share that listener")
		}
	}
	u, err := url.Parse(cs.URL)
	switch {
	case cs.URL == "":
		add("console.url", "required (or server.base_url): the OIDC redirect URL and the origin of forms derive from it")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || !secureURL(u):
		add("console.url", "must be an https URL (http only on loopback), got %q", cs.URL)
	case u.Path != cs.Path:
		add("console.url", "its path %q must be console.path %q", u.Path, cs.Path)
	}
	if cs.OIDC == nil && !cs.BreakGlass {
		add("console", "set oidc (or break_glass): otherwise no one can sign in")
	}
	if o := cs.OIDC; o != nil {
		if iu, err := url.Parse(o.Issuer); err != nil || iu.Host == "" || !secureURL(iu) {
			add("console.oidc.issuer", "must be an https URL (http only on loopback), got %q", o.Issuer)
		}
		if o.ClientID == "" {
			add("console.oidc.client_id", "required")
		}
		if o.ClientSecret.IsSet() {
			if err := o.ClientSecret.resolve(); err != nil {
				add("console.oidc.client_secret", "%v", err)
			}
		}
		if o.Claim == "" {
			add("console.oidc.claim", "required")
		}
	}
	if cs.Roles == (ConsoleRoles{}) {
		add("console.roles", "set at least one of admin, approver and auditor")
	}
	if cs.Session.TTL < time.Minute {
		add("console.session.ttl", "must be at least 1m, got %s", cs.Session.TTL)
	}
	if cs.Session.Idle < time.Minute || cs.Session.Idle > cs.Session.TTL {
		add("console.session.idle", "must be between 1m and session.ttl, got %s", cs.Session.Idle)
	}
}

// secureURL: https, or http to a loopback host (a test's provider).
func secureURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		ip := net.ParseIP(h)
		return h == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}
