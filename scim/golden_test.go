package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A golden exchange: one client request (after optional setup requests) and
// what the client relies on in the answer. Fixtures are written from the
// request and response shapes Okta and Entra document (design §6), one file
// per exchange under testdata/golden/<client>/.
type goldenExchange struct {
	Description string `json:"description"`
	Source      string `json:"source"`
	// SourceSettings are the source's settings in the configuration
	// (sources[]), as the client's guide (docs/entra.md) tells to set them.
	SourceSettings struct {
		CreateOnFilteredReplace bool `json:"create_on_filtered_replace"`
	} `json:"sourceSettings"`
	Setup []goldenStep `json:"setup"`
	goldenStep
	Verify []goldenStep `json:"verify"`
}

type goldenStep struct {
	As       string         `json:"as"`
	Request  goldenRequest  `json:"request"`
	Response goldenResponse `json:"response"`
}

type goldenRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type goldenResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// Body is matched as a subset: every key given must be present with an
	// equal value; lists must have the same length and match element-wise.
	// "{{present}}" matches any value.
	Body json.RawMessage `json:"body"`
	// Absent lists "/"-separated paths that must not exist in the body.
	Absent []string `json:"absent"`
}

func TestGoldenReplays(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*/*.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("expected the Okta and Entra golden fixtures, found %d: %v", len(files), err)
	}
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file)) + "/" + strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ex goldenExchange
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ex); err != nil {
				t.Fatalf("bad fixture: %v", err)
			}
			srv := newTestServer(t, func(o *Options) {
				for i := range o.Sources {
					if o.Sources[i].Name == ex.Source {
						o.Sources[i].CreateOnFilteredReplace = ex.SourceSettings.CreateOnFilteredReplace
					}
				}
			})
			vars := map[string]map[string]any{}
			for i, st := range ex.Setup {
				got := replay(t, srv, ex.Source, st, vars)
				if got.Status/100 != 2 {
					t.Fatalf("setup %d (%s %s): %d %s", i, st.Request.Method, st.Request.Path, got.Status, got.Body)
				}
				if st.As != "" {
					vars[st.As] = got.JSON(t)
				}
			}
			got := replay(t, srv, ex.Source, ex.goldenStep, vars)
			check(t, "response", ex.Response, got, vars)
			if len(got.Body) > 0 {
				var m map[string]any
				if json.Unmarshal(got.Body, &m) == nil {
					vars["response"] = m
				}
			}
			for i, v := range ex.Verify {
				check(t, fmt.Sprintf("verify %d", i), v.Response, replay(t, srv, ex.Source, v, vars), vars)
			}
		})
	}
}

func replay(t *testing.T, srv *testServer, source string, st goldenStep, vars map[string]map[string]any) response {
	t.Helper()
	var hdr []string
	for k, v := range st.Request.Headers {
		hdr = append(hdr, k, v)
	}
	var body any
	if len(st.Request.Body) > 0 {
		body = []byte(expand(t, string(st.Request.Body), vars))
	}
	return srv.do(source, st.Request.Method, expand(t, st.Request.Path, vars), body, hdr...)
}

var placeholder = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)\}\}`)

// expand replaces {{name.field}} with a field of an earlier response.
func expand(t *testing.T, s string, vars map[string]map[string]any) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		v, ok := vars[sub[1]]
		if !ok {
			t.Fatalf("placeholder %s: no response named %q", m, sub[1])
		}
		var cur any = v
		for _, k := range strings.Split(sub[2], ".") {
			mm, _ := cur.(map[string]any)
			cur = mm[k]
		}
		str, ok := cur.(string)
		if !ok {
			t.Fatalf("placeholder %s: not a string: %v", m, cur)
		}
		return str
	})
}

func check(t *testing.T, what string, want goldenResponse, got response, vars map[string]map[string]any) {
	t.Helper()
	if got.Status != want.Status {
		t.Fatalf("%s: status %d, want %d; body: %s", what, got.Status, want.Status, got.Body)
	}
	for k, v := range want.Headers {
		h := got.Header.Get(k)
		switch {
		case v == "{{present}}" && h == "":
			t.Errorf("%s: header %s missing", what, k)
		case v != "{{present}}" && !strings.HasPrefix(h, v):
			t.Errorf("%s: header %s = %q, want %q", what, k, h, v)
		}
	}
	if len(want.Body) == 0 && len(want.Absent) == 0 {
		return
	}
	var gotBody any
	if err := json.Unmarshal(got.Body, &gotBody); err != nil {
		t.Fatalf("%s: body is not JSON: %s", what, got.Body)
	}
	if len(want.Body) > 0 {
		var wantBody any
		if err := json.Unmarshal([]byte(expand(t, string(want.Body), vars)), &wantBody); err != nil {
			t.Fatal(err)
		}
		if err := subset("$", wantBody, gotBody); err != nil {
			t.Errorf("%s: %v\nbody: %s", what, err, got.Body)
		}
	}
	for _, path := range want.Absent {
		if v, ok := lookupPath(gotBody, strings.Split(path, "/")); ok {
			t.Errorf("%s: %s must be absent, got %v", what, path, v)
		}
	}
}

func subset(at string, want, got any) error {
	if want == "{{present}}" {
		if got == nil {
			return fmt.Errorf("%s: missing", at)
		}
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", at, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", at, k)
			}
			if err := subset(at+"."+k, wv, gv); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %d elements, got %v", at, len(w), got)
		}
		for i := range w {
			if err := subset(at+"["+strconv.Itoa(i)+"]", w[i], g[i]); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: got %v, want %v", at, got, want)
		}
	}
	return nil
}

func lookupPath(v any, path []string) (any, bool) {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// The golden replays only prove anything if a 401 carries a body; keep the
// harness honest about requests made without any token too.
func TestGoldenHarnessRejectsMissingToken(t *testing.T) {
	srv := newTestServer(t)
	r := srv.do("nobody", http.MethodGet, "/Users", nil)
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
}
