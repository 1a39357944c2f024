package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/internal/procs"
	"github.com/tenurehq/tenure/mapper"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/scim"
)

// serveClock, when set, is the clock of everything serve builds (queue,
// engine, SCIM and admin APIs). Tests in this package set it to drive a
// month of lifecycle in seconds. It is not a flag: production leaves it nil,
// so every component keeps its own clock (time.Now, and Redis's TIME for
// the Redis queue, which replicas must share).
var serveClock func() time.Time

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (required)")
	listen := fs.String("listen", "", "listen address host:port (overrides server.listen)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *path == "" {
		return usageError{errors.New("--config is required")}
	}
	cfg, pol, raw, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return usageError{fmt.Errorf("--listen: %w", err)}
		}
		cfg.Server.Listen = *listen
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn(w.Msg, "config", *path, "key", w.Path, "line", w.Line)
	}
	procs.Tune(log)
	return runServer(ctx, *path, cfg, raw, pol, log)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationText writes a duration as Go writes it ("1.5s", "72h0m0s"), the
// way the configuration has it: slog's JSON handler would write an integer
// of nanoseconds, which nobody reads at a glance.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// runServer wires the store, the SCIM and admin APIs and the operational endpoints (raw
// is the config file's text, cfg and pol decoded from it), and
// serves until ctx ends, then drains in-flight requests.
func runServer(ctx context.Context, cfgPath string, cfg *config.Config, raw []byte, pol *mapper.Policy, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tenure", Name: "build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": versionString()},
	}, func() float64 { return 1 }))

	open, ok := backendOpeners()[cfg.Store.Kind]
	if !ok {
		return fmt.Errorf("store kind %q is not built in", cfg.Store.Kind)
	}
	tgts, err := buildTargets(cfg, log, reg)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: after the engine has drained.
	defer closeTargets(tgts, log)
	be, err := open(cfg.Store, queue.Options{RetryHorizon: cfg.Engine.RetryHorizon, Now: serveClock}, log.With("component", "store"), reg)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := be.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	st := be.Store
	notifiers, err := buildNotifiers(cfg, st, log, reg)
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Options{
		Store: st, Queue: be.Queue, Policy: pol, Targets: tgts, Notifiers: notifiers,
		Workers: cfg.Engine.Workers, Lease: cfg.Engine.Lease, Poll: cfg.Engine.Poll, Sweep: cfg.Engine.Sweep,
		Drain: cfg.Server.ShutdownTimeout, Now: serveClock, Logger: log.With("component", "engine"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	adm, closeAdmin, err := adminAPI(cfgPath, cfg, raw, eng, be.Queue, st, log, reg)
	if err != nil {
		return err
	}
	defer closeAdmin()

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg.Server.TLS != nil {
		scheme = "https"
	}
	base := cfg.Server.BaseURL
	if base == "" {
		base = scheme + "://" + ln.Addr().String()
	}
	sources := make([]scim.Source, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = scim.Source{Name: s.Name, Token: s.Token.Value(), CreateOnFilteredReplace: s.CreateOnFilteredReplace}
	}
	api, err := scim.New(scim.Options{
		Store: st, Sources: sources, BaseURL: base, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Now: serveClock, Logger: log.With("component", "scim"), Registerer: reg, Hook: eng,
	})
	if err != nil {
		ln.Close()
		return err
	}

	// No path cleaning: its 301s would lose redirected writes; the SCIM
	// server collapses repeated slashes itself.
	root := mux.NewRouter().SkipClean(true)
	root.PathPrefix(scim.Prefix).Handler(api)
	root.PathPrefix(admin.Prefix).Handler(adm)
	root.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	root.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			http.Error(w, "store not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	root.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mountChannels(root, notifiers, eng.Decider())
	stopConsole, err := startConsole(cfg, adm, st, reg, log, root)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopConsole()

	srv := &http.Server{
		Handler:           httpx.Wrap(log.With("component", "http"), root),
		ReadTimeout:       cfg.Server.ReadTimeout,
		ReadHeaderTimeout: min(cfg.Server.ReadTimeout, 10*time.Second),
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Server.TLS != nil {
			errc <- srv.ServeTLS(ln, cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("tenure serving", "version", versionString(), "listen", ln.Addr().String(),
		"scim", base+scim.Prefix, "store", cfg.Store.Kind, "sources", len(sources),
		"targets", len(tgts), "workers", cfg.Engine.Workers)

	// The engine stops claiming when ctx ends and drains its running
	// converges (Drain) while the HTTP server drains its requests.
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(ctx) }()
	// The periodic drift passes (targets with drift.interval or
	// exclusive groups); a pass running at shutdown is cut short and
	// waited for, before the store and the targets close.
	driftCtx, stopDrift := context.WithCancel(ctx)
	driftDone := make(chan struct{})
	go func() { defer close(driftDone); eng.RunDrift(driftCtx) }()
	defer func() { stopDrift(); <-driftDone }()

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if serveErr == nil {
		if err := srv.Shutdown(sctx); err != nil {
			serveErr = fmt.Errorf("shutdown: %w", err)
		} else if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	if ctx.Err() != nil {
		if err := <-engineDone; err != nil && serveErr == nil {
			serveErr = err
		}
	}
	return serveErr
}
