package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/email"
	"github.com/tenurehq/tenure/notify/slack"
	"github.com/tenurehq/tenure/notify/webhook"
	"github.com/tenurehq/tenure/store"
)

// buildNotifiers builds the notification channels requests.channels sets
// (docs/requests.md); none is fine: requests still work, nobody is told.
// Slack and email keep their threads, sent-marks and used links in st.
func buildNotifiers(cfg *config.Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) ([]notify.Notifier, error) {
	var out []notify.Notifier
	ch := cfg.Requests.Channels
	if w := ch.Webhook; w != nil {
		n, err := webhook.New(webhook.Options{URL: w.URL, Secret: w.Secret.Value(), Timeout: w.Timeout},
			log.With("component", "webhook"), reg)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if s := ch.Slack; s != nil {
		n, err := slack.New(slack.Options{Token: s.Token.Value(), SigningSecret: s.SigningSecret.Value(),
			Channel: s.Channel, APIURL: s.APIURL, Timeout: s.Timeout}, st, log.With("component", "slack"), reg)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if e := ch.Email; e != nil {
		tc := &tls.Config{ServerName: e.Host, MinVersion: tls.VersionTLS12}
		if e.CAFile != "" {
			pem, err := os.ReadFile(e.CAFile)
			if err != nil {
				return nil, fmt.Errorf("requests.channels.email.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("requests.channels.email.ca_file: no PEM certificate in %s", e.CAFile)
			}
		}
		n, err := email.New(email.Options{Host: e.Host, Port: e.Port, Username: e.Username, Password: e.Password.Value(),
			From: e.From, LinkBaseURL: e.LinkBaseURL, LinkSecret: e.LinkSecret.Value(), LinkLifetime: e.LinkLifetime,
			Timeout: e.Timeout, TLS: tc}, st, log.With("component", "email"), reg)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// mountChannels serves the endpoints decisions come back on: Slack's
// interactions and the email links, each deciding through d.
func mountChannels(root *mux.Router, ns []notify.Notifier, d notify.Decider) {
	for _, n := range ns {
		switch c := n.(type) {
		case *slack.Slack:
			root.Handle(slack.InteractionPath, c.Handler(d))
		case *email.Email:
			root.PathPrefix(email.DecidePath).Handler(c.Handler(d))
		}
	}
}
