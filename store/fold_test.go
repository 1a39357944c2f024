package store

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
)

// TestFoldRune checks every rune: its key is a member of its fold orbit and
// the same for the whole orbit, which makes key equality EqualFold.
func TestFoldRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		key := foldRune(r)
		if !strings.EqualFold(string(r), string(key)) {
			t.Fatalf("foldRune(%U) = %U, which EqualFold does not match", r, key)
		}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldRune(f) != key {
				t.Fatalf("foldRune(%U) = %U but foldRune(%U) = %U", r, key, f, foldRune(f))
			}
		}
	}
}

func TestFoldName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Alice", "alice"},
		{"ÄLICE", "älice"},
		{"\u212Aate", "kate"},
		{"ſam", "sam"},
		{"İ", "İ"},
		{"ΣΊΣΥΦΟΣ", "σίσυφοσ"},
		{"\xff", "\uFFFD"},
	} {
		if got := FoldName(c.in); got != c.want {
			t.Errorf("FoldName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aAkKsSſßσΣςİıiIǄǅǆ\u212A\u00B5\u039C\u03BC\x00")
	for range 100000 {
		a, b := randString(rng, alphabet), randString(rng, alphabet)
		if (FoldName(a) == FoldName(b)) != strings.EqualFold(a, b) {
			t.Fatalf("%q, %q: equal keys %v, EqualFold %v", a, b, FoldName(a) == FoldName(b), strings.EqualFold(a, b))
		}
	}
}

func randString(rng *rand.Rand, alphabet []rune) string {
	rs := make([]rune, rng.IntN(4))
	for i := range rs {
		rs[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(rs)
}
