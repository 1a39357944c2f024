package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestFlushLookupsSplitsSafely: a batch's answer is split only when every
// entry holds exactly one of the values asked; otherwise, and when the
// directory refuses the batch, the values are searched one by one.
func TestFlushLookupsSplitsSafely(t *testing.T) {
	entry := func(dn string, vals ...string) *ldap.Entry {
		return ldap.NewEntry(dn, map[string][]string{"employeeNumber": vals})
	}
	dir := map[string][]*ldap.Entry{} // what one value's own search finds
	for _, e := range []*ldap.Entry{
		entry("uid=a", "A1"), entry("uid=b", "b2"), entry("uid=exact", "abc"), entry("uid=spaced", "123"), entry("uid=two", "x", "y"),
	} {
		for _, v := range e.GetAttributeValues("employeeNumber") {
			dir[v] = append(dir[v], e)
		}
	}
	dir["12 3"] = dir["123"] // a matching rule that ignores spaces
	refused := &ldap.Error{ResultCode: ldap.LDAPResultInvalidAttributeSyntax, Err: errors.New("bad value")}
	down := &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("connection refused")}
	for _, tt := range []struct {
		name     string
		batch    []string
		batchErr error
		want     map[string]string // value → DNs found, joined; absent: an error
		searches int
	}{
		{"split", []string{"A1", "b2", "none", "A1"}, nil, map[string]string{"A1": "uid=a", "b2": "uid=b", "none": ""}, 1},
		{"case differs", []string{"ABC", "abc"}, nil, map[string]string{"ABC": "", "abc": "uid=exact"}, 1 + 2},
		{"other matching rule", []string{"12 3", "A1"}, nil, map[string]string{"12 3": "uid=spaced", "A1": "uid=a"}, 1 + 2},
		{"entry holds two", []string{"x", "y"}, nil, map[string]string{"x": "uid=two", "y": "uid=two"}, 1 + 2},
		{"refused", []string{"A1", "b2"}, refused, map[string]string{"A1": "uid=a", "b2": "uid=b"}, 1 + 2},
		{"unreachable", []string{"A1", "b2"}, down, map[string]string{}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b lookupBatcher
			searches := 0
			search := func(_ context.Context, f Filter) ([]*ldap.Entry, error) {
				searches++
				if strings.HasPrefix(f.String(), "(|") {
					if tt.batchErr != nil {
						return nil, tt.batchErr
					}
					var out []*ldap.Entry
					for _, v := range tt.batch {
						// A case-insensitive directory (as caseIgnoreMatch).
						for k, es := range dir {
							if strings.EqualFold(k, v) {
								out = append(out, es...)
							}
						}
					}
					return dedupe(out), nil
				}
				v := strings.TrimSuffix(strings.TrimPrefix(f.String(), "(employeeNumber="), ")")
				v = strings.ReplaceAll(v, `\20`, " ")
				if v == "ABC" {
					return nil, nil // case-exact: "ABC" finds nothing
				}
				return dir[v], nil
			}
			rs := flushLookups(t.Context(), &b, tt.batch, "employeeNumber", false, search)
			if searches != tt.searches {
				t.Errorf("%d searches, want %d", searches, tt.searches)
			}
			for i, v := range tt.batch {
				want, ok := tt.want[v]
				if !ok {
					if rs[i].err == nil {
						t.Errorf("%s: no error", v)
					}
					continue
				}
				var got []string
				for _, e := range rs[i].entries {
					got = append(got, e.DN)
				}
				if rs[i].err != nil || strings.Join(got, ",") != want {
					t.Errorf("%s: %v, %v; want %q", v, got, rs[i].err, want)
				}
			}
		})
	}
}

func dedupe(es []*ldap.Entry) []*ldap.Entry {
	var out []*ldap.Entry
	seen := map[string]bool{}
	for _, e := range es {
		if !seen[e.DN] {
			seen[e.DN] = true
			out = append(out, e)
		}
	}
	return out
}

// TestCoalescedLookups: on OpenLDAP and AD, correlation lookups and reads
// by DN that meet go in one search, and each gets its own entry.
func TestCoalescedLookups(t *testing.T) {
	t.Parallel()
	forEachDirectory(t, func(t *testing.T, s *dirServer) {
		c := s.newCase(t, "")
		ctx := t.Context()
		const n = 10
		var dns, nums []string
		for i := range n {
			dn := JoinDN(RDN(s.rdn, fmt.Sprintf("looked up %d", i)), c.people)
			num := fmt.Sprintf("E-%d-%s", i, strings.ReplaceAll(t.Name(), "/", "-"))
			s.addEntry(t, s, dn, fmt.Sprintf("looked up %d", i), map[string][]string{"employeeNumber": {num}})
			dns, nums = append(dns, dn), append(nums, num)
		}
		attrs := []string{"employeeNumber", c.d.Dialect.AnchorAttribute()}
		for _, by := range []struct {
			attr   string
			values []string
			dn     bool
		}{{"employeeNumber", append(nums, "E-nobody"), false}, {c.d.Dialect.(DNAttributer).DNAttribute(), dns, true}} {
			// The first search holds the others back until they have
			// queued, as a burst of joiners would.
			gate, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			b := &lookupBatcher{}
			key := lookupKey{normalDN(c.base), strings.ToLower(by.attr), strings.Join(attrs, "\x00")}
			got := make([][]*ldap.Entry, len(by.values))
			errs := make([]error, len(by.values))
			var wg sync.WaitGroup
			for i, v := range by.values {
				wg.Go(func() {
					if i > 0 {
						<-gate
					}
					got[i], errs[i] = lookup(ctx, b, &holdPool{Pool: s.p, hold: func() { once.Do(func() { close(gate); <-release }) }}, c.base, by.attr, v, by.dn, attrs)
				})
			}
			waitFor(t, func() bool { return b.waiting(key) == len(by.values)-1 })
			close(release)
			wg.Wait()
			if b.sent != 2 {
				t.Errorf("%s: %d searches, want 2", by.attr, b.sent)
			}
			for i, v := range by.values {
				want := ""
				if i < n {
					want = dns[i]
				}
				if errs[i] != nil || (want == "") != (len(got[i]) == 0) || (want != "" && (len(got[i]) != 1 || !EqualDN(got[i][0].DN, want))) {
					t.Errorf("%s %s: %v, %v; want %s", by.attr, v, got[i], errs[i], want)
				}
			}
		}
	})
}

// holdPool calls hold before each search (which may block the first).
type holdPool struct {
	*Pool
	hold func()
}

func (h *holdPool) SearchAll(ctx context.Context, req *ldap.SearchRequest, pageSize uint32) ([]*ldap.Entry, error) {
	h.hold()
	return h.Pool.SearchAll(ctx, req, pageSize)
}
