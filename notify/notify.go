// Package notify is how Tenure tells people about access requests and
// mover reviews: a request waiting for them, a reminder, an escalation, a
// decision. The engine turns each notification into a job per channel on
// the durable delay queue (at-least-once: retried with backoff, never lost
// across a crash, dead-lettered with the reason when a channel refuses for
// good), so a Notifier only delivers one Message and says whether a
// failure is worth retrying. Message.ID is the same on every retry of one
// delivery, for receivers that deduplicate.
//
// Channels live in subpackages: notify/webhook (JSON with an HMAC
// signature), notify/slack (messages with Approve/Deny buttons, decisions
// taken back through Slack's signed interactions), notify/email (SMTP,
// each decision a signed one-time link) and notify/notifytest (a recording
// channel for tests). A channel that takes decisions back does so through
// a Decider: the engine's own decision operation, never a second one.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Events a message can be about.
const (
	EventCreated        = "request.created"   // a request waits for the recipients' decision
	EventReminder       = "request.reminder"  // it still does
	EventEscalated      = "request.escalated" // the fallback may decide now
	EventApproved       = "request.approved"  // granted
	EventDenied         = "request.denied"
	EventExpired        = "request.expired"   // nobody decided in time
	EventWithdrawn      = "request.withdrawn" // by the requester or subject
	EventEnded          = "request.ended"     // the grant reached its end
	EventRevoked        = "request.revoked"   // a leaver, a rehire or a mover review took it away
	EventReview         = "review.created"    // a mover review waits for the recipients
	EventReviewReminder = "review.reminder"
	EventReviewClosed   = "review.closed"
)

// Person is someone a message names or is for, as Tenure's store knows them.
type Person struct {
	ID          string `json:"id"` // Tenure's person id
	UserName    string `json:"userName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
}

// Message is one notification.
type Message struct {
	// ID is unique per notification and channel, and the same on every
	// retry: an idempotency key for the receiver.
	ID    string    `json:"id"`
	Event string    `json:"event"`
	At    time.Time `json:"at"`
	// Request or Review is what the message is about.
	Request      string   `json:"request,omitempty"`
	Review       string   `json:"review,omitempty"`
	Item         string   `json:"item,omitempty"`
	Target       string   `json:"target,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"`
	State        string   `json:"state,omitempty"`
	Subject      Person   `json:"subject"`
	Requester    *Person  `json:"requester,omitempty"`
	// Recipients are who should act or know.
	Recipients []Person `json:"recipients,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// Step is the approval step waiting (0-based), for channels whose
	// decision links name the step they decide.
	Step int `json:"step,omitempty"`
	// Due is when the request expires or the review closes.
	Due time.Time `json:"due,omitzero"`
	// Text says it in a sentence, for channels that show text.
	Text string `json:"text"`
}

// Notifier is one channel.
type Notifier interface {
	// Name is the channel's name in metrics, logs and queue keys
	// (notify/<message>/<name>): lowercase letters and digits.
	Name() string
	// Notify delivers m. An error wrapping ErrPermanent is not retried
	// (the job is dead-lettered with it); any other error is.
	Notify(ctx context.Context, m Message) error
}

// ErrPermanent marks a delivery the channel refused for good.
var ErrPermanent = errors.New("notify: refused for good")

// Permanent wraps err as a failure not worth retrying.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Decision is an approver's answer taken through a channel.
type Decision struct {
	Request string
	// Step, when not nil, is the approval step the decision is for: a
	// decision made on an older message of a request that moved on is
	// refused rather than applied to a step the approver never saw.
	Step    *int
	Approve bool
	// Person is Tenure's person id of the approver, as the channel
	// proved it.
	Person  string
	Reason  string
	Channel string
	// Proof says how the channel knew who decided (audited with it).
	Proof string
}

// Decider is the engine's decision operation as channels use it: the same
// one the admin API and the CLI reach.
type Decider interface {
	// Decide records d; the result is the request's state after it. A
	// refusal (not an approver, closed, another step) wraps ErrRefused.
	Decide(ctx context.Context, d Decision) (state string, err error)
	// PersonByEmail is the one person (not left) whose SCIM email is
	// email; an error wrapping ErrRefused when there is none or more.
	PersonByEmail(ctx context.Context, email string) (string, error)
}

// ErrRefused marks a decision Tenure refused, as opposed to one it could
// not record (which is worth trying again).
var ErrRefused = errors.New("notify: decision refused")

// Name is how a message names p: the display name, else the userName,
// else the person id.
func (p Person) Name() string {
	for _, s := range []string{p.DisplayName, p.UserName} {
		if s != "" {
			return s
		}
	}
	return p.ID
}

// WaitsForDecision reports whether m asks its recipients to decide a
// request (channels that can take the decision back offer it then).
func (m Message) WaitsForDecision() bool {
	switch m.Event {
	case EventCreated, EventReminder, EventEscalated:
		return m.Request != ""
	}
	return false
}
