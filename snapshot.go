package k8s

// The snapshot: the immutable routing state that PickPeer reads, a ring and a client per
// member, published by the router.

import "github.com/golang/groupcache"

// snapshot is the immutable routing state that PickPeer reads through an
// atomic.Pointer. The router publishes a new one for every view of the peers, at the
// end of a hand-off window, and when it stops.
type snapshot struct {
	ring    *ring
	self    int                      // index of self in ring.members(), or -1 if self is not a member
	getters []groupcache.ProtoGetter // by member index; nil at self
	handoff *handoffState            // nil when no key's owner changed within the window
	view    view                     // the view of the peers the ring was built from
	clients map[string]peerGetter    // of the ring's members but self, and of leaving peers
}

// pick is PickPeer's body. It returns the getter of the peer that owns key and true, or
// nil and false when this pod owns key or the ring is empty. Every member but self has
// a getter.
func (s *snapshot) pick(key string) (groupcache.ProtoGetter, bool) {
	i := s.ring.owner(key)
	if i < 0 || i == s.self {
		return nil, false
	}
	return s.getters[i], true
}
