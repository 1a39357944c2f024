package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenurehq/tenure/store"
)

// Ledger is a channel's memory in Tenure's store: what it already sent
// (so a retried delivery does not post again to the recipients it
// reached before failing), the thread a request's messages go to, the
// links already used. Each channel keeps its own namespace.
type Ledger struct {
	st store.Store
	ns store.Namespace
}

// NewLedger is the ledger of channel (its namespace notify.<channel>).
func NewLedger(st store.Store, channel string) *Ledger {
	return &Ledger{st: st, ns: store.Namespace("notify." + channel)}
}

// Get returns the value at key; ok is false when there is none.
func (l *Ledger) Get(ctx context.Context, key string) (val string, ok bool, err error) {
	err = l.st.View(ctx, func(r store.Reader) error {
		b, err := r.GetDoc(l.ns, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		val, ok = string(b), err == nil
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("notify: ledger %s: %w", l.ns, err)
	}
	return val, ok, nil
}

// Put sets key to val.
func (l *Ledger) Put(ctx context.Context, key, val string) error {
	if err := l.st.Update(ctx, func(tx store.Tx) error { return tx.PutDoc(l.ns, key, []byte(val)) }); err != nil {
		return fmt.Errorf("notify: ledger %s: %w", l.ns, err)
	}
	return nil
}

// Claim sets key to val unless it is set already, in one transaction;
// claimed is false (and prev the value there) when it was.
func (l *Ledger) Claim(ctx context.Context, key, val string) (claimed bool, prev string, err error) {
	err = l.st.Update(ctx, func(tx store.Tx) error {
		claimed, prev = false, ""
		b, err := tx.GetDoc(l.ns, key)
		switch {
		case err == nil:
			prev = string(b)
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		claimed = true
		return tx.PutDoc(l.ns, key, []byte(val))
	})
	if err != nil {
		return false, "", fmt.Errorf("notify: ledger %s: %w", l.ns, err)
	}
	return claimed, prev, nil
}

// Delete removes key.
func (l *Ledger) Delete(ctx context.Context, key string) error {
	if err := l.st.Update(ctx, func(tx store.Tx) error { return tx.DeleteDoc(l.ns, key) }); err != nil {
		return fmt.Errorf("notify: ledger %s: %w", l.ns, err)
	}
	return nil
}
