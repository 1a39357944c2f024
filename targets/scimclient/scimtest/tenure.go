package scimtest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tenurehq/tenure/internal/jsonx"
	"github.com/tenurehq/tenure/scim"
	"github.com/tenurehq/tenure/store"
	"github.com/tenurehq/tenure/store/boltdb"
)

// TenureToken is the bearer token a Tenure downstream accepts.
const TenureToken = "tenure-downstream-token-0123456789"

// tenureSource is the downstream's one source, the upstream Tenure.
const tenureSource = "tenure"

// Tenure is Tenure's own SCIM server, in-process on a bbolt store in a
// temporary directory, as a downstream app serving under URL() (…/scim/v2).
type Tenure struct {
	t   testing.TB
	st  store.Store
	srv *httptest.Server
	log *Log
}

var _ Server = (*Tenure)(nil)

// NewTenure starts a Tenure downstream; it stops when the test ends. Its
// logs go to stderr with TENURE_TEST_LOG set.
func NewTenure(t testing.TB) *Tenure {
	st, err := boltdb.Open(filepath.Join(t.TempDir(), "app.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("TENURE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := scim.New(scim.Options{Store: st, Sources: []scim.Source{{Name: tenureSource, Token: TenureToken}}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", srv)
	d := &Tenure{t: t, st: st, log: Record(mux)}
	d.srv = httptest.NewServer(d.log)
	t.Cleanup(d.srv.Close)
	return d
}

// URL is the SCIM base URL.
func (d *Tenure) URL() string { return d.srv.URL + "/scim/v2" }

// Token is the bearer token it accepts.
func (d *Tenure) Token() string { return TenureToken }

// Log holds the requests it answered.
func (d *Tenure) Log() *Log { return d.log }

// Users returns the stored users in creation order; a store error fails
// the test NewTenure was given.
func (d *Tenure) Users() []Resource { return d.stored(store.KindUser) }

// Groups returns the stored groups in creation order.
func (d *Tenure) Groups() []Resource { return d.stored(store.KindGroup) }

func (d *Tenure) stored(kind store.Kind) []Resource {
	var out []Resource
	err := d.st.View(context.Background(), func(r store.Reader) error {
		return r.Each(kind, tenureSource, func(res *store.Resource) (bool, error) {
			rs := Resource{ID: res.ID, Name: res.Name, Attrs: jsonx.DeepCopy(res.Attributes).(map[string]any)}
			if rs.Attrs == nil {
				rs.Attrs = map[string]any{}
			}
			for _, m := range res.Members {
				rs.Members = append(rs.Members, m.Value)
			}
			slices.Sort(rs.Members)
			out = append(out, rs)
			return true, nil
		})
	})
	if err != nil {
		d.t.Fatalf("reading the downstream's store: %v", err)
	}
	return out
}
