package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/tenurehq/tenure/notify"
)

// InteractionPath is where cmd/tenure serve mounts Handler; the Slack
// app's Interactivity Request URL is <base URL>/slack/interactions.
const InteractionPath = "/slack/interactions"

// maxInteraction bounds an interaction body; Slack's are a few KiB.
const maxInteraction = 1 << 20

// Handler takes Slack's interactions: a click on Approve or Deny decides
// through d. Anything not signed with the signing secret, or signed more
// than five minutes ago, is 401 and decides nothing. Slack wants an
// answer within three seconds: a decision is one store transaction, and
// the outcome is told back in the message's thread.
func (s *Slack) Handler(d notify.Decider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxInteraction+1))
		if err != nil || len(body) > maxInteraction {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := s.verify(r.Header, body); err != nil {
			s.clicks.WithLabelValues("forged").Inc()
			// The reason only: never the signature or the secret.
			s.log.Warn("slack: interaction refused", "reason", err, "remote", r.RemoteAddr)
			http.Error(w, "signature refused", http.StatusUnauthorized)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		status := s.interact(r.Context(), d, &cb, r.Header.Get("X-Slack-Request-Timestamp"))
		w.WriteHeader(status)
	})
}

// verify checks Slack's v0 signature and timestamp window.
func (s *Slack) verify(h http.Header, body []byte) error {
	v, err := slack.NewSecretsVerifier(h, s.opts.SigningSecret)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	if _, err := v.Write(body); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	if err := v.Ensure(); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// interact decides a verified click and answers with the HTTP status:
// 200 whenever Slack need not retry (a refusal is told to the user), 503
// when Tenure could not record it (Slack shows the user an error).
func (s *Slack) interact(ctx context.Context, d notify.Decider, cb *slack.InteractionCallback, signedAt string) int {
	if cb.Type != slack.InteractionTypeBlockActions {
		s.clicks.WithLabelValues("ignored").Inc()
		return http.StatusOK
	}
	var act *slack.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID == ActionApprove || a.ActionID == ActionDeny {
			act = a
		}
	}
	if act == nil {
		s.clicks.WithLabelValues("ignored").Inc()
		return http.StatusOK
	}
	reqID, stepText, _ := strings.Cut(act.Value, ":")
	step, err := strconv.Atoi(stepText)
	if reqID == "" || err != nil {
		s.clicks.WithLabelValues("ignored").Inc()
		return http.StatusOK
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	u, err := s.api.GetUserInfoContext(cctx, cb.User.ID)
	cancel()
	if err != nil {
		s.clicks.WithLabelValues("error").Inc()
		s.log.Error("slack: users.info of a deciding user failed", "user", cb.User.ID, "err", err)
		return http.StatusServiceUnavailable
	}
	email := u.Profile.Email
	person, err := d.PersonByEmail(ctx, email)
	if err != nil {
		return s.answer(ctx, cb, err, fmt.Sprintf("Tenure does not know you as one person by your Slack email (%s), so it cannot take your decision.", email))
	}
	proof := fmt.Sprintf("slack interaction signed v0 at %s by user %s of team %s, email %s", signedAt, cb.User.ID, cb.Team.ID, email)
	state, err := d.Decide(ctx, notify.Decision{Request: reqID, Step: &step, Approve: act.ActionID == ActionApprove,
		Person: person, Channel: "slack", Proof: proof})
	if err != nil {
		return s.answer(ctx, cb, err, "Your decision was refused: "+strings.TrimPrefix(err.Error(), notify.ErrRefused.Error()+": "))
	}
	s.clicks.WithLabelValues("decided").Inc()
	verb := map[bool]string{true: "approved", false: "denied"}[act.ActionID == ActionApprove]
	s.reply(ctx, cb, fmt.Sprintf("<@%s> %s request `%s`; it is %s now.", cb.User.ID, verb, escape(reqID), state), false)
	return http.StatusOK
}

// answer tells the clicking user why nothing was decided: a refusal is
// theirs alone (an ephemeral message), a failure is 503 to Slack.
func (s *Slack) answer(ctx context.Context, cb *slack.InteractionCallback, err error, text string) int {
	if !errors.Is(err, notify.ErrRefused) {
		s.clicks.WithLabelValues("error").Inc()
		s.log.Error("slack: recording a decision failed", "user", cb.User.ID, "err", err)
		return http.StatusServiceUnavailable
	}
	s.clicks.WithLabelValues("refused").Inc()
	s.log.Info("slack: decision refused", "user", cb.User.ID, "reason", err)
	s.reply(ctx, cb, text, true)
	return http.StatusOK
}

// reply posts text in the clicked message's thread, or to the user alone.
// A reply that fails is logged: the decision stands either way.
func (s *Slack) reply(ctx context.Context, cb *slack.InteractionCallback, text string, ephemeral bool) {
	ch := cb.Container.ChannelID
	if ch == "" {
		ch = cb.Channel.ID
	}
	if ch == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var err error
	if ephemeral {
		_, err = s.api.PostEphemeralContext(cctx, ch, cb.User.ID, slack.MsgOptionText(text, false))
	} else {
		ts := cb.Container.ThreadTs
		if ts == "" {
			ts = cb.Container.MessageTs
		}
		_, _, err = s.api.PostMessageContext(cctx, ch, slack.MsgOptionText(text, false), slack.MsgOptionTS(ts))
	}
	if err != nil {
		s.log.Warn("slack: telling the user the outcome failed", "user", cb.User.ID, "err", err)
	}
}
