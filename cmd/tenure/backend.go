package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/backend"
	"github.com/tenurehq/tenure/backend/embedded"
	"github.com/tenurehq/tenure/backend/redis"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/queue"
)

// backendOpeners is the registry of backends by store kind, one line each;
// cmd owns it so no package registers itself.
func backendOpeners() map[string]backend.Opener {
	return map[string]backend.Opener{
		config.StoreEmbedded: embedded.Open,
		config.StoreRedis:    openRedis,
	}
}

func openRedis(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*backend.Backend, error) {
	// go-redis logs through a process-wide logger; the composition root
	// is the one place that may set it.
	goredis.SetLogger(newRedisLog(log))
	return redis.Open(cfg, qo, log, reg)
}
