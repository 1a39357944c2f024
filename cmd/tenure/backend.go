package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/internal/tlsx"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/queue/redisq"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
	"github.com/tenurehq/tenure/store/redisstore"
)

// backend is a store and the delay queue that lives beside it (in the same
// bbolt file, or on the same Redis), so one write can carry both.
type backend struct {
	store store.Store
	queue queue.Queue
	close func() error
}

// backendOpeners is the registry of backends by store kind; cmd owns it so
// no package registers itself.
type backendOpener func(config.Store, queue.Options, *slog.Logger, prometheus.Registerer) (*backend, error)

func backendOpeners() map[string]backendOpener {
	return map[string]backendOpener{
		config.StoreEmbedded: openEmbedded,
		config.StoreRedis:    openRedis,
	}
}

func openEmbedded(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*backend, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Embedded.Path), 0o700); err != nil {
		return nil, err
	}
	st, err := boltdb.Open(cfg.Embedded.Path, boltdb.Options{Logger: log, Registerer: reg, Timeout: cfg.Embedded.LockTimeout})
	if err != nil {
		return nil, err
	}
	q, err := boltq.New(st, qo, log.With("component", "queue"), reg)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &backend{store: st, queue: q, close: func() error { return errors.Join(q.Close(), st.Close()) }}, nil
}

func openRedis(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*backend, error) {
	// go-redis logs through a process-wide logger; the composition root
	// is the one place that may set it.
	redis.SetLogger(newRedisLog(log))
	client, err := redisClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.New(client, redisstore.Options{Prefix: cfg.Redis.Prefix, Logger: log, Registerer: reg})
	if err != nil {
		client.Close()
		return nil, err
	}
	q, err := redisq.New(client, qo, redisq.Options{Prefix: cfg.Redis.Prefix, Logger: log.With("component", "queue"), Registerer: reg})
	if err != nil {
		st.Close()
		client.Close()
		return nil, err
	}
	return &backend{store: st, queue: q, close: func() error { return errors.Join(q.Close(), st.Close(), client.Close()) }}, nil
}

// redisClient builds a standalone or Sentinel client from the config.
func redisClient(c *config.RedisStore) (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		Username: c.Username, Password: c.Password.Value(), DB: c.DB,
		DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		PoolSize: c.PoolSize,
	}
	if c.URL != "" {
		u, err := redis.ParseURL(c.URL)
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
		tc, err := redisTLS(t)
		if err != nil {
			return nil, err
		}
		o.TLSConfig = tc
	}
	return redis.NewUniversalClient(o), nil
}

func redisTLS(t *config.RedisTLS) (*tls.Config, error) {
	tc, err := tlsx.Client(tlsx.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}, t.ServerName)
	if err != nil {
		return nil, fmt.Errorf("store.redis.tls: %w", err)
	}
	return tc, nil
}
