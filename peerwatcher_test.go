package k8s

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestWatchPeers replays the real lifecycle recording: onChange gets the listed peers before
// WatchPeers returns, then each change in order, and nothing after Close.
func TestWatchPeers(t *testing.T) {
	checkNoGoroutineLeaks(t)
	api := newFakeAPIServer(t, testNamespace, loadStream(t, "real_lifecycle"))
	var mu sync.Mutex
	var calls [][]string
	pw, err := WatchPeers(t.Context(), api.clientset(), testService, testNamespace, 8080, "10.0.0.3:8080",
		func(peers []string) {
			mu.Lock()
			calls = append(calls, peers)
			mu.Unlock()
		}, withClock(newFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := slices.Clone(calls)
	mu.Unlock()
	if want := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}; len(first) != 1 || !slices.Equal(first[0], want) {
		t.Fatalf("onChange calls before WatchPeers returned: %v; want one with %v", first, want)
	}
	api.waitCaughtUp()
	want := []string{"10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}
	if got := pw.Peers(); !slices.Equal(got, want) {
		t.Errorf("Peers() = %v, want %v", got, want)
	}
	pw.Close()
	pw.Close()
	mu.Lock()
	defer mu.Unlock()
	if last := calls[len(calls)-1]; !slices.Equal(last, want) {
		t.Errorf("last onChange = %v, want %v", last, want)
	}
	for i := 1; i < len(calls); i++ {
		if slices.Equal(calls[i], calls[i-1]) {
			t.Errorf("onChange called twice in a row with %v", calls[i])
		}
	}
	s := pw.Stats()
	if s.RingRebuilds != int64(len(calls)) || s.WatchEvents != 10 || s.Peers != 3 {
		t.Errorf("Stats = %+v; want %d changes, 10 watch events, 3 peers", s, len(calls))
	}
}

func TestWatchPeersRejectsBadArguments(t *testing.T) {
	api := newFakeAPIServer(t, testNamespace, &streamFile{})
	for name, call := range map[string]func() error{
		"nil onChange": func() error {
			_, err := WatchPeers(t.Context(), api.clientset(), testService, testNamespace, 8080, "10.0.0.1:8080", nil)
			return err
		},
		"port mismatch": func() error {
			_, err := WatchPeers(t.Context(), api.clientset(), testService, testNamespace, 8080, "10.0.0.1:9090", func([]string) {})
			return err
		},
	} {
		if err := call(); err == nil || !strings.HasPrefix(err.Error(), "groupcache-k8s: ") {
			t.Errorf("%s: err = %v; want a groupcache-k8s error", name, err)
		}
	}
}
