package k8s

// The groups: NewGroup creates a groupcache group whose loads peek a key's previous
// owner first (the warm hand-off, handoff.go).

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

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
// groupcache allows one group per name in a process, for the life of the process, and
// NewGroup panics as groupcache.NewGroup does when a group named name exists already
// ("duplicate registration of group name"), whether groupcache.NewGroup or NewGroup of
// a manager still open made it, and when getter is nil ("nil Getter"). The one
// exception: a group made by NewGroup of a manager that has been closed since is handed
// to this manager, so that a program can replace its manager; the group's loads then
// use getter and this manager's hand-off (its cacheBytes stay as first given).
func (m *PeersManager) NewGroup(name string, cacheBytes int64, getter groupcache.Getter) *groupcache.Group {
	if getter == nil {
		panic("nil Getter")
	}
	g, handedOver := m.newGroup(name, cacheBytes, getter)
	if handedOver { // outside newGroupMu: the logger may call back into the library
		m.cfg.logger.Info("groupcache-k8s: NewGroup: the group's manager was closed; the group now loads "+
			"through this one", "group", name)
	}
	return g
}

// newGroup is NewGroup under newGroupMu; it also reports whether it handed over a closed
// manager's group.
func (m *PeersManager) newGroup(name string, cacheBytes int64, getter groupcache.Getter) (*groupcache.Group, bool) {
	newGroupMu.Lock()
	defer newGroupMu.Unlock()
	g := groupcache.GetGroup(name)
	handedOver := g != nil
	if handedOver {
		if h := handoffGroups[name]; h == nil || !h.rebind(m, getter) {
			panic("duplicate registration of group " + name)
		}
	} else {
		h := &handoffGetter{group: name}
		h.bound.Store(&boundGetter{m: m, getter: getter})
		handoffGroups[name] = h
		newGroupNames.Store(name, h)
		g = groupcache.NewGroup(name, cacheBytes, h)
	}
	if names := m.Groups(); !slices.Contains(names, name) {
		names = append(names, name)
		slices.Sort(names)
		m.groups.Store(&names)
	}
	return g, handedOver
}

// Groups returns the names of the groups created with NewGroup, sorted.
func (m *PeersManager) Groups() []string {
	if names := m.groups.Load(); names != nil {
		return slices.Clone(*names)
	}
	return nil
}

var (
	// newGroupMu makes NewGroup's check and creation one step, and orders the changes of
	// every manager's groups.
	newGroupMu sync.Mutex
	// handoffGroups are the groups NewGroup made, by name. newGroupMu guards it.
	handoffGroups = map[string]*handoffGetter{}
	// newGroupNames holds handoffGroups' entries, read without newGroupMu by the peer
	// clients (ownererror.go) and the Push method (push.go).
	newGroupNames sync.Map
)

// handoffGetter is the getter of a group made by NewGroup: a peek of the key's previous
// owner through the group's manager, then the user's getter.
type handoffGetter struct {
	group string
	bound atomic.Pointer[boundGetter]
	keys  keyLog // the keys loaded here lately: what the pusher hands over
}

// boundGetter is the manager and getter a group made by NewGroup loads through.
type boundGetter struct {
	m      *PeersManager
	getter groupcache.Getter
}

// rebind hands the group to m and getter if its manager has been closed, and reports
// whether it did. newGroupMu is held.
func (h *handoffGetter) rebind(m *PeersManager, getter groupcache.Getter) bool {
	old := h.bound.Load()
	select {
	case <-old.m.closing:
	default:
		return false
	}
	h.bound.Store(&boundGetter{m: m, getter: getter})
	return true
}

// Get is called by groupcache, inside its one load per key, when the key is to be loaded
// in this process. When the key's owner has just answered that its getter failed, Get
// returns the owner's error and does not load the key (see ownererror.go).
//
// Every load of the group passes here. Outside a push, an owner's error and the hand-off's
// window, each of its checks is one atomic load (pushedFor, take, peekPrevious), and
// logging the key one lock (keyLog.add); BenchmarkHandoffGetter measures what Get adds to
// the user's getter.
func (h *handoffGetter) Get(ctx context.Context, key string, dest groupcache.Sink) error {
	b := h.bound.Load()
	if value, ok := storePushedValue(ctx, h.group, key); ok {
		h.keys.add(key)
		return dest.SetBytes(value) // a peer pushed it (push.go)
	}
	if err := pendingOwnerErrors.take(h.group, key); err != nil {
		b.m.stats.ownerErrors.Add(1)
		return err
	}
	if value, ok := b.m.router.peekPrevious(ctx, h.group, key); ok {
		h.keys.add(key)
		return dest.SetBytes(value)
	}
	err := b.getter.Get(ctx, key, dest)
	if err == nil {
		h.keys.add(key)
		return nil
	}
	if isContextError(err) && ctx.Err() == nil {
		return getterContextError{err} // the getter's own deadline, not its caller's
	}
	return err
}

// loggedKeys returns the key logs of the groups NewGroup made for m, by name.
func (m *PeersManager) loggedKeys() map[string]*keyLog {
	newGroupMu.Lock()
	defer newGroupMu.Unlock()
	logs := make(map[string]*keyLog)
	for _, name := range m.Groups() {
		if h := handoffGroups[name]; h != nil && h.bound.Load().m == m {
			logs[name] = &h.keys
		}
	}
	return logs
}

// getterContextError is a context error a getter returned while the context it was
// given was still live: its backend call's own deadline passed, for example. It is the
// getter's answer, which a server returns to the peers as the owner's error
// (ownererror.go); a context error whose context had ended is the end of the request
// that started the load, which groupcache shares with every request for the key, and a
// peer whose own request is live loads the key itself.
type getterContextError struct{ err error }

func (e getterContextError) Error() string { return e.err.Error() }
func (e getterContextError) Unwrap() error { return e.err }
