package scim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/scim/query"
	"github.com/tenurehq/tenure/store"
)

// Limits on what one request may carry. They are checked before the store
// sees the request, so they are the same on every backend: a value the
// embedded store could not index (bbolt keys end at 32 KiB) and one Redis
// would take are refused alike. A request over a limit is answered 400 (413
// for the body, server.max_body_bytes) with the SCIM Error schema and a
// detail that names the limit. docs/scim.md lists them.
const (
	// MaxResults caps count on list and search requests; a larger count
	// is served as MaxResults (RFC 7644 §3.4.2.4), and ServiceProviderConfig
	// advertises it as filter.maxResults.
	MaxResults = 1000
	// MaxOperations is how many operations one PATCH may carry; the
	// ServiceProviderConfig advertises it as patch.maxOperations.
	MaxOperations = 1000
	// MaxIndexedLength is the longest userName, externalId or group
	// displayName, in characters (Unicode code points): the values the
	// store indexes. IdPs stay far below it (an Okta login, an Entra UPN,
	// an e-mail address and an Entra group name are at most 100, 113, 254
	// and 256 characters).
	MaxIndexedLength = 256
	// MaxStringLength is the longest string anywhere in a request body
	// (attribute values and names), in characters.
	MaxStringLength = 16384
	// MaxValues is how many values a multi-valued attribute of a resource
	// may hold (emails, phoneNumbers, roles, entitlements, …); group
	// members are not counted, only the body size bounds them.
	MaxValues = 1000
	// MaxAttributeNames is how many distinct names attributes or
	// excludedAttributes may list (repetitions count once).
	MaxAttributeNames = 200
	// MaxNesting is how deeply objects and arrays may nest in a body.
	MaxNesting = 32
	// MaxPathLength is the longest PATCH path, in bytes, and
	// query.MaxFilterDepth how deeply its brackets and parentheses may
	// nest: a path's value filter is a filter.
	MaxPathLength = query.MaxFilterLength
)

// limitError is a 400 for a request over a limit.
func limitError(scimType scimerr.ScimType, format string, args ...any) scimerr.ScimError {
	return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func limitErrorP(scimType scimerr.ScimType, format string, args ...any) *scimerr.ScimError {
	e := limitError(scimType, format, args...)
	return &e
}

// checkBody checks a decoded POST, PUT or PATCH body against the limits
// that do not need the schema: nesting, string lengths, attribute names
// given twice in different case (encoding/json, like the library, matches
// names case-insensitively, so which one won would be chance) and, for a
// PATCH, the number of operations and the size of their paths.
func checkBody(v any, isPatch bool) *scimerr.ScimError {
	if err := walkBody(v, 1); err != nil {
		return bodyLimitError(err)
	}
	if !isPatch {
		return nil
	}
	req, _ := v.(map[string]any)
	for k, ops := range req {
		if !strings.EqualFold(k, "Operations") {
			continue
		}
		list, _ := ops.([]any)
		if len(list) > MaxOperations {
			return limitErrorP(scimerr.ScimTypeInvalidValue,
				"The PATCH has %d operations; at most %d (maxOperations) are accepted in one request.", len(list), MaxOperations)
		}
		for i, op := range list {
			m, _ := op.(map[string]any)
			for k, p := range m {
				if s, ok := p.(string); ok && strings.EqualFold(k, "path") {
					if err := checkPath(s); err != nil {
						return limitErrorP(scimerr.ScimTypeInvalidPath, "Operations[%d].path: %s", i, err)
					}
				}
			}
		}
	}
	return nil
}

// checkPath bounds a PATCH path as query.Compile bounds a filter.
func checkPath(p string) error {
	if len(p) > MaxPathLength {
		return fmt.Errorf("the path is %d bytes long; at most %d are accepted", len(p), MaxPathLength)
	}
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '(', '[':
			if depth++; depth > query.MaxFilterDepth {
				return fmt.Errorf("the path nests brackets and parentheses deeper than %d levels", query.MaxFilterDepth)
			}
		case ')', ']':
			depth--
		}
	}
	return nil
}

// walkBody checks one value at the given nesting depth. Errors name where
// in the body they are, built as the recursion unwinds, so a body within
// the limits costs no string building.
func walkBody(v any, depth int) error {
	switch v := v.(type) {
	case string:
		return checkString(v)
	case map[string]any:
		if depth > MaxNesting {
			return limitError(scimerr.ScimTypeInvalidSyntax, "The body nests objects and arrays deeper than %d levels.", MaxNesting)
		}
		var folded map[string]string
		if len(v) > 1 {
			folded = make(map[string]string, len(v))
		}
		for k, e := range v {
			if err := checkString(k); err != nil {
				return at(err, "a name")
			}
			if folded != nil {
				f := strings.ToLower(k)
				if prev, dup := folded[f]; dup {
					return limitError(scimerr.ScimTypeInvalidSyntax, "%q and %q name the same attribute (names are case-insensitive); send it once.",
						min(prev, k), max(prev, k))
				}
				folded[f] = k
			}
			if err := walkBody(e, depth+1); err != nil {
				return at(err, k)
			}
		}
	case []any:
		if depth > MaxNesting {
			return limitError(scimerr.ScimTypeInvalidSyntax, "The body nests objects and arrays deeper than %d levels.", MaxNesting)
		}
		for i, e := range v {
			if err := walkBody(e, depth+1); err != nil {
				return at(err, "["+strconv.Itoa(i)+"]")
			}
		}
	}
	return nil
}

// stringTooLong is checkString's error before at gives it a place.
type stringTooLong struct{ n int }

func (e stringTooLong) Error() string { return "string too long" }

func checkString(s string) error {
	if len(s) <= MaxStringLength {
		return nil
	}
	if n := utf8.RuneCountInString(s); n > MaxStringLength {
		return stringTooLong{n}
	}
	return nil
}

// at places a stringTooLong found under key; other errors pass unchanged.
// Places accumulate from the innermost out: "emails" "[2]" "value".
func at(err error, key string) error {
	if e, ok := err.(placedString); ok {
		e.where = joinPlace(key, e.where)
		return e
	}
	if e, ok := err.(stringTooLong); ok {
		return placedString{n: e.n, where: key}
	}
	return err
}

type placedString struct {
	n     int
	where string
}

func (e placedString) Error() string { return "string too long at " + e.where }

func joinPlace(outer, inner string) string {
	if strings.HasPrefix(inner, "[") {
		return outer + inner
	}
	return outer + "." + inner
}

// bodyLimitError turns walkBody's error into the SCIM error to send.
func bodyLimitError(err error) *scimerr.ScimError {
	switch e := err.(type) {
	case placedString:
		return limitErrorP(scimerr.ScimTypeInvalidValue, "The string at %s is %d characters long; at most %d are accepted.", e.where, e.n, MaxStringLength)
	case stringTooLong:
		return limitErrorP(scimerr.ScimTypeInvalidValue, "A string in the body is %d characters long; at most %d are accepted.", e.n, MaxStringLength)
	case scimerr.ScimError:
		return &e
	}
	return limitErrorP(scimerr.ScimTypeInvalidValue, "%s", err)
}

// checkResource checks what a write would store against the limits that
// need the resource: the length of the indexed values and the number of
// values of multi-valued attributes; and a user's timezone and countries
// against their formats (checkUserValues). old is the stored resource (nil
// for a create); as for userName's character rules, a value stored before a
// limit or check existed is kept until a write changes it.
func (h *resourceHandler) checkResource(old, next *store.Resource) error {
	name := "userName"
	if h.kind == store.KindGroup {
		name = "displayName"
	}
	if old == nil || next.Name != old.Name {
		if err := checkIndexed(name, next.Name); err != nil {
			return err
		}
	}
	if old == nil || next.ExternalID != old.ExternalID {
		if err := checkIndexed("externalId", next.ExternalID); err != nil {
			return err
		}
	}
	if h.kind == store.KindUser {
		if err := checkUserValues(old, next); err != nil {
			return err
		}
	}
	return checkValues(old, next)
}

func checkIndexed(name, v string) error {
	if len(v) <= MaxIndexedLength {
		return nil
	}
	if n := utf8.RuneCountInString(v); n > MaxIndexedLength {
		return limitError(scimerr.ScimTypeInvalidValue, "%s is %d characters long; at most %d are accepted.", name, n, MaxIndexedLength)
	}
	return nil
}

// checkValues refuses a write that leaves a multi-valued attribute (at the
// top level or in an extension) with more than MaxValues values, unless it
// had at least as many before.
func checkValues(old, next *store.Resource) error {
	var before map[string]any
	if old != nil {
		before = old.Attributes
	}
	return checkValuesIn("", before, next.Attributes)
}

func checkValuesIn(prefix string, before, after map[string]any) error {
	for k, v := range after {
		switch v := v.(type) {
		case []any:
			prev, _ := before[k].([]any)
			if len(v) > MaxValues && len(v) > len(prev) {
				return limitError(scimerr.ScimTypeInvalidValue, "%s%s would hold %d values; at most %d are accepted.", prefix, k, len(v), MaxValues)
			}
		case map[string]any:
			if prefix == "" && strings.HasPrefix(strings.ToLower(k), "urn:") {
				prev, _ := before[k].(map[string]any)
				if err := checkValuesIn(k+":", prev, v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// attributeNames deduplicates an attributes or excludedAttributes list (case-
// insensitively, keeping the first spelling) and refuses more than
// MaxAttributeNames distinct names. param names the parameter in the error.
func attributeNames(param string, lists ...string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for p := range strings.SplitSeq(list, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			f := strings.ToLower(p)
			if seen[f] {
				continue
			}
			if len(out) == MaxAttributeNames {
				return nil, limitError(scimerr.ScimTypeInvalidValue, "%s names more than %d distinct attributes; at most %d are accepted.",
					param, MaxAttributeNames, MaxAttributeNames)
			}
			seen[f] = true
			out = append(out, p)
		}
	}
	return out, nil
}
