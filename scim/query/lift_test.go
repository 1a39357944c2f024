package query

import (
	"slices"
	"testing"
)

// TestLift pins down the rewrite that lets filter-parser parse value filters.
func TestLift(t *testing.T) {
	tests := []struct {
		raw   string
		outer string
		inner []string
	}{
		{`userName eq "x"`, `userName eq "x"`, nil},
		{`emails[type eq "work"]`, `emails[$v0 pr]`, []string{`type eq "work"`}},
		{
			`emails[type eq "work"].value eq "a@b.c"`,
			`emails[$v0 pr and value eq "a@b.c"]`,
			[]string{`type eq "work"`},
		},
		{`emails[type eq "work"].value pr`, `emails[$v0 pr and value pr]`, []string{`type eq "work"`}},
		{`emails[type eq "work"].primary eq true and x pr`, `emails[$v0 pr and primary eq true] and x pr`, []string{`type eq "work"`}},
		{`emails[type eq "work"].value eq -1.5e+3)`, `emails[$v0 pr and value eq -1.5e+3])`, []string{`type eq "work"`}},
		{
			`emails[(type eq "a" or type eq "b") and value co "]"] or members[value eq "m"]`,
			`emails[$v0 pr] or members[$v1 pr]`,
			[]string{`(type eq "a" or type eq "b") and value co "]"`, `value eq "m"`},
		},
		{`userName eq "a[b]"`, `userName eq "a[b]"`, nil},
		{`userName eq "\"[\\"`, `userName eq "\"[\\"`, nil},
		{`userName eq "\u00e9\u00E9\uabcd"`, `userName eq "\u00E9\u00E9\uABCD"`, nil},
		{`emails[value eq "\u00e9"].type eq "\u00e9"`, `emails[$v0 pr and type eq "\u00E9"]`, []string{`value eq "\u00E9"`}},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			l, err := lift(tc.raw)
			if err != nil {
				t.Fatalf("lift: %v", err)
			}
			if l.outer != tc.outer || !slices.Equal(l.inner, tc.inner) {
				t.Errorf("lift = %q %q, want %q %q", l.outer, l.inner, tc.outer, tc.inner)
			}
		})
	}
}
