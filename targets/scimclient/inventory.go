package scimclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tenurehq/tenure/targets"
)

// pageSize is the count asked for when listing users (Okta's, which apps
// are used to).
const pageSize = 100

// Accounts implements targets.Inventory: every user on the app, listed
// with startIndex/count paging (RFC 7644 §3.4.2.4), id and userName only.
func (c *Client) Accounts(ctx context.Context, fn func(targets.Found) error) error {
	const op = "scim list users"
	seen := map[string]bool{}
	for start := 1; ; {
		l, err := c.list(ctx, op, "Users", url.Values{
			"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(pageSize)}, "attributes": {"id,userName"},
		})
		if err != nil {
			return err
		}
		for _, res := range l.Resources {
			id, _ := getCI(res, "id").(string)
			if id == "" || seen[id] {
				continue // an app whose pages shift while listed repeats some
			}
			seen[id] = true
			name, _ := getCI(res, "userName").(string)
			if err := fn(targets.Found{ID: id, Ref: id, Name: name}); err != nil {
				return err
			}
		}
		// An empty page ends the listing even when totalResults says
		// more: an app that miscounts must not loop us forever.
		start += len(l.Resources)
		if len(l.Resources) == 0 || start > l.TotalResults {
			return nil
		}
	}
}

// Remove implements targets.Remover: it deletes the user id; one already
// gone is success.
func (c *Client) Remove(ctx context.Context, id string) error {
	const op = "scim delete user"
	var ifm string
	if ok, err := c.etagSupported(ctx); err != nil {
		return err
	} else if ok {
		u, err := c.getUser(ctx, id)
		if err != nil || u == nil {
			return err
		}
		ifm = u.version
	}
	r, err := c.do(ctx, call{op: op, method: http.MethodDelete, path: usersPath(id), ifMatch: ifm})
	if err != nil {
		return err
	}
	if r.ok() || r.status == http.StatusNotFound {
		return nil
	}
	return c.fail(op, r)
}
