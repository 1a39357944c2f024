package console

import (
	"net/http"

	"github.com/tenurehq/tenure/admin"
)

// GET /recommendations?target=&min-group=&min-support=&min-confidence=…
// (GET /admin/v1/recommendations's parameters): birthright suggestions
// from peers, each with its ready-to-paste block, its numbers and who it
// would touch, and the outliers, computed on demand through the admin
// API's operation (admin.Handler.Recommend). It changes nothing.
func (c *Console) recommendations(w http.ResponseWriter, r *http.Request, u *user) {
	v := r.URL.Query()
	q, err := admin.ParseRecommendQuery(v)
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	rep, err := c.adm.Recommend(r.Context(), q)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.render(w, r, u, "recommendations", "Recommendations", map[string]any{
		"Report": rep, "Targets": c.adm.Targets(), "Target": v.Get("target"),
		"MinGroup": v.Get("min-group"), "MinSupport": v.Get("min-support"), "MinConfidence": v.Get("min-confidence"),
		"Significance": v.Get("significance"),
	})
}
