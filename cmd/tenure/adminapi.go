package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
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
func adminAPI(cfgPath string, cfg *config.Config, raw []byte, eng *engine.Engine, q queue.Queue, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*admin.Handler, func(), error) {
	log = log.With("component", "admin")
	var text atomic.Pointer[[]byte]
	text.Store(&raw)
	loaded := policyReloader(cfgPath, cfg, eng, log)
	reload := func(ctx context.Context) error {
		raw, err := loaded(ctx)
		if err == nil {
			text.Store(&raw)
		}
		return err
	}
	backup, _ := st.(store.Backuper)
	h, err := admin.New(admin.Options{
		Backup: backup,
		Engine: eng, Queue: q, Token: cfg.Admin.Token.Value(), Reload: reload,
		PolicyText:   func() []byte { return *text.Load() },
		CheckDraft:   func(draft []byte) admin.DraftCheck { return checkDraft(cfgPath, cfg, draft) },
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
// stays on any error. Reloads run one at a time. It returns the file's
// text it installed.
func policyReloader(path string, started *config.Config, eng *engine.Engine, log *slog.Logger) func(context.Context) ([]byte, error) {
	var mu sync.Mutex
	return func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		cfg, pol, raw, err := loadConfig(path)
		if err != nil {
			return nil, err
		}
		problems := rebuildNeeded(started, cfg)
		if len(problems) > 0 {
			return nil, fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))
		}
		if err := eng.SetPolicy(pol); err != nil {
			return nil, err
		}
		log.Info("policy reloaded", "config", path, "targets", len(pol.TargetNames), "rules", len(pol.Rules))
		return raw, nil
	}
}

// checkDraft checks a draft of the config file at path as `tenure config
// validate` checks a file (checkConfig), and says what a reload would
// refuse in it (rebuildNeeded against the started config), for the admin
// API's POST /policy/impact.
func checkDraft(path string, started *config.Config, draft []byte) admin.DraftCheck {
	f, pol := checkConfig(path, draft)
	c := admin.DraftCheck{Policy: pol, Problems: f.Problems()}
	if f.Config != nil && len(c.Problems) == 0 {
		c.Warnings = f.Config.Warnings()
		c.Reload = rebuildNeeded(started, f.Config)
	}
	return c
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
