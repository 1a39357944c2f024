// Package embedded is the default backend: the store (store/boltdb) and the
// delay queue (queue/boltq) in one bbolt file, so that a write and the jobs
// it schedules commit together and Tenure needs nothing else to run. One
// process at a time holds the file.
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/backend"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/queue/boltq"
	"github.com/tenurehq/tenure/store/boltdb"
)

var _ backend.Opener = Open

// Open opens (creating it and its directory if need be) the file that
// cfg.Embedded names, and the store and queue in it.
func Open(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*backend.Backend, error) {
	if cfg.Embedded == nil {
		return nil, errors.New("embedded: open: no store.embedded section")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Embedded.Path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded: open: %w", err)
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
	return backend.New(st, q, func() error { return errors.Join(q.Close(), st.Close()) }), nil
}
