package engine

import "testing"

func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		hay, needle string
		want        bool
	}{
		{`{"userName":"Bob@Example.com"}`, "bob@example", true},
		{`{"userName":"bob"}`, "BOB", false}, // the needle is given in lower case
		{`abc`, "", true},
		{`ab`, "abc", false},
		{`xxAbAbC`, "abc", true},
		{`aaaaab`, "aab", true},
		{`Zürich`, "zürich", true},
		{`ZÜRICH`, "zürich", false}, // ASCII folding only
		{`no match here`, "zz", false},
	} {
		if got := containsFold([]byte(c.hay), []byte(c.needle)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v; want %v", c.hay, c.needle, got, c.want)
		}
	}
}
