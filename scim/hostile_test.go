package scim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileBound is the hang detector of the hostile corpus: a request that
// takes longer failed. It is generous on purpose (the costliest cases take
// well under a second, a few times that under the race detector, on a
// two-core machine that also runs other tests): how fast requests are is
// for the benchmarks, not for this test.
const hostileBound = 3 * time.Second * raceSlowdown

// A hostile case is one request and the statuses it may get. Files under
// testdata/hostile/ hold one each, as text:
//
//	# what the case is about (any number of comment lines)
//	expect: 400 404
//	PATCH /Users/{{user}}
//	Content-Type: application/scim+json
//
//	{"schemas": …}
//
// The request line's path is under /scim/v2. Headers follow it up to an
// empty line; the rest of the file, less one final newline, is the body,
// byte for byte (invalid UTF-8 included). Without an Authorization header
// the request carries the okta source's token; "Authorization: -" sends
// none. {{user}} and {{group}} stand for a user and a group of okta (the
// user is in the group), {{other}} for a user of another source (entra).
type hostileCase struct {
	name   string
	expect []int
	method string
	path   string
	header http.Header
	body   []byte
}

func parseHostile(name string, raw []byte) (hostileCase, error) {
	c := hostileCase{name: name, header: http.Header{}}
	rd := bufio.NewReader(bytes.NewReader(raw))
	line := func() (string, error) {
		s, err := rd.ReadString('\n')
		if err != nil && (err != io.EOF || s == "") {
			return "", err
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	for {
		s, err := line()
		if err != nil {
			return c, fmt.Errorf("no request line: %w", err)
		}
		switch {
		case strings.HasPrefix(s, "#"):
			continue
		case strings.HasPrefix(s, "expect:"):
			for f := range strings.FieldsSeq(strings.TrimPrefix(s, "expect:")) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return c, fmt.Errorf("bad expect %q", f)
				}
				c.expect = append(c.expect, n)
			}
			continue
		}
		var ok bool
		if c.method, c.path, ok = strings.Cut(s, " "); !ok || c.method == "" || c.path == "" {
			return c, fmt.Errorf("bad request line %q", s)
		}
		break
	}
	if len(c.expect) == 0 {
		return c, fmt.Errorf("no expect line")
	}
	for {
		s, err := line()
		if err == io.EOF || s == "" {
			break
		}
		if err != nil {
			return c, err
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return c, fmt.Errorf("bad header line %q", s)
		}
		c.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return c, err
	}
	c.body = bytes.TrimSuffix(body, []byte("\n"))
	return c, nil
}

// hostileGenerated are the cases too large to keep as files.
func hostileGenerated() []hostileCase {
	json := "application/scim+json"
	post := func(name, path, body string, expect ...int) hostileCase {
		return hostileCase{name: name, method: http.MethodPost, path: path, body: []byte(body),
			header: http.Header{"Content-Type": {json}}, expect: expect}
	}
	patch := func(name, path, ops string, expect ...int) hostileCase {
		c := post(name, path, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+ops+`]}`, expect...)
		c.method = http.MethodPatch
		return c
	}
	get := func(name, path string, expect ...int) hostileCase {
		return hostileCase{name: name, method: http.MethodGet, path: path, header: http.Header{}, expect: expect}
	}
	user := func(extra string) string {
		return `{"schemas":["` + SchemaUser + `"],"userName":"generated@example.com"` + extra + `}`
	}
	repeat := func(s string, n int, sep string) string { return strings.TrimSuffix(strings.Repeat(s+sep, n), sep) }
	numbered := func(format string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i)
		}
		return strings.Join(parts, ",")
	}
	return []hostileCase{
		post("body-2MiB", "/Users", user(`,"title":"`+strings.Repeat("x", 2<<20)+`"`), 413),
		post("body-2MiB-garbage", "/Users", strings.Repeat("\xff", 2<<20), 413),
		post("nesting-30000", "/Users", strings.Repeat("[", 30000)+strings.Repeat("]", 30000), 400),
		post("nesting-30000-in-value", "/Users", user(`,"title":`+strings.Repeat(`{"a":`, 20000)+`1`+strings.Repeat("}", 20000)), 400),
		post("userName-40KB", "/Users", `{"schemas":["`+SchemaUser+`"],"userName":"`+strings.Repeat("a", 40000)+`"}`, 400),
		post("userName-40KB-non-ascii", "/Users", `{"schemas":["`+SchemaUser+`"],"userName":"`+strings.Repeat("é", 20000)+`"}`, 400),
		post("externalId-40KB", "/Users", user(`,"externalId":"`+strings.Repeat("e", 40000)+`"`), 400),
		post("group-displayName-40KB", "/Groups", `{"schemas":["`+SchemaGroup+`"],"displayName":"`+strings.Repeat("g", 40000)+`"}`, 400),
		post("title-16385", "/Users", user(`,"title":"`+strings.Repeat("t", MaxStringLength+1)+`"`), 400),
		post("attribute-name-20000", "/Users", user(`,"`+strings.Repeat("n", 20000)+`":"x"`), 400),
		post("emails-1001", "/Users", user(`,"emails":[`+numbered(`{"value":"e%d@example.com"}`, MaxValues+1)+`]`), 400),
		post("members-5000-unknown", "/Groups", `{"schemas":["`+SchemaGroup+`"],"displayName":"g","members":[`+numbered(`{"value":"nobody-%d"}`, 5000)+`]}`, 400),
		post("keys-20000", "/Users", user(","+numbered(`"k%d":1`, 20000)), 201), // unknown attributes are ignored
		patch("patch-ops-1001", "/Users/{{user}}", repeat(`{"op":"replace","path":"title","value":"x"}`, MaxOperations+1, ","), 400),
		patch("patch-ops-1000-filtered", "/Users/{{user}}", numbered(`{"op":"replace","path":"emails[type eq \"work\"].display","value":"d%d"}`, MaxOperations), 200),
		patch("patch-ops-1000-member-adds", "/Groups/{{group}}", repeat(`{"op":"add","path":"members","value":[{"value":"{{user}}"}]}`, MaxOperations, ","), 204),
		patch("patch-ops-1000-member-removes", "/Groups/{{group}}", numbered(`{"op":"remove","path":"members[value eq \"nobody-%d\"]"}`, MaxOperations), 204),
		patch("patch-path-5000", "/Users/{{user}}", `{"op":"replace","path":"`+strings.Repeat("a", 5000)+`","value":"x"}`, 400),
		patch("patch-path-nested-brackets", "/Users/{{user}}", `{"op":"remove","path":"emails[`+strings.Repeat("(", 500)+`value eq \"x\"`+strings.Repeat(")", 500)+`]"}`, 400),
		patch("patch-value-16385", "/Users/{{user}}", `{"op":"replace","path":"title","value":"`+strings.Repeat("v", MaxStringLength+1)+`"}`, 400),
		patch("patch-userName-257", "/Users/{{user}}", `{"op":"replace","path":"userName","value":"`+strings.Repeat("u", MaxIndexedLength+1)+`"}`, 400),
		patch("patch-emails-1001", "/Users/{{user}}", `{"op":"add","path":"emails","value":[`+numbered(`{"value":"p%d@example.com"}`, MaxValues+1)+`]}`, 400),
		get("attributes-20000-same", "/Users?attributes="+repeat("userName", 20000, ","), 200),
		get("attributes-20000-same-case", "/Users?attributes="+repeat("USERNAME,userName", 10000, ","), 200),
		get("attributes-20000-distinct", "/Users?attributes="+numbered("a%d", 20000), 400),
		get("excludedAttributes-20000-distinct", "/Users/{{user}}?excludedAttributes="+numbered("x%d", 20000), 400),
		get("filter-5000", "/Users?filter="+urlq(`userName eq "`+strings.Repeat("f", 5000)+`"`), 400),
		get("filter-or-200", "/Users?filter="+urlq(repeat(`userName eq "x"`, 200, " or ")), 200),
		get("filter-parens-1000", "/Users?filter="+urlq(strings.Repeat("(", 1000)+`userName pr`+strings.Repeat(")", 1000)), 400),
		get("filter-not-1000", "/Users?filter="+urlq(strings.Repeat("not (", 1000)+`userName pr`+strings.Repeat(")", 1000)), 400),
		get("id-100KB", "/Users/"+strings.Repeat("i", 100<<10), 404),
		get("sortBy-5000", "/Users?sortBy="+strings.Repeat("s", 5000), 400),
		post("search-attributes-20000-same", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":[`+repeat(`"userName"`, 20000, ",")+`]}`, 200),
		post("search-attributes-20000-distinct", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":[`+numbered(`"a%d"`, 20000)+`]}`, 400),
		post("search-filter-5000", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"`+strings.Repeat("f", 5000)+`\""}`, 400),
	}
}

// TestHostileCorpus sends every hostile case, on a fresh server holding a
// few resources, on the embedded store and on Redis, and checks that no
// answer is a 5xx, each is one of the case's expected statuses and an
// error carries the SCIM Error schema, no request takes longer than
// hostileBound, and a write that was refused left the store as it was.
func TestHostileCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cases []hostileCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseHostile(strings.TrimSuffix(filepath.Base(f), ".txt"), raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, c)
	}
	cases = append(cases, hostileGenerated()...)
	if len(cases) < 100 {
		t.Fatalf("%d hostile cases, want at least 100", len(cases))
	}
	onBackends(t, func(t *testing.T, backend ...serverOpt) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				opts := append([]serverOpt{func(o *Options) { o.MaxBodyBytes = 1 << 20 }}, backend...)
				runHostile(t, newTestServer(t, opts...), c)
			})
		}
	})
}

func runHostile(t *testing.T, srv *testServer, c hostileCase) {
	uid := srv.createUser("okta", "victim@example.com", map[string]any{
		"emails": []map[string]any{{"value": "victim@example.com", "type": "work", "primary": true}}})
	other := srv.createUser("entra", "other@example.com", nil)
	r := srv.do("okta", http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Victims",
		"members": []map[string]string{{"value": uid}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("seed group: %d %s", r.Status, r.Body)
	}
	gid := r.JSON(t)["id"].(string)
	expand := strings.NewReplacer("{{user}}", uid, "{{group}}", gid, "{{other}}", other)

	req, err := http.NewRequest(c.method, srv.URL+Prefix+expand.Replace(c.path), bytes.NewReader([]byte(expand.Replace(string(c.body)))))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, expand.Replace(v))
		}
	}
	switch req.Header.Get("Authorization") {
	case "":
		req.Header.Set("Authorization", "Bearer "+testTokens["okta"])
	case "-":
		req.Header.Del("Authorization")
	}
	if len(c.body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}

	before := snapshot(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 4*hostileBound)
	defer cancel()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v (the server panicked or hung?)", c.method, c.path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)

	if took > hostileBound {
		t.Errorf("took %v, more than %v", took.Round(time.Millisecond), hostileBound)
	}
	// 501 is no failure: RFC 7644 §3.11 has /Me answer it when it is not
	// supported, and Tenure does the same for /Bulk.
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented || !slices.Contains(c.expect, resp.StatusCode) {
		t.Errorf("status %d, want one of %v: %.300s", resp.StatusCode, c.expect, body)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Schemas []string
			Status  string
		}
		if err := json.Unmarshal(body, &e); err != nil || len(e.Schemas) != 1 ||
			e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || e.Status != strconv.Itoa(resp.StatusCode) {
			t.Errorf("a %d without the SCIM Error schema: %.300s", resp.StatusCode, body)
		}
	}
	if resp.StatusCode >= 300 && c.method != http.MethodGet {
		if after := snapshot(t, srv); after != before {
			t.Errorf("the refused %s changed the store:\nbefore %s\nafter  %s", c.method, before, after)
		}
	}
}
