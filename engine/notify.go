package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// Notifications are jobs: each message is stored once per channel
// (notify/<message>/<channel>) and its queue key of the same name is due
// at once, in the transaction that decided to tell someone. A worker
// delivers it, deletes it and acks in one commit; a failure retries with
// backoff, a refusal for good dead-letters it with the reason (replayable,
// since the message stays until it is delivered).
const (
	nsNotify     store.Namespace = "notify"
	notifyPrefix                 = "notify/"
)

// SetNotifiers replaces the notification channels (a reload). Messages
// waiting for a channel that is gone are dead-lettered with the reason.
func (e *Engine) SetNotifiers(ns []notify.Notifier) {
	ns = slices.Clone(ns)
	e.notifiers.Store(&ns)
}

func (e *Engine) channels() []notify.Notifier { return *e.notifiers.Load() }

// message tells recipients (person ids) about req.
func (e *Engine) message(tx store.Tx, req *Request, event string, recipients []string, now time.Time) error {
	m := notify.Message{Event: event, At: now, Request: req.ID, Item: req.Item, Target: req.Target,
		Entitlements: req.Entitlements, State: string(req.State), Step: req.Step}
	if req.State == RequestPending {
		if it, ok := e.Policy().Item(req.Item); ok {
			m.Due = req.Created.Add(it.ExpireAfter)
		}
	}
	if n := len(req.Trail); n > 0 {
		m.Reason = req.Trail[n-1].Reason
	}
	var err error
	if m.Subject, err = notifyPerson(tx, req.Subject); err != nil {
		return err
	}
	rq, err := notifyPerson(tx, req.Requester)
	if err != nil {
		return err
	}
	m.Requester = &rq
	m.Text = fmt.Sprintf("%s: %s for %s on %s (%s), requested by %s", event, req.Item, display(m.Subject),
		req.Target, strings.Join(req.Entitlements, ", "), display(rq))
	return e.enqueue(tx, m, recipients)
}

func display(p notify.Person) string {
	for _, s := range []string{p.DisplayName, p.UserName} {
		if s != "" {
			return s
		}
	}
	return p.ID
}

// enqueue stores m for every channel, addressed to recipients.
func (e *Engine) enqueue(tx store.Tx, m notify.Message, recipients []string) error {
	if len(e.channels()) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, r := range recipients {
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		p, err := notifyPerson(tx, r)
		if err != nil {
			return err
		}
		m.Recipients = append(m.Recipients, p)
	}
	id := newID()
	for _, n := range e.channels() {
		m.ID = id + "/" + n.Name()
		if err := putJSON(tx, nsNotify, m.ID, m); err != nil {
			return err
		}
		if err := e.sched.ScheduleTx(tx, notifyPrefix+m.ID, m.At); err != nil {
			return err
		}
	}
	return nil
}

// notifyPerson is a person as a message names them.
func notifyPerson(r store.Reader, person string) (notify.Person, error) {
	p := notify.Person{ID: person}
	rec, err := loadRecord(r, person)
	if err != nil || rec == nil {
		return p, err
	}
	u := rec.Identity.User
	p.UserName, _ = u["userName"].(string)
	p.DisplayName, _ = u["displayName"].(string)
	p.Email = primaryEmail(u)
	return p, nil
}

// primaryEmail is the primary email of a SCIM user, else the first.
func primaryEmail(u map[string]any) string {
	list, _ := u["emails"].([]any)
	first := ""
	for _, x := range list {
		em, _ := x.(map[string]any)
		v, _ := em["value"].(string)
		if first == "" {
			first = v
		}
		if p, _ := em["primary"].(bool); p && v != "" {
			return v
		}
	}
	return first
}

// deliver runs a notification job: key is notify/<message>/<channel>.
func (e *Engine) deliver(ctx context.Context, key string, attempts int, ack func(store.Tx) error) Outcome {
	id := strings.TrimPrefix(key, notifyPrefix)
	_, channel, _ := strings.Cut(id, "/")
	var n notify.Notifier
	for _, c := range e.channels() {
		if c.Name() == channel {
			n = c
		}
	}
	var m *notify.Message
	err := e.st.View(ctx, func(r store.Reader) error {
		var err error
		m, err = getJSON[notify.Message](r, nsNotify, id)
		return err
	})
	if err != nil {
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
	}
	if m != nil && n == nil {
		e.rmetrics.deliveries.WithLabelValues(channel, "dead").Inc()
		return Outcome{Err: fmt.Errorf("engine: notification %s: no channel %q (removed from the configuration?)", id, channel)}
	}
	if m != nil {
		if err := n.Notify(ctx, *m); err != nil {
			if errors.Is(err, notify.ErrPermanent) {
				e.rmetrics.deliveries.WithLabelValues(channel, "dead").Inc()
				e.log.Warn("engine: a notification channel refused a message; dead-lettered", "key", key, "err", err)
				return Outcome{Err: err}
			}
			e.rmetrics.deliveries.WithLabelValues(channel, "retry").Inc()
			return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
		}
		e.rmetrics.deliveries.WithLabelValues(channel, "ok").Inc()
	}
	err = e.st.Update(ctx, func(tx store.Tx) error {
		if ack != nil {
			if err := ack(tx); err != nil {
				return err
			}
		}
		return tx.DeleteDoc(nsNotify, id)
	})
	if err != nil {
		// Delivered but not recorded: it is delivered again (at least once).
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}
	}
	return Outcome{acked: ack != nil}
}

// Notifications lists the messages not yet delivered (for tests and
// inspection), oldest first.
func (e *Engine) Notifications(ctx context.Context) ([]notify.Message, error) {
	var out []notify.Message
	err := e.st.View(ctx, func(r store.Reader) error {
		out = nil
		return r.ScanDocs(nsNotify, "", false, func(_ string, val []byte) (bool, error) {
			m, err := decode[notify.Message](val)
			if err == nil {
				out = append(out, *m)
			}
			return err == nil, err
		})
	})
	return out, err
}

// work runs the engine's own keys (requests/, reviews/, notify/); ok is
// false for a target's key. held carries the job to ack with the result.
func (e *Engine) work(ctx context.Context, key string, attempts int, held chan queue.Job) (Outcome, bool) {
	var boundary func(store.Tx, string, time.Time) error
	var id string
	switch {
	case strings.HasPrefix(key, requestPrefix):
		boundary, id = e.requestBoundary, strings.TrimPrefix(key, requestPrefix)
	case strings.HasPrefix(key, reviewPrefix):
		boundary, id = e.reviewBoundary, strings.TrimPrefix(key, reviewPrefix)
	case strings.HasPrefix(key, notifyPrefix):
	default:
		return Outcome{}, false
	}
	var ack func(store.Tx) error
	if held != nil && e.acker != nil {
		job := <-held // no lease extension while the result commits
		defer func() { held <- job }()
		ack = func(tx store.Tx) error { return e.acker.AckTx(tx, job) }
	}
	if boundary == nil {
		return e.deliver(ctx, key, attempts, ack), true
	}
	var hooks []func()
	err := e.st.Update(ctx, func(tx store.Tx) error {
		hooks = nil
		if ack != nil {
			// First, so the boundary scheduled below is the key's next due.
			if err := ack(tx); err != nil {
				return err
			}
		}
		htx, done := withCommitHooks(tx, &hooks)
		defer done()
		return boundary(htx, id, e.now())
	})
	if err != nil {
		return Outcome{Err: err, Retry: true, Delay: backoff(attempts, 0)}, true
	}
	for _, h := range hooks {
		h()
	}
	return Outcome{acked: ack != nil}, true
}
