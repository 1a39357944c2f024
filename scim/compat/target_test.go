package compat

import (
	"strings"
	"testing"

	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// reference resolves p with the parser the library uses.
func (n *normalizer) reference(p string) (schema.CoreAttribute, bool) {
	var none schema.CoreAttribute
	path, err := filter.ParsePath([]byte(p))
	if err != nil {
		return none, false
	}
	s := n.core
	if uri := path.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, n.core.ID) {
		ext, ok := n.extension(uri)
		if !ok {
			return none, false
		}
		s = ext
	}
	attr, ok := s.Attributes.ContainsAttribute(path.AttributePath.AttributeName)
	if !ok {
		return none, false
	}
	sub := path.AttributePath.SubAttributeName()
	if path.ValueExpression != nil {
		if sub != "" {
			return none, false
		}
		sub = path.SubAttributeName()
	}
	if sub == "" {
		return attr, true
	}
	return attr.SubAttributes().ContainsAttribute(sub)
}

// checkTarget asserts that target finds what the library's parser finds. It
// may find an attribute in a path the parser rejects: the library answers
// 400 to those whatever their value.
func checkTarget(t *testing.T, p string) {
	n := &normalizer{core: schema.CoreUserSchema(), exts: []schema.Schema{schema.ExtensionEnterpriseUser()}}
	want, wok := n.reference(p)
	got, gok := n.target(p)
	if wok && (!gok || got.Name() != want.Name() || got.AttributeType() != want.AttributeType() || got.MultiValued() != want.MultiValued()) {
		t.Errorf("target(%q) = %s, %v; the parser finds %s", p, got.Name(), gok, want.Name())
	}
}

func TestTarget(t *testing.T) {
	for _, p := range []string{
		"active", "ACTIVE", "emails", "name.givenName", "emails.primary",
		`emails[type eq "work"]`, `emails[type eq "work"].primary`, `emails[value eq "a]b"].primary`,
		`emails[value eq "a\"]"].primary`, `emails[type eq "work" and (primary eq true or value co ":")].type`,
		"urn:ietf:params:scim:schemas:core:2.0:User:active",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
		"urn:x:active", "a.b:active", "x509Certificates.primary", "members.$ref",
		"", ".", "[", "active.", "active[", "emails[]", "emails[type eq \"x\"]x", "-active", "name.givenName.x",
	} {
		checkTarget(t, p)
	}
	n := &normalizer{core: schema.CoreUserSchema(), exts: []schema.Schema{schema.ExtensionEnterpriseUser()}}
	for p, want := range map[string]string{
		"active": "active", `emails[type eq "work"].primary`: "primary", "name.GIVENNAME": "givenName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "manager",
	} {
		if got, ok := n.target(p); !ok || got.Name() != want {
			t.Errorf("target(%q) = %s, %v; want %s", p, got.Name(), ok, want)
		}
	}
}

// FuzzTarget compares target with the library's parser on arbitrary paths.
func FuzzTarget(f *testing.F) {
	for _, p := range []string{
		"active", "name.givenName", `emails[type eq "work"].primary`, `emails[value eq "a\"]"].primary`,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		"urn:ietf:params:scim:schemas:core:2.0:User:emails[primary eq true]",
	} {
		f.Add(p)
	}
	f.Fuzz(checkTarget)
}
