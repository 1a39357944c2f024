package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/tlsx"
	"github.com/tenurehq/tenure/ldapsync"
	"github.com/tenurehq/tenure/targets"
	"github.com/tenurehq/tenure/targets/scimclient"
)

// targetKind builds a target of one kind from its config. A target that
// holds resources (connections) implements io.Closer; serve closes it
// after the engine has drained.
type targetKind func(cfg config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error)

// extraTargetKinds lets tests add kinds (a probe that records overlapping
// converges); the production binary registers none of them.
var extraTargetKinds map[string]targetKind

// targetKinds is the registry of target kinds by name; cmd owns it so no
// package registers itself.
func targetKinds() map[string]targetKind {
	kinds := map[string]targetKind{
		config.KindLDAP: newLDAPTarget,
		config.KindSCIM: newSCIMTarget,
	}
	for k, v := range extraTargetKinds {
		kinds[k] = v
	}
	return kinds
}

// buildTargets constructs every configured target. On error the targets
// already built are closed.
func buildTargets(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (map[string]targets.Target, error) {
	kinds := targetKinds()
	out := map[string]targets.Target{}
	for i, tc := range cfg.Targets {
		build, ok := kinds[tc.Kind]
		if !ok {
			closeTargets(out, log)
			return nil, fmt.Errorf("targets[%d] (%s): kind %q is not built into this binary", i, tc.Name, tc.Kind)
		}
		t, err := build(tc, log.With("component", "target", "target", tc.Name), reg)
		if err != nil {
			closeTargets(out, log)
			return nil, fmt.Errorf("targets[%d] (%s): %w", i, tc.Name, err)
		}
		out[tc.Name] = t
	}
	return out, nil
}

// closeTargets closes the targets that hold resources, logging failures:
// at shutdown there is nobody left to return them to.
func closeTargets(ts map[string]targets.Target, log *slog.Logger) {
	for name, t := range ts {
		if c, ok := t.(io.Closer); ok {
			if err := c.Close(); err != nil {
				log.Error("close target", "target", name, "err", err)
			}
		}
	}
}

// ldapTarget is a Directory that owns its connection pool. It lists and
// prunes group members for the target's exclusive groups.
type ldapTarget struct{ *ldapsync.Directory }

var _ engine.GroupLister = ldapTarget{}

// Close closes the pool: idle connections and the pool's metrics.
func (t ldapTarget) Close() error { return t.Pool.Close() }

// newLDAPTarget builds the ldap kind: a pool (which connects on first use,
// so a directory that is down does not stop serve) and a Directory over it.
func newLDAPTarget(tc config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error) {
	l := tc.LDAP
	if l == nil {
		return nil, errors.New("ldap: no ldap block") // config.Validate requires it
	}
	var dialect ldapsync.AccountDialect
	switch l.Dialect {
	case config.DialectOpenLDAP:
		dialect = ldapsync.OpenLDAP{LockAttribute: l.LockAttribute, LockValue: l.LockValue}
	case config.DialectAD:
		dialect = ldapsync.AD{}
	default:
		return nil, fmt.Errorf("ldap: unknown dialect %q", l.Dialect)
	}
	managed := l.ManagedOUs
	if len(managed) == 0 {
		managed = []string{l.UsersOU}
		if tc.Leaver.MoveTo != "" {
			managed = append(managed, tc.Leaver.MoveTo)
		}
	}
	pool, err := ldapsync.New(ldapsync.Config{
		URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile, ServerName: l.ServerName,
		ClientCertFile: l.ClientCertFile, ClientKeyFile: l.ClientKeyFile,
		BindDN: l.BindDN, BindPassword: l.BindPassword.Value(),
		DialTimeout: l.DialTimeout, OpTimeout: l.OpTimeout, PoolSize: l.PoolSize,
		// The target name, not the host: two targets may share a server,
		// and their metrics must not collide on one registry.
		Server: tc.Name,
	}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("ldap pool: %w", err)
	}
	d, err := ldapsync.NewDirectory(pool, dialect, ldapsync.DirectoryOptions{
		BaseDN: l.BaseDN, UsersDN: l.UsersOU, GroupsDN: l.GroupsOU,
		RDNAttribute: l.RDNAttribute, ObjectClasses: l.ObjectClasses,
		CorrelationAttribute: l.CorrelationAttribute,
		MemberAttribute:      l.MemberAttribute, MemberValue: l.MemberValue,
		MemberOf: l.MemberOf, NoMemberOf: l.NoMemberOf,
		WriteOnly: l.WriteOnly, ManagedDNs: managed, Collision: l.Collision,
		KeepMembers: l.KeepMembers,
	})
	if err == nil {
		err = checkLDAPMappings(tc, d.Options)
	}
	if err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("ldap directory: %w", err)
	}
	return ldapTarget{d}, nil
}

// checkLDAPMappings refuses a policy that maps no value for the RDN
// attribute (every converge would fail) or the correlation attribute
// (correlation would silently never link). It runs here, not in config,
// because the RDN attribute defaults by dialect.
func checkLDAPMappings(tc config.Target, o ldapsync.DirectoryOptions) error {
	var missing []string
	if _, ok := tc.Attributes[o.RDNAttribute]; !ok {
		missing = append(missing, o.RDNAttribute+" (the RDN attribute, which names entries)")
	}
	if _, ok := tc.Attributes[o.CorrelationAttribute]; o.CorrelationAttribute != "" && !ok {
		missing = append(missing, o.CorrelationAttribute+" (the correlation attribute)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("attributes: no mapping for %s", strings.Join(missing, ", "))
	}
	return nil
}

// newSCIMTarget builds the scim kind: a scimclient.Client, which contacts
// the app only on the first converge, so an app that is down does not
// stop serve. The client is an io.Closer (idle connections).
func newSCIMTarget(tc config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error) {
	opts, err := scimOptions(tc)
	if err != nil {
		return nil, err
	}
	c, err := scimclient.New(opts, log, reg)
	if err != nil {
		// Not c: a nil *Client in the interface would look like a target.
		return nil, fmt.Errorf("scim client: %w", err)
	}
	return c, nil
}

// scimOptions turns a target's scim block into the client's options.
// Zero rate limit, burst and timeout pass through: the client has the
// defaults.
func scimOptions(tc config.Target) (scimclient.Options, error) {
	s := tc.SCIM
	if s == nil {
		return scimclient.Options{}, errors.New("scim: no scim block") // config.Validate requires it
	}
	o := scimclient.Options{
		BaseURL:      s.BaseURL,
		UpdateMode:   s.UpdateMode,
		GroupMode:    s.GroupMode,
		CreateGroups: s.CreateGroups,
		Burst:        s.Burst,
		Timeout:      s.Timeout,
		// The target name, not the host: two targets may share an app,
		// and their metrics must not collide on one registry.
		Name: tc.Name,
	}
	if s.RateLimit != nil {
		o.RateLimit = *s.RateLimit
	}
	switch a := s.Auth; {
	case a.Bearer != nil:
		o.Auth = scimclient.Bearer{Token: a.Bearer.Token.Value()}
	case a.Basic != nil:
		o.Auth = scimclient.Basic{Username: a.Basic.Username, Password: a.Basic.Password.Value()}
	case a.OAuth2 != nil:
		o.Auth = scimclient.ClientCredentials{
			TokenURL: a.OAuth2.TokenURL, ClientID: a.OAuth2.ClientID,
			ClientSecret: a.OAuth2.ClientSecret.Value(), Scopes: a.OAuth2.Scopes,
		}
	default:
		return scimclient.Options{}, errors.New("scim: no auth") // config.Validate requires one
	}
	if s.CAFile != "" || s.ServerName != "" {
		tlsConf, err := tlsx.Client(tlsx.Files{CAFile: s.CAFile}, s.ServerName)
		if err != nil {
			return scimclient.Options{}, fmt.Errorf("scim tls: %w", err)
		}
		// scimclient's transport settings; only the trust changes.
		tr := scimclient.NewTransport()
		tr.TLSClientConfig = tlsConf
		o.HTTPClient = &http.Client{Transport: tr}
	}
	return o, nil
}
