package scimclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/tlsx"
	"github.com/tenurehq/tenure/targets"
)

// KindName is the scim kind's name (targets[].kind) and its block's key.
const KindName = "scim"

// Kind is the outbound SCIM 2.0 target kind: a Client per app.
type Kind struct{}

var _ targets.Kind = Kind{}

// Settings is the scim kind's block: how to reach one SCIM app. The modes
// default in Check; a zero rate limit, burst or timeout takes the client's
// default (DefaultRateLimit, DefaultBurst, DefaultTimeout).
type Settings struct {
	// BaseURL is the app's SCIM base, e.g. https://app.example.com/scim/v2.
	BaseURL string       `yaml:"base_url"`
	Auth    AuthSettings `yaml:"auth"`
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

// AuthSettings is exactly one way to authenticate to the app.
type AuthSettings struct {
	Bearer *BearerSettings `yaml:"bearer"`
	Basic  *BasicSettings  `yaml:"basic"`
	OAuth2 *OAuth2Settings `yaml:"oauth2"`
}

// BearerSettings is a static bearer token.
type BearerSettings struct {
	Token config.Secret `yaml:"token"`
}

// BasicSettings is HTTP basic authentication.
type BasicSettings struct {
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
}

// OAuth2Settings is the OAuth 2.0 client-credentials grant.
type OAuth2Settings struct {
	TokenURL     string        `yaml:"token_url"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret config.Secret `yaml:"client_secret"`
	Scopes       []string      `yaml:"scopes"`
}

// Name is the kind's name.
func (Kind) Name() string { return KindName }

// NewSettings returns a new, empty scim block.
func (Kind) NewSettings() any { return new(Settings) }

// Rebuild: a client is built from the block alone.
func (Kind) Rebuild(built, loaded *config.Target) string { return targets.BlockChanged(built, loaded) }

// New builds a scim target: a Client, which contacts the app only on the
// first converge, so an app that is down does not stop serve. The client
// is an io.Closer (idle connections).
func (Kind) New(t config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error) {
	opts, err := OptionsOf(t)
	if err != nil {
		return nil, err
	}
	c, err := New(opts, log, reg)
	if err != nil {
		// Not c: a nil *Client in the interface would look like a target.
		return nil, fmt.Errorf("scim client: %w", err)
	}
	return c, nil
}

// OptionsOf turns a target's scim block into the client's options. Zero
// rate limit, burst and timeout pass through: the client has the defaults.
func OptionsOf(t config.Target) (Options, error) {
	s, ok := t.Settings.(*Settings)
	if !ok || s == nil {
		// config.Check decodes and checks the block when given the kind.
		return Options{}, errors.New("scim: the scim block was not checked")
	}
	o := Options{
		BaseURL:      s.BaseURL,
		UpdateMode:   s.UpdateMode,
		GroupMode:    s.GroupMode,
		CreateGroups: s.CreateGroups,
		Burst:        s.Burst,
		Timeout:      s.Timeout,
		// The target name, not the host: two targets may share an app,
		// and their metrics must not collide on one registry.
		Name: t.Name,
	}
	if s.RateLimit != nil {
		o.RateLimit = *s.RateLimit
	}
	switch a := s.Auth; {
	case a.Bearer != nil:
		o.Auth = Bearer{Token: a.Bearer.Token.Value()}
	case a.Basic != nil:
		o.Auth = Basic{Username: a.Basic.Username, Password: a.Basic.Password.Value()}
	case a.OAuth2 != nil:
		o.Auth = ClientCredentials{
			TokenURL: a.OAuth2.TokenURL, ClientID: a.OAuth2.ClientID,
			ClientSecret: a.OAuth2.ClientSecret.Value(), Scopes: a.OAuth2.Scopes,
		}
	default:
		return Options{}, errors.New("scim: no auth") // Check requires one
	}
	if s.CAFile != "" || s.ServerName != "" {
		tlsConf, err := tlsx.Client(tlsx.Files{CAFile: s.CAFile}, s.ServerName)
		if err != nil {
			return Options{}, fmt.Errorf("scim tls: %w", err)
		}
		// The client's transport settings; only the trust changes.
		tr := NewTransport()
		tr.TLSClientConfig = tlsConf
		o.HTTPClient = &http.Client{Transport: tr}
	}
	return o, nil
}
