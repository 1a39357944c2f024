package mapper

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/tenurehq/tenure/internal/ldapdn"
)

// The CEL variables every policy expression sees (docs/policy.md lists them
// with examples). Maps are dyn-valued because SCIM documents are schemaless
// JSON; the checker still rejects unknown variables, wrong function calls and
// results of the wrong type.
var celVars = []cel.EnvOption{
	cel.Variable("user", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("enterprise", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("tenure", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("groups", cel.ListType(cel.StringType)),
	cel.Variable("manager", cel.StringType),
	cel.Variable("lifecycle", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("now", cel.TimestampType),
}

func newEnv() (*cel.Env, error) {
	opts := append([]cel.EnvOption{
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
		rdnFunction,
	}, celVars...)
	return cel.NewEnv(opts...)
}

// rdnFunction is rdn(attr, value): the RDN attr=value with value escaped
// (RFC 4514), so a container built from an HR value ("ou=" + department)
// cannot change the DN's shape: rdn("ou", "R&D, EMEA") + ",dc=example,dc=com".
var rdnFunction = cel.Function("rdn",
	cel.Overload("rdn_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
		cel.BinaryBinding(func(attr, value ref.Val) ref.Val {
			a, v := string(attr.(types.String)), string(value.(types.String))
			if !validRDNAttribute(a) {
				return types.NewErr("rdn: %q is not an attribute name", a)
			}
			return types.String(a + "=" + ldapdn.EscapeRDNValue(v))
		})))

// validRDNAttribute is a descriptor (RFC 4512): a letter, then letters,
// digits and hyphens.
func validRDNAttribute(a string) bool {
	for i, c := range a {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '-')) {
			return false
		}
	}
	return a != ""
}

// Expr is a compiled, type-checked policy expression.
type Expr struct {
	Path string // where it came from, e.g. targets[0].attributes.mail
	Text string
	prg  cel.Program
}

// want is the result type an expression must have.
type want int

const (
	wantBool want = iota
	wantString
	wantValue // string, bool, number, list of strings, or null
	wantTime  // timestamp, or a string holding a date or RFC 3339 time
)

func compile(env *cel.Env, path, text string, w want) (*Expr, error) {
	ast, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s: %q: %w", path, text, iss.Err())
	}
	if out := ast.OutputType(); !w.accepts(out) {
		return nil, fmt.Errorf("%s: %q: result type %s is not %s", path, text, out, w)
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", path, text, err)
	}
	return &Expr{Path: path, Text: text, prg: prg}, nil
}

// accepts reports whether an expression of type t can yield w. Dyn (a
// field of a SCIM document) and null are checked when evaluated; an
// optional is accepted when its value type is.
func (w want) accepts(t *cel.Type) bool {
	if t.Kind() == types.OpaqueKind && t.TypeName() == types.OptionalType.TypeName() {
		if ps := t.Parameters(); len(ps) == 1 {
			return w.accepts(ps[0])
		}
		return false
	}
	switch t.Kind() {
	case types.DynKind, types.NullTypeKind:
		return true
	}
	switch w {
	case wantBool:
		return t.Kind() == types.BoolKind
	case wantString:
		return t.Kind() == types.StringKind
	case wantTime:
		return t.Kind() == types.StringKind || t.Kind() == types.TimestampKind
	case wantValue:
		switch t.Kind() {
		case types.StringKind, types.BoolKind, types.IntKind, types.UintKind, types.DoubleKind, types.TimestampKind:
			return true
		case types.ListKind:
			ps := t.Parameters()
			return len(ps) == 1 && ps[0].Kind() != types.MapKind && ps[0].Kind() != types.ListKind
		}
	}
	return false
}

func (w want) String() string {
	return [...]string{"bool", "string", "a string, bool, number or list", "a timestamp or date string"}[w]
}

// errAbsent is the result of an expression that read a field the identity
// does not have (a missing map key, or an index past the end of a list,
// like user.emails[0] for someone without emails): the mapped attribute is
// left unset rather than failing the whole converge, because optional SCIM
// attributes are the norm. Any other evaluation error (a function applied
// to a value of the wrong type) is the policy's fault and is reported.
var errAbsent = errors.New("absent")

// absentErrors are the messages cel-go gives for reads of data that is not
// there; TestEvalAbsent pins them, so an upgrade that rewords them fails
// loudly rather than turning absences into converge errors.
var absentErrors = []string{"no such key", "no such attribute", "index out of bounds"}

func isAbsent(err error) bool {
	msg := err.Error()
	for _, a := range absentErrors {
		if strings.Contains(msg, a) {
			return true
		}
	}
	return false
}

// eval runs e and returns the result as a plain Go value: string, bool,
// int64, float64, []string, time.Time or nil.
func (e *Expr) eval(vars map[string]any) (any, error) {
	v, _, err := e.prg.Eval(vars)
	if err != nil {
		if isAbsent(err) {
			return nil, errAbsent
		}
		return nil, fmt.Errorf("%s: %q: %w", e.Path, e.Text, err)
	}
	out, err := native(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", e.Path, e.Text, err)
	}
	return out, nil
}

func native(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.String:
		return string(v), nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return int64(v), nil
	case types.Double:
		return float64(v), nil
	case types.Timestamp:
		return v.Time, nil
	case *types.Optional:
		if !v.HasValue() {
			return nil, nil
		}
		return native(v.GetValue())
	case traits.Lister:
		var out []string
		it := v.Iterator()
		for it.HasNext() == types.True {
			el, err := native(it.Next())
			if err != nil {
				return nil, err
			}
			switch el.(type) {
			case nil:
				continue
			case []string:
				return nil, errors.New("a list of lists is not an attribute value")
			case time.Time:
				el = el.(time.Time).UTC().Format(time.RFC3339)
			}
			out = append(out, fmt.Sprint(el))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported result type %s", v.Type())
}

// Bool evaluates a boolean expression; an absent field counts as false.
func (e *Expr) Bool(vars map[string]any) (bool, error) {
	v, err := e.eval(vars)
	if errors.Is(err, errAbsent) {
		return false, nil
	}
	if err != nil || v == nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: %q: got %T, want bool", e.Path, e.Text, v)
	}
	return b, nil
}

// String evaluates a string expression; an absent field or null is "".
func (e *Expr) String(vars map[string]any) (string, error) {
	v, err := e.eval(vars)
	if errors.Is(err, errAbsent) {
		return "", nil
	}
	if err != nil || v == nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return fmt.Sprint(v), nil
}

// Value evaluates a mapping; ok is false when the attribute should be unset.
func (e *Expr) Value(vars map[string]any) (v any, ok bool, err error) {
	v, err = e.eval(vars)
	if errors.Is(err, errAbsent) {
		return nil, false, nil
	}
	if err != nil || v == nil {
		return nil, false, err
	}
	switch x := v.(type) {
	case string:
		return x, x != "", nil
	case []string:
		return x, len(x) > 0, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), true, nil
	}
	return v, true, nil
}

// Time evaluates an expiry expression: a timestamp, or a string read as an
// end in loc (a date-only string includes that whole local day). An expiry
// in the year 9999 is none; so is an absent or null result.
func (e *Expr) Time(vars map[string]any, loc *time.Location) (time.Time, error) {
	v, err := e.eval(vars)
	if errors.Is(err, errAbsent) {
		return time.Time{}, nil
	}
	if err != nil || v == nil {
		return time.Time{}, err
	}
	switch x := v.(type) {
	case time.Time:
		if x.UTC().Year() >= openEnded {
			return time.Time{}, nil
		}
		return x, nil
	case string:
		if x == "" {
			return time.Time{}, nil
		}
		t, err := parseEnd(x, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %q: %w", e.Path, e.Text, err)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s: %q: got %T, want a timestamp or date", e.Path, e.Text, v)
}
