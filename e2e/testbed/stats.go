package testbed

import (
	"context"
	"fmt"
	"time"
)

// Stats are the example's /stats: its group's counters, the peers manager's, and how many
// times the pod's backend (the group's getter) ran.
type Stats struct {
	Group struct {
		Gets, CacheHits, PeerLoads, PeerErrors, Loads, LocalLoads, ServerRequests int64
	} `json:"group"`
	Peers struct {
		Peers                                int
		WatchEvents, WatchRestarts, Relists  int64
		APIRequests                          int64 // LISTs and WATCHes sent, answered or not
		PeerRPCs, PeerErrors, LoopsPrevented int64
		ServerRequests, RingRebuilds         int64
		// Peers that stopped answering, and owners' getter errors returned to callers.
		PeersMarkedUnavailable, CallsFailedFast, CallsPassedOn, OwnerErrors int64
		// The warm hand-off: this pod's peeks of keys' previous owners, the peeks it
		// answered for other pods, and its drain at shutdown.
		PeekHits, PeekMisses, PeekErrors int64
		PeeksServed, PeekServedHits      int64
		Draining                         bool
		DrainRequests                    int64
		// The push: entries this pod handed to their new owners, and entries other pods
		// handed to it (stored, refused as not from a peer, dropped).
		PushesSent, PushedBytesSent, PushFailures                         int64
		PushTime                                                          time.Duration
		PushesReceived, PushedBytesReceived, PushesRefused, PushesDropped int64
	} `json:"peers"`
	// BackendLoads counts the values the pod loaded from its backend; a value taken over
	// from a key's previous owner (a peek hit) does not count.
	BackendLoads int64 `json:"backendLoads"`
}

// Stats reads the pod's /stats.
func (p *Pod) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := p.getJSON(ctx, "/stats", &s)
	return s, err
}

// statsPoll is how often WaitStats reads /stats.
const statsPoll = 200 * time.Millisecond

// WaitStats reads the pod's /stats until cond holds, and returns those stats; what names cond
// in the error if ctx ends first. The counters send no signal, so polling is the only way.
func (p *Pod) WaitStats(ctx context.Context, what string, cond func(Stats) bool) (Stats, error) {
	tick := time.NewTicker(statsPoll)
	defer tick.Stop()
	for {
		s, err := p.Stats(ctx)
		if err == nil && cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("pod %s: waiting for %s: %w (stats %+v, err %v)", p.Name, what, ctx.Err(), s.Peers, err)
		case <-tick.C:
		}
	}
}
