// Package backend pairs a store with the delay queue that lives beside it —
// in the same bbolt file, or on the same Redis under the same hash tag — so
// that one write carries a resource, its lifecycle record and the jobs it
// schedules. A backend is one subpackage (embedded, redis) that opens both,
// typed to each other: the queue is built on its store and joins the
// store's transactions through the store's own method (boltdb.Store.BoltTx,
// redisstore.Store.OwnTx), never by guessing at a store.Tx's type. The rest
// of Tenure sees only store.Store and queue.Queue; cmd keeps the registry
// of backends by config kind.
package backend

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// Backend is an open store and its queue.
type Backend struct {
	Store store.Store
	Queue queue.Queue
	close func() error
}

// New returns a Backend whose Close calls close.
func New(st store.Store, q queue.Queue, close func() error) *Backend {
	return &Backend{Store: st, Queue: q, close: close}
}

// Close closes the queue, then the store and what they ran on.
func (b *Backend) Close() error { return b.close() }

// Opener opens a backend from the store section of the configuration.
type Opener func(cfg config.Store, qo queue.Options, log *slog.Logger, reg prometheus.Registerer) (*Backend, error)
