package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Path is the key, as written in the file: store.kind,
	// targets[0].ldap.url. Empty for the file as a whole.
	Path string
	// Line is where the key is in the file (1-based), or the nearest
	// enclosing key for one that is missing; 0 when neither is there.
	Line int
	Msg  string
}

func (p Problem) String() string {
	switch {
	case p.Path != "" && p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Msg)
	case p.Path != "":
		return p.Path + ": " + p.Msg
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// Problems is every problem found in a configuration, in file order when
// it came from a file.
type Problems []Problem

func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, x := range p {
		// A CEL error spans lines (the expression and a caret).
		lines[i] = strings.ReplaceAll(x.String(), "\n", "\n    ")
	}
	n := "1 problem"
	if len(p) != 1 {
		n = fmt.Sprintf("%d problems", len(p))
	}
	return n + ":\n  " + strings.Join(lines, "\n  ")
}

// File is a configuration file read as far as it goes: Check does not
// stop at the first problem, so that one run of `tenure config validate`
// reports every problem, each with its key and line.
type File struct {
	// Config is the configuration decoded, defaulted and validated as far
	// as the file allowed: values that did not decode keep their
	// defaults. Nil when the file is not YAML at all. With problems, use
	// it only to look for more (compile the policy), never to run.
	Config *Config

	problems Problems
	pos      positions
	// reported are the keys whose problem hides the rest: a value that
	// did not decode, an unset variable. Problems at or under them are
	// follow-ons (a required value that was there but unreadable) and are
	// dropped.
	reported []string
}

// Check reads the configuration file at path like Load, but returns what
// it found instead of stopping at problems. The error is only for a file
// that cannot be read.
//
// Each target's own block (targets[].<kind>) is decoded and checked by its
// kind, one of kinds; a kind not among them is a problem. With no kinds at
// all, only the shape every target shares is checked and the blocks are
// kept as written (Target.Blocks): enough to compile the policy.
func Check(path string, kinds ...Kind) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return CheckBytes(raw, kinds...), nil
}

// Problems returns every problem found so far, in file order; problems
// without a line come last.
func (f *File) Problems() Problems {
	p := slices.Clone(f.problems)
	slices.SortStableFunc(p, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return p
}

// Err returns the problems as an error, or nil when there are none.
func (f *File) Err() error {
	if len(f.problems) == 0 {
		return nil
	}
	return f.Problems()
}

// Add records a problem the caller found at path (a policy expression that
// does not compile), with the line of path in the file. A problem at or
// under a key whose value did not decode is a follow-on and is dropped.
func (f *File) Add(path, msg string) {
	if !f.hidden(path) {
		f.problems = append(f.problems, Problem{Path: path, Line: f.pos.line(path), Msg: msg})
	}
}

// hidden reports whether path is at or under a key already reported.
func (f *File) hidden(path string) bool {
	return slices.ContainsFunc(f.reported, func(r string) bool { return under(path, r) })
}

// Line returns the line of path in the file (or of its nearest enclosing
// key that is there), 0 if none is.
func (f *File) Line(path string) int { return f.pos.line(path) }

// report records a problem that hides what is at and under its path.
func (f *File) report(p Problem) {
	f.problems = append(f.problems, p)
	if p.Path != "" {
		f.reported = append(f.reported, p.Path)
	}
}

// CheckBytes is Check without the file read.
func CheckBytes(raw []byte, kinds ...Kind) *File {
	f := &File{pos: positions{}}
	ks := newKindSet(kinds)
	expanded, missing := expandEnv(raw)

	// The file's shape first: the YAML nodes carry the line of every key.
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		for _, m := range missing {
			f.problems = append(f.problems, m.problem(""))
		}
		p := yamlSyntax(err)
		if p.Line > 0 && tabIndented(expanded, p.Line) {
			p.Msg += " (YAML indents with spaces, not tabs)"
		}
		f.problems = append(f.problems, p)
		return f
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		// A second document would be silently ignored.
		p := Problem{Msg: "more than one YAML document (remove the --- separator)"}
		if err == nil {
			p.Line = extra.Line
		}
		f.problems = append(f.problems, p)
		return f
	}
	w := walker{f: f, kinds: ks}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != 0 && top.Kind != yaml.MappingNode {
		f.problems = append(f.problems, Problem{Line: top.Line,
			Msg: "want keys (server:, store:, sources: …) at the top of the file, got " + describe(top)})
		return f
	}
	if top.Kind != 0 {
		w.node(top, reflect.TypeFor[Config](), "")
	}
	for _, m := range missing {
		f.report(m.problem(w.leafAt(m.line, m.col)))
	}
	for _, p := range w.problems {
		if !f.hidden(p.Path) {
			f.report(p)
		}
	}

	// Then the strict decode, as ever; it fails exactly where the walk
	// found a problem, and whatever it could not decode keeps its zero
	// value, so validation can still look at the rest.
	cfg := Config{kinds: ks}
	strict := yaml.NewDecoder(bytes.NewReader(expanded))
	strict.KnownFields(true)
	if err := strict.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		f.decodeLeftovers(err)
	}
	f.decodeSettings(&cfg)
	cfg.applyDefaults()
	for _, p := range cfg.problems() {
		f.Add(p.Path, p.Msg)
	}
	if len(f.problems) == 0 {
		for _, p := range cfg.tokenWarnings() {
			p.Line = f.pos.line(p.Path)
			cfg.warnings = append(cfg.warnings, p)
		}
	}
	f.Config = &cfg
	return f
}

// decodeLeftovers reports what the strict decoder refused on a line the
// walk found nothing wrong with; the walk checks what the decoder does, so
// this is only a safety net.
func (f *File) decodeLeftovers(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		f.problems = append(f.problems, yamlSyntax(err))
		return
	}
	for _, msg := range te.Errors {
		p := yamlSyntax(errors.New(msg))
		if !slices.ContainsFunc(f.problems, func(q Problem) bool { return q.Line == p.Line }) {
			f.problems = append(f.problems, p)
		}
	}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlSyntax turns a YAML parser error into a problem with its line.
func yamlSyntax(err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Line: n, Msg: "not valid YAML: " + m[2]}
	}
	return Problem{Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// tabIndented reports whether line n of text starts with a tab in its
// indentation.
func tabIndented(text []byte, n int) bool {
	lines := bytes.Split(text, []byte("\n"))
	if n > len(lines) {
		return false
	}
	l := lines[n-1]
	return bytes.ContainsRune(l[:len(l)-len(bytes.TrimLeft(l, " \t"))], '\t')
}

// missingVar is a ${NAME} whose variable is unset and which has no
// default.
type missingVar struct {
	name      string
	line, col int
}

func (m missingVar) problem(path string) Problem {
	return Problem{Path: path, Line: m.line, Msg: fmt.Sprintf(
		"environment variable %s is not set (${%s:-default} gives a default)", m.name, m.name)}
}

// positions maps each key path in the file to its line.
type positions map[string]int

// line returns the line of path, or of its nearest enclosing key.
func (p positions) line(path string) int {
	for {
		if n, ok := p[path]; ok {
			return n
		}
		if path == "" {
			return 0
		}
		path = parent(path)
	}
}

// parent strips the last key or index from path.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// under reports whether path is root or inside it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+".") || strings.HasPrefix(path, root+"[")
}

// walker checks the YAML nodes against the configuration's types, the
// way the strict decoder does, but goes on after each problem and knows
// every key's path and line.
type walker struct {
	f        *File
	kinds    kindSet
	problems []Problem
	leaves   []leaf
}

// leaf is a scalar value and the key it is the value of.
type leaf struct {
	line, col int
	path      string
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
	targetType   = reflect.TypeFor[Target]()
	anyType      = reflect.TypeFor[any]()
)

func (w *walker) add(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// leafAt returns the key whose value is at line and column (the one
// starting last before col on that line), "" if none.
func (w *walker) leafAt(line, col int) string {
	path, best := "", -1
	for _, l := range w.leaves {
		if l.line == line && l.col <= col && l.col > best {
			path, best = l.path, l.col
		}
	}
	return path
}

func (w *walker) node(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode {
		w.leaves = append(w.leaves, leaf{n.Line, n.Column, path})
		if n.ShortTag() == "!!null" {
			return // left out: the default
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == secretType && n.Kind != yaml.MappingNode:
		// The value is never repeated: it may be the secret itself.
		w.add(n, path, "want {env: NAME} or {file: PATH}: a secret is never written in the file")
	case t == anyType:
		// A target's block whose kind is not known here: its kind's.
	case t == targetType && n.Kind == yaml.MappingNode:
		w.target(n, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(n, path, "want keys under it, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		w.mapping(n, path, func(key string) (reflect.Type, bool) {
			f, ok := fields[key]
			return f, ok
		}, func(key string) string { return unknownKey(key, t) })
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(n, path, "want keys under it, got %s", describe(n))
			return
		}
		w.mapping(n, path, func(string) (reflect.Type, bool) { return t.Elem(), true }, nil)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n, path, "want a list, got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.f.pos[p] = e.Line
			w.node(e, t.Elem(), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(n, path, "want %s, got %s", wantScalar(t), describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.add(n, path, "want %s, got %s", wantScalar(t), describe(n))
		}
	}
}

// target walks a target: the keys every target has, and the block named
// after its kind, in the kind's type.
func (w *walker) target(n *yaml.Node, path string) {
	kind := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "kind" && v.Kind == yaml.ScalarNode {
			kind = v.Value
		}
	}
	fields := yamlFields(targetType)
	names := slices.Sorted(maps.Keys(fields))
	if k := w.kinds[kind]; kind != "" && (w.kinds == nil || (k != nil && k.NewSettings() != nil)) {
		names = append(names, kind)
		slices.Sort(names)
	}
	problem := ""
	w.mapping(n, path, func(key string) (reflect.Type, bool) {
		if t, ok := fields[key]; ok {
			return t, true
		}
		var ok bool
		if problem, ok = w.kinds.blockKey(kind, key); !ok {
			return nil, false
		}
		if k := w.kinds[kind]; k != nil {
			return reflect.TypeOf(k.NewSettings()), true
		}
		return anyType, true
	}, func(key string) string {
		if problem != "" {
			return problem
		}
		return unknownKeyAmong(key, names)
	})
}

// mapping walks a mapping's keys: field says what type a key's value has
// (false for a key that does not belong), unknown what to say about one
// that does not.
func (w *walker) mapping(n *yaml.Node, path string, field func(string) (reflect.Type, bool), unknown func(string) string) {
	seen := map[string]int{}
	var merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, mergedPairs(v)...)
			continue
		}
		w.pair(k, v, path, seen, field, unknown)
	}
	// Keys written out win over merged ones (<<: *anchor), as in yaml.v3.
	for _, kv := range merged {
		if _, ok := seen[kv[0].Value]; !ok {
			w.pair(kv[0], kv[1], path, seen, field, unknown)
		}
	}
}

func (w *walker) pair(k, v *yaml.Node, path string, seen map[string]int,
	field func(string) (reflect.Type, bool), unknown func(string) string) {
	key := k.Value
	p := key
	if path != "" {
		p = path + "." + key
	}
	if k.Kind != yaml.ScalarNode {
		w.add(k, path, "a key must be a plain name, not %s", describe(k))
		return
	}
	if first, dup := seen[key]; dup {
		w.add(k, p, "set twice (first on line %d); keep one", first)
		return
	}
	seen[key] = k.Line
	w.f.pos[p] = k.Line
	t, ok := field(key)
	if !ok {
		w.add(k, p, "%s", unknown(key))
		return
	}
	w.node(v, t, p)
}

// mergedPairs returns the key-value pairs a merge key (<<) brings in.
func mergedPairs(v *yaml.Node) [][2]*yaml.Node {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	var out [][2]*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].ShortTag() == "!!merge" {
				out = append(out, mergedPairs(v.Content[i+1])...)
				continue
			}
			out = append(out, [2]*yaml.Node{v.Content[i], v.Content[i+1]})
		}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			out = append(out, mergedPairs(e)...)
		}
	}
	return out
}

// yamlFields maps the YAML keys of struct type t to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || opts == "inline":
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// unknownKey says what is wrong with key, a key struct type t lacks:
// the near miss it probably is, or the keys that belong there.
func unknownKey(key string, t reflect.Type) string {
	return unknownKeyAmong(key, slices.Sorted(maps.Keys(yamlFields(t))))
}

// unknownKeyAmong says what is wrong with key, which is not one of names
// (sorted): the near miss it probably is, or the keys that belong there.
func unknownKeyAmong(key string, names []string) string {
	// A near miss is a typo or two, and less than half the key.
	best, bestD := "", min(2, len(key)/2)+1
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q; did you mean %s?", key, best)
	}
	return fmt.Sprintf("unknown key %q; the keys here are %s", key, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// wantScalar names the kind of value type t takes, in the file's terms.
func wantScalar(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration with a unit, such as 30s, 15m or 72h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// describe names what a node holds, for "got …".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys (a mapping)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.ShortTag() == "!!str" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}
