package k8s

// Tests of the WithPeersChanged notifier: in order, never blocking the teller, the
// newest members after a slow call, nothing after close.

import (
	"slices"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
)

// TestPeersNotifier: tell never waits for f; while f runs, the rings told meanwhile
// collapse into the newest; close drops what was not told; no goroutine is left.
func TestPeersNotifier(t *testing.T) {
	leakcheck.Check(t)
	got, release := make(chan []string, 10), make(chan struct{})
	n := &peersNotifier{f: func(p []string) {
		got <- p
		<-release
	}}
	n.tell([]string{"a"})
	first := <-got // f now blocks until released
	for _, p := range [][]string{{"b"}, {"c"}, {}} {
		done := make(chan struct{})
		go func() { n.tell(p); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("tell waited for a running f")
		}
	}
	release <- struct{}{}
	second := <-got
	if !slices.Equal(first, []string{"a"}) || !slices.Equal(second, []string{}) {
		t.Errorf("f got %q then %q, want [a] then the newest, the empty ring", first, second)
	}
	n.tell([]string{"d"}) // told while f still runs, then dropped by close
	n.close()
	release <- struct{}{}
	n.tell([]string{"e"})
	waitUntil(t, "the notifier's goroutine to end", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return !n.running
	})
	if len(got) > 0 {
		t.Errorf("f got %q after close", <-got)
	}
	(&peersNotifier{}).tell([]string{"a"}) // no f: nothing to call
}
