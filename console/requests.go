package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tenurehq/tenure/admin"
)

// The Requests page: an approver's inbox (the pending requests and open
// mover reviews the signed-in person may decide, admin.Handler.Inbox),
// decided through the admin API's own operations (DecideRequest,
// DecideReview) as the signed-in person, on channel "console", with the
// session as the trail's proof; the requester's form over the catalog
// (CreateRequest: the catalog's allow says for whom); the person's own
// requests. Admins and auditors also see every pending request and open
// review, read-only. The engine checks every decision: someone who may
// not decide is refused there, and the refusal is in the trail.

// ChannelConsole is the channel the console's requests and decisions are
// recorded with.
const ChannelConsole = "console"

// requestView is a request as the page shows it: its people by name, and
// whether the signed-in person may decide it now (a form).
type requestView struct {
	admin.AccessRequest
	Names     map[string]string
	CanDecide bool
	Base      string
	CSRF      string
}

// reviewView is a mover review as the page shows it.
type reviewView struct {
	admin.Review
	Names     map[string]string
	CanDecide bool
	Base      string
	CSRF      string
	Today     string // the earliest new end a form offers
}

// requestsData is the Requests page.
type requestsData struct {
	Person   bool // the user is a person (break-glass is not: it decides nothing)
	CanAsk   bool
	Inbox    []requestView
	Reviews  []reviewView
	Catalog  []admin.CatalogItem
	Mine     []requestView
	All      []requestView // admins and auditors: every pending request
	AllRevs  []reviewView  // and every open review
	ViewsAll bool
}

// GET /requests.
func (c *Console) requestsPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	d := requestsData{Person: u.s.Person != "", CanAsk: u.may(ask) && u.s.Person != "", ViewsAll: u.may(view)}
	names := c.namer(ctx)
	inbox := &admin.Inbox{}
	if d.Person {
		var err error
		if inbox, err = c.adm.Inbox(ctx, u.s.Person); err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		mine, err := c.adm.Requests(ctx, u.s.Person, "", "")
		if err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		slices.Reverse(mine)
		for _, req := range mine {
			d.Mine = append(d.Mine, c.requestView(names, u, req, false))
		}
	}
	decidable := map[string]bool{}
	for _, req := range inbox.Requests {
		decidable[req.ID] = true
		d.Inbox = append(d.Inbox, c.requestView(names, u, req, u.may(ask)))
	}
	for _, rv := range inbox.Reviews {
		decidable[rv.ID] = true
		d.Reviews = append(d.Reviews, c.reviewView(names, u, rv, u.may(ask)))
	}
	if d.ViewsAll {
		all, err := c.adm.Requests(ctx, "", "pending", "")
		if err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		for _, req := range all {
			d.All = append(d.All, c.requestView(names, u, req, false))
		}
		revs, err := c.adm.Reviews(ctx, true)
		if err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		for _, rv := range revs {
			d.AllRevs = append(d.AllRevs, c.reviewView(names, u, rv, false))
		}
	}
	if d.CanAsk {
		d.Catalog = c.adm.Catalog()
	}
	c.render(w, r, u, "requests", "Requests", d)
}

// GET /requests/{id}: one request and its trail, for admins and auditors,
// and for the people it concerns: its subject and requester, who acted
// on it, who may decide it now.
func (c *Console) requestPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	req, err := c.adm.Request(ctx, r.PathValue("id"))
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	canDecide := false
	if p := u.s.Person; p != "" && req.State == "pending" {
		in, err := c.adm.Inbox(ctx, p)
		if err != nil {
			c.failAdmin(w, r, u, err)
			return
		}
		canDecide = slices.ContainsFunc(in.Requests, func(x admin.AccessRequest) bool { return x.ID == req.ID })
	}
	concerned := u.s.Person != "" && (req.Subject == u.s.Person || req.Requester == u.s.Person ||
		slices.ContainsFunc(req.Trail, func(t admin.TrailEntry) bool { return t.Actor == u.s.Person }))
	if !u.may(view) && !concerned && !canDecide {
		// Not found rather than refused: an approver learns nothing of
		// requests that are not theirs.
		c.fail(w, r, u, http.StatusNotFound, fmt.Errorf("no request %q that you may see", req.ID))
		return
	}
	v := c.requestView(c.namer(ctx), u, *req, canDecide && u.may(ask))
	c.render(w, r, u, "request", "Request "+req.ID, v)
}

// POST /requests/new (form: item, subject, reason, duration): the
// signed-in person asks for an item, for themselves or (subject, a
// userName) for someone the catalog's allow lets them ask for.
func (c *Console) createRequest(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	if u.s.Person == "" {
		c.fail(w, r, u, http.StatusForbidden, errNoPerson)
		return
	}
	subject := u.s.Person
	if name := strings.TrimSpace(r.PostFormValue("subject")); name != "" {
		id, err := c.personByUserName(ctx, name)
		if err != nil {
			c.fail(w, r, u, http.StatusBadRequest, fmt.Errorf("no one (or more than one person) has the userName %q", name))
			return
		}
		subject = id.Record.ID
	}
	reason, err := formReason(r)
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	item := r.PostFormValue("item")
	req, err := c.adm.CreateRequest(ctx, admin.RequestCreate{Item: item, Subject: subject, As: u.s.Person,
		Reason: reason, Duration: r.PostFormValue("duration")}, c.via(u))
	key := item + " for " + subject
	if req != nil {
		key = req.ID
	}
	c.audit(r, u, "create request", key, err, "reason", reason)
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.redirect(w, r, u, "/requests/"+req.ID, fmt.Sprintf("requested %s: %s", req.Item, req.State))
}

// POST /requests/{id}/decide (form: decision approve|deny, comment).
func (c *Console) decideRequest(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	action := r.PostFormValue("decision")
	if action != admin.ActionApprove && action != admin.ActionDeny && action != admin.ActionWithdraw {
		c.fail(w, r, u, http.StatusBadRequest, errors.New("the decision must be approve, deny or withdraw"))
		return
	}
	c.decide(w, r, u, action+" request", id, "/requests/"+id, func(ctx context.Context, reason string) (string, error) {
		req, err := c.adm.DecideRequest(ctx, id, action, admin.RequestAction{As: u.s.Person, Reason: reason}, c.via(u))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: request %s is %s", action, id, req.State), nil
	})
}

// POST /reviews/{id}/decide (form: request, decision keep|revoke, end,
// comment): one item of a mover review.
func (c *Console) decideReview(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	action := r.PostFormValue("decision")
	if action != "keep" && action != "revoke" {
		c.fail(w, r, u, http.StatusBadRequest, errors.New("the decision must be keep or revoke"))
		return
	}
	end, err := parseDate(r.PostFormValue("end"))
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	item := r.PostFormValue("request")
	c.decide(w, r, u, action+" review item", id+"/"+item, "/requests", func(ctx context.Context, reason string) (string, error) {
		_, err := c.adm.DecideReview(ctx, id, admin.ReviewDecide{As: u.s.Person, Request: item, Keep: action == "keep",
			NewEnd: end, Reason: reason}, c.via(u))
		return fmt.Sprintf("%s: review %s, request %s", action, id, item), err
	})
}

// decide runs a decision as the signed-in person, audits it and shows its
// outcome on the page to; a refusal is the engine's, shown as an error.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, u *user, action, key, to string, op func(context.Context, string) (string, error)) {
	if u.s.Person == "" {
		c.fail(w, r, u, http.StatusForbidden, errNoPerson)
		return
	}
	reason, err := formReason(r)
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	flash, err := op(r.Context(), reason)
	c.audit(r, u, action, key, err, "reason", reason)
	c.index.Invalidate()
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.redirect(w, r, u, to, flash)
}

// errNoPerson: break-glass is an operator, not one of the people requests
// are asked and decided by.
var errNoPerson = errors.New("a break-glass session is no person: sign in as yourself to request or decide")

// formReason is the form's comment, bounded.
func formReason(r *http.Request) (string, error) {
	reason := strings.TrimSpace(r.PostFormValue("comment"))
	if len(reason) > maxReason {
		return "", errors.New("the comment is longer than 500 bytes")
	}
	return reason, nil
}

// via is the console's channel and the proof of who acts: the session,
// signed in at the IdP (its issuer and subject) at a time.
func (c *Console) via(u *user) admin.Via {
	proof := "console session of " + u.s.Name
	if iss, _ := u.s.Claims["iss"].(string); iss != "" {
		sub, _ := u.s.Claims["sub"].(string)
		proof += fmt.Sprintf(", OIDC %s sub %s", iss, sub)
	}
	proof += ", signed in " + u.s.Created.UTC().Format(time.RFC3339)
	return admin.Via{Channel: ChannelConsole, Proof: proof}
}

// namer returns a function naming people by userName (a person id when
// they have none), each looked up once; "tenure" is the clock.
func (c *Console) namer(ctx context.Context) func(ids ...string) map[string]string {
	known := map[string]string{"tenure": "tenure"}
	return func(ids ...string) map[string]string {
		for _, id := range ids {
			if _, ok := known[id]; ok || id == "" {
				continue
			}
			known[id] = id
			if len(known) > maxHeldNames {
				continue
			}
			if p, err := c.adm.Identity(ctx, id); err == nil {
				if n, _ := personVars(p)["userName"].(string); n != "" {
					known[id] = n
				}
			}
		}
		return known
	}
}

func (c *Console) requestView(names func(...string) map[string]string, u *user, req admin.AccessRequest, canDecide bool) requestView {
	ids := []string{req.Subject, req.Requester}
	for _, t := range req.Trail {
		ids = append(ids, t.Actor)
	}
	return requestView{AccessRequest: req, Names: names(ids...), CanDecide: canDecide, Base: c.path, CSRF: u.s.CSRF}
}

func (c *Console) reviewView(names func(...string) map[string]string, u *user, rv admin.Review, canDecide bool) reviewView {
	ids := []string{rv.Subject}
	for _, t := range rv.Trail {
		ids = append(ids, t.Actor)
	}
	for _, it := range rv.Items {
		ids = append(ids, it.By)
	}
	return reviewView{Review: rv, Names: names(ids...), CanDecide: canDecide, Base: c.path, CSRF: u.s.CSRF,
		Today: c.now().UTC().Format("2006-01-02")}
}
