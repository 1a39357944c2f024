package query

import (
	"encoding/json"
	"strings"

	"github.com/elimity-com/scim/schema"
)

const (
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// testURN is an extension with one attribute of every type and
	// "returned" characteristic that the core schemas lack.
	testURN = "urn:example:scim:schemas:extension:test:2.0:User"
	// msGroupURN is the schema Microsoft Entra ID adds to groups; it
	// declares no attributes.
	msGroupURN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// testExtension returns the schema of testURN.
func testExtension() schema.Schema {
	return schema.Schema{
		ID: testURN,
		Attributes: schema.Attributes{
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "level", Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "score", Type: schema.AttributeTypeDecimal()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "ratings", MultiValued: true, Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "hiredAt"})),
			schema.SimpleCoreAttribute(schema.SimpleBinaryParams(schema.BinaryParams{Name: "badge"})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "code", CaseExact: true})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tags", MultiValued: true})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "secret", Returned: schema.AttributeReturnedRequest()})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "token", Returned: schema.AttributeReturnedNever()})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tenant", Returned: schema.AttributeReturnedAlways()})),
			schema.ComplexCoreAttribute(schema.ComplexParams{
				Name:        "devices",
				MultiValued: true,
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{Name: "value"}),
					schema.SimpleStringParams(schema.StringParams{Name: "serial", Returned: schema.AttributeReturnedRequest()}),
					schema.SimpleStringParams(schema.StringParams{Name: "pin", Returned: schema.AttributeReturnedNever()}),
				},
			}),
		},
	}
}

// userSchemas is how tests pass the User resource type: core schema and
// extensions.
func userSchemas() (schema.Schema, []schema.Schema) {
	return schema.CoreUserSchema(), []schema.Schema{schema.ExtensionEnterpriseUser(), testExtension()}
}

// groupSchemas is the Group resource type as Entra ID sees it.
func groupSchemas() (schema.Schema, []schema.Schema) {
	return schema.CoreGroupSchema(), []schema.Schema{{ID: msGroupURN}}
}

// userDoc returns a fresh user document in the shape the SCIM layer builds,
// decoded from JSON so that numbers are json.Number, as in production.
func userDoc() map[string]any {
	return decode(`{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "` + enterpriseURN + `", "` + testURN + `"],
		"id": "2819c223-7f76-453a-919d-413861904646",
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName": "Test.User@Example.com",
		"name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
		"displayName": "Babs Jensen",
		"nickName": "",
		"title": null,
		"active": true,
		"password": "t1meMa$heen",
		"emails": [
			{"value": "bjensen@example.com", "type": "work", "primary": true},
			{"value": "babs@jensen.org", "type": "home"}
		],
		"phoneNumbers": [],
		"addresses": [{}],
		"x509Certificates": [{"value": "TUlJRERqQ0NBZmFnQXdJQkFnSUk="}],
		"meta": {
			"resourceType": "User",
			"created": "2010-01-23T04:56:22Z",
			"lastModified": "2011-05-13T04:42:34Z",
			"version": "W/\"3694e05e9dff591\""
		},
		"` + enterpriseURN + `": {
			"employeeNumber": "42",
			"department": "Tour Operations",
			"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
		},
		"` + testURN + `": {
			"level": 7,
			"score": 2.5,
			"ratings": [3, 9],
			"hiredAt": "2015-03-01T09:30:00+01:00",
			"badge": "QmFkZ2U=",
			"code": "AbC",
			"tags": ["blue", "Green"],
			"secret": "s3cr3t",
			"token": "tok",
			"tenant": "acme",
			"devices": [
				{"value": "laptop", "serial": "SN-1", "pin": "1234"},
				{"value": "phone", "serial": "SN-2"}
			]
		}
	}`)
}

// groupDoc returns a fresh group document as Entra ID provisions it.
func groupDoc() map[string]any {
	return decode(`{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "` + msGroupURN + `"],
		"id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
		"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"displayName": "Sales",
		"members": [
			{"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User"},
			{"value": "abc", "type": "Group"}
		],
		"meta": {"resourceType": "Group", "created": "2020-06-01T00:00:00Z", "lastModified": "2020-06-02T00:00:00Z"},
		"` + msGroupURN + `": {"note": "opaque to Tenure"}
	}`)
}

// decode parses a JSON object the way the SCIM layer does.
func decode(s string) map[string]any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}
