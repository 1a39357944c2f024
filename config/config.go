// Package config loads and validates Tenure's YAML configuration.
//
// Decoding is strict (an unknown key is an error, so a typo never silently
// falls back to a default), defaults are applied in one place (applyDefaults),
// and loading reports every problem at once — what did not decode (File's
// walk of the YAML nodes) and what Validate finds — each with its YAML path
// and line, so an operator fixes a file in one pass. Secrets are never
// literal values in the file: a Secret names an environment variable or a
// file to read.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	Server  Server   `yaml:"server"`
	Store   Store    `yaml:"store"`
	Sources []Source `yaml:"sources"`
	Admin   Admin    `yaml:"admin"`
	Log     Log      `yaml:"log"`

	// Lifecycle, Birthright and Targets are the policy (see docs/policy.md).
	Lifecycle  Lifecycle `yaml:"lifecycle"`
	Birthright []Rule    `yaml:"birthright"`
	Targets    []Target  `yaml:"targets"`
	Engine     Engine    `yaml:"engine"`
	// Requests is the catalog of requestable access, the mover review and
	// the notification channels (see docs/requests.md).
	Requests Requests `yaml:"requests"`
	// Console is the web console; nil, there is none (docs/console.md).
	Console *Console `yaml:"console"`

	// warnings are what Load found doubtful but not wrong.
	warnings Problems
	// kinds are the target kinds Check was given.
	kinds kindSet
}

// Warnings returns what loading the file found doubtful but not wrong (a
// short token), each with its key and line. tenure serve logs them and
// tenure config validate prints them.
func (c *Config) Warnings() Problems { return c.warnings }

// MinTokenBytes is the shortest source or admin token accepted without a
// warning: 32 bytes, such as 32 random characters, or `openssl rand -hex 32`
// (64): a bearer token is all that stands between the network and every
// person's accounts.
const MinTokenBytes = 32

// tokenWarnings warns of every source or admin token shorter than
// MinTokenBytes. They are warnings, not errors, so that an upgrade never
// stops a running deployment; the warning repeats at every start.
func (c *Config) tokenWarnings() Problems {
	var p Problems
	check := func(path string, s Secret) {
		if n := len(s.Value()); n > 0 && n < MinTokenBytes {
			p = append(p, Problem{Path: path, Msg: fmt.Sprintf(
				"the token is %d bytes long, shorter than %d: a short token can be guessed; "+
					"make one with openssl rand -hex 32", n, MinTokenBytes)})
		}
	}
	for i, s := range c.Sources {
		check(fmt.Sprintf("sources[%d].token", i), s.Token)
	}
	check("admin.token", c.Admin.Token)
	return p
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is host:port. The --listen flag overrides it.
	Listen string `yaml:"listen"`
	// BaseURL is the externally visible URL of the server root, used for
	// meta.location and Location headers, e.g. https://tenure.example.com.
	// Empty means relative locations.
	BaseURL      string        `yaml:"base_url"`
	TLS          *TLS          `yaml:"tls"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// MaxBodyBytes caps request bodies; larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// TLS enables HTTPS on the listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Store selects and configures the storage backend, which also holds the
// delay queue.
type Store struct {
	// Kind is "embedded" (a bbolt file, single replica) or "redis" (shared
	// by any number of replicas).
	Kind     string         `yaml:"kind"`
	Embedded *EmbeddedStore `yaml:"embedded"`
	Redis    *RedisStore    `yaml:"redis"`
}

// RedisStore configures the Redis backend: a standalone server (URL) or a
// Sentinel-managed master. Cluster works too, because every key carries the
// same {prefix} hash tag and so lives in one slot.
type RedisStore struct {
	// URL is redis://[user@]host:port[/db] or rediss:// for TLS.
	URL      string         `yaml:"url"`
	Sentinel *RedisSentinel `yaml:"sentinel"`
	Username string         `yaml:"username"`
	Password Secret         `yaml:"password"` // optional
	DB       int            `yaml:"db"`
	TLS      *RedisTLS      `yaml:"tls"`
	// Prefix names the hash tag all keys share: {prefix}:... Default "tenure".
	Prefix       string        `yaml:"prefix"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// RedisSentinel names a Sentinel-managed master.
type RedisSentinel struct {
	Master    string   `yaml:"master"`
	Addresses []string `yaml:"addresses"`
	Password  Secret   `yaml:"password"` // optional: the Sentinels' own password
}

// RedisTLS configures TLS to Redis (implied by a rediss:// URL).
type RedisTLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// EmbeddedStore configures the bbolt backend.
type EmbeddedStore struct {
	// Path of the database file; its directory is created if missing.
	Path string `yaml:"path"`
	// LockTimeout bounds the wait for another process holding the file.
	LockTimeout time.Duration `yaml:"lock_timeout"`
}

// Source is one SCIM client (an IdP or HR connector) allowed to push to Tenure.
// Each source sees and changes only the resources it created.
type Source struct {
	Name  string `yaml:"name"`
	Token Secret `yaml:"token"`
	// CreateOnFilteredReplace makes a PATCH replace whose value filter
	// matches nothing (emails[type eq "work"].value on a user without a
	// work email) create the element the filter describes, as Entra ID
	// expects, instead of answering 400 noTarget (RFC 7644 §3.5.2.3).
	// Off by default: only a source that needs it should deviate from
	// the RFC.
	CreateOnFilteredReplace bool `yaml:"create_on_filtered_replace"`
}

// Admin configures the admin API.
type Admin struct {
	Token Secret `yaml:"token"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Secret names where a secret comes from: exactly one of Env or File.
// The resolved value lives only in memory and never prints.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`

	value string
}

// IsSet reports whether the secret names a source at all; optional
// secrets (a Redis password) may be left out.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" }

// Value returns the resolved secret (empty before Load resolved it).
func (s Secret) Value() string { return s.value }

// String never reveals the value, so a Secret is safe to log.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	}
	return "unset"
}

// WithValue returns a copy holding value; for tests and programmatic setup.
func (s Secret) WithValue(value string) Secret { s.value = value; return s }

// resolve reads the secret from its env var or file.
func (s *Secret) resolve() error {
	switch {
	case s.Env != "" && s.File != "":
		return errors.New("set env or file, not both")
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set", s.Env)
		}
		s.value = v
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			// The path is not secret; the content never reaches this message.
			return fmt.Errorf("read %s: %w", s.File, errors.Unwrap(err))
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return fmt.Errorf("file %s is empty", s.File)
		}
		s.value = v
	default:
		return errors.New("required: set env or file")
	}
	return nil
}

// Store kinds.
const (
	StoreEmbedded = "embedded"
	StoreRedis    = "redis"
)

// applyDefaults is the one place defaults live.
func (c *Config) applyDefaults() {
	s := &c.Server
	def(&s.Listen, "127.0.0.1:8080")
	def(&s.ReadTimeout, 30*time.Second)
	def(&s.WriteTimeout, 60*time.Second)
	def(&s.IdleTimeout, 120*time.Second)
	def(&s.MaxBodyBytes, 1<<20)
	def(&s.ShutdownTimeout, 20*time.Second)
	def(&c.Store.Kind, StoreEmbedded)
	if c.Store.Kind == StoreEmbedded {
		if c.Store.Embedded == nil {
			c.Store.Embedded = &EmbeddedStore{}
		}
		def(&c.Store.Embedded.Path, filepath.Join("data", "tenure.db"))
		def(&c.Store.Embedded.LockTimeout, 10*time.Second)
	}
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	c.applyPolicyDefaults()
	c.applyConsoleDefaults()
	if r := c.Store.Redis; c.Store.Kind == StoreRedis && r != nil {
		def(&r.Prefix, "tenure")
		def(&r.DialTimeout, 5*time.Second)
		def(&r.ReadTimeout, 3*time.Second)
		def(&r.WriteTimeout, 3*time.Second)
		// Every worker may hold a connection at once (a View or a
		// WATCHed Update), and SCIM requests need theirs beside them.
		def(&r.PoolSize, c.Engine.Workers+redisPoolSpare)
	}
}

// redisPoolSpare is the Redis pool's room beyond one connection per worker:
// for SCIM requests, the admin API, metrics scrapes and lease extensions.
const redisPoolSpare = 32

func def[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Load reads, expands, decodes, defaults, resolves secrets and validates the
// file at path, with the target kinds given (see Check). The error lists
// every problem found, each with its key and line.
func Load(path string, kinds ...Kind) (*Config, error) {
	f, err := Check(path, kinds...)
	if err != nil {
		return nil, err
	}
	if err := f.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f.Config, nil
}

// Parse is Load without the file read.
func Parse(raw []byte, kinds ...Kind) (*Config, error) {
	f := CheckBytes(raw, kinds...)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return f.Config, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default}. Only the braced form is
// expanded so a literal "$" in a value is left alone. A reference to an unset
// variable without a default is a problem rather than an empty string (an
// empty path or URL would otherwise pass silently): it is returned with its
// line and column, and expands to nothing so that the rest of the file can
// be checked. A value holding a newline would shift the lines of what
// follows it; such values are not configuration.
func expandEnv(raw []byte) ([]byte, []missingVar) {
	var missing []missingVar
	var out bytes.Buffer
	last := 0
	for _, m := range envRef.FindAllSubmatchIndex(raw, -1) {
		out.Write(raw[last:m[0]])
		last = m[1]
		name := string(raw[m[2]:m[3]])
		if v, ok := os.LookupEnv(name); ok && v != "" {
			out.WriteString(v)
			continue
		}
		if m[4] >= 0 {
			out.Write(raw[m[6]:m[7]])
			continue
		}
		// Where the value now starts, in the expanded text the YAML
		// parser sees.
		done := out.Bytes()
		missing = append(missing, missingVar{name: name, line: bytes.Count(done, []byte("\n")) + 1,
			col: len(done) - bytes.LastIndexByte(done, '\n')})
	}
	out.Write(raw[last:])
	return out.Bytes(), missing
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// nameRule says in words what sourceName and targetName accept.
const nameRule = "1 to 63 lowercase letters, digits, - and _, starting with a letter or digit"

// Validate checks the whole configuration and resolves its secrets,
// reporting every problem at once (a Problems).
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return p
	}
	return nil
}

// problems is Validate's list.
func (c *Config) problems() Problems {
	var p Problems
	add := func(path, format string, args ...any) {
		p = append(p, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	s := c.Server
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		add("server.listen", "must be host:port: %v", err)
	}
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("server.base_url", "must be an absolute http(s) URL, got %q", s.BaseURL)
		}
	}
	if s.TLS != nil {
		if s.TLS.CertFile == "" {
			add("server.tls.cert_file", "required when tls is set")
		}
		if s.TLS.KeyFile == "" {
			add("server.tls.key_file", "required when tls is set")
		}
	}
	for _, d := range []struct {
		path string
		d    time.Duration
	}{
		{"server.read_timeout", s.ReadTimeout}, {"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout}, {"server.shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.d < 0 {
			add(d.path, "must not be negative")
		}
	}
	if s.MaxBodyBytes < 1024 {
		add("server.max_body_bytes", "must be at least 1024, got %d", s.MaxBodyBytes)
	}

	switch c.Store.Kind {
	case StoreEmbedded:
		if c.Store.Embedded == nil || c.Store.Embedded.Path == "" {
			add("store.embedded.path", "required")
		}
		if c.Store.Redis != nil {
			add("store.redis", "set, but store.kind is embedded")
		}
	case StoreRedis:
		c.validateRedis(add)
		if c.Store.Embedded != nil {
			add("store.embedded", "set, but store.kind is redis")
		}
	default:
		add("store.kind", "unknown kind %q; want %s or %s", c.Store.Kind, StoreEmbedded, StoreRedis)
	}

	if len(c.Sources) == 0 {
		add("sources", "at least one source is required")
	}
	seen := map[string]int{}
	tokens := map[string]string{}
	for i, src := range c.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if !sourceName.MatchString(src.Name) {
			add(path+".name", "want %s, got %q", nameRule, src.Name)
		}
		if j, dup := seen[src.Name]; dup {
			add(path+".name", "duplicate of sources[%d]", j)
		}
		seen[src.Name] = i
		if err := c.Sources[i].Token.resolve(); err != nil {
			add(path+".token", "%v", err)
			continue
		}
		v := c.Sources[i].Token.value
		if other, dup := tokens[v]; dup {
			// Sources are told apart by their token alone.
			add(path+".token", "same token as source %q", other)
		}
		tokens[v] = src.Name
	}
	if err := c.Admin.Token.resolve(); err != nil {
		add("admin.token", "%v", err)
	} else if src, dup := tokens[c.Admin.Token.value]; dup {
		add("admin.token", "must differ from the token of source %q", src)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format", "must be json or text, got %q", c.Log.Format)
	}

	c.validatePolicy(add)
	c.validateConsole(add)
	return p
}

var redisPrefix = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (c *Config) validateRedis(add func(path, format string, args ...any)) {
	r := c.Store.Redis
	if r == nil {
		add("store.redis", "required when store.kind is redis")
		return
	}
	switch {
	case r.URL == "" && r.Sentinel == nil:
		add("store.redis", "set url or sentinel")
	case r.URL != "" && r.Sentinel != nil:
		add("store.redis", "set url or sentinel, not both")
	case r.URL != "":
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			add("store.redis.url", "must be redis://host:port or rediss://host:port")
		}
	}
	if s := r.Sentinel; s != nil {
		if s.Master == "" {
			add("store.redis.sentinel.master", "required")
		}
		if len(s.Addresses) == 0 {
			add("store.redis.sentinel.addresses", "at least one address is required")
		}
		for i, a := range s.Addresses {
			if _, _, err := net.SplitHostPort(a); err != nil {
				add(fmt.Sprintf("store.redis.sentinel.addresses[%d]", i), "must be host:port")
			}
		}
		if s.Password.IsSet() {
			if err := s.Password.resolve(); err != nil {
				add("store.redis.sentinel.password", "%v", err)
			}
		}
	}
	if r.Password.IsSet() {
		if err := r.Password.resolve(); err != nil {
			add("store.redis.password", "%v", err)
		}
	}
	if t := r.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		add("store.redis.tls", "cert_file and key_file go together")
	}
	if !redisPrefix.MatchString(r.Prefix) {
		add("store.redis.prefix", "want 1 to 64 letters, digits, _, . and -, got %q", r.Prefix)
	}
	if r.DB < 0 {
		add("store.redis.db", "must not be negative")
	}
	if r.PoolSize < 0 {
		add("store.redis.pool_size", "must not be negative")
	}
}
