package k8s

// The hand-off: when a key's owner changes, its new owner asks the previous one for the
// value (a peek) before loading it, so that membership changes keep the cache warm.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of the hand-off, stated in Handoff's doc.
const (
	// defaultHandoffWindow is how long after a change of the ring a pod peeks a key's
	// previous owner: twice Kubernetes' default terminationGracePeriodSeconds, so that a
	// leaving pod can be peeked for as long as it may live, and a scale-up keeps keys
	// asked about once a minute.
	defaultHandoffWindow = 60 * time.Second
	// defaultPeekTimeout bounds one peek. A peek reads memory on the peer: what a miss
	// adds to a load on loopback is in BENCHMARKS.md ("The warm hand-off: cost of a peek
	// miss"), and within a zone the network's round trip comes on top. A pod that has just started, though, makes its first peeks while
	// its connections and runtime warm up: in the e2e suite (two cores, race detector,
	// six pods under load) peeks of 20 ms timed out there, those of 50 ms never did. No
	// peer that fails silently makes a load wait longer than this after the answers
	// before it.
	defaultPeekTimeout = 50 * time.Millisecond
	// defaultDrain bounds how long Shutdown keeps serving peers after this pod's manager
	// is told to stop, so that the new owners of its keys can peek them. With Kubernetes' default
	// grace period of 30 s it leaves room for a preStop sleep of up to 10 s and the
	// server's graceful stop of up to 5 s before the kubelet's SIGKILL.
	defaultDrain = 15 * time.Second
)

// maxPeeks is the most previous owners one load peeks, newest first, each within a peek
// timeout of its own: in a rolling update a key changes owners several times, and its most
// recent previous owner may have exited, or have been asked before the entry reached it.
const maxPeeks = 3

// maxPastRings is the most past rings a pod remembers within the window, besides the
// newest ring the others used without it (pastRing.without), which it keeps within the
// window whatever came since: at 150 pods a rolling update changes the ring every second or
// two, and the keys a pod took when it joined are found only in that ring.
const maxPastRings = 8

// Handoff sets the warm hand-off of a PeersManager (WithHandoff). A zero duration takes
// its default; the zero Handoff is the default hand-off.
type Handoff struct {
	// Off turns the hand-off off: no peeks, and Shutdown does not drain. Peers can still
	// peek this pod. The durations must then be zero: a Handoff that is Off with a
	// duration set is an error naming it.
	Off bool
	// Window is how long after a change of the ring the new owner of a key peeks its
	// previous owner before loading it (default 60 s: twice Kubernetes' default
	// terminationGracePeriodSeconds, so that a leaving pod can be peeked for as long as
	// it may live).
	Window time.Duration
	// PeekTimeout bounds the answer of each previous owner a load peeks (default 50 ms),
	// and, for a peer this pod has yet to connect to, the connection's setup too; on a
	// timeout the key is loaded. A load peeks at most three peers, the next only after an
	// answer (a miss, or a refusal from a pod that is gone): no peer that fails silently
	// (frozen, partitioned) makes it wait longer than two PeekTimeouts after the answers
	// before it, and it waits at most six in all. A peek that timed out while this pod
	// itself was starved of CPU (a goroutine waited over 100 ms to run) is asked again,
	// once per load, which adds up to two PeekTimeouts to both bounds.
	PeekTimeout time.Duration
	// Drain bounds how long Shutdown keeps serving peers' Gets and peeks (default 15 s,
	// which fits Kubernetes' default grace period of 30 s with a preStop sleep of up to
	// 10 s and the server's graceful stop of up to 5 s).
	Drain time.Duration
}

// validate checks the values and, unless the hand-off is off, fills in the defaults.
func (h *Handoff) validate() error {
	if h.Off {
		var set []string
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"Window", h.Window}, {"PeekTimeout", h.PeekTimeout}, {"Drain", h.Drain}} {
			if f.d != 0 {
				set = append(set, f.name)
			}
		}
		if len(set) > 0 {
			return fmt.Errorf("groupcache-k8s: Handoff is Off but sets %s, which only apply to a hand-off that is on; "+
				"leave them zero to turn it off, or leave Off false to tune it", strings.Join(set, ", "))
		}
		return nil
	}
	if h.Window < 0 || h.PeekTimeout < 0 || h.Drain < 0 {
		return errors.New("groupcache-k8s: Handoff durations must not be negative (zero takes the default); " +
			"set Off to turn the hand-off off")
	}
	h.Window = cmp.Or(h.Window, defaultHandoffWindow)
	h.PeekTimeout = cmp.Or(h.PeekTimeout, defaultPeekTimeout)
	h.Drain = cmp.Or(h.Drain, defaultDrain)
	return nil
}

// WithHandoff sets the warm hand-off: its window, peek timeout and drain, or, with
// Handoff{Off: true}, turns it off. The hand-off is on by default; it applies to groups
// created with PeersManager.NewGroup.
func WithHandoff(h Handoff) Option {
	return func(c *config) {
		c.managerOnly("WithHandoff")
		c.once("WithHandoff")
		c.handoff = h
	}
}

// pastRing is a ring that this pod, or the other pods, used until recently.
type pastRing struct {
	ring  *ring
	until time.Time // when it was replaced; zero while the other pods still use it
	// without marks a ring the others used while this pod was not one of them (before it
	// was ready, or while it was not): the previous owners of the keys it took by
	// joining.
	without bool
}

// handoffState is what a pod needs to find the previous owner of a key: the rings used
// within the window, newest first. It is immutable and published with the snapshot.
type handoffState struct {
	self string
	past []pastRing
}

// ownedIn returns the past rings in which id owns key, newest first: the rings by which
// id, if it left, may have handed the key's entry to its successor, the key's owner in
// that ring without it (a leaving pod pushes to the owners in its ring without itself).
func (h *handoffState) ownedIn(key, id string) []*ring {
	var out []*ring
	for _, p := range h.past {
		if o := p.ring.owner(key); o >= 0 && p.ring.members()[o] == id {
			out = append(out, p.ring)
		}
	}
	return out
}

// previousOwner returns the id of the key's most recent previous owner within the
// window: the owner, other than self, under the newest past ring that is still within
// the window and whose owner is one of peers (the ring's members and leaving peers).
// Peers known to be gone are never returned. It returns "" when there is none.
func (h *handoffState) previousOwner(key string, peers map[string]peerGetter, now time.Time, window time.Duration) string {
	if ids := h.previousOwners(key, peers, now, window, 1, nil); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// previousOwners returns the key's previous owners within the window, as previousOwner
// finds the most recent, newest first, each once, at most n of them. With without, which
// returns a past ring without its members gone (neither self nor one of peers; see
// goneFrom), an owner gone is replaced by its owner in that ring: the first of its
// successors still there, where its entries went (see ownedIn). In a rolling update the
// owner of a key in a ring a minute old, and that owner's successor, have often both
// exited. without is called at most once per past ring, with no key: its rings can be
// shared by every load of a view.
func (h *handoffState) previousOwners(key string, peers map[string]peerGetter, now time.Time, window time.Duration, n int,
	without func(*ring) *ring) []string {
	var out []string
	for _, p := range h.past {
		if !p.until.IsZero() && now.Sub(p.until) >= window || len(out) == n {
			break // older rings were replaced even earlier
		}
		i := p.ring.owner(key)
		if i < 0 {
			continue
		}
		id := p.ring.members()[i]
		if id != h.self && peers[id] == nil && without != nil {
			if r := without(p.ring); r.owner(key) >= 0 {
				id = r.members()[r.owner(key)] // gone: the first successor still there
			}
		}
		if id != h.self && peers[id] != nil && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// goneFrom returns the members of rg that are gone: neither self nor one of peers.
func goneFrom(rg *ring, peers map[string]peerGetter, self string) []string {
	var gone []string
	for _, id := range rg.members() {
		if id != self && peers[id] == nil {
			gone = append(gone, id)
		}
	}
	return gone
}

// nextPast returns the past rings after a change from the view old (with ring oldRing,
// and others, the ring the other pods used while self was not ready, or nil) to the
// view next, whose members differ from old's if membersChanged, at now. It also returns the new ring of the others: when self is a member
// but not ready, the others' ring is the ring of next's members without self. A pod
// that starts ready (its first view, after an empty oldRing) takes the others to have
// used the ring without it until now.
func nextPast(past []pastRing, old, next view, membersChanged bool, oldRing, others *ring, self string,
	now time.Time, window time.Duration) ([]pastRing, *ring) {
	var out []pastRing
	withSelf := slices.Contains(next.members, self) && len(next.members) > 1
	var nextOthers *ring
	if !next.selfReady && withSelf {
		nextOthers = others
		if nextOthers == nil || membersChanged {
			nextOthers = ringWithout(next.members, self)
		}
		out = append(out, pastRing{ring: nextOthers, without: true})
	}
	if others != nil && others != nextOthers {
		out = append(out, pastRing{ring: others, until: now, without: true})
	}
	switch {
	case membersChanged && oldRing != nil && len(oldRing.members()) > 0:
		out = append(out, pastRing{ring: oldRing, until: now})
	case next.selfReady && withSelf && others == nil && (oldRing == nil || len(oldRing.members()) == 0):
		out = append(out, pastRing{ring: ringWithout(next.members, self), until: now, without: true})
	}
	keptWithout := slices.ContainsFunc(out, func(p pastRing) bool { return p.without })
	for _, p := range past {
		if p.until.IsZero() || now.Sub(p.until) >= window {
			continue // the live others' ring was handled above
		}
		if len(out) >= maxPastRings && (!p.without || keptWithout) {
			continue
		}
		keptWithout = keptWithout || p.without
		out = append(out, p)
	}
	return out, nextOthers
}

// ringWithout returns the ring of members without the ids of drop.
func ringWithout(members []string, drop ...string) *ring {
	r, _ := newRing(slices.DeleteFunc(slices.Clone(members), func(id string) bool { return slices.Contains(drop, id) }))
	return r // a subset of a valid ring: cannot fail
}

// withinWindow returns, in a new slice, the past rings whose window is still open at now.
func withinWindow(past []pastRing, now time.Time, window time.Duration) []pastRing {
	var out []pastRing
	for _, p := range past {
		if p.until.IsZero() || now.Sub(p.until) < window {
			out = append(out, p)
		}
	}
	return out
}
