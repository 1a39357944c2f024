package recommend

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tenurehq/tenure/mapper"
)

// attr is a compiled position attribute.
type attr struct {
	name string
	text string // the CEL expression, as a rule's when repeats it
	expr *mapper.Expr
}

// compileAttributes compiles every attribute, reporting each failure.
func compileAttributes(as []Attribute) ([]attr, error) {
	out := make([]attr, 0, len(as))
	seen := map[string]bool{}
	var errs []string
	for i, a := range as {
		if a.Name == "" {
			errs = append(errs, fmt.Sprintf("attributes[%d]: no name", i))
			continue
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Sprintf("attributes[%d]: %q twice", i, a.Name))
			continue
		}
		seen[a.Name] = true
		text := a.Expr
		if text == "" {
			var err error
			if text, err = PathExpr(a.Name); err != nil {
				errs = append(errs, fmt.Sprintf("attributes[%d]: %v", i, err))
				continue
			}
		}
		e, err := mapper.CompileValue(fmt.Sprintf("attributes[%d]", i), text)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, attr{name: a.Name, text: text, expr: e})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return out, nil
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// PathExpr is the CEL expression reading an attribute path as
// lifecycle.position_attributes spells it: "title" is user.title,
// "enterprise.department" enterprise.department, "tenure.location"
// tenure.location, a URN path user["urn:…"].attr, and the manager (a
// complex value compared by its id) the manager variable.
func PathExpr(path string) (string, error) {
	if path == "enterprise.manager" || path == mapper.EnterpriseURN+":manager" {
		return "manager", nil
	}
	base, rest := "user", path
	switch {
	case strings.HasPrefix(path, "enterprise."):
		base, rest = "enterprise", path[len("enterprise."):]
	case strings.HasPrefix(path, "tenure."):
		base, rest = "tenure", path[len("tenure."):]
	case strings.HasPrefix(path, "urn:"):
		i := strings.LastIndexByte(path, ':')
		if i < 0 || i == len(path)-1 {
			return "", fmt.Errorf("%q is not an attribute path", path)
		}
		base, rest = "user["+strconv.Quote(path[:i])+"]", path[i+1:]
	}
	var b strings.Builder
	b.WriteString(base)
	for _, part := range strings.Split(rest, ".") {
		switch {
		case ident.MatchString(part):
			b.WriteString("." + part)
		case part != "":
			b.WriteString("[" + strconv.Quote(part) + "]")
		default:
			return "", fmt.Errorf("%q is not an attribute path", path)
		}
	}
	return b.String(), nil
}

// value is an attribute's value for one person: the CEL literal a rule
// compares with (the grouping key) and how reports show it.
type value struct {
	literal, display string
}

// evalValue evaluates a for vars; ok is false when the person has no
// value (absent, null, "", or a list, which no equality selects).
func (a *attr) evalValue(vars map[string]any) (value, bool, error) {
	v, ok, err := a.expr.Value(vars)
	if err != nil || !ok {
		return value{}, false, err
	}
	switch x := v.(type) {
	case string:
		return value{strconv.Quote(x), x}, true, nil
	case bool:
		s := strconv.FormatBool(x)
		return value{s, s}, true, nil
	case int64:
		s := strconv.FormatInt(x, 10)
		return value{s, s}, true, nil
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0" // a CEL double literal, never an int
		}
		return value{s, s}, true, nil
	}
	return value{}, false, nil
}

// condition is the CEL test "the attribute has this value".
func (a *attr) condition(literal string) string {
	t := a.text
	if !simplePath.MatchString(t) {
		t = "(" + t + ")"
	}
	return t + " == " + literal
}

var simplePath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\["[^"\\]*"\])*$`)
