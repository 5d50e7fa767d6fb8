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
	health  []*peerHealth            // by member index: the liveness of getters' peers; nil at self, or all nil
	handoff *handoffState            // nil when no key's owner changed within the window
	view    view                     // the view of the peers the ring was built from
	clients map[string]peerGetter    // of the ring's members but self, and of leaving peers
	// without returns a ring without some of its members (router.ringWithoutMarked, which
	// keeps the latest); nil: built at each call.
	without func(rg *ring, gone ...string) *ring
}

// pick is PickPeer's body. It returns the getter of the peer that owns key and true, or
// nil and false when this pod owns key or the ring is empty. Every member but self has
// a getter. A key whose owner is marked unavailable (liveness.go) goes to its owner in
// the ring without every member so marked (pickPast).
func (s *snapshot) pick(key string) (groupcache.ProtoGetter, bool) {
	i := s.ring.owner(key)
	if i < 0 || i == s.self {
		return nil, false
	}
	if s.unavailable(i) {
		return s.pickPast(key)
	}
	return s.getters[i], true
}

// unavailable reports whether member i's peer is marked unavailable.
func (s *snapshot) unavailable(i int) bool {
	return s.health != nil && s.health[i] != nil && s.health[i].unavailable.Load()
}

// pickPast returns the getter of key's owner in the ring without the members marked
// unavailable, or nil and false when that is this pod or no member is left. That ring is
// the one a leaving pod pushed its entries by (the ring without itself, and without the
// peers it found leaving), and every pod that finds the same peers gone routes by it: an
// exited or frozen peer's keys are then loaded or found once, at one pod, rather than
// loaded again by every pod asked for them. It allocates; it runs only for keys whose
// owner is marked.
func (s *snapshot) pickPast(key string) (groupcache.ProtoGetter, bool) {
	var gone []string
	for i, id := range s.ring.members() {
		if s.unavailable(i) {
			gone = append(gone, id)
		}
	}
	without := s.without
	if without == nil {
		without = func(rg *ring, gone ...string) *ring { return ringWithout(rg.members(), gone...) }
	}
	rw := without(s.ring, gone...)
	j := rw.owner(key)
	if j < 0 {
		return nil, false
	}
	c, ok := s.clients[rw.members()[j]]
	if !ok {
		return nil, false // this pod
	}
	return c, true
}
