package testbed

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitStats: WaitStats returns the first stats that satisfy the condition, and names the
// condition when the wait ends without them.
func TestWaitStats(t *testing.T) {
	var reads atomic.Int64
	p := fakeExample(t, "s", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s Stats
		s.Peers.Relists = reads.Add(1) - 1 // 0, 1, 2, ...
		writeJSON(w, s)
	}))
	s, err := p.WaitStats(t.Context(), "Relists ≥ 2", func(s Stats) bool { return s.Peers.Relists >= 2 })
	if err != nil || s.Peers.Relists != 2 {
		t.Errorf("WaitStats = Relists %d, %v; want 2, nil", s.Peers.Relists, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = p.WaitStats(ctx, "Relists < 0", func(s Stats) bool { return s.Peers.Relists < 0 })
	if err == nil || !strings.Contains(err.Error(), "waiting for Relists < 0") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitStats for what never holds = %v; want the deadline, naming the condition", err)
	}
}

// TestStatsDecode: /stats as the example writes it (the manager's Stats under "peers", with
// Go's field names) fills every field, the hand-off's and backendLoads included.
func TestStatsDecode(t *testing.T) {
	const answer = `{"backendLoads":341,"group":{"CacheHits":9000,"Gets":10000,"Loads":1000,"LocalLoads":341,` +
		`"PeerErrors":0,"PeerLoads":659,"ServerRequests":700},"peers":{"Peers":3,"WatchEvents":12,"WatchRestarts":1,` +
		`"Relists":0,"LastSync":"2026-01-02T03:04:05Z","PeerRPCs":659,"PeerErrors":2,"LoopsPrevented":1,"ServerRequests":700,` +
		`"RingRebuilds":4,"PeekHits":80,"PeekMisses":323,"PeekErrors":3,"PeeksServed":500,"PeekServedHits":350,` +
		`"Draining":true,"DrainRequests":18}}`
	p := fakeExample(t, "s", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(answer)) }))
	s, err := p.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var want Stats
	want.BackendLoads = 341
	want.Group.Gets, want.Group.CacheHits, want.Group.PeerLoads, want.Group.PeerErrors = 10000, 9000, 659, 0
	want.Group.Loads, want.Group.LocalLoads, want.Group.ServerRequests = 1000, 341, 700
	want.Peers.Peers, want.Peers.WatchEvents, want.Peers.WatchRestarts, want.Peers.Relists = 3, 12, 1, 0
	want.Peers.PeerRPCs, want.Peers.PeerErrors, want.Peers.LoopsPrevented = 659, 2, 1
	want.Peers.ServerRequests, want.Peers.RingRebuilds = 700, 4
	want.Peers.PeekHits, want.Peers.PeekMisses, want.Peers.PeekErrors = 80, 323, 3
	want.Peers.PeeksServed, want.Peers.PeekServedHits = 500, 350
	want.Peers.Draining, want.Peers.DrainRequests = true, 18
	if s != want {
		t.Errorf("Stats decoded\n%+v\nwant\n%+v", s, want)
	}
}
