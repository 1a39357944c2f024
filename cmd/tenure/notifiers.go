package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/notify"
	"github.com/tenurehq/tenure/notify/webhook"
)

// buildNotifiers builds the notification channels requests.channels sets
// (docs/requests.md); none is fine: requests still work, nobody is told.
func buildNotifiers(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) ([]notify.Notifier, error) {
	var out []notify.Notifier
	if w := cfg.Requests.Channels.Webhook; w != nil {
		n, err := webhook.New(webhook.Options{URL: w.URL, Secret: w.Secret.Value(), Timeout: w.Timeout},
			log.With("component", "webhook"), reg)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
