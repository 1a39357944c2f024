// Package query evaluates the query side of SCIM 2.0 list requests: filters
// (RFC 7644 §3.4.2.2), attribute projection (§3.4.2.5, §3.9) and sorting
// (§3.4.2.3) over resources held as JSON-shaped maps.
//
// It exists because the filter validation in github.com/elimity-com/scim
// rejects valid filters such as emails[type eq "work"].value eq "x", and
// because the store needs more than a yes/no from a filter: Candidates turns
// the common IdP lookups (userName eq, externalId eq, id eq, displayName eq)
// into index reads instead of full scans.
//
// Filters are parsed with github.com/scim2/filter-parser/v2. Its grammar is
// narrower than RFC 7644 inside brackets (no sub-attribute after "]", at most
// two comparisons, no parentheses), so value filters are lifted out and parsed
// on their own before the rest of the filter is handed to it; see lift.
//
// Every attribute path is resolved against the resource's schema when a
// filter or sort key is compiled, so that matching never has to guess: a
// typo is a 400 for the client, not an empty result.
package query

import "errors"

// ErrInvalidFilter is wrapped by every error Compile returns. The SCIM layer
// maps it to 400 with scimType "invalidFilter".
var ErrInvalidFilter = errors.New("invalid filter")

// ErrInvalidSort is wrapped by every error CompileSort returns. The SCIM layer
// maps it to 400 with scimType "invalidValue": RFC 7644 has no scimType for a
// bad sortBy.
var ErrInvalidSort = errors.New("invalid sortBy")

// Limits on filters, so that hostile input costs bounded time and stack.
const (
	// MaxFilterLength is the longest filter, in bytes, that Compile accepts.
	MaxFilterLength = 4096
	// MaxFilterDepth is how deeply parentheses and brackets may nest.
	MaxFilterDepth = 32
)
