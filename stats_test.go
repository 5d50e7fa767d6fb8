package k8s

// Tests of the stats: a snapshot copies every counter, and LastSync is zero until the
// first sync.

import (
	"testing"
	"time"
)

func TestStatsSnapshot(t *testing.T) {
	var c counters
	if s := c.snapshot(0); s != (Stats{}) {
		t.Errorf("snapshot of fresh counters = %+v, want all zero (LastSync too)", s)
	}
	synced := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c.watchEvents.Add(1)
	c.watchRestarts.Add(2)
	c.relists.Add(3)
	c.lastSync.Store(synced.UnixNano())
	c.peerRPCs.Add(4)
	c.peerErrors.Add(5)
	c.loopsPrevented.Add(6)
	c.serverRequests.Add(7)
	c.ringRebuilds.Add(8)
	c.apiRequests.Add(10)
	c.peekHits.Add(11)
	c.peekMisses.Add(12)
	c.peekErrors.Add(13)
	c.peeksServed.Add(14)
	c.peekServedHits.Add(15)
	c.draining.Store(true)
	c.drainRequests.Add(16)
	c.peersMarkedUnavailable.Add(17)
	c.callsFailedFast.Add(18)
	c.ownerErrors.Add(19)
	c.pushesReceived.Add(20)
	c.pushedBytesReceived.Add(21)
	c.pushesRefused.Add(22)
	c.pushesDropped.Add(23)
	c.pushesSent.Add(24)
	c.pushedBytesSent.Add(25)
	c.pushFailures.Add(26)
	c.pushNanos.Add(27)
	c.callsPassedOn.Add(28)
	want := Stats{
		WatchStats: WatchStats{Peers: 9, WatchEvents: 1, WatchRestarts: 2, Relists: 3, APIRequests: 10, LastSync: synced,
			RingRebuilds: 8},
		PeerRPCs: 4, PeerErrors: 5, LoopsPrevented: 6, ServerRequests: 7, PeekHits: 11, PeekMisses: 12, PeekErrors: 13,
		PeeksServed: 14, PeekServedHits: 15, Draining: true, DrainRequests: 16,
		PeersMarkedUnavailable: 17, CallsFailedFast: 18, CallsPassedOn: 28, OwnerErrors: 19,
		PushesReceived: 20, PushedBytesReceived: 21, PushesRefused: 22, PushesDropped: 23,
		PushesSent: 24, PushedBytesSent: 25, PushFailures: 26, PushTime: 27}
	got := c.snapshot(9)
	if !got.LastSync.Equal(synced) {
		t.Errorf("LastSync = %v, want %v", got.LastSync, synced)
	}
	got.LastSync = synced // the same instant, in the local zone
	if got != want {
		t.Errorf("snapshot = %+v\nwant       %+v", got, want)
	}
}
