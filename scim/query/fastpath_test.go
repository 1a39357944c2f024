package query

import (
	"strings"
	"testing"
)

// The fast path for `attr eq "value"` must compile to exactly what the
// general parser does: same matches on every fixture document, same index
// plan.
func TestSimpleEqAgreesWithParser(t *testing.T) {
	s, exts := userSchemas()
	filters := []string{
		`userName eq "test.user@example.com"`,
		`userName EQ "TEST.USER@example.com"`,
		`username eq "test.user@EXAMPLE.com"`,
		`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, `externalId eq "0A21F0F2-8d2a-4f8e-bf98-7363c4aed4ef"`,
		`id eq "2819c223-7f76-453a-919d-413861904646"`,
		`name.familyName eq "Jensen"`,
		`emails eq "bjensen@example.com"`,
		`emails.value eq "BJENSEN@EXAMPLE.COM"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`,
		`employeeNumber eq "42"`,
		`active eq "true"`,
		`meta.lastModified eq "2011-05-13T04:42:34Z"`,
		`title eq ""`,
		`displayName eq "a b c"`,
	}
	docs := []map[string]any{userDoc(), {"userName": "someone@else"}, {}}
	matched := 0
	defer func() {
		if matched < 8 {
			t.Errorf("only %d filters matched the fixture: the comparison proves little", matched)
		}
	}()
	for _, f := range filters {
		t.Run(f, func(t *testing.T) {
			r := &resolver{core: s, exts: exts}
			fast, ok := simpleEq(f, r)
			if !ok {
				t.Fatal("fast path declined")
			}
			// Force the general parser: parenthesised, the fast path declines.
			slow, err := Compile("("+f+")", s, exts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range docs {
				a, b := fast.match(d), slow.Match(d)
				if a != b {
					t.Errorf("doc %d: fast %v, parser %v", i, a, b)
				}
				if a && i == 0 {
					matched++
				}
			}
			fk, fok := (&Filter{root: fast}).Candidates(func(string) bool { return true })
			sk, sok := slow.Candidates(func(string) bool { return true })
			if fok != sok || len(fk) != len(sk) || (len(fk) == 1 && fk[0] != sk[0]) {
				t.Errorf("plans differ: fast %v %v, parser %v %v", fk, fok, sk, sok)
			}
		})
	}
	for _, f := range []string{
		`userName eq "a\"b"`, `userName eq "a\\b"`, `userName eq "x" and title eq "y"`,
		`emails[type eq "work"]`, `userName  eq "x"`, `userName eq x`, `nosuch eq "x"`, `userName gt "x"`,
	} {
		if _, ok := simpleEq(f, &resolver{core: s, exts: exts}); ok {
			t.Errorf("fast path took %s", f)
		}
	}
	if _, err := Compile(`nosuch eq "x"`, s, exts...); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown attribute error lost: %v", err)
	}
}
