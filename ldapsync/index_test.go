package ldapsync

import (
	"context"
	"strings"
	"testing"

	"github.com/tenurehq/tenure/internal/testenv"
	"github.com/tenurehq/tenure/targets"
)

// TestCorrelationIndex: AD says which attributes its schema indexes —
// givenName and sAMAccountName are, employeeNumber is not unless an
// administrator sets it — and a Directory correlating by an unindexed one warns once, on its
// first converge, while one correlating by an indexed one says nothing.
func TestCorrelationIndex(t *testing.T) {
	t.Parallel()
	srv := testenv.SambaAD(t)
	ctx := t.Context()
	for _, tt := range []struct {
		attr    string
		indexed bool
	}{{"givenName", true}, {"employeeNumber", false}} {
		t.Run(tt.attr, func(t *testing.T) {
			p, buf := newPool(t, startTLSConfig(srv))
			if indexed, known, err := (AD{}).Indexed(ctx, p, "sAMAccountName"); err != nil || !known || !indexed {
				t.Fatalf("Indexed(sAMAccountName) = %v, known %v, %v; want indexed", indexed, known, err)
			}
			indexed, known, err := AD{}.Indexed(ctx, p, tt.attr)
			if err != nil || !known || indexed != tt.indexed {
				t.Fatalf("Indexed(%s) = %v, known %v, %v; want %v, known", tt.attr, indexed, known, err, tt.indexed)
			}
			ou := JoinDN(RDN("OU", "index "+tt.attr), testenv.SambaBaseDN)
			mustAdd(t, p, ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
			d, err := NewDirectory(p, AD{}, DirectoryOptions{BaseDN: testenv.SambaBaseDN, UsersDN: ou, CorrelationAttribute: tt.attr})
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"idx one", "idx two"} {
				acct := &targets.Account{Exists: true, Attributes: map[string]any{
					"cn": name, "sn": "Doe", tt.attr: strings.ReplaceAll(name, " ", "") + tt.attr[:3],
				}}
				if _, err := d.Converge(ctx, &targets.Request{Identity: name, Desired: acct}); err != nil {
					t.Fatalf("converge %d: %v", i, err)
				}
			}
			warned := strings.Count(buf.String(), "the correlation attribute is not indexed")
			if want := map[bool]int{true: 0, false: 1}[tt.indexed]; warned != want {
				t.Errorf("%d warnings, want %d:\n%s", warned, want, buf)
			}
		})
	}
	// A converge whose ctx has ended leaves the check for a later one.
	p, buf := newPool(t, startTLSConfig(srv))
	d, err := NewDirectory(p, AD{}, DirectoryOptions{BaseDN: testenv.SambaBaseDN, UsersDN: testenv.SambaBaseDN, CorrelationAttribute: "employeeNumber"})
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	d.checkIndex(gone, "employeeNumber")
	if done := d.index.state.Load() == 2; done || strings.Contains(buf.String(), "not indexed") {
		t.Errorf("a cancelled check counted as done (%v) or warned:\n%s", done, buf)
	}
	d.checkIndex(ctx, "employeeNumber")
	if d.index.state.Load() != 2 || !strings.Contains(buf.String(), "not indexed") {
		t.Errorf("the next check did not run or did not warn:\n%s", buf)
	}
}
