package query

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/elimity-com/scim/schema"
)

type matchCase struct {
	filter string
	want   bool
}

// runMatch compiles each filter against the schemas and matches it on doc.
func runMatch(t *testing.T, s schema.Schema, exts []schema.Schema, doc map[string]any, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			f, err := Compile(tc.filter, s, exts...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := f.Match(doc); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchOperators(t *testing.T) {
	s, exts := userSchemas()
	// userName is "Test.User@Example.com" and caseExact false.
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`userName eq "test.user@example.com"`, true},
		{`userName eq "test.user"`, false},
		{`userName ne "someone@example.com"`, true},
		{`userName ne "TEST.USER@EXAMPLE.COM"`, false},
		{`userName co "USER@"`, true},
		{`userName co "nobody"`, false},
		{`userName sw "test."`, true},
		{`userName sw "user"`, false},
		{`userName ew "EXAMPLE.COM"`, true},
		{`userName ew "example"`, false},
		{`userName gt "s"`, true},
		{`userName gt "u"`, false},
		{`userName ge "test.user@example.com"`, true},
		{`userName ge "TEST.USER@EXAMPLE.COMa"`, false},
		{`userName lt "U"`, true},
		{`userName lt "t"`, false},
		{`userName le "test.user@example.com"`, true},
		{`userName le "test"`, false},
		{`userName pr`, true},
		{`locale pr`, false},
		// Operators, keywords and literals are case-insensitive.
		{`userName EQ "test.user@example.com"`, true},
		{`userName Pr`, true},
		{`active eq TRUE`, true},
	})
}

func TestMatchCaseSensitivity(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		// caseExact false: userName, displayName, name.*, emails.value.
		{`userName eq "TEST.USER@EXAMPLE.COM"`, true},
		{`displayName eq "babs jensen"`, true},
		{`name.givenName eq "BARBARA"`, true},
		{`emails.value eq "BJENSEN@example.com"`, true},
		// caseExact true: id, externalId, meta.resourceType, meta.version
		// and the test extension's code.
		{`id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		{`id eq "2819C223-7F76-453A-919D-413861904646"`, false},
		{`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, true},
		{`externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"`, false},
		{`externalId sw "0A21"`, false},
		{`meta.resourceType eq "User"`, true},
		{`meta.resourceType eq "user"`, false},
		{`urn:example:scim:schemas:extension:test:2.0:User:code eq "AbC"`, true},
		{`urn:example:scim:schemas:extension:test:2.0:User:code eq "abc"`, false},
		{`urn:example:scim:schemas:extension:test:2.0:User:code co "bC"`, true},
		{`urn:example:scim:schemas:extension:test:2.0:User:code co "bc"`, false},
		// Attribute names and schema URNs are case-insensitive.
		{`USERNAME eq "test.user@example.com"`, true},
		{`Name.GivenName eq "Barbara"`, true},
		{`EMAILS[TYPE eq "work"]`, true},
		{`URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName eq "test.user@example.com"`, true},
	})
}

func TestMatchMultiValued(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		// Any value may match: babs@jensen.org is the second email.
		{`emails.value eq "babs@jensen.org"`, true},
		{`emails.value eq "nobody@example.com"`, false},
		{`emails.type eq "home"`, true},
		{`emails.primary eq true`, true},
		// ne also needs only one value to differ (RFC 7644 §3.4.2.2).
		{`emails.value ne "bjensen@example.com"`, true},
		// A complex attribute without a sub-attribute means its value.
		{`emails eq "babs@jensen.org"`, true},
		{`emails co "jensen"`, true},
		{`emails sw "nobody"`, false},
		{`x509Certificates eq "TUlJRERqQ0NBZmFnQXdJQkFnSUk="`, true},
		{`x509Certificates eq "tUlJRERqQ0NBZmFnQXdJQkFnSUk="`, false}, // binary is caseExact
		// Multi-valued simple attributes.
		{`urn:example:scim:schemas:extension:test:2.0:User:tags eq "green"`, true},
		{`urn:example:scim:schemas:extension:test:2.0:User:tags eq "red"`, false},
		{`urn:example:scim:schemas:extension:test:2.0:User:ratings gt 8`, true},
		{`urn:example:scim:schemas:extension:test:2.0:User:ratings eq 5`, false},
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, true},
	})
}

func TestMatchValuePaths(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`emails[type eq "work"]`, true},
		{`emails[type eq "other"]`, false},
		{`emails [type eq "work"]`, true},
		{`emails[type eq "work" and value co "@example.com"]`, true},
		// Both conditions must hold for the same element: the home email
		// is not at example.com, the work email is.
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "home" or value co "@example.com"]`, true},
		{`emails[not (type eq "work")]`, true},
		{`emails[not (type eq "work" or type eq "home")]`, false},
		// RFC 7644 allows full filters inside brackets; filter-parser alone
		// does not (three terms, parentheses).
		{`emails[type eq "work" and value co "@example" and primary eq true]`, true},
		{`emails[(type eq "work") and (primary eq false or value pr)]`, true},
		{`emails[type eq "home" and (primary eq true)]`, false},
		// A sub-attribute after the brackets.
		{`emails[type eq "work"].value eq "bjensen@example.com"`, true},
		{`emails[type eq "home"].value eq "bjensen@example.com"`, false},
		{`emails[type eq "work"].value eq "BJENSEN@EXAMPLE.COM"`, true},
		{`emails[type eq "work" and primary eq true].value sw "bjensen"`, true},
		{`emails[type eq "work"].primary eq true`, true},
		{`emails[type eq "home"].primary eq true`, false},
		{`emails[type eq "work"].value pr`, true},
		{`emails[type eq "work"].display pr`, false},
		{`emails[type eq "work"].value eq "x" or userName pr`, true},
		{`emails[type eq "work"] and userName sw "test"`, true},
		{`not (emails[type eq "work"])`, false},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value eq "bjensen@example.com"`, true},
		{`x509Certificates[value eq "TUlJRERqQ0NBZmFnQXdJQkFnSUk="]`, true},
		{`addresses[type pr]`, false},
		{`phoneNumbers[type eq "work"]`, false},
		// Extension attributes take value paths too.
		{`urn:example:scim:schemas:extension:test:2.0:User:devices[value eq "phone"].serial eq "SN-2"`, true},
		{`urn:example:scim:schemas:extension:test:2.0:User:devices[value eq "phone"].serial eq "SN-1"`, false},
		// Brackets inside strings are just characters.
		{`emails[value eq "a]b"] or emails[value eq "[x"]`, false},
		{`userName eq "emails[type eq \"work\"]"`, false},
	})
}

func TestMatchPresenceAndNull(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`emails pr`, true},
		{`name pr`, true},
		{`meta pr`, true},
		{`meta.lastModified pr`, true},
		{`name.middleName pr`, false},
		{`nickName pr`, false},     // ""
		{`title pr`, false},        // null
		{`phoneNumbers pr`, false}, // []
		{`addresses pr`, false},    // [{}]
		{`locale pr`, false},       // absent
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr`, false},
		// RFC 7643 §2.5: null and unassigned are the same.
		{`title eq null`, true},
		{`title ne null`, false},
		{`locale eq null`, true},
		{`userName eq null`, false},
		{`userName ne null`, true},
		{`emails[display eq null]`, true},
		{`name eq null`, false},
		{`phoneNumbers eq null`, true},
		{`emails ne null`, true},
	})
}

func TestMatchBooleans(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`active ne true`, false},
		{`ACTIVE EQ True`, true},
		{`active eq "true"`, false}, // wrong type: no match
		{`active eq 1`, false},
	})
}

func TestMatchNumbers(t *testing.T) {
	s, exts := userSchemas()
	const level = "urn:example:scim:schemas:extension:test:2.0:User:level"
	const score = "urn:example:scim:schemas:extension:test:2.0:User:score"
	runMatch(t, s, exts, userDoc(), []matchCase{
		{level + ` eq 7`, true},
		{level + ` eq 7.0`, true},
		{level + ` eq 70e-1`, true},
		{level + ` ne 8`, true},
		{level + ` ne 7`, false},
		{level + ` gt 6`, true},
		{level + ` gt 7`, false},
		{level + ` ge 7`, true},
		{level + ` ge 7.5`, false},
		{level + ` lt 1e1`, true},
		{level + ` lt 7`, false},
		{level + ` le 7`, true},
		{level + ` le -7`, false},
		{level + ` eq "7"`, false}, // wrong type: no match
		{score + ` eq 2.5`, true},
		{score + ` eq 25E-1`, true},
		{score + ` gt 2`, true},
		{score + ` lt 2.49`, false},
		{score + ` gt 123456789012345678901234567890`, false},
		{score + ` gt -1e400`, true},
		{`level eq 7`, true}, // unqualified extension attribute
	})
}

func TestMatchNumberTypes(t *testing.T) {
	s, exts := userSchemas()
	tests := []struct {
		name   string
		value  any
		filter string
		want   bool
	}{
		{"json.Number", json.Number("7"), `level eq 7`, true},
		{"json.Number float", json.Number("7.0"), `level eq 7`, true},
		{"float64", float64(7), `level eq 7`, true},
		{"float32", float32(7.5), `level gt 7`, true},
		{"int", 7, `level eq 7.0`, true},
		{"int8", int8(-7), `level lt 0`, true},
		{"int16", int16(7), `level eq 7`, true},
		{"int32", int32(7), `level eq 7`, true},
		{"int64", int64(7), `level ge 7`, true},
		{"uint", uint(7), `level le 7`, true},
		{"uint8", uint8(7), `level eq 7`, true},
		{"uint16", uint16(7), `level eq 7`, true},
		{"uint32", uint32(7), `level eq 7`, true},
		{"uint64", uint64(7), `level eq 7`, true},
		{"huge uint64", uint64(math.MaxUint64), `level gt 9223372036854775807`, true},
		// Integers beyond float64 precision still compare exactly.
		{"int64 exact", int64(9007199254740993), `level eq 9007199254740993`, true},
		{"int64 exact ne", int64(9007199254740993), `level eq 9007199254740992`, false},
		{"NaN", math.NaN(), `level ne 1`, false},
		{"bad json.Number", json.Number("seven"), `level ne 1`, false},
		{"string", "7", `level eq 7`, false},
		{"bool", true, `level eq 1`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(tc.filter, s, exts...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			doc := map[string]any{testURN: map[string]any{"level": tc.value}}
			if got := f.Match(doc); got != tc.want {
				t.Errorf("Match(level=%#v) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

func TestMatchDateTimes(t *testing.T) {
	s, exts := userSchemas()
	// meta.created is 2010-01-23T04:56:22Z, meta.lastModified is
	// 2011-05-13T04:42:34Z, hiredAt is 2015-03-01T09:30:00+01:00.
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`meta.lastModified gt "2011-05-13T04:42:33Z"`, true},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{`meta.created gt "2011-05-13T04:42:34Z"`, false},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified lt "2011-05-13T04:42:34.001Z"`, true},
		{`meta.lastModified le "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified ne "2011-05-13T04:42:34Z"`, false},
		// Instants, not strings: other zones, fractions, no zone (UTC).
		{`meta.lastModified eq "2011-05-13T06:42:34+02:00"`, true},
		{`meta.lastModified eq "2011-05-13T04:42:34.000Z"`, true},
		{`meta.lastModified eq "2011-05-13T04:42:34"`, true},
		{`meta.lastModified lt "2011-05-13T05:00:00+01:00"`, false},
		{`urn:example:scim:schemas:extension:test:2.0:User:hiredAt eq "2015-03-01T08:30:00Z"`, true},
		{`meta.created lt "2011-01-01T00:00:00Z" and meta.lastModified gt "2011-01-01T00:00:00Z"`, true},
		// Not a dateTime: no match.
		{`meta.lastModified gt "yesterday"`, false},
		{`meta.lastModified gt 5`, false},
	})
}

func TestMatchURNPaths(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "43"`, false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName co "smith"`, true},
		{`employeeNumber eq "42"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "test.user@example.com"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "Jensen"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:id pr`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:meta.resourceType eq "User"`, true},
	})
}

func TestMatchLogic(t *testing.T) {
	s, exts := userSchemas()
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`userName eq "x" or active eq true`, true},
		{`userName eq "x" or active eq false`, false},
		{`userName pr and active eq true`, true},
		{`userName pr and active eq false`, false},
		{`not (userName eq "x")`, true},
		{`not(active eq true)`, false},
		{`NOT (active eq true)`, false},
		{`not (not (active eq true))`, true},
		// and binds tighter than or: (F and F) or T.
		{`userName eq "x" and active eq false or id pr`, true},
		// T or (F and F); a left-to-right reading would give false.
		{`id pr or userName eq "x" and active eq false`, true},
		{`(id pr or userName eq "x") and active eq false`, false},
		{`id pr and (userName eq "x" or active eq true)`, true},
		{`not (id pr or active eq false)`, false},
		{`not (active eq false) and not (userName eq "x")`, true},
		{`userName pr and active pr and id pr and externalId pr and emails pr`, true},
		{`userName eq "a" or userName eq "b" or userName eq "c" or active eq true`, true},
		{`((((userName pr))))`, true},
		{`  userName pr  `, true},
	})
}

func TestMatchEscapes(t *testing.T) {
	s, exts := userSchemas()
	// meta.version is W/"3694e05e9dff591".
	runMatch(t, s, exts, userDoc(), []matchCase{
		{`meta.version eq "W/\"3694e05e9dff591\""`, true},
		{`meta.version sw "W\/\""`, true},
		{`displayName eq "Babs\u0020Jensen"`, true},
		{`displayName eq "Babs \u004Aensen"`, true},
		{`displayName eq "Babs \u004aensen"`, true}, // lower-case hex, which filter-parser alone rejects
		{`displayName eq "Babs\tJensen"`, false},
		{`emails[type eq "w\u006Frk"].value eq "bjensen@example.com"`, true},
	})
}

func TestMatchGroups(t *testing.T) {
	s, exts := groupSchemas()
	runMatch(t, s, exts, groupDoc(), []matchCase{
		{`displayName eq "Sales"`, true},
		{`displayName eq "sales"`, true},
		{`displayName eq "Marketing"`, false},
		{`externalId eq "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"`, true},
		{`members[value eq "abc"]`, true},
		{`members[value eq "nobody"]`, false},
		{`members[type eq "Group" and value eq "abc"]`, true},
		{`members[type eq "User" and value eq "abc"]`, false},
		{`members.value eq "abc"`, true},
		{`members eq "abc"`, true},
		{`members pr`, true},
		// How Entra ID checks a membership before adding it.
		{`id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and members[value eq "2819c223-7f76-453a-919d-413861904646"]`, true},
		{`id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and members[value eq "someone-else"]`, false},
		{`meta.resourceType eq "Group"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Sales"`, true},
	})
}

// TestMatchWrongTypes matches filters against a document whose every value
// has the wrong type: nothing matches and nothing panics.
func TestMatchWrongTypes(t *testing.T) {
	s, exts := userSchemas()
	doc := map[string]any{
		"userName":         42,
		"displayName":      []any{"Babs"},
		"name":             "Barbara",
		"emails":           "bjensen@example.com",
		"phoneNumbers":     []any{1, "x", nil, map[string]any{"value": 5, "primary": "yes"}},
		"active":           "true",
		"meta":             map[string]any{"lastModified": 5, "created": true},
		"x509Certificates": map[string]any{"value": []any{1}},
		enterpriseURN:      "not an object",
		testURN:            map[string]any{"level": "7", "hiredAt": true, "tags": []any{1, 2}, "devices": []any{[]any{"x"}}},
	}
	filters := []string{
		`userName eq "42"`,
		`userName gt "4"`,
		`displayName eq "Babs"`, // single-valued: a list is the wrong type
		`name.givenName eq "Barbara"`,
		`emails.value eq "bjensen@example.com"`,
		`emails[type eq "work"]`,
		`phoneNumbers.value eq "5"`,
		`phoneNumbers.value gt 1`,
		`phoneNumbers[primary eq true]`,
		`active eq true`,
		`meta.lastModified gt "2000-01-01T00:00:00Z"`,
		`meta.created eq true`,
		`x509Certificates[value eq "x"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr`,
		`urn:example:scim:schemas:extension:test:2.0:User:level eq 7`,
		`urn:example:scim:schemas:extension:test:2.0:User:hiredAt lt "2100-01-01T00:00:00Z"`,
		`urn:example:scim:schemas:extension:test:2.0:User:tags eq "1"`,
		`urn:example:scim:schemas:extension:test:2.0:User:devices[value pr]`,
	}
	for _, raw := range filters {
		t.Run(raw, func(t *testing.T) {
			f, err := Compile(raw, s, exts...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if f.Match(doc) {
				t.Error("Match = true on a wrongly typed value")
			}
			if f.Match(nil) {
				t.Error("Match(nil) = true")
			}
		})
	}
}

// TestMatchWrongCompareTypes checks that a compare value of the wrong type
// compiles to a comparison that never matches, so its negation always does.
func TestMatchWrongCompareTypes(t *testing.T) {
	s, exts := userSchemas()
	doc := userDoc()
	for _, raw := range []string{
		`userName eq 42`,
		`userName eq true`,
		`active eq 1`,
		`active eq "true"`,
		`level eq "7"`,
		`meta.lastModified gt 5`,
		`meta.lastModified gt "not a date"`,
		`emails[primary eq "true"]`,
	} {
		t.Run(raw, func(t *testing.T) {
			f, err := Compile(raw, s, exts...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if f.Match(doc) {
				t.Error("Match = true")
			}
			not, err := Compile("not ("+raw+")", s, exts...)
			if err != nil {
				t.Fatalf("Compile not: %v", err)
			}
			if !not.Match(doc) {
				t.Error("not: Match = false")
			}
		})
	}
}

// TestMatchUnicodeCase checks that caseExact false means what
// strings.EqualFold means, the equivalence the store's name index uses.
func TestMatchUnicodeCase(t *testing.T) {
	s, exts := userSchemas()
	for _, tc := range []struct {
		userName, filter string
		want             bool
	}{
		{"ſ\u212a", `userName eq "SK"`, true}, // long s, Kelvin sign
		{"ſ\u212a", `userName sw "s"`, true},
		{"İ", `userName eq "i"`, false}, // lowers to i, but folds apart
		{"ÄRGER", `userName eq "ärger"`, true},
		{"Straße", `userName eq "STRASSE"`, false}, // no full case folding
		{"ΣΊΣΥΦΟΣ", `userName ew "σ"`, true},       // Σ, σ and final ς share one orbit
		{"ΣΊΣΥΦΟΣ", `userName ew "ς"`, true},
	} {
		t.Run(tc.filter+" on "+tc.userName, func(t *testing.T) {
			f, err := Compile(tc.filter, s, exts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(map[string]any{"userName": tc.userName}); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMatchKeyCase checks that documents whose keys are not in canonical
// case still match.
func TestMatchKeyCase(t *testing.T) {
	s, exts := userSchemas()
	doc := map[string]any{
		"USERNAME":                     "bjensen",
		"Emails":                       []any{map[string]any{"VALUE": "b@example.com", "Type": "work"}},
		strings.ToUpper(enterpriseURN): map[string]any{"EmployeeNumber": "42"},
	}
	runMatch(t, s, exts, doc, []matchCase{
		{`userName eq "bjensen"`, true},
		{`emails[type eq "work"].value eq "b@example.com"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`, true},
	})
}

func TestMatchDoesNotMutate(t *testing.T) {
	s, exts := userSchemas()
	doc, want := userDoc(), userDoc()
	f, err := Compile(`emails[type eq "work"].value pr and not (userName eq "x") and meta.lastModified gt "2000-01-01T00:00:00Z"`, s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(doc) {
		t.Fatal("Match = false")
	}
	if !jsonEqual(doc, want) {
		t.Error("Match modified the document")
	}
}

func TestCompileErrors(t *testing.T) {
	s, exts := userSchemas()
	tests := []struct {
		filter string
		want   string // in the message
	}{
		{`usrName eq "x"`, `unknown attribute "usrName"`},
		{`name.nickName eq "x"`, `unknown attribute "name.nickName"`},
		{`userName.value eq "x"`, `attribute "userName" has no sub-attributes`},
		{`emails[typo eq "work"]`, `unknown attribute "emails.typo"`},
		{`emails[type eq "work"].bogus eq "x"`, `unknown attribute "emails.bogus"`},
		{`urn:example:unknown:2.0:User:foo eq "x"`, `unknown schema "urn:example:unknown:2.0:User"`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber eq "x"`, `unknown attribute "urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber"`},
		{`$v0 pr`, `unknown attribute "$v0"`},
		{`emails[$v0 pr]`, `unknown attribute "emails.$v0"`},
		// Value filters only on multi-valued complex attributes.
		{`name[givenName eq "x"]`, `only multi-valued complex attributes`},
		{`userName[value eq "x"]`, `only multi-valued complex attributes`},
		{`emails.value[type eq "x"]`, `only multi-valued complex attributes`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "x"]`, `only multi-valued complex attributes`},
		{`emails[name.givenName eq "x"]`, `must be a sub-attribute name`},
		{`emails[emails[type eq "x"]]`, `cannot be nested`},
		// Operators the type does not support.
		{`active gt true`, `operator "gt" is not supported on boolean attribute "active"`},
		{`active le false`, `not supported on boolean`},
		{`active co "t"`, `not supported on boolean`},
		{`emails[primary sw "t"]`, `not supported on boolean`},
		{`x509Certificates.value gt "a"`, `not supported on binary`},
		{`urn:example:scim:schemas:extension:test:2.0:User:badge lt "a"`, `not supported on binary`},
		{`urn:example:scim:schemas:extension:test:2.0:User:level co "7"`, `not supported on integer`},
		{`urn:example:scim:schemas:extension:test:2.0:User:score ew "5"`, `not supported on decimal`},
		{`meta.created sw "2010"`, `not supported on dateTime`},
		{`name eq "x"`, `attribute "name" is complex`},
		{`meta gt "x"`, `attribute "meta" is complex`},
		{`userName gt null`, `cannot compare "userName" with null`},
		{`userName co null`, `with null`},
		{`active gt null`, `with null`},
		// Syntax.
		{``, `filter is empty`},
		{`   `, `filter is empty`},
		{`userName eq`, `syntax error`},
		{`userName xx "x"`, `syntax error`},
		{`userName eq "x" and`, `syntax error`},
		{`(userName eq "x"`, `syntax error`},
		{`not userName eq "x"`, `syntax error`},
		{`userName eq 'x'`, `syntax error`},
		{`emails[type eq "work"] eq "x"`, `syntax error`},
		{`emails[type eq "work" and]`, `syntax error in "type eq \"work\" and"`},
		{`userName eq "x`, `unterminated string`},
		{`userName eq "x\`, `unterminated string`},
		{`emails[type eq "work"`, `missing "]"`},
		{`userName eq "x"]`, `unexpected "]"`},
		{`emails[type eq "work"].`, `expected a sub-attribute name`},
		{`emails[type eq "work"].value`, `expected an operator`},
		{`emails[type eq "work"].value eq`, `expected a value`},
		{"userName eq \"\xff\"", `not valid UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			f, err := Compile(tc.filter, s, exts...)
			if err == nil {
				t.Fatalf("Compile = %v, want error", f)
			}
			if !errors.Is(err, ErrInvalidFilter) || errors.Is(err, ErrInvalidSort) {
				t.Errorf("error %v does not wrap ErrInvalidFilter alone", err)
			}
			if !strings.HasPrefix(err.Error(), "query: invalid filter: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCompileLimits(t *testing.T) {
	s, exts := userSchemas()
	nest := func(open, inner, close string, n int) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	longest := `userName ne "` + strings.Repeat("a", MaxFilterLength-len(`userName ne ""`)) + `"`
	chain := strings.Repeat("id pr and ", MaxFilterLength/10-1) + "id pr"
	tests := []struct {
		name    string
		filter  string
		wantErr string // empty: compiles
	}{
		{"longest", longest, ""},
		{"too long", longest + " ", "longer than 4096 bytes"},
		{"long chain", chain, ""},
		{"deepest", nest("(", "userName pr", ")", MaxFilterDepth), ""},
		{"too deep", nest("(", "userName pr", ")", MaxFilterDepth+1), "nests deeper than 32 levels"},
		{"too deep not", nest("not (", "userName pr", ")", MaxFilterDepth+1), "nests deeper"},
		{"too deep in brackets", nest("(", `emails[`+nest("(", `value pr`, ")", MaxFilterDepth-1)+`]`, ")", 1), "nests deeper"},
		{"stray closers buy nothing", strings.Repeat(")", 10) + nest("(", "id pr", ")", MaxFilterDepth+1), "nests deeper"},
		{"deep unbalanced", strings.Repeat("(", MaxFilterLength/2), "nests deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(tc.filter, s, exts...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				if !f.Match(userDoc()) {
					t.Error("Match = false")
				}
				return
			}
			if !errors.Is(err, ErrInvalidFilter) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want ErrInvalidFilter containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestCompileGroupExtension checks that an extension without attributes,
// as Entra ID sends for groups, neither breaks compilation nor resolves
// anything.
func TestCompileGroupExtension(t *testing.T) {
	s, exts := groupSchemas()
	if _, err := Compile(`displayName eq "Sales" and members pr`, s, exts...); err != nil {
		t.Errorf("Compile: %v", err)
	}
	if _, err := Compile(`note eq "x"`, s, exts...); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("Compile(note) error = %v, want ErrInvalidFilter", err)
	}
	if _, err := Compile(`userName eq "x"`, s, exts...); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("Compile(userName) on a group error = %v, want ErrInvalidFilter", err)
	}
}

func TestFilterString(t *testing.T) {
	s, exts := userSchemas()
	const raw = `emails[type eq "work"].value eq "a@b.c"`
	f, err := Compile(raw, s, exts...)
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != raw {
		t.Errorf("String = %q, want %q", f.String(), raw)
	}
}

// jsonEqual compares two documents by their JSON encoding.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// TestCompileErrorsAreShort checks that errors quote at most a snippet of
// a long filter.
func TestCompileErrorsAreShort(t *testing.T) {
	s, exts := userSchemas()
	long := strings.Repeat("é", 1000)
	for _, raw := range []string{
		`a` + strings.Repeat("b", 3000) + ` eq "x"`,
		`userName eq "` + long + `" and`,
		`emails[type eq "` + long + `" and]`,
		`urn:` + strings.Repeat("x", 3000) + `:a pr`,
	} {
		_, err := Compile(raw, s, exts...)
		if err == nil {
			t.Fatalf("Compile(%.20q...) succeeded", raw)
		}
		if msg := err.Error(); len(msg) > 200 || !utf8.ValidString(msg) {
			t.Errorf("error is %d bytes (valid UTF-8: %v): %.80q...", len(msg), utf8.ValidString(msg), msg)
		}
	}
}
