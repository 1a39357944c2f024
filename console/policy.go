package console

import (
	"net/http"
	"strings"

	"github.com/tenurehq/tenure/admin"
)

// GET /policy: the running policy (the configuration file's text as it
// was loaded) and a form for a draft. POST /policy: the draft checked as
// `tenure config validate` checks a file, each problem with its key and
// line, and, when valid, its impact on everyone (who would gain or lose
// which entitlement, which accounts would be created, disabled or
// deleted), through the admin API's POST /policy/impact operation. It
// changes nothing: there is nothing to apply here; a policy is installed by
// the operator's reload (SIGHUP, POST /admin/v1/policy/reload).
func (c *Console) policyPage(w http.ResponseWriter, r *http.Request, u *user) {
	d := map[string]any{}
	if running, err := c.adm.Policy(); err == nil {
		d["Running"] = running
		d["Draft"] = running.Text
	} else if st, msg := admin.ErrorStatus(err); st == http.StatusNotImplemented {
		d["NoText"] = msg
	} else {
		c.failAdmin(w, r, u, err)
		return
	}
	if r.Method == http.MethodPost {
		draft := r.PostFormValue("draft")
		d["Draft"] = draft
		d["At"] = r.PostFormValue("at")
		at, err := parseDate(r.PostFormValue("at"))
		if err != nil {
			c.fail(w, r, u, http.StatusBadRequest, err)
			return
		}
		// A textarea's lines end in CRLF; the problems' lines are the
		// author's either way.
		res, err := c.adm.PolicyImpact(r.Context(), []byte(strings.ReplaceAll(draft, "\r\n", "\n")), at)
		if err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		d["Result"] = res
	}
	c.render(w, r, u, "policy", "Policy", d)
}
