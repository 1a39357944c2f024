package ldapsync

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/targets"
)

// KindName is the ldap kind's name (targets[].kind) and its block's key.
const KindName = "ldap"

// Dialects, as the ldap block names them.
const (
	DialectOpenLDAP = "openldap"
	DialectAD       = "ad"
)

// Kind is the ldap target kind: a directory (OpenLDAP or Active Directory)
// reached through a Pool, converged by a Directory.
type Kind struct{}

var (
	_ targets.Kind     = Kind{}
	_ config.GroupKind = Kind{}
)

// Settings is the ldap kind's block: how to reach one directory server and
// where its accounts and groups live. Zero timeouts and sizes, and an
// empty RDN attribute, object classes, member attribute, member-of
// attribute or lock setting, take the defaults of Config, DirectoryOptions
// and the dialect.
type Settings struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS       bool   `yaml:"start_tls"`
	CAFile         string `yaml:"ca_file"`
	ServerName     string `yaml:"server_name"`
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// BindDN and BindPassword are the simple bind; neither means an
	// anonymous bind.
	BindDN       string        `yaml:"bind_dn"`
	BindPassword config.Secret `yaml:"bind_password"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	OpTimeout    time.Duration `yaml:"op_timeout"`
	PoolSize     int           `yaml:"pool_size"`

	// Dialect is "openldap" or "ad".
	Dialect string `yaml:"dialect"`
	// LockAttribute and LockValue disable an OpenLDAP entry (ppolicy's
	// pwdAccountLockedTime 000001010000Z when empty).
	LockAttribute string `yaml:"lock_attribute"`
	LockValue     string `yaml:"lock_value"`

	// BaseDN is the subtree searched for accounts; every OU Tenure puts
	// accounts in must be in it, or a moved account would be lost.
	BaseDN string `yaml:"base_dn"`
	// UsersOU holds accounts whose container expression yields nothing.
	UsersOU string `yaml:"users_ou"`
	// GroupsOU holds the groups that grants name by cn rather than DN.
	GroupsOU             string   `yaml:"groups_ou"`
	RDNAttribute         string   `yaml:"rdn_attribute"`
	ObjectClasses        []string `yaml:"object_classes"`
	CorrelationAttribute string   `yaml:"correlation_attribute"`
	MemberAttribute      string   `yaml:"member_attribute"`
	// MemberValue is the account attribute whose value goes into groups
	// instead of the DN (uid, with member_attribute memberUid, for
	// posixGroup).
	MemberValue string `yaml:"member_value"`
	MemberOf    string `yaml:"member_of"`
	NoMemberOf  bool   `yaml:"no_member_of"`
	// WriteOnly attributes are never compared with the entry's value;
	// absent means the dialect's (userPassword, unicodePwd), [] none.
	WriteOnly []string `yaml:"write_only"`
	// ManagedOUs are the subtrees whose accounts Tenure owns; empty means
	// users_ou plus the target's leaver.move_to.
	ManagedOUs []string `yaml:"managed_ous"`
	// Collision is what happens when an account's name is held by an
	// entry that is not the person's: "fail" (the default: the person is
	// parked as a conflict) or "suffix" (the first free of name2, name3, …).
	Collision string `yaml:"collision"`
	// KeepMembers are members (DNs, or member_value values) the drift
	// pass never removes from the target's exclusive groups, such as the
	// placeholder a groupOfNames needs; the bind DN is always kept.
	KeepMembers []string `yaml:"keep_members"`
}

// Encrypted reports whether connections use TLS (ldaps:// or StartTLS).
func (s *Settings) Encrypted() bool {
	u, err := url.Parse(s.URL)
	return s.StartTLS || (err == nil && u.Scheme == "ldaps")
}

// Name is the kind's name.
func (Kind) Name() string { return KindName }

// NewSettings returns a new, empty ldap block.
func (Kind) NewSettings() any { return new(Settings) }

// settings returns t's ldap block.
func settings(t *config.Target) (*Settings, error) {
	s, ok := t.Settings.(*Settings)
	if !ok || s == nil {
		// config.Check decodes and checks the block when given the kind.
		return nil, errors.New("ldap: the ldap block was not checked")
	}
	return s, nil
}

// dialect returns the dialect s names and the options it defaults.
func (s *Settings) dialect() (AccountDialect, error) {
	switch s.Dialect {
	case DialectOpenLDAP:
		return OpenLDAP{LockAttribute: s.LockAttribute, LockValue: s.LockValue}, nil
	case DialectAD:
		return AD{}, nil
	}
	return nil, fmt.Errorf("ldap: unknown dialect %q", s.Dialect)
}

// options are the Directory's options for target t with block s.
func (s *Settings) options(t *config.Target) DirectoryOptions {
	managed := s.ManagedOUs
	if len(managed) == 0 {
		managed = []string{s.UsersOU}
		if t.Leaver.MoveTo != "" {
			managed = append(managed, t.Leaver.MoveTo)
		}
	}
	return DirectoryOptions{
		BaseDN: s.BaseDN, UsersDN: s.UsersOU, GroupsDN: s.GroupsOU,
		RDNAttribute: s.RDNAttribute, ObjectClasses: s.ObjectClasses,
		CorrelationAttribute: s.CorrelationAttribute,
		MemberAttribute:      s.MemberAttribute, MemberValue: s.MemberValue,
		MemberOf: s.MemberOf, NoMemberOf: s.NoMemberOf,
		WriteOnly: s.WriteOnly, ManagedDNs: managed, Collision: s.Collision,
		KeepMembers: s.KeepMembers,
	}
}

// New builds an ldap target: a pool (which connects on first use, so a
// directory that is down does not stop serve) and a Directory over it,
// which closes the pool.
func (Kind) New(t config.Target, log *slog.Logger, reg prometheus.Registerer) (targets.Target, error) {
	s, err := settings(&t)
	if err != nil {
		return nil, err
	}
	dialect, err := s.dialect()
	if err != nil {
		return nil, err
	}
	pool, err := New(Config{
		URL: s.URL, StartTLS: s.StartTLS, CAFile: s.CAFile, ServerName: s.ServerName,
		ClientCertFile: s.ClientCertFile, ClientKeyFile: s.ClientKeyFile,
		BindDN: s.BindDN, BindPassword: s.BindPassword.Value(),
		DialTimeout: s.DialTimeout, OpTimeout: s.OpTimeout, PoolSize: s.PoolSize,
		// The target name, not the host: two targets may share a server,
		// and their metrics must not collide on one registry.
		Server: t.Name,
	}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("ldap pool: %w", err)
	}
	d, err := NewDirectory(pool, dialect, s.options(&t))
	if err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("ldap directory: %w", err)
	}
	return OwnedDirectory{d}, nil
}

// OwnedDirectory is a Directory that owns its pool: the target the ldap
// kind builds.
type OwnedDirectory struct{ *Directory }

// Close closes the pool: idle connections and the pool's metrics.
func (d OwnedDirectory) Close() error { return d.Pool.Close() }

// Rebuild: a directory is built from the block and, when the block names
// no managed_ous, from leaver.move_to (the managed OUs follow it).
func (Kind) Rebuild(built, loaded *config.Target) string {
	if why := targets.BlockChanged(built, loaded); why != "" {
		return why
	}
	if s, err := settings(loaded); err == nil && len(s.ManagedOUs) == 0 && built.Leaver.MoveTo != loaded.Leaver.MoveTo {
		return "leaver.move_to changed, and the OUs Tenure manages follow it (the ldap block names no managed_ous)"
	}
	return ""
}
