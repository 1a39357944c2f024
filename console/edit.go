package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/mapper"
)

// position is the part of a person's SCIM user the "what would change"
// form edits: what a mover or a leaver changes at the source.
type position struct {
	Title, Department, UserType, Manager string
	Active                               bool
	StartDate, EndDate                   string
}

// positionOf reads a SCIM user's position.
func positionOf(user map[string]any) position {
	ent, _ := user[mapper.EnterpriseURN].(map[string]any)
	ten, _ := user[mapper.TenureURN].(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	p := position{Title: str(user, "title"), UserType: str(user, "userType"), Department: str(ent, "department"),
		StartDate: str(ten, "startDate"), EndDate: str(ten, "endDate")}
	p.Active, _ = user["active"].(bool)
	if m, ok := ent["manager"].(map[string]any); ok {
		p.Manager = str(m, "value")
	}
	return p
}

// edited is user with the position p, a new document (user is left as
// it was): the write a source would send for this change.
func (p position) edited(user map[string]any) (map[string]any, error) {
	// A deep copy: the document is JSON as stored.
	b, err := json.Marshal(user)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	set := func(m map[string]any, k, v string) {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	ext := func(urn string) map[string]any {
		m, _ := doc[urn].(map[string]any)
		if m == nil {
			m = map[string]any{}
			doc[urn] = m
			schemas, _ := doc["schemas"].([]any)
			if !slices.Contains(schemas, any(urn)) {
				doc["schemas"] = append(schemas, urn)
			}
		}
		return m
	}
	set(doc, "title", p.Title)
	set(doc, "userType", p.UserType)
	doc["active"] = p.Active
	ent := ext(mapper.EnterpriseURN)
	set(ent, "department", p.Department)
	if p.Manager == "" {
		delete(ent, "manager")
	} else {
		ent["manager"] = map[string]any{"value": p.Manager}
	}
	if p.StartDate != "" || p.EndDate != "" || doc[mapper.TenureURN] != nil {
		ten := ext(mapper.TenureURN)
		set(ten, "startDate", p.StartDate)
		set(ten, "endDate", p.EndDate)
	}
	return doc, nil
}

// POST /people/{id}/plan: what would change if the person's source wrote
// their record with the position in the form (title, department,
// userType, manager, active, start and end dates), now or on a date: the
// admin API's dry run of a user document (POST /plan, as `tenure plan
// --user`). It writes nothing.
func (c *Console) planEdit(w http.ResponseWriter, r *http.Request, u *user) {
	id, err := c.adm.Identity(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	rec := id.Record
	if rec.UserID == "" {
		c.fail(w, r, u, http.StatusConflict, errors.New("the source deleted this person's record: there is nothing to edit"))
		return
	}
	f := r.PostFormValue
	p := position{Title: f("title"), Department: f("department"), UserType: f("userType"), Manager: f("manager"),
		Active: f("active") == "true", StartDate: f("startDate"), EndDate: f("endDate")}
	at, err := parseDate(f("at"))
	if err != nil {
		c.fail(w, r, u, http.StatusBadRequest, err)
		return
	}
	doc, err := p.edited(rec.Identity.User)
	if err != nil {
		c.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	doc["id"] = rec.UserID
	plan, err := c.adm.Plan(r.Context(), admin.PlanRequest{User: doc, At: at})
	if err != nil {
		c.failAdmin(w, r, u, err)
		return
	}
	c.render(w, r, u, "plan", "What would change", map[string]any{"Plan": plan, "ID": rec.ID, "At": f("at"),
		"Edited": p, "Was": positionOf(rec.Identity.User)})
}
