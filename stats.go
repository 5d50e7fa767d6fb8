package k8s

// The stats: the counters a manager and a watcher keep, and their snapshot.

import (
	"sync/atomic"
	"time"
)

// WatchStats is a snapshot of the counters of a watch of a Service's EndpointSlices: all
// that a PeerWatcher keeps, and the first part of a PeersManager's Stats. Counters only
// grow.
type WatchStats struct {
	Peers         int       // ring members (a PeerWatcher's peers), self included
	WatchEvents   int64     // ADDED, MODIFIED, DELETED and BOOKMARK events received
	WatchRestarts int64     // watches started after the first one
	Relists       int64     // LISTs after the first one (after a 410 or an error)
	APIRequests   int64     // LIST and WATCH requests sent, answered or not
	LastSync      time.Time // when the last LIST or watch event was applied
	RingRebuilds  int64     // times the set of peers changed (a new ring, or a call of onChange)
}

// Stats is a snapshot of a PeersManager's counters: the watch's, then the routing's, the
// server's and the hand-off's. Counters only grow.
type Stats struct {
	WatchStats
	PeerRPCs       int64 // calls made to peers
	PeerErrors     int64 // calls to peers that failed
	LoopsPrevented int64 // calls refused because the request came from a peer
	ServerRequests int64 // requests served for peers

	// Peers that stopped answering (liveness.go), and the owners' errors (ownererror.go):
	PeersMarkedUnavailable int64 // times a peer was marked unavailable: it did not answer a ping, or refused a connection
	CallsFailedFast        int64 // Gets to a peer marked unavailable, failed at once (its keys go past it meanwhile)
	CallsPassedOn          int64 // Gets to a peer marked unavailable or refusing, sent on to the key's next owner instead of loaded here
	OwnerErrors            int64 // owners' getter errors returned to callers without loading here

	// The warm hand-off (handoff.go). This pod's peeks of keys' previous owners:
	PeekHits   int64 // answered with the value, which was then not loaded
	PeekMisses int64 // the previous owner did not hold the key (or did not know peeks)
	PeekErrors int64 // failed or timed out; the key was loaded
	// Peeks this pod's server answered for other pods, and how many of them it held.
	PeeksServed    int64
	PeekServedHits int64
	// Draining is true while Shutdown keeps serving peers before it stops (WithHandoff);
	// DrainRequests counts the Gets and peeks served meanwhile.
	Draining      bool
	DrainRequests int64

	// Entries other pods pushed to this one (push.go): stored as if loaded here (and their
	// bytes), refused because the sender is not a peer, and dropped because the group was
	// not made by NewGroup here, this pod does not own the key, or it holds the key already.
	PushesReceived      int64
	PushedBytesReceived int64
	PushesRefused       int64
	PushesDropped       int64
	// Entries this pod pushed to the new owners of their keys (pusher.go), their bytes,
	// the pushes that failed, and the time spent pushing.
	PushesSent      int64
	PushedBytesSent int64
	PushFailures    int64
	PushTime        time.Duration
}

// counters are the live values behind Stats, shared by the watch, the ring and the
// transport.
type counters struct {
	watchEvents    atomic.Int64
	watchRestarts  atomic.Int64
	relists        atomic.Int64
	apiRequests    atomic.Int64
	lastSync       atomic.Int64 // unix nanoseconds
	peerRPCs       atomic.Int64
	peerErrors     atomic.Int64
	loopsPrevented atomic.Int64
	serverRequests atomic.Int64
	ringRebuilds   atomic.Int64

	peersMarkedUnavailable, callsFailedFast, callsPassedOn, ownerErrors atomic.Int64

	peekHits, peekMisses, peekErrors atomic.Int64
	peeksServed, peekServedHits      atomic.Int64
	draining                         atomic.Bool
	drainRequests                    atomic.Int64
	lastPeerRequest                  atomic.Int64 // unix nanoseconds of the last Get or peek served

	pushesReceived, pushedBytesReceived, pushesRefused, pushesDropped atomic.Int64
	pushesSent, pushedBytesSent, pushFailures, pushNanos              atomic.Int64

	resourceVersion atomic.Value                 // string: the resourceVersion of the last sync
	lastError       atomic.Pointer[watchFailure] // the watch's last failure, if any
}

// watchFailure is a failure of the watch loop, as the operator page shows it.
type watchFailure struct {
	At    time.Time
	Error string
}

// watchSnapshot returns the watch's counters, with peers members.
func (c *counters) watchSnapshot(peers int) WatchStats {
	s := WatchStats{
		Peers:         peers,
		WatchEvents:   c.watchEvents.Load(),
		WatchRestarts: c.watchRestarts.Load(),
		Relists:       c.relists.Load(),
		APIRequests:   c.apiRequests.Load(),
		RingRebuilds:  c.ringRebuilds.Load(),
	}
	if ns := c.lastSync.Load(); ns != 0 {
		s.LastSync = time.Unix(0, ns)
	}
	return s
}

// snapshot returns every counter, with peers ring members.
func (c *counters) snapshot(peers int) Stats {
	return Stats{
		WatchStats:             c.watchSnapshot(peers),
		PeerRPCs:               c.peerRPCs.Load(),
		PeerErrors:             c.peerErrors.Load(),
		LoopsPrevented:         c.loopsPrevented.Load(),
		ServerRequests:         c.serverRequests.Load(),
		PeersMarkedUnavailable: c.peersMarkedUnavailable.Load(),
		CallsFailedFast:        c.callsFailedFast.Load(),
		CallsPassedOn:          c.callsPassedOn.Load(),
		OwnerErrors:            c.ownerErrors.Load(),
		PeekHits:               c.peekHits.Load(),
		PeekMisses:             c.peekMisses.Load(),
		PeekErrors:             c.peekErrors.Load(),
		PeeksServed:            c.peeksServed.Load(),
		PeekServedHits:         c.peekServedHits.Load(),
		Draining:               c.draining.Load(),
		DrainRequests:          c.drainRequests.Load(),
		PushesReceived:         c.pushesReceived.Load(),
		PushedBytesReceived:    c.pushedBytesReceived.Load(),
		PushesRefused:          c.pushesRefused.Load(),
		PushesDropped:          c.pushesDropped.Load(),
		PushesSent:             c.pushesSent.Load(),
		PushedBytesSent:        c.pushedBytesSent.Load(),
		PushFailures:           c.pushFailures.Load(),
		PushTime:               time.Duration(c.pushNanos.Load()),
	}
}
