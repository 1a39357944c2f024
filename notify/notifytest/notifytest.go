// Package notifytest holds a recording notify.Notifier for tests.
package notifytest

import (
	"context"
	"slices"
	"sync"

	"github.com/tenurehq/tenure/notify"
)

// Recording records every message it is given; Fail, if set, decides a
// delivery's error first (a failed delivery is not recorded).
type Recording struct {
	mu   sync.Mutex
	msgs []notify.Message
	Fail func(notify.Message) error
}

var _ notify.Notifier = (*Recording)(nil)

// Name is "recording".
func (r *Recording) Name() string { return "recording" }

// Notify records m unless Fail refuses it.
func (r *Recording) Notify(_ context.Context, m notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		if err := r.Fail(m); err != nil {
			return err
		}
	}
	r.msgs = append(r.msgs, m)
	return nil
}

// Messages returns what was delivered, in order.
func (r *Recording) Messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Events returns the events delivered for a request or review id, in order.
func (r *Recording) Events(id string) []string {
	var out []string
	for _, m := range r.Messages() {
		if m.Request == id || m.Review == id {
			out = append(out, m.Event)
		}
	}
	return out
}
