package patch_test

import (
	"errors"
	"strings"
	"testing"

	scimerrors "github.com/elimity-com/scim/errors"

	"github.com/tenurehq/tenure/scim/patch"
)

// Fixtures. {ent} stands for the enterprise extension URN throughout.
const (
	ada = `{
		"userName": "ada@example.com",
		"name": {"givenName": "Ada", "familyName": "Lovelace"},
		"active": true,
		"emails": [
			{"value": "ada@example.com", "type": "work", "primary": true},
			{"value": "ada@home.example", "type": "home"}
		],
		"{ent}": {"employeeNumber": "42", "manager": {"value": "mgr-1"}}
	}`
	bob         = `{"userName": "bob@example.com"}`
	bobInactive = `{"userName": "bob@example.com", "active": false}`
	bobHome     = `{"userName": "bob@example.com", "emails": [{"value": "bob@home.example", "type": "home", "primary": true}]}`
	engineering = `{
		"displayName": "Engineering",
		"members": [
			{"value": "u1", "display": "Ada", "type": "User", "$ref": "Users/u1"},
			{"value": "u2", "type": "User", "$ref": "Users/u2"}
		]
	}`
)

type applyCase struct {
	name string
	kind kind
	doc  string // the stored document
	ops  string // the Operations array, as the client sent it
	// want is the resulting document; empty means unchanged from doc.
	want    string
	changed bool
	err     scimerrors.ScimType // expected error, from the library or Apply
	opts    patch.Options       // the deviations switched on
}

// entra is what a source for Entra ID switches on.
var entra = patch.Options{CreateOnFilteredReplace: true}

// Every case runs the client's body through compat, the library's PATCH
// validation and Apply, as the server does.
var applyCases = []applyCase{
	// Microsoft Entra ID.
	{
		name: "Entra pathless replace with dotted, URN and filtered keys",
		doc:  ada,
		ops: `[{"op":"Replace","value":{
			"name.givenName":"Augusta","name.familyName":"King",
			"{ent}:employeeNumber":"43","{ent}:manager":{"value":"mgr-2"},
			"emails[type eq \"work\"].value":"augusta@example.com","active":false}}]`,
		want: `{
			"userName": "ada@example.com",
			"name": {"givenName": "Augusta", "familyName": "King"},
			"active": false,
			"emails": [
				{"value": "augusta@example.com", "type": "work", "primary": true},
				{"value": "ada@home.example", "type": "home"}
			],
			"{ent}": {"employeeNumber": "43", "manager": {"value": "mgr-2"}}
		}`,
		changed: true,
	},
	{
		name:    "Entra string boolean by path",
		doc:     ada,
		ops:     `[{"op":"Replace","path":"active","value":"False"}]`,
		want:    strings.Replace(ada, `"active": true`, `"active": false`, 1),
		changed: true,
	},
	{
		name:    "Entra string boolean in a pathless value",
		doc:     bobInactive,
		ops:     `[{"op":"Replace","value":{"active":"True"}}]`,
		want:    `{"userName": "bob@example.com", "active": true}`,
		changed: true,
	},
	{
		name: "Entra string primary inside an added email clears the old primary",
		doc:  bobHome,
		ops:  `[{"op":"Add","path":"emails","value":[{"value":"bob@example.com","type":"work","primary":"True"}]}]`,
		want: `{"userName": "bob@example.com", "emails": [
			{"value": "bob@home.example", "type": "home", "primary": false},
			{"value": "bob@example.com", "type": "work", "primary": true}]}`,
		changed: true,
	},
	{
		name:    "Entra work email replace",
		doc:     ada,
		ops:     `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"augusta@example.com"}]`,
		want:    strings.Replace(ada, `"value": "ada@example.com"`, `"value": "augusta@example.com"`, 1),
		changed: true,
	},
	{
		// Switched on per source: create the element (see onElements).
		name: "Entra work email replace on a user without one creates it",
		doc:  bobHome,
		ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"bob@example.com"}]`,
		want: `{"userName": "bob@example.com", "emails": [
			{"value": "bob@home.example", "type": "home", "primary": true},
			{"value": "bob@example.com", "type": "work"}]}`,
		changed: true,
		opts:    entra,
	},
	{
		name:    "Entra work email replace on a user without emails creates them",
		doc:     bob,
		ops:     `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"bob@example.com"}]`,
		want:    `{"userName": "bob@example.com", "emails": [{"value": "bob@example.com", "type": "work"}]}`,
		changed: true,
		opts:    entra,
	},
	{
		// RFC 7644 §3.5.2.3, for every source that did not switch it on.
		name: "work email replace on a user without one is noTarget",
		doc:  bobHome,
		ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"bob@example.com"}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name: "replace by a filter of a type nobody has is noTarget",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails[type eq \"nonexistent\"].value","value":"x@example.com"}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name: "pathless filtered key matching nothing is noTarget",
		doc:  bob,
		ops:  `[{"op":"replace","value":{"emails[type eq \"work\"].value":"bob@example.com"}}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name:    "Entra add to a filtered path creates the element",
		doc:     bob,
		ops:     `[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}]`,
		want:    `{"userName": "bob@example.com", "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}]}`,
		changed: true,
	},
	{
		name:    "Entra pathless filtered key creates the element",
		doc:     bob,
		ops:     `[{"op":"Add","value":{"addresses[type eq \"work\"].locality":"London"}}]`,
		want:    `{"userName": "bob@example.com", "addresses": [{"type": "work", "locality": "London"}]}`,
		changed: true,
	},
	{
		name:    "Entra work email replace to the current value changes nothing",
		doc:     ada,
		ops:     `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada@example.com"}]`,
		changed: false,
	},
	{
		name:    "Entra manager add by path",
		doc:     ada,
		ops:     `[{"op":"Add","path":"{ent}:manager","value":{"value":"mgr-2"}}]`,
		want:    strings.Replace(ada, `"mgr-1"`, `"mgr-2"`, 1),
		changed: true,
	},
	{
		name:    "Entra manager replace as a plain string",
		doc:     ada,
		ops:     `[{"op":"Replace","path":"{ent}:manager","value":"mgr-2"}]`,
		want:    strings.Replace(ada, `"mgr-1"`, `"mgr-2"`, 1),
		changed: true,
	},
	{
		name:    "Entra manager on a user without the extension creates it",
		doc:     bob,
		ops:     `[{"op":"Add","path":"{ent}:manager","value":"mgr-2"}]`,
		want:    `{"userName": "bob@example.com", "{ent}": {"manager": {"value": "mgr-2"}}}`,
		changed: true,
	},
	{
		name:    "Entra manager remove",
		doc:     ada,
		ops:     `[{"op":"Remove","path":"{ent}:manager"}]`,
		want:    strings.Replace(ada, `, "manager": {"value": "mgr-1"}`, ``, 1),
		changed: true,
	},
	{
		name:    "removing the last extension attribute removes the extension",
		doc:     `{"userName": "bob@example.com", "{ent}": {"manager": {"value": "mgr-1"}}}`,
		ops:     `[{"op":"Remove","path":"{ent}:manager"}]`,
		want:    bob,
		changed: true,
	},
	{
		name:    "Entra manager remove naming the current manager",
		doc:     ada,
		ops:     `[{"op":"Remove","path":"{ent}:manager","value":"mgr-1"}]`,
		want:    strings.Replace(ada, `, "manager": {"value": "mgr-1"}`, ``, 1),
		changed: true,
	},
	{
		name:    "Entra manager remove naming another manager changes nothing",
		doc:     ada,
		ops:     `[{"op":"Remove","path":"{ent}:manager","value":"mgr-9"}]`,
		changed: false,
	},
	{
		name: "Entra add members skips existing ones",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"Add","path":"members","value":[{"value":"u3"},{"value":"u1"}]}]`,
		want: `{"displayName": "Engineering", "members": [
			{"value": "u1", "display": "Ada", "type": "User", "$ref": "Users/u1"},
			{"value": "u2", "type": "User", "$ref": "Users/u2"},
			{"value": "u3"}]}`,
		changed: true,
	},
	{
		name:    "Entra add of an existing member is a no-op",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"Add","path":"members","value":[{"$ref":null,"value":"u2"}]}]`,
		changed: false,
	},
	{
		name: "Entra remove members with a value removes only those",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]`,
		want: `{"displayName": "Engineering", "members": [
			{"value": "u2", "type": "User", "$ref": "Users/u2"}]}`,
		changed: true,
	},
	{
		name:    "Entra remove of a non-member changes nothing",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"Remove","path":"members","value":[{"value":"u9"}]}]`,
		changed: false,
	},
	{
		name:    "Entra remove of every member unassigns members",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]`,
		want:    `{"displayName": "Engineering"}`,
		changed: true,
	},
	{
		name:    "Entra group rename",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"Replace","path":"displayName","value":"Platform"}]`,
		want:    strings.Replace(engineering, `"Engineering"`, `"Platform"`, 1),
		changed: true,
	},
	{
		// elimity-com/scim internal/idp_test/testdata/azuread/update_group.json
		name: "Entra recorded group update",
		kind: group,
		doc:  engineering,
		ops: `[
			{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"},
			{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]},
			{"op":"Remove","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]`,
		want:    strings.Replace(engineering, `"Engineering"`, `"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"`, 1),
		changed: true,
	},
	{
		// elimity-com/scim internal/idp_test/testdata/azuread/update_user.json
		name: "Entra recorded user update",
		doc:  ada,
		ops: `[
			{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
			{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
			{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
			{"op":"Replace","path":"active","value":false}]`,
		want: `{
			"userName": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
			"name": {"givenName": "Ada", "familyName": "updatedFamilyName"},
			"active": false,
			"emails": [
				{"value": "updatedEmail@microsoft.com", "type": "work", "primary": true},
				{"value": "ada@home.example", "type": "home"}
			],
			"{ent}": {"employeeNumber": "42", "manager": {"value": "mgr-1"}}
		}`,
		changed: true,
	},
	{
		name:    "Entra externalId replace",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"Replace","path":"externalId","value":"60f1bb27"}]`,
		want:    strings.Replace(engineering, `"displayName"`, `"externalId": "60f1bb27", "displayName"`, 1),
		changed: true,
	},

	// Okta.
	{
		// elimity-com/scim internal/idp_test/testdata/okta/update_user_patch.json
		name:    "Okta deactivation",
		doc:     ada,
		ops:     `[{"op":"replace","value":{"active":false}}]`,
		want:    strings.Replace(ada, `"active": true`, `"active": false`, 1),
		changed: true,
	},
	{
		name:    "Okta deactivation of an inactive user changes nothing",
		doc:     bobInactive,
		ops:     `[{"op":"replace","value":{"active":false}}]`,
		changed: false,
	},
	{
		// elimity-com/scim internal/idp_test/testdata/okta/update_group_name.json
		name:    "Okta group rename echoing the id",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2"}}]`,
		want:    strings.Replace(engineering, `"Engineering"`, `"Test SCIMv2"`, 1),
		changed: true,
	},
	{
		name: "Okta member removal by filter",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"remove","path":"members[value eq \"u2\"]"}]`,
		want: `{"displayName": "Engineering", "members": [
			{"value": "u1", "display": "Ada", "type": "User", "$ref": "Users/u1"}]}`,
		changed: true,
	},
	{
		name: "Okta member add with display",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"add","path":"members","value":[{"value":"u3","display":"Cy"}]}]`,
		want: `{"displayName": "Engineering", "members": [
			{"value": "u1", "display": "Ada", "type": "User", "$ref": "Users/u1"},
			{"value": "u2", "type": "User", "$ref": "Users/u2"},
			{"value": "u3", "display": "Cy"}]}`,
		changed: true,
	},
	{
		name:    "Okta re-add of a member with a display changes nothing",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"add","path":"members","value":[{"value":"u2","display":"Bo"}]}]`,
		changed: false,
	},
	{
		// elimity-com/scim internal/idp_test/testdata/okta/update_group_membership.json
		name: "Okta recorded membership update",
		kind: group,
		doc:  `{"displayName": "Okta", "members": [{"value": "89bb1940-b905-4575-9e7f-6f887cfb368e"}]}`,
		ops: `[
			{"op":"remove","path":"members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
			{"op":"add","path":"members","value":[{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"}]},
			{"op":"replace","path":"members","value":[
				{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"},
				{"value":"89bb1940-b905-4575-9e7f-6f887cfb368e","display":"test.user@okta.local"}]}]`,
		want: `{"displayName": "Okta", "members": [
			{"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"},
			{"value": "89bb1940-b905-4575-9e7f-6f887cfb368e", "display": "test.user@okta.local"}]}`,
		changed: true,
	},
	{
		name:    "Okta replace of name merges sub-attributes",
		doc:     ada,
		ops:     `[{"op":"replace","path":"name","value":{"givenName":"Augusta","middleName":"Ada"}}]`,
		want:    strings.Replace(ada, `{"givenName": "Ada", "familyName": "Lovelace"}`, `{"givenName": "Augusta", "middleName": "Ada", "familyName": "Lovelace"}`, 1),
		changed: true,
	},
	{
		name: "Okta replace of emails replaces the list",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails","value":[{"value":"augusta@example.com","type":"work","primary":true}]}]`,
		want: `{
			"userName": "ada@example.com",
			"name": {"givenName": "Ada", "familyName": "Lovelace"},
			"active": true,
			"emails": [{"value": "augusta@example.com", "type": "work", "primary": true}],
			"{ent}": {"employeeNumber": "42", "manager": {"value": "mgr-1"}}
		}`,
		changed: true,
	},

	// RFC 7644 §3.5.2 in general.
	{
		name:    "add to a multi-valued attribute appends",
		doc:     bobHome,
		ops:     `[{"op":"add","path":"emails","value":[{"value":"bob@other.example","type":"other"}]}]`,
		want:    strings.Replace(bobHome, `"primary": true}`, `"primary": true}, {"value": "bob@other.example", "type": "other"}`, 1),
		changed: true,
	},
	{
		name:    "add of the same value and type ignores case and changes nothing",
		doc:     ada,
		ops:     `[{"op":"add","path":"emails","value":[{"value":"ADA@example.com","type":"Work"}]}]`,
		changed: false,
	},
	{
		name: "add of an existing value as primary moves primary",
		doc:  ada,
		ops:  `[{"op":"add","path":"emails","value":[{"value":"ada@home.example","type":"home","primary":true}]}]`,
		want: strings.NewReplacer(`"primary": true`, `"primary": false`,
			`"type": "home"}`, `"type": "home", "primary": true}`).Replace(ada),
		changed: true,
	},
	{
		name:    "add of the same value with another type appends",
		doc:     bobHome,
		ops:     `[{"op":"add","path":"emails","value":{"value":"bob@home.example","type":"work"}}]`,
		want:    strings.Replace(bobHome, `"primary": true}`, `"primary": true}, {"value": "bob@home.example", "type": "work"}`, 1),
		changed: true,
	},
	{
		name:    "add to a complex attribute merges",
		doc:     ada,
		ops:     `[{"op":"add","path":"name","value":{"middleName":"Byron"}}]`,
		want:    strings.Replace(ada, `"familyName": "Lovelace"}`, `"familyName": "Lovelace", "middleName": "Byron"}`, 1),
		changed: true,
	},
	{
		name: "pathless add merges complex and appends multi-valued",
		doc:  bobHome,
		ops:  `[{"op":"add","value":{"name":{"givenName":"Bob"},"emails":[{"value":"bob@example.com","type":"work"}]}}]`,
		want: `{"userName": "bob@example.com", "name": {"givenName": "Bob"}, "emails": [
			{"value": "bob@home.example", "type": "home", "primary": true},
			{"value": "bob@example.com", "type": "work"}]}`,
		changed: true,
	},
	{
		name:    "pathless replace applies whole attributes before paths into them",
		doc:     bob,
		ops:     `[{"op":"replace","value":{"name.givenName":"Robert","name":{"givenName":"Bob","familyName":"Babbage"}}}]`,
		want:    `{"userName": "bob@example.com", "name": {"givenName": "Robert", "familyName": "Babbage"}}`,
		changed: true,
	},
	{
		name:    "replace of a missing attribute adds it",
		doc:     bob,
		ops:     `[{"op":"replace","path":"title","value":"Countess"}]`,
		want:    `{"userName": "bob@example.com", "title": "Countess"}`,
		changed: true,
	},
	{
		name:    "replace with the current value changes nothing",
		doc:     ada,
		ops:     `[{"op":"replace","path":"userName","value":"ada@example.com"}]`,
		changed: false,
	},
	{
		name:    "remove of an absent attribute succeeds",
		doc:     ada,
		ops:     `[{"op":"remove","path":"title"}]`,
		changed: false,
	},
	{
		name:    "remove of an absent sub-attribute succeeds",
		doc:     bob,
		ops:     `[{"op":"remove","path":"name.middleName"}]`,
		changed: false,
	},
	{
		name:    "remove of an absent value succeeds",
		doc:     ada,
		ops:     `[{"op":"remove","path":"emails[type eq \"other\"]"}]`,
		changed: false,
	},
	{
		name:    "remove by filter removes the matching elements",
		doc:     ada,
		ops:     `[{"op":"remove","path":"emails[type eq \"work\"]"}]`,
		want:    strings.Replace(ada, `{"value": "ada@example.com", "type": "work", "primary": true},`, ``, 1),
		changed: true,
	},
	{
		name:    "remove by filter and sub-attribute removes only the sub-attribute",
		doc:     ada,
		ops:     `[{"op":"remove","path":"emails[type eq \"work\"].value"}]`,
		want:    strings.Replace(ada, `"value": "ada@example.com", `, ``, 1),
		changed: true,
	},
	{
		name:    "removing the last element unassigns the attribute",
		doc:     bobHome,
		ops:     `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
		want:    bob,
		changed: true,
	},
	{
		name:    "removing the last sub-attribute unassigns the complex attribute",
		doc:     `{"userName": "bob@example.com", "name": {"givenName": "Bob"}}`,
		ops:     `[{"op":"remove","path":"name.givenName"}]`,
		want:    bob,
		changed: true,
	},
	{
		name: "primary on one element clears it on the others",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]`,
		want: strings.NewReplacer(`"primary": true`, `"primary": false`,
			`"type": "home"}`, `"type": "home", "primary": true}`).Replace(ada),
		changed: true,
	},
	{
		name:    "replace by filter merges into the element",
		doc:     ada,
		ops:     `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"ada@house.example"}}]`,
		want:    strings.Replace(ada, `"ada@home.example"`, `"ada@house.example"`, 1),
		changed: true,
	},
	{
		name:    "a sub-attribute without a filter addresses every element",
		doc:     ada,
		ops:     `[{"op":"add","path":"emails.display","value":"Ada"}]`,
		want:    strings.NewReplacer(`"type": "work"`, `"type": "work", "display": "Ada"`, `"type": "home"`, `"type": "home", "display": "Ada"`).Replace(ada),
		changed: true,
	},
	{
		name:    "a path into a missing complex attribute creates it",
		doc:     bob,
		ops:     `[{"op":"add","path":"name.givenName","value":"Bob"}]`,
		want:    `{"userName": "bob@example.com", "name": {"givenName": "Bob"}}`,
		changed: true,
	},
	{
		name:    "paths are case-insensitive and written canonically",
		doc:     ada,
		ops:     `[{"op":"replace","path":"USERNAME","value":"augusta@example.com"}]`,
		want:    strings.Replace(ada, `"userName": "ada@example.com"`, `"userName": "augusta@example.com"`, 1),
		changed: true,
	},
	{
		name: "pathless keys are case-insensitive and written canonically",
		doc:  bob,
		ops: `[{"op":"replace","value":{"NAME.GIVENNAME":"Bob","{ent}:EMPLOYEENUMBER":"7",
			"Emails[Type eq \"work\"].Value":"bob@example.com","ACTIVE":true}}]`,
		want: `{"userName": "bob@example.com", "name": {"givenName": "Bob"}, "active": true,
			"emails": [{"value": "bob@example.com", "type": "work"}], "{ent}": {"employeeNumber": "7"}}`,
		changed: true,
		opts:    entra,
	},
	{
		name: "a single object for a multi-valued attribute is wrapped",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails","value":{"value":"augusta@example.com","type":"work"}}]`,
		want: strings.Replace(ada, `{"value": "ada@example.com", "type": "work", "primary": true},
			{"value": "ada@home.example", "type": "home"}`, `{"value": "augusta@example.com", "type": "work"}`, 1),
		changed: true,
	},
	{
		name:    "replace with an empty list unassigns",
		doc:     bobHome,
		ops:     `[{"op":"replace","path":"emails","value":[]}]`,
		want:    bob,
		changed: true,
	},
	{
		name: "operations apply in order",
		doc:  ada,
		ops: `[{"op":"add","path":"title","value":"A"},{"op":"replace","path":"title","value":"B"},
			{"op":"remove","path":"title"}]`,
		changed: false,
	},

	// Errors.
	{
		name: "remove without a path",
		doc:  ada,
		ops:  `[{"op":"remove"}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name: "replace by a filter that matches nothing and names no element",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails[value co \"nobody\"].type","value":"other"}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name: "replace by a disjunction that matches nothing",
		doc:  ada,
		ops:  `[{"op":"replace","path":"emails[type eq \"pager\" or type eq \"fax\"].value","value":"x@y.example"}]`,
		err:  scimerrors.ScimTypeNoTarget,
	},
	{
		name: "unknown attribute path",
		doc:  ada,
		ops:  `[{"op":"replace","path":"shoeSize","value":"9"}]`,
		err:  scimerrors.ScimTypeInvalidPath,
	},
	{
		// The library rejects unknown pathless keys before Apply, with
		// invalidValue; Apply's own answer is invalidPath (TestApplyDirect).
		name: "unknown pathless key",
		doc:  ada,
		ops:  `[{"op":"replace","value":{"shoeSize":"9"}}]`,
		err:  scimerrors.ScimTypeInvalidValue,
	},
	{
		name: "value filter on a single-valued attribute",
		doc:  ada,
		ops:  `[{"op":"replace","path":"name[givenName eq \"Ada\"].familyName","value":"King"}]`,
		err:  scimerrors.ScimTypeInvalidPath,
	},
	{
		name: "readOnly attribute",
		doc:  ada,
		ops:  `[{"op":"add","path":"groups","value":[{"value":"g1"}]}]`,
		err:  scimerrors.ScimTypeMutability,
	},
	{
		name: "readOnly sub-attribute",
		doc:  ada,
		ops:  `[{"op":"replace","path":"{ent}:manager.displayName","value":"Boss"}]`,
		err:  scimerrors.ScimTypeMutability,
	},
	{
		name: "immutable sub-attribute of an existing member",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"replace","path":"members[value eq \"u1\"].display","value":"Augusta"}]`,
		err:  scimerrors.ScimTypeMutability,
	},
	{
		name: "immutable sub-attribute merged into an existing member",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"replace","path":"members[value eq \"u1\"]","value":{"display":"Augusta"}}]`,
		err:  scimerrors.ScimTypeMutability,
	},
	{
		name: "immutable sub-attribute removed",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"remove","path":"members[value eq \"u1\"].display"}]`,
		err:  scimerrors.ScimTypeMutability,
	},
	{
		name:    "immutable sub-attribute set where it has no value",
		kind:    group,
		doc:     engineering,
		ops:     `[{"op":"add","path":"members[value eq \"u2\"].display","value":"Bo"}]`,
		want:    strings.Replace(engineering, `{"value": "u2", `, `{"value": "u2", "display": "Bo", `, 1),
		changed: true,
	},
	{
		name: "required attribute removed",
		doc:  ada,
		ops:  `[{"op":"remove","path":"userName"}]`,
		err:  scimerrors.ScimTypeInvalidValue,
	},
	{
		name: "required group attribute removed",
		kind: group,
		doc:  engineering,
		ops:  `[{"op":"Remove","path":"displayName"}]`,
		err:  scimerrors.ScimTypeInvalidValue,
	},
	{
		name: "two primary values",
		doc:  ada,
		ops: `[{"op":"replace","path":"emails","value":[{"value":"a@x.example","primary":true},
			{"value":"b@x.example","primary":true}]}]`,
		err: scimerrors.ScimTypeInvalidValue,
	},
	{
		name: "value of the wrong type",
		doc:  ada,
		ops:  `[{"op":"replace","path":"active","value":"maybe"}]`,
		err:  scimerrors.ScimTypeInvalidValue,
	},
	{
		name: "id path",
		doc:  ada,
		ops:  `[{"op":"replace","path":"id","value":"x"}]`,
		err:  scimerrors.ScimTypeInvalidPath,
	},
	{
		name: "a failing operation aborts the whole request",
		doc:  ada,
		ops:  `[{"op":"replace","path":"title","value":"Countess"},{"op":"remove","path":"userName"}]`,
		err:  scimerrors.ScimTypeInvalidValue,
	},
}

func TestApply(t *testing.T) {
	ent := strings.NewReplacer("{ent}", enterprise)
	for _, c := range applyCases {
		t.Run(c.name, func(t *testing.T) {
			doc := mustJSON(t, ent.Replace(c.doc))
			before := canonical(t, doc)
			s, exts := c.kind.schemas()

			ops, err := parseOps(c.kind, body(ent.Replace(c.ops)))
			var out map[string]any
			var changed bool
			if err == nil {
				out, changed, err = c.opts.Apply(doc, ops, s, exts...)
			}
			if got := canonical(t, doc); got != before {
				t.Errorf("Apply mutated its input:\n got %s\nwant %s", got, before)
			}
			if c.err != "" {
				var se *scimerrors.ScimError
				if !errors.As(err, &se) || se.ScimType != c.err {
					t.Fatalf("err = %v; want scimType %s", err, c.err)
				}
				t.Logf("as a client sees it: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := c.want
			if want == "" {
				want = c.doc
			}
			if got, want := canonical(t, out), canonical(t, mustJSON(t, ent.Replace(want))); got != want {
				t.Errorf("document:\n got %s\nwant %s", got, want)
			}
			if changed != c.changed {
				t.Errorf("changed = %v; want %v", changed, c.changed)
			}
		})
	}
}
