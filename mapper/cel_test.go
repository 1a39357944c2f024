package mapper

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCompileErrorsNameFilePathAndExpression(t *testing.T) {
	err := compileErr(t, `
lifecycle:
  correlation: "true"
birthright:
  - name: bad-when
    when: '"x"'
    grants: {dir: [a]}
  - name: bad-until
    when: "true"
    until: "42"
    grants: {dir: [a]}
targets:
  - name: dir
    kind: test
    scope: user.title +
    container: "true"
    attributes:
      ok: user.userName
      unknownVar: person.title
      unknownFunc: user.title.frobnicate()
      aMap: '{"a": 1}'
      listOfLists: '[[1]]'
      aDuration: duration("1h")
    references:
      manager: "1"
`)
	if err == nil {
		t.Fatal("Compile accepted a policy full of mistakes")
	}
	msg := err.Error()
	for _, want := range []string{
		`policy.yaml: lifecycle.correlation: "true": result type bool is not string`,
		`policy.yaml: birthright[0].when: "\"x\"": result type string is not bool`,
		`policy.yaml: birthright[1].until: "42": result type int is not a timestamp or date string`,
		`policy.yaml: targets[0].scope: "user.title +": ERROR`,
		`policy.yaml: targets[0].container: "true": result type bool is not string`,
		`policy.yaml: targets[0].attributes.unknownVar: "person.title": ERROR`,
		`undeclared reference to 'person'`,
		`policy.yaml: targets[0].attributes.unknownFunc: "user.title.frobnicate()"`,
		`policy.yaml: targets[0].attributes.aMap: "{\"a\": 1}": result type map(string, int) is not a string, bool, number or list`,
		`policy.yaml: targets[0].attributes.listOfLists`,
		`policy.yaml: targets[0].attributes.aDuration`,
		`policy.yaml: targets[0].references.manager: "1": result type int is not string`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "attributes.ok") {
		t.Errorf("a valid expression was reported:\n%s", msg)
	}
}

func TestCompileAcceptedResultTypes(t *testing.T) {
	for _, tt := range []struct{ key, expr string }{
		{"when", `user.active`},                    // dyn
		{"when", `has(user.title)`},                // bool
		{"when", `user.?active`},                   // optional(dyn)
		{"when", `null`},                           // null: false
		{"until", `"2024-12-31"`},                  // string
		{"until", `now + duration("24h")`},         // timestamp
		{"until", `tenure.?contractEnd`},           // optional
		{"attr", `user.userName`},                  // dyn
		{"attr", `user.?title.orValue("")`},        // dyn
		{"attr", `user.?title`},                    // optional(dyn)
		{"attr", `"x"`},                            // string
		{"attr", `1`},                              // int
		{"attr", `1u`},                             // uint
		{"attr", `1.5`},                            // double
		{"attr", `true`},                           // bool
		{"attr", `now`},                            // timestamp
		{"attr", `groups`},                         // list(string)
		{"attr", `[1, 2]`},                         // list(int)
		{"attr", `null`},                           // null: unset
		{"attr", `optional.none()`},                // optional: unset
		{"attr", `"a,b".split(",")`},               // strings ext
		{"attr", `lists.range(3)`},                 // lists ext
		{"when", `sets.intersects(groups, ["x"])`}, // sets ext
	} {
		var cfg string
		switch tt.key {
		case "when":
			cfg = "birthright:\n  - {name: r, when: '" + tt.expr + "', grants: {dir: [a]}}\ntargets:\n  - {name: dir, kind: test}\n"
		case "until":
			cfg = "birthright:\n  - {name: r, when: 'true', until: '" + tt.expr + "', grants: {dir: [a]}}\ntargets:\n  - {name: dir, kind: test}\n"
		case "attr":
			cfg = "targets:\n  - {name: dir, kind: test, attributes: {a: '" + tt.expr + "'}}\n"
		}
		if err := compileErr(t, cfg); err != nil {
			t.Errorf("%s %q rejected: %v", tt.key, tt.expr, err)
		}
	}
}

func TestCompileInvalidTimezone(t *testing.T) {
	// config.Parse refuses it already; Compile does too for a config built
	// in code.
	cfg := mustConfig(t, "")
	cfg.Lifecycle.Timezone = "Nowhere/Never"
	if _, err := Compile("x.yaml", cfg); err == nil || !strings.Contains(err.Error(), "x.yaml: lifecycle.timezone") {
		t.Errorf("err = %v", err)
	}
}

// evalPolicy compiles one target "dir" with the given attribute mappings.
func evalAttrs(t *testing.T, attrs map[string]string, id *Identity) map[string]any {
	t.Helper()
	var b strings.Builder
	b.WriteString("targets:\n  - name: dir\n    kind: test\n    attributes:\n")
	for k, v := range attrs {
		j, _ := json.Marshal(v)
		b.WriteString("      " + k + ": " + string(j) + "\n")
	}
	p := compilePolicy(t, b.String())
	rec, _ := observe(t, p, nil, "u1", id, t0)
	d := desired(t, p, rec, "dir", true, t0)
	return d.Attributes
}

func TestEvalAttributeValues(t *testing.T) {
	id := ada().
		with("tenure.level", json.Number("3")).
		with("tenure.costCenter", json.Number("4711")).
		with("tenure.fte", json.Number("0.5")).
		with("tenure.stored", 7.0). // as a record decoded without UseNumber holds it
		with("emails", []any{
			map[string]any{"value": "ada@example.com", "type": "work", "primary": true},
			map[string]any{"value": "ada@home.example", "type": "home"},
		}).
		with("nickName", nil).
		withGroups("eng", "vpn-users")
	got := evalAttrs(t, map[string]string{
		"missing":        `user.title2`,
		"missingNested":  `user.name.middleName`,
		"missingConcat":  `user.nickName + " (nick)"`,
		"nullField":      `user.?nickName.orValue("none")`,
		"optional":       `user.?title.orValue("")`,
		"optionalAbsent": `user.?honorificPrefix.orValue("")`,
		"optionalNone":   `user.?honorificPrefix`,
		"indexPastEnd":   `user.phoneNumbers[0].value`,
		"emptyString":    `""`,
		"null":           `null`,
		"level":          `tenure.level + 1`,
		"levelCompare":   `tenure.level > 2`,
		"costCenter":     `string(tenure.costCenter)`,
		"fte":            `tenure.fte * 2.0`,
		"stored":         `tenure.stored + 1`,
		"primaryMail":    `user.emails.filter(e, e.?primary.orValue(false))[0].value`,
		"allMails":       `user.emails.map(e, e.value)`,
		"groups":         `groups`,
		"noGroups":       `groups.filter(g, g.startsWith("x"))`,
		"ints":           `[1, 2]`,
		"upper":          `user.userName.upperAscii()`,
		"split":          `"a,b".split(",")`,
		"sets":           `sets.contains(groups, ["eng"])`,
		"started":        `lifecycle.start`,
		"endUnset":       `lifecycle.end`,
		"hasEnd":         `has(lifecycle.end)`,
		"state":          `lifecycle.state`,
		"manager":        `manager`,
		"dept":           `enterprise.department`,
		"bool":           `false`,
		"rdn":            `rdn("ou", "R&D, EMEA+#1") + ",dc=example,dc=com"`,
		"rdnHostile":     `rdn("cn", " *)(uid=*\\ ")`,
	}, id)
	want := map[string]any{
		"optional":     "Engineer",
		"nullField":    "none",
		"level":        int64(4),
		"levelCompare": true,
		"costCenter":   "4711",
		"fte":          1.0,
		"stored":       int64(8),
		"primaryMail":  "ada@example.com",
		"allMails":     []string{"ada@example.com", "ada@home.example"},
		"groups":       []string{"eng", "vpn-users"},
		"ints":         []string{"1", "2"},
		"upper":        "ADA",
		"split":        []string{"a", "b"},
		"sets":         true,
		"started":      t0.Format(time.RFC3339),
		"hasEnd":       false,
		"state":        "active",
		"manager":      "mgr-1",
		"dept":         "Engineering",
		"bool":         false,
		"rdn":          `ou=R&D\, EMEA\+#1,dc=example,dc=com`,
		"rdnHostile":   `cn=\ *)(uid\=*\\\ `,
	}
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s = %#v, want it unset", k, got[k])
			}
		}
	}
}

func TestEvalErrorsAreReported(t *testing.T) {
	for _, tt := range []struct{ key, expr string }{
		{"attributes", `int(user.title)`},                             // a conversion that fails
		{"attributes", `user.title.size() / 0`},                       // division by zero
		{"attributes", `user.emails`},                                 // a list of objects
		{"attributes", `user.name`},                                   // an object
		{"attributes", `dyn([[1]])`},                                  // a list of lists
		{"attributes", `rdn(string(user.emails.size()), user.title)`}, // "1" is no attribute name
		{"container", `dyn(3)`},                                       // a number for a string: formatted, not an error
		{"scope", `user.title + 1 == 2`},                              // no such overload at run time
	} {
		var cfg string
		if tt.key == "attributes" {
			cfg = "targets:\n  - {name: dir, kind: test, attributes: {a: '" + tt.expr + "'}}\n"
		} else {
			cfg = "targets:\n  - {name: dir, kind: test, " + tt.key + ": '" + tt.expr + "'}\n"
		}
		cfgErr := compileErr(t, cfg)
		if cfgErr != nil {
			if tt.key == "scope" {
				continue // the checker caught it: better still
			}
			t.Errorf("%q: %v", tt.expr, cfgErr)
			continue
		}
		p := compilePolicy(t, cfg)
		rec, _ := observe(t, p, nil, "u1", ada().with("emails", []any{map[string]any{"value": "a@b"}}), t0)
		d, err := p.Desired(rec, "dir", true, t0)
		if tt.key == "container" {
			if err != nil || d.Container != "3" {
				t.Errorf("%q: container %q err %v", tt.expr, d.Container, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: no error, desired %+v", tt.expr, d.Account)
		} else if !strings.Contains(err.Error(), "targets[0]") || !strings.Contains(err.Error(), tt.expr) {
			t.Errorf("%q: error does not name the path and expression: %v", tt.expr, err)
		}
	}
}

// TestEvalAbsent pins the cel-go messages isAbsent relies on.
func TestEvalAbsent(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	vars := ada().vars(nil, t0)
	for expr, absent := range map[string]bool{
		`user.nope`:             true,
		`user.name.nope`:        true,
		`user.emails[0]`:        true, // no emails at all
		`dyn([1])[3]`:           true,
		`enterprise.nope + "x"`: true,
		`int(user.title)`:       false,
		`user.title + 1`:        false,
	} {
		e, err := compile(env, "p", expr, wantValue)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		_, _, raw := e.prg.Eval(vars)
		if raw == nil {
			t.Fatalf("%s: evaluated without error", expr)
		}
		if got := isAbsent(raw); got != absent {
			t.Errorf("%s: isAbsent(%q) = %v, want %v", expr, raw, got, absent)
		}
		if _, err := e.eval(vars); errors.Is(err, errAbsent) != absent {
			t.Errorf("%s: eval error %v", expr, err)
		}
	}
	if e, _ := compile(env, "p", `user.nope == "x"`, wantBool); e != nil {
		if b, err := e.Bool(vars); b || err != nil {
			t.Errorf("Bool over an absent field = %v %v, want false", b, err)
		}
	}
	if e, _ := compile(env, "p", `user.nope`, wantString); e != nil {
		if s, err := e.String(vars); s != "" || err != nil {
			t.Errorf("String over an absent field = %q %v", s, err)
		}
	}
	if e, _ := compile(env, "p", `user.nope`, wantTime); e != nil {
		if tm, err := e.Time(vars, time.UTC); !tm.IsZero() || err != nil {
			t.Errorf("Time over an absent field = %s %v", tm, err)
		}
	}
	if e, _ := compile(env, "p", `int(user.title) > 1`, wantBool); e != nil {
		if _, err := e.Bool(vars); err == nil {
			t.Error("Bool swallowed an evaluation error")
		}
	}
	if e, _ := compile(env, "p", `string(int(user.title))`, wantString); e != nil {
		if _, err := e.String(vars); err == nil {
			t.Error("String swallowed an evaluation error")
		}
	}
	if e, _ := compile(env, "p", `timestamp(user.title)`, wantTime); e != nil {
		if _, err := e.Time(vars, time.UTC); err == nil {
			t.Error("Time swallowed an evaluation error")
		}
	}
}

func TestLifecycleVariable(t *testing.T) {
	p := compilePolicy(t, stdPolicy)
	id, rec := employee(t, p)
	rec, _ = observe(t, p, rec, "u1", id.with("enterprise.department", "Sales"), t0)
	rec, _ = observe(t, p, rec, "u1", id.with("enterprise.department", "Sales").with("tenure.endDate", "2024-03-15"), t0.Add(time.Hour))
	v := rec.celView(t0.Add(2 * time.Hour))
	want := map[string]any{
		"state": "active",
		"hired": t0.Add(-365 * day),
		"start": berlinMidnight(2023, 1, 2),
		"end":   berlinMidnight(2024, 3, 16),
		"moved": t0,
	}
	if len(v) != len(want) {
		t.Errorf("lifecycle = %v", v)
	}
	for k, w := range want {
		switch w := w.(type) {
		case time.Time:
			if g, ok := v[k].(time.Time); !ok || !g.Equal(w) {
				t.Errorf("lifecycle.%s = %v, want %s", k, v[k], w)
			}
		default:
			if v[k] != w {
				t.Errorf("lifecycle.%s = %v, want %v", k, v[k], w)
			}
		}
	}
	if s := rec.celView(berlinMidnight(2024, 3, 16))["state"]; s != "terminated" {
		t.Errorf("state at the end = %v", s)
	}
	if lc := ada().vars(nil, t0)["lifecycle"].(map[string]any); lc["state"] != "pending" || len(lc) != 1 {
		t.Errorf("lifecycle without a record (correlation) = %v", lc)
	}
}
