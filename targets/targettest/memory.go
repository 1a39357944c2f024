package targettest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"github.com/tenurehq/tenure/targets"
)

// Memory is a whole target kind in memory, the smallest that passes
// targets/conformance (memory_test.go): accounts are named by NameAttr
// within containers and keep an anchor through renames and moves. A
// converge finds the account by its link's anchor, else by KeyAttr (the
// correlation attribute, claimed first), else at its name when the account
// there holds the person's correlation value (or, without one, every
// mapped value); any other account in the way is a collision (Collision
// "fail") or a reason to take the next numbered name ("suffix"). Groups
// exist once AddGroup made them; a grant of another fails permanently.
// Every converge reads the account, so drift is repaired. Unlike
// Recording it models ownership and naming; like it, it is for tests only
// and never registered in the production binary.
type Memory struct {
	// NameAttr is the naming attribute ("name" when empty); KeyAttr the
	// correlation attribute ("" for none).
	NameAttr, KeyAttr string
	// Collision is "fail" (the default) or "suffix".
	Collision string

	mu       sync.Mutex
	seq      int
	accounts map[string]*MemoryAccount // by anchor
	groups   map[string][]string       // group → member anchors
	writes   int
}

// MemoryAccount is an account as a Memory holds it. Attributes exclude
// the naming attribute, whose value is Name.
type MemoryAccount struct {
	Container, Name string
	Enabled         bool
	Attributes      map[string]any
	References      map[string]string
	// Version counts the changes to the account.
	Version int
}

// Ref is how other accounts refer to a: its container and name.
func (a *MemoryAccount) Ref() string { return a.Container + "/" + a.Name }

func (a *MemoryAccount) clone() *MemoryAccount {
	c := *a
	c.Attributes, c.References = maps.Clone(a.Attributes), maps.Clone(a.References)
	return &c
}

var (
	_ targets.Target = (*Memory)(nil)
	_ targets.Finder = (*Memory)(nil)
)

func (m *Memory) nameAttr() string {
	if m.NameAttr == "" {
		return "name"
	}
	return m.NameAttr
}

func (m *Memory) init() {
	if m.accounts == nil {
		m.accounts, m.groups = map[string]*MemoryAccount{}, map[string][]string{}
	}
}

// AddGroup creates group, as an administrator would.
func (m *Memory) AddGroup(group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.groups[group]; !ok {
		m.groups[group] = nil
	}
}

// Put adds an account as an administrator would (not counted in Writes)
// and returns its anchor.
func (m *Memory) Put(a MemoryAccount) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(a.clone())
}

func (m *Memory) put(a *MemoryAccount) string {
	m.init()
	m.seq++
	id := "mem-" + strconv.Itoa(m.seq)
	a.Version = 1
	m.accounts[id] = a
	return id
}

// Get returns a copy of the account anchored at id, nil if there is none.
func (m *Memory) Get(id string) *MemoryAccount {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[id]; a != nil {
		return a.clone()
	}
	return nil
}

// Edit changes the account anchored at id as an administrator would.
func (m *Memory) Edit(id string, fn func(*MemoryAccount)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[id]; a != nil {
		fn(a)
		a.Version++
	}
}

// Delete removes the account anchored at id and its memberships as an
// administrator would.
func (m *Memory) Delete(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(id)
}

func (m *Memory) remove(id string) {
	delete(m.accounts, id)
	for g, ms := range m.groups {
		m.groups[g] = slices.DeleteFunc(ms, func(x string) bool { return x == id })
	}
}

// GroupsOf lists the groups holding the account anchored at id, sorted.
func (m *Memory) GroupsOf(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for g, ms := range m.groups {
		if slices.Contains(ms, id) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// SetMember adds the account anchored at id to group, or removes it, as an
// administrator would.
func (m *Memory) SetMember(group, id string, member bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setMember(group, id, member)
}

func (m *Memory) setMember(group, id string, member bool) bool {
	ms, has := m.groups[group], slices.Contains(m.groups[group], id)
	switch {
	case member && !has:
		m.groups[group] = append(ms, id)
	case !member && has:
		m.groups[group] = slices.DeleteFunc(ms, func(x string) bool { return x == id })
	default:
		return false
	}
	return true
}

// Writes counts the changes converges made.
func (m *Memory) Writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

// memConverge is one Converge or Find.
type memConverge struct {
	m            *Memory
	req          *targets.Request
	d            *targets.Account
	applied      *targets.Account
	link         string
	name, wanted string // a collision rule's name for the mapped one
	ops          []targets.Op
}

func (m *Memory) begin(ctx context.Context, op string, req *targets.Request) (*memConverge, error) {
	if err := ctx.Err(); err != nil {
		return nil, targets.Retryable(op, err, 0)
	}
	if req == nil || req.Desired == nil {
		return nil, targets.Permanent(op, errors.New("no desired state"))
	}
	c := &memConverge{m: m, req: req, d: req.Desired}
	if l := req.Link; l != nil {
		c.link, c.applied, c.name, c.wanted = l.ID, l.Applied, l.Name, l.Wanted
	}
	return c, nil
}

// Converge implements targets.Target.
func (m *Memory) Converge(ctx context.Context, req *targets.Request) (*targets.Result, error) {
	c, err := m.begin(ctx, "memory converge", req)
	if err != nil {
		return nil, err
	}
	id, err := c.locate(ctx)
	if err != nil {
		return nil, err
	}
	if !c.d.Exists {
		if id != "" {
			m.mu.Lock()
			m.remove(id)
			m.writes++
			m.mu.Unlock()
			c.ops = append(c.ops, targets.Op{Kind: targets.OpDelete})
		}
		return &targets.Result{Ops: c.ops}, nil
	}
	created := false
	if id == "" {
		if id, created, err = c.create(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.place(id); err != nil {
		return nil, err
	}
	c.modify(id)
	if err := c.memberships(id, created); err != nil {
		return nil, err
	}
	a := m.Get(id)
	l := targets.Link{ID: id, Ref: a.Ref(), Applied: c.d.Clone()}
	if c.name != "" {
		l.Name, l.Wanted = c.name, c.wanted
	}
	return &targets.Result{Link: l, Ops: c.ops}, nil
}

// claim asks the engine for the account anchored at id before any write.
func (c *memConverge) claim(ctx context.Context, id string) error {
	if c.req.Owned(id) {
		return nil
	}
	return targets.ClaimAccount(ctx, c.req, id, c.m.Get(id).Ref())
}

// byKey lists the anchors of the accounts holding the person's
// correlation value, and that value.
func (c *memConverge) byKey() ([]string, string) {
	key, _ := c.d.Attributes[c.m.KeyAttr].(string)
	if c.m.KeyAttr == "" || key == "" {
		return nil, ""
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	var ids []string
	for id, a := range c.m.accounts {
		if a.Attributes[c.m.KeyAttr] == key {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, key
}

func (c *memConverge) ambiguous(n int, key string) error {
	return &targets.Conflict{Reason: targets.ConflictAmbiguous,
		Detail: fmt.Sprintf("%d accounts have %s %q", n, c.m.KeyAttr, key)}
}

// locate finds the account by its link, else by correlation (claimed).
func (c *memConverge) locate(ctx context.Context) (string, error) {
	if c.link != "" && c.m.Get(c.link) != nil {
		return c.link, nil
	}
	ids, key := c.byKey()
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], c.claim(ctx, ids[0])
	}
	return "", c.ambiguous(len(ids), key)
}

// rdnValue is the name to use: the mapped one, or the one a collision rule
// chose for it.
func (c *memConverge) rdnValue() (string, error) {
	v, _ := c.d.Attributes[c.m.nameAttr()].(string)
	if v == "" {
		return "", targets.Permanent("memory converge", fmt.Errorf("the account has no %s", c.m.nameAttr()))
	}
	if c.name != "" && c.wanted == v {
		return c.name, nil
	}
	c.name, c.wanted = "", ""
	return v, nil
}

func (c *memConverge) setName(base, name string) {
	c.name, c.wanted = "", ""
	if name != base {
		c.name, c.wanted = name, base
	}
}

// next is the candidate after the n-1 tried for base, "" when the rule is
// fail or the numbers run out.
func (c *memConverge) next(base string, n int, cur string) string {
	for ; c.m.Collision == "suffix" && n <= 99; n++ {
		if s := base + strconv.Itoa(n); s != cur {
			return s
		}
	}
	return ""
}

// at is the anchor of the account named name in container ("" none);
// the caller holds the lock.
func (m *Memory) at(container, name string) string {
	for id, a := range m.accounts {
		if a.Container == container && a.Name == name {
			return id
		}
	}
	return ""
}

// adoptable says whether a, found at the person's name, is the person's.
func (c *memConverge) adoptable(a *MemoryAccount) bool {
	if key, _ := c.d.Attributes[c.m.KeyAttr].(string); c.m.KeyAttr != "" && key != "" {
		return a.Attributes[c.m.KeyAttr] == key
	}
	for k, v := range c.d.Attributes {
		if k != c.m.nameAttr() && !reflect.DeepEqual(a.Attributes[k], v) {
			return false
		}
	}
	return true
}

// create adds the account under its name, links the person's account
// found there, or applies the collision rule.
func (c *memConverge) create(ctx context.Context) (string, bool, error) {
	name, err := c.rdnValue()
	if err != nil {
		return "", false, err
	}
	base := c.wanted
	if base == "" {
		base = name
	}
	for n := 2; ; n++ {
		c.m.mu.Lock()
		id := c.m.at(c.d.Container, name)
		if id == "" {
			a := &MemoryAccount{Container: c.d.Container, Name: name, Enabled: c.d.Enabled, Attributes: map[string]any{}}
			for k, v := range c.d.Attributes {
				if k != c.m.nameAttr() {
					a.Attributes[k] = v
				}
			}
			for k, v := range c.d.References {
				if v != "" {
					if a.References == nil {
						a.References = map[string]string{}
					}
					a.References[k] = v
				}
			}
			id = c.m.put(a)
			c.m.writes++
			c.m.mu.Unlock()
			c.setName(base, name)
			c.ops = append(c.ops, targets.Op{Kind: targets.OpCreate, Detail: c.d.Container})
			if !c.d.Enabled {
				c.ops = append(c.ops, targets.Op{Kind: targets.OpDisable})
			}
			return id, true, nil
		}
		a := c.m.accounts[id].clone()
		c.m.mu.Unlock()
		if c.req.Owned(id) || c.adoptable(a) {
			c.setName(base, name)
			return id, false, c.claim(ctx, id)
		}
		if name = c.next(base, n, name); name == "" {
			return "", false, targets.Collision(id, a.Ref(), "%s is not this person's account", a.Ref())
		}
	}
}

// place renames and moves the account to its name and container.
func (c *memConverge) place(id string) error {
	name, err := c.rdnValue()
	if err != nil {
		return err
	}
	base := c.wanted
	if base == "" {
		base = name
	}
	for n := 2; ; n++ {
		c.m.mu.Lock()
		a := c.m.accounts[id]
		if a == nil {
			c.m.mu.Unlock()
			return targets.Retryable("memory rename", fmt.Errorf("account %s vanished", id), 0)
		}
		if a.Name == name && a.Container == c.d.Container {
			c.m.mu.Unlock()
			c.setName(base, name)
			return nil
		}
		if other := c.m.at(c.d.Container, name); other != "" && other != id {
			c.m.mu.Unlock()
			ref := c.d.Container + "/" + name
			if name = c.next(base, n, name); name == "" {
				return targets.Collision(other, ref, "%s is another account's name", ref)
			}
			continue
		}
		renamed, moved := a.Name != name, a.Container != c.d.Container
		a.Name, a.Container = name, c.d.Container
		a.Version++
		c.m.writes++
		c.m.mu.Unlock()
		c.setName(base, name)
		if renamed {
			c.ops = append(c.ops, targets.Op{Kind: targets.OpUpdate, Detail: fmt.Sprint([]string{c.m.nameAttr()})})
		}
		if moved {
			c.ops = append(c.ops, targets.Op{Kind: targets.OpMove, Detail: c.d.Container})
		}
		return nil
	}
}

// modify makes the attributes, references and status the desired ones,
// touching only attributes desired or applied before.
func (c *memConverge) modify(id string) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	a := c.m.accounts[id]
	if a.Attributes == nil {
		a.Attributes = map[string]any{}
	}
	var changed []string
	set := func(k string, v any, have bool) {
		if v == nil {
			if have {
				delete(a.Attributes, k)
				changed = append(changed, k)
			}
			return
		}
		if !reflect.DeepEqual(a.Attributes[k], v) {
			a.Attributes[k] = v
			changed = append(changed, k)
		}
	}
	for k, v := range c.d.Attributes {
		if k != c.m.nameAttr() {
			set(k, v, true)
		}
	}
	if c.applied != nil {
		for k := range c.applied.Attributes {
			if _, ok := c.d.Attributes[k]; !ok && k != c.m.nameAttr() {
				_, have := a.Attributes[k]
				set(k, nil, have)
			}
		}
	}
	refs := map[string]string{}
	if c.applied != nil {
		for k := range c.applied.References {
			refs[k] = ""
		}
	}
	maps.Copy(refs, c.d.References)
	for k, v := range refs {
		if a.References[k] == v {
			continue
		}
		if a.References == nil {
			a.References = map[string]string{}
		}
		if v == "" {
			delete(a.References, k)
		} else {
			a.References[k] = v
		}
		changed = append(changed, k)
	}
	status := a.Enabled != c.d.Enabled
	a.Enabled = c.d.Enabled
	if len(changed) == 0 && !status {
		return
	}
	a.Version++
	c.m.writes++
	c.ops = append(c.ops, targets.ChangeOps(changed, status, c.d.Enabled)...)
}

// memberships grants the desired groups and revokes those granted before
// and no longer desired; others' memberships are left alone.
func (c *memConverge) memberships(id string, created bool) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for _, g := range c.d.Entitlements {
		if _, ok := c.m.groups[g]; !ok {
			return targets.Permanent("memory grant", fmt.Errorf("group %q does not exist", g))
		}
		if c.m.setMember(g, id, true) {
			c.m.writes++
			c.ops = append(c.ops, targets.Op{Kind: targets.OpGrant, Detail: g})
		}
	}
	if c.applied == nil || created {
		return nil
	}
	for _, g := range c.applied.Entitlements {
		if !slices.Contains(c.d.Entitlements, g) && c.m.setMember(g, id, false) {
			c.m.writes++
			c.ops = append(c.ops, targets.Op{Kind: targets.OpRevoke, Detail: g})
		}
	}
	return nil
}

// Find implements targets.Finder, reading only.
func (m *Memory) Find(ctx context.Context, req *targets.Request) (*targets.Match, error) {
	c, err := m.begin(ctx, "memory find", req)
	if err != nil {
		return nil, err
	}
	if c.link != "" {
		if a := m.Get(c.link); a != nil {
			return &targets.Match{ID: c.link, Ref: a.Ref(), By: "link"}, nil
		}
	}
	switch ids, key := c.byKey(); len(ids) {
	case 0:
	case 1:
		return &targets.Match{ID: ids[0], Ref: m.Get(ids[0]).Ref(), By: "correlation " + m.KeyAttr}, nil
	default:
		return nil, c.ambiguous(len(ids), key)
	}
	if !c.d.Exists {
		return nil, nil
	}
	name, err := c.rdnValue()
	if err != nil {
		return nil, err
	}
	base := c.wanted
	if base == "" {
		base = name
	}
	for n := 2; ; n++ {
		m.mu.Lock()
		id := m.at(c.d.Container, name)
		var a *MemoryAccount
		if id != "" {
			a = m.accounts[id].clone()
		}
		m.mu.Unlock()
		switch {
		case a == nil && name != base:
			return &targets.Match{Ref: c.d.Container + "/" + name, By: "name", Renamed: true}, nil
		case a == nil:
			return nil, nil
		case req.Owned(id) || c.adoptable(a):
			return &targets.Match{ID: id, Ref: a.Ref(), By: "name"}, nil
		}
		if name = c.next(base, n, name); name == "" {
			return nil, targets.Collision(id, a.Ref(), "%s is not this person's account", a.Ref())
		}
	}
}
