package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/console"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/store"
)

// startConsole builds the web console when the config has one and mounts
// it on root under its path, or, with console.listen, serves it on a
// listener of its own (the same TLS as the server's), so that it can be
// exposed without /admin and /scim. stop shuts that listener down and
// releases the console.
func startConsole(cfg *config.Config, adm *admin.Handler, st store.Store, reg *prometheus.Registry, log *slog.Logger, root *mux.Router) (stop func(), err error) {
	cs := cfg.Console
	if cs == nil {
		return func() {}, nil
	}
	roles, err := console.CompileRoles(console.RoleExprsOf(cs))
	if err != nil {
		return nil, err
	}
	sources := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = s.Name
	}
	o := console.Options{
		Admin: adm, Store: st, Sources: sources, Path: cs.Path, URL: cs.URL, Roles: roles,
		SessionTTL: cs.Session.TTL, SessionIdle: cs.Session.Idle, Gatherer: reg, Now: serveClock,
		Logger: log.With("component", "console"), Registerer: reg,
	}
	if oc := cs.OIDC; oc != nil {
		o.OIDC = &console.OIDC{Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: oc.ClientSecret.Value(),
			Scopes: oc.Scopes, Claim: oc.Claim}
	}
	if cs.BreakGlass {
		o.BreakGlassToken = cfg.Admin.Token.Value()
	}
	con, err := console.New(o)
	if err != nil {
		return nil, err
	}
	if cs.Listen == "" {
		root.PathPrefix(cs.Path).Handler(con)
		log.Info("console serving", "path", cs.Path, "url", cs.URL)
		return con.Close, nil
	}
	ln, err := net.Listen("tcp", cs.Listen)
	if err != nil {
		con.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	own := http.NewServeMux()
	own.Handle(cs.Path, con)
	own.Handle(cs.Path+"/", con)
	srv := &http.Server{
		Handler:           httpx.Wrap(log.With("component", "http", "listener", "console"), own),
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: min(cfg.Server.ReadTimeout, 10*time.Second),
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		var err error
		if t := cfg.Server.TLS; t != nil {
			err = srv.ServeTLS(ln, t.CertFile, t.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("console listener failed", "err", err)
		}
	}()
	log.Info("console serving", "listen", ln.Addr().String(), "path", cs.Path, "url", cs.URL)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("console shutdown", "err", err)
		}
		con.Close()
	}, nil
}
