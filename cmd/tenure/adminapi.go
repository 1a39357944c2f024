package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/config"
	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/queue"
	"github.com/tenurehq/tenure/store"
)

// adminAPI builds the admin API of a server started from the config file
// at cfgPath, with policy reload on POST /admin/v1/policy/reload and on
// SIGHUP. close stops both.
func adminAPI(cfgPath string, cfg *config.Config, eng *engine.Engine, q queue.Queue, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*admin.Handler, func(), error) {
	log = log.With("component", "admin")
	reload := policyReloader(cfgPath, cfg, eng, log)
	backup, _ := st.(store.Backuper)
	h, err := admin.New(admin.Options{
		Backup: backup,
		Engine: eng, Queue: q, Token: cfg.Admin.Token.Value(), Reload: reload,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, Now: serveClock, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, nil, err
	}
	stop := reloadOnHangup(reload, log)
	return h, func() { stop(); h.Close() }, nil
}

// policyReloader re-reads the config file, compiles its policy and
// installs it, unless a target was added, changed kind or changed its
// connection block (targets are built at start: that needs a restart;
// silently keeping the old connection would look like a reload that
// worked). Only the policy sections
// (lifecycle, birthright, targets' mappings) take effect; the old policy
// stays on any error. Reloads run one at a time.
func policyReloader(path string, started *config.Config, eng *engine.Engine, log *slog.Logger) func(context.Context) error {
	var mu sync.Mutex
	return func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		cfg, pol, err := loadConfig(path)
		if err != nil {
			return err
		}
		problems := rebuildNeeded(started, cfg)
		if len(problems) > 0 {
			return fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))
		}
		if err := eng.SetPolicy(pol); err != nil {
			return err
		}
		log.Info("policy reloaded", "config", path, "targets", len(pol.TargetNames), "rules", len(pol.Rules))
		return nil
	}
}

// reloadOnHangup runs reload on every SIGHUP until stop is called.
func reloadOnHangup(reload func(context.Context) error, log *slog.Logger) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-sig:
				if err := reload(context.Background()); err != nil {
					log.Error("policy reload on SIGHUP failed; the old policy stays", "err", err)
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		wg.Wait()
	}
}
