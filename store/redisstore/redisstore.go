// Package redisstore is the store backend on Redis, shared by any number of
// Tenure replicas. It takes a go-redis UniversalClient, so it runs on a
// standalone server, behind Sentinel (UniversalOptions.MasterName) or on a
// Redis Cluster: every key carries the hash tag {prefix}, which puts them
// all in one cluster slot — a cluster then holds Tenure's data on a single
// shard, but transactions and scripts work across all keys, which they
// must. Another package keeping its keys under the same hash tag (the
// Redis queue) can write in the store's transactions.
//
// # Layout
//
// With the default prefix "tenure", for kind K ("User" or "Group"):
//
//	{tenure}:res:K:<id>                      string  JSON record: store.Resource with seq and version
//	{tenure}:order:K:<source>                zset    id, score seq (creation order; ZCARD is Count)
//	{tenure}:uname:User:<source>\0<fold>     string  id of the user whose FoldName(userName) is fold (unique per source)
//	{tenure}:gname:Group:<source>\0<fold>    zset    id, score seq (groups of that folded displayName)
//	{tenure}:xid:K:<source>\0<externalId>    zset    id, score seq (case-exact, not unique)
//	{tenure}:groups:<memberID>               set     ids of the groups listing memberID
//	{tenure}:groupname:<groupID>             string  the group's displayName (MemberOf, Names; see groupnames.go)
//	{tenure}:username:<userID>               string  the user's userName (Names; see groupnames.go)
//	{tenure}:doc:<ns>:<key>                  string  the document key of namespace ns
//	{tenure}:docidx:<ns>                     zset    every document key of ns, score 0 (ZRANGE BYLEX)
//	{tenure}:seq                             string  last creation sequence number taken (INCR)
//	{tenure}:layout                          string  key layout version, 2 (see below)
//	{tenure}:tx                              —       never written; WATCHed by every Update
//
// seq is fixed when a resource is created and kept by Put, so a resource
// keeps its place in every creation-ordered index. Ids and sources must not
// contain NUL, which keeps the keys with a NUL separator unambiguous. Names
// fold as in store.FoldName, the rule every backend shares.
//
// Layout 1 (no layout key) kept a source's userNames in one hash,
// {tenure}:uname:User:<source>. Before its first View or Update a Store
// moves such hashes into name keys (migrate.go: a SCAN for them, then a
// script per chunk of a hash, idempotent) and writes the layout version;
// lookups still read the hash's field beside the key, because replicas on
// the older build write it during a rolling upgrade (usernames.go). Such a
// replica does not see names created through upgraded replicas, so while
// both builds run, it can accept a userName an upgraded replica holds.
//
// A document has a key of its own rather than a field in a hash per
// namespace because WATCH works on whole keys: read-modify-writes of
// different documents of one namespace (the lifecycle records of different
// people) then never conflict. Only ScanDocs inside Update WATCHes the
// namespace's index, which every write adding or removing a document of
// that namespace changes.
//
// # Transactions
//
// [Store.Update] is optimistic: the update function reads with plain
// commands on a connection of its own, WATCHing each key before reading
// it, and its writes are buffered and sent as one MULTI/EXEC. If another
// client changed a key it read, EXEC does nothing and the function runs
// again after a short random backoff (up to 100 runs; the backoff honours
// the context). A function that returns an error runs again too when what
// it read had changed, since the error may come from an inconsistent read;
// otherwise its error is returned as is.
//
// No key is read by every create, so creates and renames of different
// resources never conflict, in one process or across replicas: a user's
// create WATCHes its record and its name's key (and layout 1's hash of the
// source, which only a replica on the older build still writes), and takes
// its sequence number with an INCR as it runs, not at EXEC. Creates of one
// folded userName WATCH the same key: one commits, the others run again and
// fail with store.ErrConflict.
//
// Sequence numbers are therefore unique and increase from a create to any
// create started after it returned, with gaps (a create that fails or runs
// again has taken one), but between concurrent creates they follow the
// INCRs, not the commits: a create can become visible just before a
// resource committed a moment earlier. Only reads at that moment by another
// request or process notice: a client paging with List offsets over several
// requests may see the last resource of a page again at the top of the
// next, and miss the new one; an Each in a View may visit a resource
// another process committed while it ran. (A View never sees its own
// process's commits half-way, and an Each inside Update WATCHes what it
// read and does not visit what its function creates.) No caller needs
// commit order: SCIM pages are requests of their own, which RFC 7644
// §3.4.2.4 does not require to be consistent, and a filter sorts index hits
// by Seq only to restore creation order. Numbers followed commit order
// while every create read and WATCHed the counter and its source's userName
// hash, so concurrent creates conflicted: 16 concurrent SCIM POSTs ran each
// create 1.8 times, and the SCIM server accepted ~210 users/s (~1,000 on
// bbolt).
//
// Redis has no read snapshots. [Store.View] reads with plain commands;
// the EXECs of this Store's Updates wait for the Views it has open (and new
// Views wait for EXECs already waiting), so a View is a consistent
// snapshot with respect to its own process, while another process's writes
// can land between two reads of a View (each read is atomic: a List or an
// Each chunk reads index and records in one script). A View's function
// therefore must not call View or Update on the same Store, nor wait for
// one, and long Views delay that Store's commits. ScanDocs in a View reads
// the index, then the documents, a chunk at a time and skips keys whose
// document another process deleted meanwhile; it is no snapshot either.
//
// # Durability
//
// Update returns when EXEC has been answered. Whether that write survives
// a crash of Redis depends on the server's AOF setting: with appendfsync
// always it does, with everysec up to a second of writes can be lost, and
// replication to replicas is asynchronous.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenurehq/tenure/store"
)

// Retry policy of Update when other clients change what it read.
const (
	maxRuns    = 100
	minBackoff = 500 * time.Microsecond
	maxBackoff = 50 * time.Millisecond
)

// Options configures New. The zero value is usable.
type Options struct {
	// Prefix names the hash tag of every key: "{Prefix}:…". Empty means
	// DefaultPrefix. Stores with different prefixes share a server
	// without seeing each other's data.
	Prefix string
	// Logger receives backend failures. nil discards them.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none. Close
	// unregisters them, so a store can be reopened on the same registerer.
	Registerer prometheus.Registerer
}

// Store is a store.Store on Redis. It is safe for concurrent use.
type Store struct {
	client  redis.UniversalClient
	keys    keys
	log     *slog.Logger
	metrics *metrics
	closed  atomic.Bool

	// gate keeps open Views and commits apart, so that a View never sees
	// this Store's commits half-way; commits do not wait for each other.
	gate gate

	// migrated is set once the data has this build's layout; migrating
	// (a token in a channel of one) is held by the View or Update running
	// the migration. See migrate.go.
	migrated  atomic.Bool
	migrating chan struct{}
}

var _ store.Store = (*Store)(nil)

// New returns a Store on client. The client stays the caller's: Close does
// not close it. New does not contact the server; use Ping for that.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: new: client is nil")
	}
	k, err := newKeys(opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("redisstore: new: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("redisstore: new: %w", err)
	}
	return &Store{client: client, keys: k, log: log, metrics: m, migrating: make(chan struct{}, 1)}, nil
}

// redisConn is what a View reads through: a connection of its own, or the
// client.
type redisConn interface {
	redis.Cmdable
	redis.Scripter
	Process(ctx context.Context, cmd redis.Cmder) error
}

// viewConn takes a connection for a View before the View enters the gate.
// An Update holds its WATCHed connection while its commit waits at the gate
// for open Views; a View that needed a pool connection after entering the
// gate could wait for one those Updates hold, and with more concurrent
// Updates than the pool has connections both sides stalled until the pool
// timed out (seconds, and lost leases). A cluster client has no single
// connection to take: its Views read through the client.
func (s *Store) viewConn(ctx context.Context) (redisConn, func(), error) {
	c, ok := s.client.(interface{ Conn() *redis.Conn })
	if !ok {
		return s.client, func() {}, nil
	}
	conn := c.Conn()
	if err := conn.Ping(ctx).Err(); err != nil { // takes the connection now
		conn.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close() }, nil
}

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// HashTag is the hash tag of every key of s, "{prefix}": a package that
// writes in s's transactions keeps its keys under it, so that a Redis
// Cluster has them all in one slot.
func (s *Store) HashTag() string { return s.keys.base[:len(s.keys.base)-1] }

// OwnTx returns tx as a transaction of s inside an Update, for a package
// whose commands join its EXEC (queue/redisq): the store and its queue are
// a pair, and this is the one place the store's interface is undone.
func (s *Store) OwnTx(tx store.Tx) (*Tx, error) {
	t, ok := tx.(*Tx)
	switch {
	case !ok:
		return nil, fmt.Errorf("redisstore: %T is not a redisstore transaction", tx)
	case t.s != s:
		return nil, errors.New("redisstore: the transaction is another store's")
	case t.rtx == nil:
		return nil, errors.New("redisstore: the transaction is a View's, not an Update's")
	}
	return t, nil
}

// View runs fn with plain reads; see the package documentation for what it
// sees of concurrent writes. Group name keys that MemberOf found missing
// are written when fn is done (see groupnames.go).
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := s.ready(ctx, "view"); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("redisstore: view: %w", err)
	}
	found := map[string]store.Kind{}
	err := s.view(ctx, fn, found)
	s.backfill(ctx, found) // once out of the gate: a commit waits for open Views
	return err
}

func (s *Store) view(ctx context.Context, fn func(store.Reader) error, found map[string]store.Kind) error {
	start := time.Now()
	conn, release, err := s.viewConn(ctx)
	if err != nil {
		s.metrics.observe("view", "error", start)
		return fmt.Errorf("redisstore: view: %w", err)
	}
	defer release()
	if err := s.gate.enter(ctx, views); err != nil {
		return fmt.Errorf("redisstore: view: %w", err)
	}
	defer s.gate.leave(views)
	t := newTx(s, ctx, nil)
	t.view = conn
	t.backfill = found
	err = fn(t)
	result := "ok"
	if err != nil {
		result = "aborted"
	}
	s.metrics.observe("view", result, start)
	return err
}

// Update runs fn in an optimistic transaction and commits its writes, and
// the commands other packages queued with Tx.Queue, in one MULTI/EXEC. fn
// may run more than once. ctx is checked before each run; once a run has
// started it goes to the end, because an abandoned EXEC would leave the
// caller unsure whether it happened. Group name keys that MemberOf found
// missing are written afterwards, in transactions of their own.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.ready(ctx, "update"); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("redisstore: update: %w", err)
	}
	found := map[string]store.Kind{}
	err := s.update(ctx, fn, found)
	s.backfill(ctx, found)
	return err
}

func (s *Store) update(ctx context.Context, fn func(store.Tx) error, found map[string]store.Kind) error {
	start := time.Now()
	run := context.WithoutCancel(ctx)
	for runs := 1; ; runs++ {
		var fnErr error
		err := s.client.Watch(run, func(rtx *redis.Tx) error {
			t := newTx(s, run, rtx)
			t.backfill = found
			if fnErr = fn(t); fnErr != nil {
				return t.validate()
			}
			return t.commit()
		}, s.keys.tx())
		switch {
		case err == nil && fnErr != nil:
			s.metrics.observe("update", "aborted", start)
			return fnErr
		case err == nil:
			s.metrics.observe("update", "ok", start)
			return nil
		case !errors.Is(err, redis.TxFailedErr):
			// A queued command's error is the caller's, like fn's.
			var qe queuedError
			if errors.As(err, &qe) {
				s.metrics.observe("update", "aborted", start)
				return qe.err
			}
			s.metrics.observe("update", "error", start)
			err = fmt.Errorf("redisstore: update: %w", err)
			// Redis being unreachable is not logged here per transaction:
			// the SCIM server and the engine each log an outage once.
			if !unreachable(err) {
				s.log.Error("store transaction failed", "backend", "redis", "op", "update", "err", err)
			}
			return err
		}
		s.metrics.conflicts.Inc()
		if runs == maxRuns {
			s.metrics.observe("update", "error", start)
			err = fmt.Errorf("redisstore: update: gave up after %d runs, each conflicting with another client's writes: %w", runs, err)
			s.log.Error("store transaction failed", "backend", "redis", "op", "update", "err", err)
			return err
		}
		if err := sleep(ctx, backoff(runs)); err != nil {
			s.metrics.observe("update", "error", start)
			return fmt.Errorf("redisstore: update: %w", err)
		}
		if s.closed.Load() {
			return fmt.Errorf("redisstore: update: %w", store.ErrClosed)
		}
	}
}

// queuedError carries an error from a Tx.Queue function out of go-redis.
type queuedError struct{ err error }

func (e queuedError) Error() string { return e.err.Error() }

// validate finds out whether the keys fn read are still as it read them,
// by an EXEC that fails if they are not: then fn's error may come from an
// inconsistent read, and it runs again.
func (t *Tx) validate() error {
	if !t.watched {
		return nil
	}
	_, err := t.rtx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		p.Ping(t.ctx)
		return nil
	})
	return err
}

// commit sends the buffered writes and the queued commands in one
// MULTI/EXEC; it fails with redis.TxFailedErr if a watched key changed.
func (t *Tx) commit() error {
	if !t.hasWrites() {
		return t.validate()
	}
	// This Store's open Views must not see the commit half-way.
	if err := t.s.gate.enter(t.ctx, commits); err != nil {
		return err
	}
	defer t.s.gate.leave(commits)
	_, err := t.rtx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		t.writeTo(p)
		for _, q := range t.queued {
			if err := q(p); err != nil {
				return queuedError{err}
			}
		}
		return nil
	})
	return err
}

// backoff returns a random wait before run n+1, growing with n.
func backoff(n int) time.Duration {
	d := min(maxBackoff, minBackoff<<min(n-1, 16))
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(ctx, "ping"); err != nil {
		return err
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close makes later calls fail with store.ErrClosed and unregisters the
// metrics. It leaves the client open. Closing twice is harmless.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.metrics.Unregister()
	return nil
}

func (s *Store) ready(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// unreachable reports whether err says Redis could not be reached or the
// connection broke, rather than that it refused the transaction.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrPoolTimeout)
}
