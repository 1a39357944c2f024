package scim

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	"github.com/elimity-com/scim/schema"
)

type schemaT = schema.Schema

const docURL = "https://github.com/tenurehq/tenure/blob/main/docs/scim.md"

// serviceProviderConfig is served by Tenure rather than the library because
// the library hard-codes etag and sort as unsupported.
func serviceProviderConfig(base string) map[string]any {
	loc := "ServiceProviderConfig"
	if base != "" {
		loc = base + "/" + loc
	}
	return map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": docURL,
		// maxOperations is not in RFC 7643 §5, which bounds only bulk
		// requests; clients ignore what they do not know.
		"patch":          map[string]any{"supported": true, "maxOperations": MaxOperations},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type":             "oauthbearertoken",
			"name":             "OAuth Bearer Token",
			"description":      "A long-lived bearer token per source, sent as 'Authorization: Bearer <token>'.",
			"specUri":          "https://www.rfc-editor.org/rfc/rfc6750",
			"documentationUri": docURL,
			"primary":          true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": loc},
	}
}

// newUUID returns a random RFC 9562 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// etag renders a store version as a weak entity tag: the representation may
// differ (attribute projection) while the resource version is the same.
func etag(version uint64) string { return `W/"` + strconv.FormatUint(version, 10) + `"` }

// etagMatches reports whether header (an If-Match / If-None-Match list)
// names tag, using weak comparison (RFC 9110 §8.8.3.2).
func etagMatches(header, tag string) bool {
	want := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || (t != "" && strings.TrimPrefix(t, "W/") == want) {
			return true
		}
	}
	return false
}
