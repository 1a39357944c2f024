package targets

import (
	"log/slog"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenurehq/tenure/config"
)

// Kind is one kind of target, whole in its own package (ldapsync,
// targets/scimclient): its configuration block, the checks of it (through
// config.Kind, so `tenure config validate` reports every problem with its
// key and line), how to build a target from it, and what a policy reload
// may not change. cmd keeps the registry of kinds, one line each; no
// package registers itself.
type Kind interface {
	config.Kind
	// New builds the target t describes, from a configuration its Check
	// passed (t.Settings is the block, defaulted, secrets resolved). A
	// target that holds resources (connections) implements io.Closer;
	// serve closes it after the engine has drained. New does not reach
	// the system: one that is down must not stop serve.
	New(t config.Target, log *slog.Logger, reg prometheus.Registerer) (Target, error)
	// Rebuild says, in the file's terms, why the target built from built
	// cannot serve loaded, a target of the same name and kind from a
	// reloaded file ("the ldap block changed"); "" when it can. Targets
	// are built once, at start: a reload that kept the old connection
	// while the file named a new one would look like it worked.
	Rebuild(built, loaded *config.Target) string
}

// BlockChanged is Rebuild for a kind whose targets depend on nothing but
// their block: the block changed, secrets included, or it did not.
func BlockChanged(built, loaded *config.Target) string {
	if reflect.DeepEqual(built.Settings, loaded.Settings) {
		return ""
	}
	return "the " + loaded.Kind + " block changed"
}
