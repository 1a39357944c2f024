package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/store"
)

// Decider is the engine's decision operation for channels that take
// decisions back (Slack's interactions, email links): DecideRequest, the
// one the admin API uses, with the channel's proof in the audit trail.
func (e *Engine) Decider() notify.Decider { return channelDecider{e} }

type channelDecider struct{ e *Engine }

// Decide records d through DecideRequest; refusals wrap notify.ErrRefused.
func (c channelDecider) Decide(ctx context.Context, d notify.Decision) (string, error) {
	req, err := c.e.DecideRequest(ctx, d.Request, Decision{Approve: d.Approve, Actor: d.Person,
		Reason: d.Reason, Channel: d.Channel, Proof: d.Proof, Step: d.Step})
	switch {
	case errors.Is(err, ErrNotApprover), errors.Is(err, ErrRequestClosed), errors.Is(err, ErrNoRequest),
		errors.Is(err, ErrNoIdentity), errors.Is(err, ErrNoItem):
		return "", fmt.Errorf("%w: %w", notify.ErrRefused, err)
	case err != nil:
		return "", err
	}
	return string(req.State), nil
}

// PersonByEmail scans the people for the one live person whose SCIM
// emails hold email (case-insensitively). A scan, not an index: it runs
// once per click in a channel, and keeping an email index in both stores
// for that is not worth it yet. Each record is decoded from the scan's own
// value: reading it again cost the Redis store a round trip per person,
// seconds per click at 100,000 people, when Slack waits 3.
func (c channelDecider) PersonByEmail(ctx context.Context, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", fmt.Errorf("%w: no email", notify.ErrRefused)
	}
	now := c.e.now()
	var found []string
	err := c.e.st.View(ctx, func(r store.Reader) error {
		found = nil
		return r.ScanDocs(nsPerson, "", false, func(person string, val []byte) (bool, error) {
			rec, err := decode[mapper.Record](val)
			if err != nil {
				return false, fmt.Errorf("%s/%s: %w", nsPerson, person, err)
			}
			if !live(rec, now) {
				return true, nil
			}
			list, _ := rec.Identity.User["emails"].([]any)
			for _, x := range list {
				em, _ := x.(map[string]any)
				if v, _ := em["value"].(string); strings.EqualFold(v, email) {
					found = append(found, person)
					break
				}
			}
			return true, nil
		})
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("engine: person by email: %w", err)
	case len(found) == 0:
		return "", fmt.Errorf("%w: no person has the email %s", notify.ErrRefused, email)
	case len(found) > 1:
		return "", fmt.Errorf("%w: %d people have the email %s", notify.ErrRefused, len(found), email)
	}
	return found[0], nil
}
