package k8s

// Tests of the watcher layer: WatchPeers' calls, its arguments and options.

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// TestWatchPeers replays the real lifecycle recording: onChange gets the listed peers before
// WatchPeers returns, then each change in order, and nothing after Close.
func TestWatchPeers(t *testing.T) {
	leakcheck.Check(t)
	api := fakeapi.Start(t, testNamespace, fakeapi.Load(t, "real_lifecycle"))
	var mu sync.Mutex
	var calls [][]string
	pw, err := WatchPeers(t.Context(), api.Clientset(), testService, testNamespace, 8080, "10.0.0.3:8080",
		func(peers []string) {
			mu.Lock()
			calls = append(calls, peers)
			mu.Unlock()
		}, withClock(newInstantClock()))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := slices.Clone(calls)
	mu.Unlock()
	if want := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}; len(first) != 1 || !slices.Equal(first[0], want) {
		t.Fatalf("onChange calls before WatchPeers returned: %v; want one with %v", first, want)
	}
	api.WaitCaughtUp(t)
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

// TestWatchPeersRejectsBadArguments: bad arguments and options that configure a transport,
// which WatchPeers does not have, are errors that say so (they used to be ignored). No
// goroutine is left behind.
func TestWatchPeersRejectsBadArguments(t *testing.T) {
	leakcheck.Check(t)
	api := fakeapi.Start(t, testNamespace, &fakeapi.Stream{})
	tests := []struct {
		name     string
		nilCtx   bool
		self     string
		onChange func([]string)
		opts     []Option
		wantErr  string
	}{
		{name: "nil ctx", nilCtx: true, onChange: func([]string) {}, wantErr: "ctx is nil"},
		{name: "nil onChange", wantErr: "onChange is nil"},
		{name: "port mismatch", self: "10.0.0.1:9090", onChange: func([]string) {}, wantErr: "port 9090 but port is 8080"},
		{name: "transport options", onChange: func([]string) {},
			opts: []Option{WithCallTimeout(time.Second), WithLogger(nil), WithTransportCredentials(nil, nil),
				WithCallTimeout(time.Second)},
			wantErr: "WithCallTimeout, WithTransportCredentials configure a PeersManager's transport or ring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := cmp.Or(tt.self, "10.0.0.1:8080")
			ctx := t.Context()
			if tt.nilCtx {
				ctx = nil
			}
			_, err := WatchPeers(ctx, api.Clientset(), testService, testNamespace, 8080, self, tt.onChange, tt.opts...)
			if err == nil || !strings.HasPrefix(err.Error(), "groupcache-k8s: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v; want a groupcache-k8s error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestWatchPeersReportsAnEmptyFirstSet: this pod's endpoint is terminating and nobody else
// is ready, so the first set of peers is empty. onChange must still be called before
// WatchPeers returns, as its doc promises, and the manager's warning about address
// families is wired in (here an IPv6-only Service for an IPv4 pod).
func TestWatchPeersReportsAnEmptyFirstSet(t *testing.T) {
	leakcheck.Check(t)
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	tests := []struct {
		name        string
		slices      []*discoveryv1.EndpointSlice
		wantWarning string
	}{
		{"own endpoint terminating, nobody else ready", []*discoveryv1.EndpointSlice{apiSlice("x", v4,
			apiEndpoint("10.0.0.1", no, yes), apiEndpoint("10.0.0.2", no, no))}, ""},
		{"only slices of the other family", []*discoveryv1.EndpointSlice{apiSlice("x", v6,
			apiEndpoint("fd00::1", yes, no), apiEndpoint("fd00::2", yes, no))}, "all IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := fakeapi.Start(t, testNamespace, fakeapi.Listing(10, tt.slices...))
			var logs syncBuffer
			var calls atomic.Int64
			pw, err := WatchPeers(t.Context(), api.Clientset(), testService, testNamespace, 8080, "10.0.0.1:8080",
				func(peers []string) {
					if len(peers) != 0 && !(len(peers) == 1 && peers[0] == "10.0.0.1:8080") {
						t.Errorf("onChange(%v), want no peer or only self", peers)
					}
					calls.Add(1)
				}, withClock(newInstantClock()), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			if n := calls.Load(); n != 1 {
				t.Errorf("onChange called %d times before WatchPeers returned, want 1", n)
			}
			if got := strings.Contains(logs.String(), tt.wantWarning); tt.wantWarning != "" && !got {
				t.Errorf("no warning saying %q in the log:\n%s", tt.wantWarning, logs.String())
			}
		})
	}
}
