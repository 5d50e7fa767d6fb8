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
