package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// placeholderPrefix starts the attribute name that stands in for a lifted
// value filter. "$" is legal at the start of an attribute name in
// filter-parser's grammar (for "$ref"), and the placeholder only ever appears
// inside brackets, which lift writes itself, so it cannot be confused with
// anything a client wrote.
const placeholderPrefix = "$v"

// lifted is a filter prepared for filter-parser.
type lifted struct {
	// outer is the filter with every value filter "attr[F]" replaced by
	// "attr[$vN pr]", and every "attr[F].sub op v" by
	// "attr[$vN pr and sub op v]": shapes filter-parser accepts.
	outer string
	// inner holds each F, indexed by N, to be parsed as a filter of its own.
	inner []string
}

// lift rewrites raw so that filter-parser can parse it; see lifted. It also
// normalises \u escapes in string literals to the upper-case hex digits that
// filter-parser insists on, and enforces MaxFilterDepth, because the parser
// recurses once per parenthesis.
func lift(raw string) (lifted, error) {
	l := lifter{src: raw}
	l.out.Grow(len(raw) + 16)
	for l.i < len(l.src) {
		if err := l.step(&l.out); err != nil {
			return lifted{}, err
		}
	}
	return lifted{outer: l.out.String(), inner: l.inner}, nil
}

// lifter is the state of one lift.
type lifter struct {
	src   string
	i     int // next byte of src to read
	out   strings.Builder
	inner []string
	depth int // open parentheses and brackets
}

// step copies one token of the outer filter to out.
func (l *lifter) step(out *strings.Builder) error {
	switch c := l.src[l.i]; c {
	case '"':
		return l.str(out)
	case '[':
		return l.valuePath()
	case ']':
		return errors.New(`unexpected "]"`)
	default:
		return l.paren(out)
	}
}

// paren copies one byte, tracking parenthesis depth. Unbalanced parentheses
// are left for the parser to reject; a stray ")" never lowers the count
// below zero, so it cannot buy extra depth.
func (l *lifter) paren(out *strings.Builder) error {
	switch l.src[l.i] {
	case '(':
		if err := l.push(); err != nil {
			return err
		}
	case ')':
		l.depth = max(l.depth-1, 0)
	}
	out.WriteByte(l.src[l.i])
	l.i++
	return nil
}

// push records one more level of nesting.
func (l *lifter) push() error {
	l.depth++
	if l.depth > MaxFilterDepth {
		return fmt.Errorf("filter nests deeper than %d levels", MaxFilterDepth)
	}
	return nil
}

// str copies a string literal starting at l.i, upper-casing the hex digits
// of \u escapes. Other escapes are copied as they are; decoding them is the
// compiler's job.
func (l *lifter) str(out *strings.Builder) error {
	out.WriteByte('"')
	for i := l.i + 1; i < len(l.src); i++ {
		c := l.src[i]
		out.WriteByte(c)
		switch c {
		case '"':
			l.i = i + 1
			return nil
		case '\\':
			if i+1 < len(l.src) {
				i++
				out.WriteByte(l.src[i])
				if l.src[i] == 'u' {
					i = l.hex4(out, i+1) - 1
				}
			}
		}
	}
	return errors.New("unterminated string")
}

// hex4 copies up to four hex digits from src[i:], upper-cased, and returns
// the index after them.
func (l *lifter) hex4(out *strings.Builder, i int) int {
	for end := min(i+4, len(l.src)); i < end; i++ {
		c := l.src[i]
		if 'a' <= c && c <= 'f' {
			c -= 'a' - 'A'
		}
		out.WriteByte(c)
	}
	return i
}

// valuePath lifts the value filter starting at the "[" at l.i, and the
// sub-attribute comparison that may follow its "]".
func (l *lifter) valuePath() error {
	if err := l.push(); err != nil {
		return err
	}
	outer := l.depth - 1
	l.i++
	var inner strings.Builder
	for {
		if l.i >= len(l.src) {
			return errors.New(`missing "]"`)
		}
		switch l.src[l.i] {
		case '[':
			return errors.New("value filters cannot be nested")
		case ']':
			l.i++
			l.depth = outer
			return l.placeholder(inner.String())
		case '"':
			if err := l.str(&inner); err != nil {
				return err
			}
		default:
			if err := l.paren(&inner); err != nil {
				return err
			}
		}
	}
}

// placeholder writes the stand-in for the value filter f, including the
// ".sub op value" comparison that may follow it.
func (l *lifter) placeholder(f string) error {
	n := len(l.inner)
	l.inner = append(l.inner, f)
	l.out.WriteString("[" + placeholderPrefix + strconv.Itoa(n) + " pr")
	if l.i < len(l.src) && l.src[l.i] == '.' {
		l.i++
		l.out.WriteString(" and ")
		if err := l.subComparison(); err != nil {
			return err
		}
	}
	l.out.WriteByte(']')
	return nil
}

// subComparison copies "sub op value" (or "sub pr") from l.i: the part of
// `emails[type eq "work"].value eq "x"` after the dot. Only its extent
// matters here; the parser checks its syntax.
func (l *lifter) subComparison() error {
	start := l.i
	l.i = l.scan(l.i, isNameChar)
	if l.i == start {
		return errors.New(`expected a sub-attribute name after "]."`)
	}
	l.i = l.scan(l.i, isSpace)
	opStart := l.i
	l.i = l.scan(l.i, isLetter)
	if l.i == opStart {
		return fmt.Errorf("expected an operator after %q", clip(l.src[start:opStart]))
	}
	op := l.src[opStart:l.i]
	if strings.EqualFold(op, "pr") {
		l.out.WriteString(l.src[start:l.i])
		return nil
	}
	l.i = l.scan(l.i, isSpace)
	l.out.WriteString(l.src[start:l.i])
	if l.i < len(l.src) && l.src[l.i] == '"' {
		return l.str(&l.out)
	}
	valueStart := l.i
	l.i = l.scan(l.i, isValueChar)
	if l.i == valueStart {
		return fmt.Errorf("expected a value after %q", clip(l.src[start:valueStart]))
	}
	l.out.WriteString(l.src[valueStart:l.i])
	return nil
}

// scan returns the index of the first byte at or after i that is not in the
// class.
func (l *lifter) scan(i int, in func(byte) bool) int {
	for i < len(l.src) && in(l.src[i]) {
		i++
	}
	return i
}

// isLetter accepts ASCII letters, the characters of operators.
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isDigit accepts ASCII digits.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isSpace accepts the only white space the filter grammar has.
func isSpace(c byte) bool { return c == ' ' }

// isNameChar accepts the characters of an attribute name, "$" included for
// "$ref".
func isNameChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '$' || c == '-' || c == '_' }

// isValueChar accepts the characters of true, false, null and JSON numbers.
func isValueChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '.' || c == '+' || c == '-' }
