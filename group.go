package k8s

// The groups: NewGroup creates a groupcache group whose loads peek a key's previous
// owner first (the warm hand-off, handoff.go).

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/golang/groupcache"
)

// NewGroup creates a groupcache group, as groupcache.NewGroup does, whose loads take
// part in the warm hand-off: when this pod owns a key whose owner changed within the
// hand-off window (a pod joined or left), the group asks the key's previous owner for
// the value first, once and within the peek timeout, and calls getter only when that
// owner does not have it. Outside the window, and for keys whose owner did not change,
// getter is called directly. The group routes keys through the registered peer picker
// as any group does; with WithoutPeerPickerRegistration, register the manager (for
// example with groupcache.RegisterPerGroupPeerPicker) before calling NewGroup.
//
// groupcache allows one group per name in a process. If a group named name exists
// already, or getter is nil, NewGroup logs an error and returns the existing group, or
// a group whose loads fail with that error, rather than panicking as
// groupcache.NewGroup would.
func (m *PeersManager) NewGroup(name string, cacheBytes int64, getter groupcache.Getter) *groupcache.Group {
	newGroupMu.Lock()
	defer newGroupMu.Unlock()
	m.mu.Lock()
	if !slices.Contains(m.groups, name) {
		m.groups = append(m.groups, name)
	}
	m.mu.Unlock()
	if g := groupcache.GetGroup(name); g != nil {
		m.cfg.logger.Error("groupcache-k8s: NewGroup: a group of this name exists already; returning it, "+
			"without the hand-off unless it was made by NewGroup", "group", name)
		return g
	}
	if getter == nil {
		err := fmt.Errorf("groupcache-k8s: group %q was created with a nil getter", name)
		m.cfg.logger.Error(err.Error())
		getter = groupcache.GetterFunc(func(context.Context, string, groupcache.Sink) error { return err })
	}
	return groupcache.NewGroup(name, cacheBytes, &handoffGetter{m: m, group: name, getter: getter})
}

// Groups returns the names of the groups created with NewGroup, sorted.
func (m *PeersManager) Groups() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := slices.Clone(m.groups)
	slices.Sort(names)
	return names
}

// newGroupMu makes NewGroup's check and creation one step.
var newGroupMu sync.Mutex

// handoffGetter is the getter of a group made by NewGroup: a peek of the key's previous
// owner, then the user's getter.
type handoffGetter struct {
	m      *PeersManager
	group  string
	getter groupcache.Getter
}

// Get is called by groupcache, inside its one load per key, when the key is to be loaded
// in this process.
func (g *handoffGetter) Get(ctx context.Context, key string, dest groupcache.Sink) error {
	if value, ok := g.m.peekPrevious(ctx, g.group, key); ok {
		return dest.SetBytes(value)
	}
	return g.getter.Get(ctx, key, dest)
}
