package k8s

// The picker: the immutable snapshot that PickPeer reads, a ring and a client per member.

import "github.com/golang/groupcache"

// snapshot is the immutable routing state that PickPeer reads through an
// atomic.Pointer. A new snapshot is built and swapped in on every membership change.
type snapshot struct {
	ring    *ring
	self    int                      // index of self in ring.members(), or -1 if self is not a member
	getters []groupcache.ProtoGetter // by member index; nil at self
	handoff *handoffState            // nil when no key's owner changed within the window
}

// pick is PickPeer's body. It returns the getter of the peer that owns key and true, or
// nil and false when this pod owns key or the ring is empty.
// It never returns a nil getter with true: a member without a getter is treated as owned
// here.
func (s *snapshot) pick(key string) (groupcache.ProtoGetter, bool) {
	i := s.ring.owner(key)
	if i < 0 || i == s.self || i >= len(s.getters) {
		return nil, false
	}
	g := s.getters[i]
	return g, g != nil
}
