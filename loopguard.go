package k8s

// The loop guard: forwarding cycles between pods that disagree about a key's owner are
// broken at once.

import (
	"errors"
	"sync"
)

// Forwarding cycles happen when pods disagree about who owns a key, for example while an
// EndpointSlice change reaches them at different times, or while a terminating pod has
// already dropped itself from its ring and the key's new owner has not seen that yet.
// groupcache runs one load per key and process (singleflight), and a peer's request for
// a key joins the load already running in the process it reaches. So if A's load of k
// is forwarding k to B while B's load of k is forwarding k to A, each server's request
// joins the other's load and neither finishes: a cycle that would last until a deadline.
//
// The guard keeps, per manager, the (group, key) pairs its clients are forwarding and
// the pairs its server is loading for peers, and never lets the two overlap:
//
//   - the server refuses at once (codes.Aborted) a peer's request for a key this
//     process is forwarding right now, so the peer loads that key itself;
//   - a client does not forward a key that the server is loading for a peer right now
//     (errForwardLoop), so this process loads it itself. This also covers the peer's
//     own request: its load must not send the key back.
//
// A server's request therefore never waits for a forward, so no cycle of any length
// can form, whatever the rings say. Other keys are still forwarded, so a getter that
// calls Group.Get for a different key (recursive loads) keeps working. The cost while
// rings disagree is a second load of the key; while they agree, nothing is refused.

// errForwardLoop is returned by peerClient.Get instead of forwarding a key that this
// process is loading for a peer. groupcache treats it like any peer error and loads the
// value locally.
var errForwardLoop = errors.New("groupcache-k8s: not forwarding a key that a peer asked this pod for; " +
	"loading it locally (the peers disagree about who owns the key, usually while membership changes)")

// guardKey names one key of one group.
type guardKey struct {
	group, key string
}

// loopGuard is the set of keys in flight between one manager's clients and server. It
// is safe for concurrent use; the zero value is ready.
type loopGuard struct {
	mu         sync.Mutex
	forwarding map[guardKey]int // keys sent to a peer right now, with how many calls
	serving    map[guardKey]int // keys loaded for a peer right now, with how many requests
}

// startForward records a call to a peer for key of group. It returns false, recording
// nothing, when the server is loading that key for a peer: the caller must not
// forward it. Every true result must be followed by endForward.
func (g *loopGuard) startForward(group, key string) bool { return g.start(true, guardKey{group, key}) }

// endForward records that a call started with startForward has returned.
func (g *loopGuard) endForward(group, key string) { g.end(true, guardKey{group, key}) }

// startServe records a peer's request for key of group. It returns false, recording
// nothing, when a client of this manager is forwarding that key: the server must
// refuse the request. Every true result must be followed by endServe.
func (g *loopGuard) startServe(group, key string) bool { return g.start(false, guardKey{group, key}) }

// endServe records that a request started with startServe has been answered.
func (g *loopGuard) endServe(group, key string) { g.end(false, guardKey{group, key}) }

// sides returns the map of the side named (forwarding or serving) and the other one.
// g.mu is held.
func (g *loopGuard) sides(forward bool) (mine, other map[guardKey]int) {
	if g.forwarding == nil {
		g.forwarding, g.serving = make(map[guardKey]int), make(map[guardKey]int)
	}
	if forward {
		return g.forwarding, g.serving
	}
	return g.serving, g.forwarding
}

func (g *loopGuard) start(forward bool, k guardKey) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	mine, other := g.sides(forward)
	if other[k] > 0 {
		return false
	}
	mine[k]++
	return true
}

func (g *loopGuard) end(forward bool, k guardKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mine, _ := g.sides(forward)
	if mine[k]--; mine[k] <= 0 {
		delete(mine, k)
	}
}
