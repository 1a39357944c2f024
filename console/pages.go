package console

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/internal/httpx"
)

// page is what every template gets.
type page struct {
	Title string
	Base  string // the console's path
	User  string // who is signed in, "" on the sign-in page
	Roles string
	CSRF  string
	Flash string
	Nav   []navItem
	Data  any
}

type navItem struct {
	Href, Label string
	Current     bool
}

// pageNames are the templates under ui/, each with ui/layout.html.
var pageNames = []string{"error", "signin", "people", "person", "plan", "jobs", "guard", "health", "requests", "request", "recommendations", "policy"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join": strings.Join,
		"inc":  func(n int) int { return n + 1 },
		"pct":  func(f float64) float64 { return 100 * f },
	}
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(ui, "ui/layout.html", "ui/parts/*.html", "ui/"+n+".html")
		if err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// render writes a page. It is rendered into a buffer first, so that a
// template failure is a 500, never half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, u *user, name, title string, data any) {
	p := page{Title: title, Base: c.path, Data: data}
	if u != nil {
		p.User, p.Roles, p.CSRF = u.s.Name, roleNames(u.roles), u.s.CSRF
		p.Flash = c.flash(r.Context(), u)
		for _, n := range []struct {
			href, label string
			need        perm
		}{
			{"/people", "People", view}, {"/jobs", "Jobs", view}, {"/guard", "Guard", view},
			{"/health", "Health", view}, {"/requests", "Requests", signed}, {"/recommendations", "Recommendations", view},
			{"/policy", "Policy", view},
		} {
			if u.may(n.need) {
				p.Nav = append(p.Nav, navItem{c.path + n.href, n.label, strings.HasPrefix(r.URL.Path, n.href)})
			}
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console: render", "page", name, "err", err, "request_id", httpx.RequestID(r.Context()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// GET /: the first page a role may see.
func (c *Console) home(w http.ResponseWriter, r *http.Request, u *user) {
	to := "/requests"
	if u.may(view) {
		to = "/people"
	}
	http.Redirect(w, r, c.path+to, http.StatusFound)
}

// GET /signin.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request, u *user) {
	c.render(w, r, nil, "signin", "Sign in", map[string]any{
		"OIDC":       c.oidc != nil,
		"BreakGlass": c.breakGlass != "",
		"Return":     c.signinReturn(r.URL.Query().Get("return")),
		"SignedIn":   u != nil,
	})
}

// peopleData is the People page.
type peopleData struct {
	Query  admin.PeopleQuery
	States []string
	Source []string
	Page   *admin.PeoplePage
	Next   string    // the next page's URL, "" on the last
	AsOf   time.Time // when the listing was read
}

// peoplePage is how many people a page of the People page shows.
const peoplePage = 50

// GET /people?q=&state=&source=&department=&after=.
func (c *Console) people(w http.ResponseWriter, r *http.Request, u *user) {
	v := r.URL.Query()
	q := admin.PeopleQuery{Search: strings.TrimSpace(v.Get("q")), State: v.Get("state"), Source: v.Get("source"),
		Department: strings.TrimSpace(v.Get("department")), After: v.Get("after"), Limit: peoplePage}
	pg, asOf, err := c.index.People(r.Context(), q)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	d := peopleData{Query: q, Page: pg, Source: c.sources, AsOf: asOf,
		States: []string{admin.StatePending, admin.StateActive, admin.StateTerminated, admin.StatePurged}}
	if pg.Next != "" {
		next := v
		next.Set("after", pg.Next)
		d.Next = c.path + "/people?" + next.Encode()
	}
	c.render(w, r, u, "people", "People", d)
}

// boundary is a date ahead at which something happens to a person.
type boundary struct {
	At   time.Time
	What string
}

// personData is a person's page.
type personData struct {
	ID         *admin.Identity
	Name       string
	Position   position
	Targets    []personTarget
	Boundaries []boundary
	Events     []admin.Event
}

type personTarget struct {
	Name string
	admin.IdentityTarget
}

// GET /people/{id}: the lifecycle record, each target's account and job,
// the pending boundaries and the audit timeline (newest first).
func (c *Console) person(w http.ResponseWriter, r *http.Request, u *user) {
	id, err := c.adm.Identity(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	d := personData{ID: id, Position: positionOf(id.Record.Identity.User)}
	if d.Name, _ = personVars(id)["userName"].(string); d.Name == "" {
		d.Name = id.Record.ID
	}
	now := c.now()
	rec := id.Record
	if rec.Start.After(now) {
		d.Boundaries = append(d.Boundaries, boundary{rec.Start, "start"})
	}
	if rec.End.After(now) {
		d.Boundaries = append(d.Boundaries, boundary{rec.End, "termination"})
	}
	for _, g := range rec.OldGrants {
		if g.Until.After(now) {
			d.Boundaries = append(d.Boundaries, boundary{g.Until, "mover grace ends: " + g.Target + " " + g.Entitlement})
		}
	}
	for name, t := range id.Targets {
		d.Targets = append(d.Targets, personTarget{name, t})
		if t.Link != nil && !t.Link.Next.IsZero() {
			d.Boundaries = append(d.Boundaries, boundary{t.Link.Next, "next step on " + name})
		}
	}
	sort.Slice(d.Targets, func(i, j int) bool { return d.Targets[i].Name < d.Targets[j].Name })
	sort.Slice(d.Boundaries, func(i, j int) bool { return d.Boundaries[i].At.Before(d.Boundaries[j].At) })
	d.Events = slices.Clone(id.Events)
	slices.Reverse(d.Events)
	c.render(w, r, u, "person", d.Name, d)
}

// GET /people/{id}/plan?at=DATE: what would change for the person on a
// date (the admin API's dry run, POST /plan): per target, the desired
// account, the operations then and the later steps. It writes nothing.
func (c *Console) plan(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	raw := r.URL.Query().Get("at")
	at, err := parseDate(raw)
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	p, err := c.adm.Plan(r.Context(), admin.PlanRequest{ID: id, At: at})
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.render(w, r, u, "plan", "What would change", map[string]any{"Plan": p, "ID": id, "At": raw})
}

// parseDate reads a date (2006-01-02, midnight UTC) or a date and time
// (2006-01-02T15:04, UTC) as forms send them; empty is now.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("the date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")
}

// jobsPage is how many dead letters a page of the Jobs page shows.
const jobsPage = 50

// GET /jobs?offset=: the queue's counts, in all and by target, and its
// dead letters, each with its reason.
func (c *Console) jobs(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	counts, err := c.adm.Counts(ctx)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	dead, err := c.adm.Jobs(ctx, admin.JobDead, offset, jobsPage)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	byTarget, err := c.adm.TargetCounts(ctx)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	d := map[string]any{"Counts": counts, "ByTarget": byTarget, "MaxCounted": admin.MaxCounted, "Dead": dead.Jobs, "CanAct": u.may(act), "Offset": offset}
	if len(dead.Jobs) == jobsPage {
		d["Next"] = offset + jobsPage
	}
	if offset > 0 {
		d["Prev"] = max(offset-jobsPage, 0)
	}
	c.render(w, r, u, "jobs", "Jobs", d)
}

// POST /jobs/replay (form: key).
func (c *Console) replay(w http.ResponseWriter, r *http.Request, u *user) {
	c.jobAction(w, r, u, "replay", c.adm.Replay)
}

// POST /jobs/cancel (form: key).
func (c *Console) cancel(w http.ResponseWriter, r *http.Request, u *user) {
	c.jobAction(w, r, u, "cancel", c.adm.Cancel)
}

func (c *Console) jobAction(w http.ResponseWriter, r *http.Request, u *user, action string, op func(ctx context.Context, key string) (*admin.JobAction, error)) {
	key := r.PostFormValue("key")
	if key == "" {
		c.fail(w, r, u, http.StatusBadRequest, errors.New("no job named"))
		return
	}
	_, err := op(r.Context(), key)
	c.audit(r, u, action, key, err)
	c.index.Invalidate()
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.redirect(w, r, u, "/jobs", action+": "+key)
}

// audit logs an action as the admin API logs its own, with the signed-in
// person as the actor.
func (c *Console) audit(r *http.Request, u *user, action, key string, err error, attrs ...any) {
	status := http.StatusOK
	if err != nil {
		status, _ = admin.ErrorStatus(err)
	}
	c.adm.LogAction(r.Context(), action, key, u.s.Name, status, err, append(attrs, "channel", "console")...)
}

// GET /guard: every target's guard and the people it holds.
func (c *Console) guardPage(w http.ResponseWriter, r *http.Request, u *user) {
	gs, err := c.adm.Guards(r.Context())
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	var held []string
	for _, g := range gs {
		held = append(held, g.Held...)
	}
	names := c.namer(r.Context())(held...)
	c.render(w, r, u, "guard", "Guard", map[string]any{"Guards": gs, "Names": names, "CanAct": u.may(act)})
}

// maxHeldNames bounds the people a page looks up by name; the rest show
// their person id.
const maxHeldNames = 200

// POST /guard/approve (form: target, scope, reason).
func (c *Console) approveGuard(w http.ResponseWriter, r *http.Request, u *user) {
	c.guardAction(w, r, u, "approve guard", func(ctx context.Context, target string) (*admin.Guard, error) {
		return c.adm.ApproveGuard(ctx, target, r.PostFormValue("scope"), u.s.Name)
	})
}

// POST /guard/discard (form: target, reason).
func (c *Console) discardGuard(w http.ResponseWriter, r *http.Request, u *user) {
	c.guardAction(w, r, u, "discard guard", func(ctx context.Context, target string) (*admin.Guard, error) {
		return c.adm.DiscardGuard(ctx, target, u.s.Name)
	})
}

// maxReason bounds an operator's reason.
const maxReason = 500

func (c *Console) guardAction(w http.ResponseWriter, r *http.Request, u *user, action string, op func(context.Context, string) (*admin.Guard, error)) {
	target := r.PostFormValue("target")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case target == "":
		c.fail(w, r, u, http.StatusBadRequest, errors.New("no target named"))
		return
	case reason == "":
		c.fail(w, r, u, http.StatusBadRequest, errors.New("a reason is required: it goes to the audit log"))
		return
	case len(reason) > maxReason:
		c.fail(w, r, u, http.StatusBadRequest, errors.New("the reason is longer than 500 bytes"))
		return
	}
	_, err := op(r.Context(), target)
	c.audit(r, u, action, target, err, "reason", reason)
	c.index.Invalidate()
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.redirect(w, r, u, "/guard", action+": "+target)
}

// targetHealth is one target on the Health page.
type targetHealth struct {
	Name    string
	Up      bool
	Known   bool // the engine has reported on it
	Tripped bool
}

// GET /health: targets up or down (tenure_engine_target_up, as
// Prometheus scrapes it), tripped guards, the queue's lateness and the
// most recent dead letters.
func (c *Console) health(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	counts, err := c.adm.Counts(ctx)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	gs, err := c.adm.Guards(ctx)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	dead, err := c.adm.Jobs(ctx, admin.JobDead, 0, 5)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	up := c.gauge("tenure_engine_target_up", "target")
	var ts []targetHealth
	for _, g := range gs {
		v, known := up[g.Target]
		ts = append(ts, targetHealth{Name: g.Target, Up: v == 1, Known: known, Tripped: g.Tripped})
	}
	var late time.Duration
	if !counts.OldestDue.IsZero() {
		late = max(c.now().Sub(counts.OldestDue), 0).Round(time.Second)
	}
	c.render(w, r, u, "health", "Health", map[string]any{"Targets": ts, "Counts": counts, "Late": late, "Dead": dead.Jobs})
}

// gauge reads a gauge's values by one label from the registry /metrics
// serves.
func (c *Console) gauge(name, label string) map[string]float64 {
	out := map[string]float64{}
	if c.gatherer == nil {
		return out
	}
	mfs, err := c.gatherer.Gather()
	if err != nil {
		c.log.Warn("console: gather metrics", "err", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelOf(m, label)] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
