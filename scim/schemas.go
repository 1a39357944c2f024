package scim

import (
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// Schema URNs Tenure serves.
const (
	SchemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// SchemaTenure carries the HR data lifecycle decisions need.
	SchemaTenure = "urn:ietf:params:scim:schemas:extension:tenure:2.0:User"
)

// TenureUserSchema is Tenure's lifecycle extension. Dates are strings, not
// SCIM dateTime: HR systems send date-only values ("2026-03-02") meaning local
// midnight in the person's timezone, which xsd:dateTime cannot express. The
// handler checks that they parse as a date or an RFC 3339 instant.
func TenureUserSchema() schema.Schema {
	str := func(name, desc string) schema.CoreAttribute {
		return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name:        name,
			Description: optional.NewString(desc),
		}))
	}
	return schema.Schema{
		ID:          SchemaTenure,
		Name:        optional.NewString("Tenure lifecycle"),
		Description: optional.NewString("HR data that drives joiner, mover and leaver transitions in Tenure."),
		Attributes: []schema.CoreAttribute{
			str("startDate", "First working day: YYYY-MM-DD (local midnight in the user's timezone) or an RFC 3339 instant."),
			str("endDate", "Last working day: YYYY-MM-DD (access ends at the end of that local day) or an RFC 3339 instant."),
			str("location", "Work location; a position attribute."),
			str("jobCode", "HR job code; a position attribute."),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name:        "workerId",
				Description: optional.NewString("Stable HR person id, kept across rehires; a natural lifecycle.correlation key."),
				CaseExact:   true,
			})),
		},
	}
}

// userSchemas returns the core User schema and its extensions, in the order
// the server advertises them.
func userSchemas() (schema.Schema, []schema.Schema) {
	return schema.CoreUserSchema(), []schema.Schema{schema.ExtensionEnterpriseUser(), TenureUserSchema()}
}

func groupSchemas() (schema.Schema, []schema.Schema) {
	return schema.CoreGroupSchema(), nil
}
