// Package redis is the shared backend: the store (store/redisstore) and the
// delay queue (queue/redisq) on one Redis — standalone, behind Sentinel, or a
// Cluster with every key in one slot — under one hash tag, so that a write
// and the jobs it schedules are one MULTI/EXEC, and any number of Tenure
// replicas share them.
package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/tenurehq/tenure/backend"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/tlsx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/store/redisstore"
)

var _ backend.Opener = Open

// Open builds a client from cfg.Redis and the store and queue on it. It
// does not contact the server: a Redis that is down at start is an outage
// like any other (503s, /readyz), not a failed start.
func Open(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*backend.Backend, error) {
	if cfg.Redis == nil {
		return nil, errors.New("redis: open: no store.redis section")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := Client(cfg.Redis)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.New(client, redisstore.Options{Prefix: cfg.Redis.Prefix, Logger: log, Registerer: reg})
	if err != nil {
		client.Close()
		return nil, err
	}
	q, err := redisq.New(st, qo, redisq.Options{Logger: log.With("component", "queue"), Registerer: reg})
	if err != nil {
		st.Close()
		client.Close()
		return nil, err
	}
	return backend.New(st, q, func() error { return errors.Join(q.Close(), st.Close(), client.Close()) }), nil
}

// Client builds a standalone or Sentinel client from the config.
func Client(c *config.RedisStore) (goredis.UniversalClient, error) {
	o := &goredis.UniversalOptions{
		Username: c.Username, Password: c.Password.Value(), DB: c.DB,
		DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		PoolSize: c.PoolSize,
		// Maintenance notifications are a Redis Enterprise feature Tenure
		// does not use; go-redis's default ("auto") switches them off on
		// the first connection that finds them unsupported, writing its
		// options while other connections read them (a data race the race
		// detector found in our tests, go-redis v9.23.0).
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if c.URL != "" {
		u, err := goredis.ParseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("store.redis.url: %w", err)
		}
		o.Addrs = []string{u.Addr}
		o.TLSConfig = u.TLSConfig
		if u.DB != 0 {
			o.DB = u.DB
		}
		if o.Username == "" {
			o.Username = u.Username
		}
		if o.Password == "" {
			o.Password = u.Password
		}
	} else {
		o.MasterName = c.Sentinel.Master
		o.Addrs = c.Sentinel.Addresses
		o.SentinelPassword = c.Sentinel.Password.Value()
	}
	if t := c.TLS; t != nil {
		tc, err := clientTLS(t)
		if err != nil {
			return nil, err
		}
		o.TLSConfig = tc
	}
	return goredis.NewUniversalClient(o), nil
}

func clientTLS(t *config.RedisTLS) (*tls.Config, error) {
	tc, err := tlsx.Client(tlsx.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}, t.ServerName)
	if err != nil {
		return nil, fmt.Errorf("store.redis.tls: %w", err)
	}
	return tc, nil
}
