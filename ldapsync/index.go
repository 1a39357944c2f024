package ldapsync

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// Every joiner's converge searches for its correlation value (lookup.go),
// so a directory that does not index the correlation attribute reads every
// entry under base_dn for each batch of joiners: in BenchmarkLDAPJoiners an
// unindexed employeeNumber doubled slapd's CPU per joiner and held joiners
// to 58% of the direct rate, and on a directory of tens of thousands of
// people it is worse. Active Directory does not index employeeNumber or
// employeeID unless told to. A directory that says whether an attribute is
// indexed is asked once, on the first converge, and an unindexed
// correlation attribute is logged as a warning.

// IndexReporter is implemented by dialects whose directories say whether
// an attribute is indexed for equality (AD: the attribute's searchFlags in
// the schema, readable by any user). known is false when the directory did
// not say (the schema entry unreadable, the attribute not found).
type IndexReporter interface {
	Indexed(ctx context.Context, p *Pool, attr string) (indexed, known bool, err error)
}

// indexCheck is the check's state per Directory: 0 not run, 1 running,
// 2 done. A converge that finds it running goes on without waiting.
type indexCheck struct{ state atomic.Int32 }

// checkIndex asks the dialect, once, whether the correlation attribute is
// indexed, and warns if it is not. A failure is logged at debug and not
// retried: the check only advises. A run that the converge's ctx cut short
// is left to a later converge.
func (d *Directory) checkIndex(ctx context.Context, attr string) {
	ir, ok := d.Dialect.(IndexReporter)
	if !ok || attr == "" || d.index == nil || !d.index.state.CompareAndSwap(0, 1) {
		return
	}
	indexed, known, err := ir.Indexed(ctx, d.Pool, attr)
	if ctx.Err() != nil {
		d.index.state.Store(0)
		return
	}
	d.index.state.Store(2)
	log := d.Pool.log.With("server", d.Pool.cfg.Server, "attribute", attr)
	switch {
	case err != nil:
		log.Debug("ldapsync: could not tell whether the correlation attribute is indexed", "err", err)
	case known && !indexed:
		log.Warn("ldapsync: the correlation attribute is not indexed in the directory: every joiner's lookup reads every entry under base_dn; index it for equality (docs/operations.md)")
	}
}

// Indexed implements IndexReporter: the attribute's schema entry, found by
// its lDAPDisplayName under the RootDSE's schemaNamingContext, has bit 0x1
// (fATTINDEX) of searchFlags set.
func (AD) Indexed(ctx context.Context, p *Pool, attr string) (indexed, known bool, err error) {
	root, err := p.SearchAll(ctx, ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"schemaNamingContext"}, nil), 0)
	if err != nil || len(root) != 1 {
		return false, false, err
	}
	schema := root[0].GetAttributeValue("schemaNamingContext")
	if schema == "" {
		return false, false, nil
	}
	es, err := p.SearchAll(ctx, ldap.NewSearchRequest(schema, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 2, 0, false,
		And(Eq("objectClass", "attributeSchema"), Eq("lDAPDisplayName", attr)).String(), []string{"searchFlags"}, nil), 0)
	if err != nil || len(es) != 1 {
		return false, false, err
	}
	flags, err := strconv.ParseInt(es[0].GetAttributeValue("searchFlags"), 10, 64)
	if err != nil {
		return false, false, nil
	}
	return flags&1 != 0, true, nil
}

var _ IndexReporter = AD{}
