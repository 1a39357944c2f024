package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/engine"
	"github.com/tenurehq/tenure/targets"
)

// orphanIDs are the anchors of rep's orphans.
func orphanIDs(rep *engine.OrphanReport) []string {
	var out []string
	for _, o := range rep.Orphans {
		out = append(out, o.ID)
	}
	return out
}

func orphans(t *testing.T, e *env, remove bool) *engine.OrphanReport {
	t.Helper()
	rep, err := e.eng.Orphans(context.Background(), "dir", remove)
	if err != nil {
		t.Fatalf("Orphans(remove=%v): %v", remove, err)
	}
	return rep
}

// An account Tenure never linked is reported and, when asked, removed;
// linked accounts never are, and the guard does not count removals.
func TestOrphansReportAndRemove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		ada := e.user("ada.lovelace", nil)
		e.run()
		dir := e.targets["dir"]
		var strays []string
		for _, n := range []string{"stray1", "stray2", "stray3", "stray4"} { // more than the guard's threshold of 3
			strays = append(strays, dir.Plant(n, nil))
		}

		rep := orphans(t, e, false)
		if rep.Target != "dir" || rep.Listed != 5 || !slices.Equal(orphanIDs(rep), strays) || rep.Removed != 0 {
			t.Fatalf("report = %+v, want the 4 strays of 5 accounts", rep)
		}
		if o := rep.Orphans[0]; o.Ref != "ref-stray1" || o.Name != "stray1" || o.Removed || o.Error != "" {
			t.Errorf("orphan = %+v", o)
		}
		if got := dir.Identities(); len(got) != 5 {
			t.Fatalf("a report removed accounts: %v", got)
		}

		rep = orphans(t, e, true)
		if rep.Removed != 4 || rep.Failed != 0 || !slices.Equal(orphanIDs(rep), strays) {
			t.Fatalf("removal = %+v", rep)
		}
		for _, o := range rep.Orphans {
			if !o.Removed {
				t.Errorf("orphan %s not marked removed", o.ID)
			}
		}
		if got := dir.Identities(); !slices.Equal(got, []string{ada}) {
			t.Errorf("accounts after removal = %v, want only %s", got, ada)
		}
		if !slices.Equal(dir.Removed(), strays) {
			t.Errorf("removed %v", dir.Removed())
		}
		if got := e.metric("tenure_engine_operations_total", "target", "dir", "op", "remove_orphan", "result", "ok"); got != 4 {
			t.Errorf("removals counted %v, want 4", got)
		}
		gs, err := e.eng.Guard(context.Background(), "dir")
		if err != nil || gs.Tripped || len(gs.Counted) != 0 {
			t.Errorf("guard after orphan removal = %+v, %v", gs, err)
		}
		if rep := orphans(t, e, false); len(rep.Orphans) != 0 || rep.Listed != 1 {
			t.Errorf("report after removal = %+v", rep)
		}
	})
}

// A failed removal is reported with its error; the others still go.
func TestOrphansRemovalFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		dir := e.targets["dir"]
		stuck := dir.Plant("stuck", nil)
		gone := dir.Plant("gone", nil)
		dir.RemoveFail = func(id string) error {
			if id == stuck {
				return targets.Permanent("recording remove", errors.New("not allowed on non-leaf"))
			}
			return nil
		}
		rep := orphans(t, e, true)
		if rep.Removed != 1 || rep.Failed != 1 || len(rep.Orphans) != 2 {
			t.Fatalf("removal = %+v", rep)
		}
		for _, o := range rep.Orphans {
			switch o.ID {
			case gone:
				if !o.Removed || o.Error != "" {
					t.Errorf("%s = %+v, want removed", o.ID, o)
				}
			case stuck:
				if o.Removed || !strings.Contains(o.Error, "not allowed on non-leaf") {
					t.Errorf("%s = %+v, want its error", o.ID, o)
				}
			}
		}
		if got := dir.Identities(); !slices.Equal(got, []string{"stuck"}) {
			t.Errorf("accounts = %v", got)
		}
		if got := e.metric("tenure_engine_operations_total", "target", "dir", "op", "remove_orphan", "result", "error"); got != 1 {
			t.Errorf("failed removals counted %v, want 1", got)
		}
	})
}

// An account created by a converge that runs while the target is listed
// has its link committed after the listing: it is not an orphan.
func TestOrphansConvergeDuringListing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		dir := e.targets["dir"]
		bob := e.user("bob.builder", nil)
		// The account exists (the converge made it) but its link is not
		// committed until the listing has seen it.
		dir.Plant(bob, nil)
		dir.Listed = func() { dir.Listed = nil; e.run() }
		if rep := orphans(t, e, false); len(rep.Orphans) != 0 || rep.Listed != 1 {
			t.Errorf("report = %+v, want bob's account linked, not orphaned", rep)
		}
	})
}

// An account a pending converge may adopt (by correlation) looks orphaned
// until it runs: it is reported, but not removed.
func TestOrphansPendingLinkBlocksRemoval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		dir := e.targets["dir"]
		carol := e.user("carol.shaw", nil)
		acct := dir.Plant(carol, nil)
		if rep := orphans(t, e, false); !slices.Equal(orphanIDs(rep), []string{acct}) {
			t.Fatalf("report = %+v, want carol's unlinked account", rep)
		}
		_, err := e.eng.Orphans(context.Background(), "dir", true)
		if !errors.Is(err, engine.ErrPendingLinks) || !strings.Contains(err.Error(), carol) {
			t.Fatalf("removal with a pending person: %v, want ErrPendingLinks naming %s", err, carol)
		}
		if dir.Account(carol) == nil || len(dir.Removed()) != 0 {
			t.Fatal("an account was removed")
		}
		e.run() // carol's converge adopts the account
		if rep := orphans(t, e, true); len(rep.Orphans) != 0 || dir.Account(carol) == nil {
			t.Errorf("after carol converged: %+v", rep)
		}
	})
}

// Targets that cannot list (or remove) accounts, and unknown targets, give
// the sentinels callers branch on.
func TestOrphansUnsupported(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, policy)
		ctx := context.Background()
		if _, err := e.eng.Orphans(ctx, "ldap", false); !errors.Is(err, engine.ErrNoTarget) {
			t.Errorf("unknown target: %v", err)
		}
		dir := e.targets["dir"]
		dir.Plant("stray", nil)
		for _, tt := range []struct {
			name   string
			target targets.Target
			remove bool
			want   error
		}{
			{"no inventory", struct{ targets.Target }{dir}, false, engine.ErrNoInventory},
			{"no inventory, remove", struct{ targets.Target }{dir}, true, engine.ErrNoInventory},
			{"no remover", struct {
				targets.Target
				targets.Inventory
			}{dir, dir}, true, engine.ErrNoRemover},
		} {
			t.Run(tt.name, func(t *testing.T) {
				eng, err := engine.New(engine.Options{Store: e.st, Queue: e.q, Policy: e.pol,
					Targets: map[string]targets.Target{"dir": tt.target}, Now: e.clock.Now, Registerer: prometheus.NewRegistry()})
				if err != nil {
					t.Fatal(err)
				}
				defer eng.Close()
				if _, err := eng.Orphans(ctx, "dir", tt.remove); !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if dir.Account("stray") == nil {
			t.Error("the stray account was removed")
		}
	})
}
