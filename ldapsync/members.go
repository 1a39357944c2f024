package ldapsync

import (
	"context"
	"slices"
	"strings"
)

// Group membership writes, coalesced (batch.go): the values converges add
// to (or remove from) one group meet in one modify. A modify of many
// values is atomic in LDAP: when the directory refuses it for something a
// value can cause (already a member, not a member, a syntax or constraint
// error), the values are written one by one, as before coalescing, so one
// bad value fails only its own converge and "already a member" / "not a
// member" stay a success that changed nothing. When the directory could
// not be reached, every value of the batch gets that (retryable) error.

// maxMemberBatch bounds the values of one modify: Active Directory refuses
// a modify of more than 5,000 values of one attribute, and a smaller
// modify keeps a refused batch's one-by-one fallback short.
const maxMemberBatch = 500

type memberKey struct {
	group, attr string // group: normalised DN; attr: lower case
	add         bool
}

type memberResult struct {
	done bool // false: it already was (was not) a member
	err  error
}

// memberBatcher coalesces member writes per group, attribute and
// direction.
type memberBatcher = coalescer[memberKey, string, memberResult]

// writeMember adds value to (or removes it from) group g's attribute attr
// through b. send writes a batch with one modify: done per value, and the
// directory's error for the whole.
func writeMember(ctx context.Context, b *memberBatcher, g, attr, value string, add bool, send func(context.Context, []string) ([]bool, error)) (bool, error) {
	key := memberKey{group: normalDN(g), attr: strings.ToLower(attr), add: add}
	r, err := b.do(ctx, key, value, maxMemberBatch, func(ctx context.Context, vals []string) []memberResult {
		return flushMembers(ctx, b, vals, send)
	}, func(err error) memberResult { return memberResult{err: err} })
	if err != nil {
		return false, err
	}
	return r.done, r.err
}

// flushMembers writes one batch: one modify of every distinct value; if the
// directory refuses it for something a value may cause, one modify per
// value.
func flushMembers(ctx context.Context, b *memberBatcher, batch []string, send func(context.Context, []string) ([]bool, error)) []memberResult {
	var values []string
	for _, v := range batch {
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	b.count(1)
	done, err := send(ctx, values)
	out := make([]memberResult, len(batch))
	if err != nil && len(values) > 1 && refusedByDirectory(err) {
		b.count(len(values))
		byValue := map[string]memberResult{}
		for _, v := range values {
			d, err := send(ctx, []string{v})
			byValue[v] = memberResult{done: len(d) == 1 && d[0], err: err}
		}
		for i, v := range batch {
			out[i] = byValue[v]
			if out[i].done && slices.Index(batch, v) != i {
				out[i].done = false // the first write of v changed the group
			}
		}
		return out
	}
	for i, v := range batch {
		out[i].err = err
		if err == nil {
			// A value two converges wrote at once changed the group
			// once: the first of them did it.
			out[i].done = done[slices.Index(values, v)] && slices.Index(batch, v) == i
		}
	}
	return out
}
