package query

import "testing"

// BenchmarkCompileMatch is the cost an IdP's user lookup adds to a request.
func BenchmarkCompileMatch(b *testing.B) {
	s, exts := userSchemas()
	doc := userDoc()
	b.ReportAllocs()
	for b.Loop() {
		f, err := Compile(`userName eq "test.user@example.com"`, s, exts...)
		if err != nil {
			b.Fatal(err)
		}
		if !f.Match(doc) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatch is the per-document cost of a scan.
func BenchmarkMatch(b *testing.B) {
	s, exts := userSchemas()
	doc := userDoc()
	f, err := Compile(`userName eq "nobody@example.com" or emails[type eq "work"].value co "@EXAMPLE.com"`, s, exts...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match(doc) {
			b.Fatal("no match")
		}
	}
}
