package scim

import (
	"fmt"
	"strings"
	"time"

	scimerr "github.com/elimity-com/scim/errors"
	"golang.org/x/text/language"

	"github.com/tenurehq/tenure/store"
)

// checkRequired names a required attribute the body of a POST or PUT lacks
// (absent, null or empty: RFC 7643 §2.5) or gives as something other than
// a string, before the library validates the body: the library answers
// both with a detail that names no attribute ("A required value was
// missing, or …"), and an IdP administrator cannot tell from it what to
// fix.
func (h *resourceHandler) checkRequired(body any) *scimerr.ScimError {
	doc, ok := body.(map[string]any)
	if !ok {
		return nil // the library answers invalidSyntax
	}
	for _, attr := range h.schema.Attributes {
		if !attr.Required() || attr.Mutability() == "readOnly" {
			continue
		}
		name := attr.Name()
		var v any
		for k, kv := range doc {
			if strings.EqualFold(k, name) {
				v = kv
			}
		}
		s, isString := v.(string)
		e := scimerr.ScimErrorInvalidValue
		switch {
		case v == nil || isString && s == "":
			e.Detail = name + " is required"
		case !isString && attr.AttributeType() == "string":
			e.Detail = fmt.Sprintf("%s must be a string, not %s", name, jsonType(v))
		default:
			continue
		}
		return &e
	}
	return nil
}

// jsonType names the JSON type of a decoded value, for error details.
func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	}
	return "a number"
}

// checkUserValues checks the values RFC 7643 §4.1 gives a format Tenure can
// check and its users depend on: timezone, an IANA time zone name (§4.1.1;
// the lifecycle reads date-only start and end dates in it), and every
// addresses[].country, an ISO 3166-1 alpha-2 code (§4.1.2; targets write
// it to attributes such as LDAP's c, which takes nothing else). Both are
// checked alike: where a write sets or changes them, as userName is, so a
// user stored before the check keeps working until a write changes the
// value.
func checkUserValues(old, next *store.Resource) error {
	var before map[string]any
	if old != nil {
		before = old.Attributes
	}
	if tz, _ := next.Attributes["timezone"].(string); tz != "" && tz != before["timezone"] {
		if err := checkTimezone(tz); err != nil {
			return err
		}
	}
	stored := map[string]bool{}
	for _, c := range countries(before) {
		stored[c] = true
	}
	for i, c := range countries(next.Attributes) {
		if c == "" || stored[c] {
			continue
		}
		if err := checkCountry(fmt.Sprintf("addresses[%d].country", i), c); err != nil {
			return err
		}
	}
	return nil
}

func checkTimezone(tz string) error {
	// "Local" is the server's zone to time.LoadLocation, not an IANA name.
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return invalidValue(fmt.Sprintf("timezone %q is not an IANA time zone name (RFC 7643 §4.1.1), such as \"Europe/Berlin\"", tz))
	}
	return nil
}

// countries returns the country of each address, "" where it has none,
// indexed as the addresses are.
func countries(attrs map[string]any) []string {
	list, _ := attrs["addresses"].([]any)
	out := make([]string, len(list))
	for i, a := range list {
		m, _ := a.(map[string]any)
		out[i], _ = m["country"].(string)
	}
	return out
}

// checkCountry accepts the codes ISO 3166-1 assigns or reserves for a
// country (DE, GB, and UK or XK, which directories use too), in capitals as
// the standard writes them.
func checkCountry(at, c string) error {
	r, err := language.ParseRegion(c)
	switch {
	case len(c) == 2 && err == nil && r.IsCountry() && r.String() == c:
		return nil
	case len(c) == 2 && err == nil && r.IsCountry():
		return invalidValue(fmt.Sprintf("%s %q is not an ISO 3166-1 alpha-2 code as RFC 7643 §4.1.2 wants: send %q", at, c, r.String()))
	}
	return invalidValue(fmt.Sprintf("%s %q is not an ISO 3166-1 alpha-2 country code (RFC 7643 §4.1.2), such as \"DE\"", at, c))
}
