package compat_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
)

const (
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

type kind int

const (
	user kind = iota
	group
)

func (k kind) schemas() (schema.Schema, []schema.Schema) {
	if k == group {
		return schema.CoreGroupSchema(), nil
	}
	return schema.CoreUserSchema(), []schema.Schema{schema.ExtensionEnterpriseUser()}
}

// accepting is a ResourceHandler that accepts every create and patch, so the
// status of a request is the library's validation verdict.
type accepting struct{ scim.ResourceHandler }

func (accepting) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	return scim.Resource{ID: "id", Attributes: attrs}, nil
}

func (accepting) Patch(*http.Request, string, []scim.PatchOperation) (scim.Resource, error) {
	return scim.Resource{}, nil
}

// libraryStatus sends body to the library's handler as a PATCH (patch set)
// or a POST, and returns the status it answers.
func libraryStatus(tb testing.TB, k kind, patch bool, body []byte) int {
	tb.Helper()
	s, exts := k.schemas()
	rt := scim.ResourceType{Name: "User", Endpoint: "/Users", Schema: s, Handler: accepting{}}
	if k == group {
		rt.Name, rt.Endpoint = "Group", "/Groups"
	}
	for _, e := range exts {
		rt.SchemaExtensions = append(rt.SchemaExtensions, scim.SchemaExtension{Schema: e})
	}
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{},
		ResourceTypes:         []scim.ResourceType{rt},
	})
	if err != nil {
		tb.Fatal(err)
	}
	method, target := http.MethodPost, rt.Endpoint
	if patch {
		method, target = http.MethodPatch, rt.Endpoint+"/id"
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(method, target, bytes.NewReader(body)))
	return rec.Code
}

// canonical re-encodes a JSON document with sorted keys and exact numbers.
func canonical(tb testing.TB, b []byte) string {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		tb.Fatalf("invalid JSON %s: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// sameSlice reports whether a and b share their backing array and length.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
