package patch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"

	"github.com/tenurehq/tenure/scim/compat"
)

const (
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// kind selects the resource type a test PATCHes.
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

// captor is a ResourceHandler that records the operations the library hands
// to Patch. Other methods are never called.
type captor struct {
	scim.ResourceHandler
	ops []scim.PatchOperation
}

func (c *captor) Patch(_ *http.Request, _ string, ops []scim.PatchOperation) (scim.Resource, error) {
	c.ops = ops
	return scim.Resource{}, nil
}

// parseOps turns a PatchOp body into operations the way a Tenure server
// does: compat.NormalizePatch, then the library's own PATCH validation,
// reached through its public HTTP handler. A rejected body returns the
// library's error, so tests see exactly what a client would.
func parseOps(k kind, body []byte) ([]scim.PatchOperation, error) {
	s, exts := k.schemas()
	body, err := compat.NormalizePatch(body, s, exts...)
	if err != nil {
		return nil, err
	}
	c := &captor{}
	rt := scim.ResourceType{Name: "User", Endpoint: "/Users", Schema: s, Handler: c}
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
		return nil, err
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPatch, rt.Endpoint+"/id", bytes.NewReader(body)))
	if rec.Code != http.StatusNoContent {
		var se scimerrors.ScimError
		if err := json.Unmarshal(rec.Body.Bytes(), &se); err != nil {
			return nil, fmt.Errorf("library answered %d: %s", rec.Code, rec.Body)
		}
		return nil, &se
	}
	return c.ops, nil
}

// body wraps a JSON array of operations in a PatchOp request.
func body(ops string) []byte {
	return []byte(`{"schemas":["` + patchOp + `"],"Operations":` + ops + `}`)
}

// mustJSON decodes a JSON document the way the store hands it to Apply.
func mustJSON(tb testing.TB, s string) map[string]any {
	tb.Helper()
	if strings.TrimSpace(s) == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// canonical renders v as JSON with sorted keys, for comparison and messages.
func canonical(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}
