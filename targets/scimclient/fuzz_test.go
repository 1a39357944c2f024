package scimclient

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for everything the client parses from outside: the app's
// Retry-After, error bodies and list responses, and the policy's mapping
// keys (with the filter strings built from values).

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "7", "-1", "1.5", "99999999999999999999", now.Add(time.Minute).Format(http.TimeFormat),
		"Monday, 02-Nov-26 09:01:00 GMT", "Mon Nov  2 09:01:00 2026", " 3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > MaxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

func FuzzParseSCIMError(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"bad"}`,
		`{"status":409,"detail":"exists"}`, `{"message":"x"}`, `{"error_description":"y"}`, "plain\x00text\nbody",
		`{"detail":` + `"` + strings.Repeat("é", 600) + `"}`, "\xff\xfe", `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		typ, detail := parseSCIMError(body)
		for _, s := range []string{typ, detail} {
			if !utf8.ValidString(s) || len(s) > 520 || strings.ContainsAny(s, "\x00\r\n\t") {
				t.Errorf("unsafe text %q", s)
			}
		}
	})
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		`{"totalResults":1,"Resources":[{"id":"1","userName":"a"}]}`,
		`{"totalResults":2,"Resources":[{"id":"1","userName":"A"},{"id":"2","userName":"a"}]}`,
		`{"Resources":[{"id":1}]}`, `{"Resources":null}`, `{}`, `[`, `{"totalResults":"x"}`,
	} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		l, err := parseList("op", &response{status: 200, body: body, header: http.Header{}})
		if err != nil {
			return
		}
		res, err := pick(l.Resources, "userName", name)
		if err == nil && res != nil && len(l.Resources) > 1 {
			if v, _ := getCI(res, "userName").(string); !strings.EqualFold(v, name) {
				t.Errorf("picked %v for %q", res, name)
			}
		}
	})
}
