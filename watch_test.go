package k8s

// Tests of the watch loop: replayed streams, startup errors, cancellation, oversized and
// boundary-sized events.

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const (
	testNamespace = "shop"
	testService   = "cache"
)

// startManager starts a manager for self against a fake API server that answers from
// stream, with no gRPC server of its own and no groupcache registration (opts may add to
// or override that). It closes the manager when the test ends, and then checks that
// nothing the test started is left running.
func startManager(t *testing.T, stream *streamFile, self string, opts ...Option) (*PeersManager, *fakeAPIServer) {
	t.Helper()
	checkNoGoroutineLeaks(t)
	api := newFakeAPIServer(t, testNamespace, stream)
	opts = append([]Option{WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration()}, opts...)
	m, err := NewPeersManager(t.Context(), api.clientset(), testService, testNamespace, portOf(t, self), self, opts...)
	if err != nil {
		t.Fatalf("NewPeersManager: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, api
}

// startFromStream replays the stream file name to a manager with an instant clock; it
// returns once the manager has consumed the whole stream.
func startFromStream(t *testing.T, name, self string, opts ...Option) (*PeersManager, *fakeAPIServer, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	opts = append([]Option{withClock(clk), withRand(func() float64 { return 0.5 })}, opts...)
	m, api := startManager(t, loadStream(t, name), self, opts...)
	api.waitCaughtUp()
	return m, api, clk
}

func portOf(t *testing.T, self string) int {
	ap, err := parseSelf(self)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// TestReplayStreams replays recorded watch streams and checks the final ring, the
// counters, the requests the client made and the waits it took.
func TestReplayStreams(t *testing.T) {
	type check func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock)
	cases := []struct {
		stream       string
		self         string
		opts         []Option
		peers        []string
		relists      int64
		restarts     int64 // watches after the first
		ringRebuilds int64 // including the one after the first LIST
		coalescible  bool  // frames may arrive together: between fewest (default 2) and ringRebuilds rebuilds
		fewest       int64
		check        check
	}{
		{stream: "conditions", self: "10.0.0.1:8080",
			peers:   []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.7:8080", "10.0.0.8:8080"},
			relists: 0, restarts: 0, ringRebuilds: 1},
		{stream: "watch_basic", self: "10.0.0.1:8080",
			peers:   []string{"10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.4:8080"},
			relists: 0, restarts: 1, ringRebuilds: 4, coalescible: true,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				lists, watches := api.lists(), api.watches()
				wantParam(t, lists[0], "resourceVersion", "")
				wantParam(t, lists[0], "labelSelector", "kubernetes.io/service-name=cache")
				wantParam(t, watches[0], "resourceVersion", "1000")
				wantParam(t, watches[0], "allowWatchBookmarks", "true")
				wantParam(t, watches[0], "labelSelector", "kubernetes.io/service-name=cache")
				wantParam(t, watches[1], "resourceVersion", "1003")
				secs, _ := strconv.Atoi(watches[0].Get("timeoutSeconds"))
				if secs < 300 || secs >= 600 {
					t.Errorf("timeoutSeconds = %d, want a value in [300, 600)", secs)
				}
				if w := clk.waits(); len(w) != 0 {
					t.Errorf("a normal end of a watch must not wait; waited %v", w)
				}
				if m.Stats().WatchEvents != 3 {
					t.Errorf("WatchEvents = %d, want 3", m.Stats().WatchEvents)
				}
			}},
		{stream: "list_rv_older_than_items", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			check: watchRVs("1000", "1201")},
		{stream: "bookmarks", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: watchRVs("1000", "1600", "1700")},
		{stream: "expired_event_lost_delete", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, relists: 1, restarts: 1, ringRebuilds: 2,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				lists := api.lists()
				wantParam(t, lists[1], "resourceVersion", "1001")
				wantParam(t, lists[1], "resourceVersionMatch", "NotOlderThan")
				watchRVs("1000", "2100")(t, m, api, clk)
				if w := clk.waits(); len(w) != 0 {
					t.Errorf("a 410 after events must relist at once; waited %v", w)
				}
			}},
		{stream: "gone_at_watch_start", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080"}, relists: 1, restarts: 2, ringRebuilds: 2,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				watchRVs("1000", "1200", "1600")(t, m, api, clk)
				listRVs("", "1200")(t, m, api, clk)
				wantWaits(t, clk) // no backoff: the 410 came after a healthy watch
			}},
		{stream: "expired_right_after_list", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond)
				watchRVs("1000", "1600")(t, m, api, clk)
			}},
		{stream: "relist_expired_falls_back", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			check: listRVs("", "1000", "")},
		{stream: "relist_too_large", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			check: listRVs("", "1000", "")},
		{stream: "very_short_watches", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 3, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				// rand is 0.5: each delay is 1.5 × 0.8 s, 1.6 s, 3.2 s.
				wantWaits(t, clk, 1200*time.Millisecond, 2400*time.Millisecond, 4800*time.Millisecond)
				watchRVs("1000", "1000", "1000", "1000")(t, m, api, clk)
			}},
		{stream: "outage", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 3, ringRebuilds: 2,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond, 2400*time.Millisecond)
				watchRVs("1000", "1000", "1000", "1001")(t, m, api, clk)
			}},
		{stream: "too_many_requests", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 7*time.Second)
				watchRVs("1000", "1000", "1100")(t, m, api, clk)
			}},
		{stream: "retry_after_a_day", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, backoffMax)
				watchRVs("1000", "1000", "1100")(t, m, api, clk)
			}},
		{stream: "error_event_retry_after_a_day", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, backoffMax)
				watchRVs("1000", "1050", "1100")(t, m, api, clk)
				if len(api.lists()) != 1 {
					t.Errorf("%d LISTs; a 429 must not cause a relist", len(api.lists()))
				}
			}},
		{stream: "unavailable_at_start", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond, 2400*time.Millisecond)
			}},
		{stream: "forbidden_later", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond, 2400*time.Millisecond)
			}},
		{stream: "dual_stack", self: "10.0.0.2:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, ringRebuilds: 1},
		{stream: "dual_stack", self: "fd00::2:8080", // the unbracketed fmt.Sprintf form
			peers: []string{"[fd00::1]:8080", "[fd00::2]:8080"}, ringRebuilds: 1},
		{stream: "duplicates_and_moves", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 1, ringRebuilds: 1},
		{stream: "placeholder", self: "10.0.0.1:8080", peers: []string{"10.0.0.1:8080"}, ringRebuilds: 1},
		{stream: "burst", self: "10.0.0.1:8080", restarts: 1, ringRebuilds: 2,
			peers: append([]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, rangeIDs("10.0.1.", 4, 23, 8080)...)},
		{stream: "malformed", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			check: watchRVs("1000", "1003")},
		{stream: "broken_stream", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond)
				watchRVs("1000", "1001")(t, m, api, clk)
			}},
		{stream: "self_terminating", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080"}, ringRebuilds: 1},
		{stream: "self_not_ready", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, ringRebuilds: 1},
		{stream: "foreign_slices", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080"}, restarts: 1, ringRebuilds: 2},
		{stream: "unanswered_watch", self: "10.0.0.1:8080", opts: []Option{WithWatchIdleTimeout(100 * time.Millisecond)},
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk) // the idle timeout itself paces the retries
				watchRVs("1000", "1000", "1100")(t, m, api, clk)
			}},
		// Recorded from a real kube-apiserver by e2e/cmd/record (make record).
		{stream: "real_lifecycle", self: "10.0.0.3:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}, restarts: 1, ringRebuilds: 7, coalescible: true,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk)
				if s := m.Stats(); s.WatchEvents != 10 { // nine changes and the bookmark
					t.Errorf("WatchEvents = %d, want 10", s.WatchEvents)
				}
			}},
		{stream: "real_expired", self: "10.0.0.2:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}, relists: 1, restarts: 3, ringRebuilds: 4,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				lists := api.lists()
				wantParam(t, lists[1], "resourceVersionMatch", "NotOlderThan")
				wantWaits(t, clk) // the 410 came after a healthy watch: relist at once
			}},
		// b leaves and comes back: if the four frames arrive together, nothing changes at all.
		{stream: "real_dual_stack", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1},
		{stream: "real_dual_stack", self: "fd00::1:8080",
			peers: []string{"[fd00::1]:8080", "[fd00::2]:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1},
		// Moved away and back twice, one watch per step: c leaves and returns each time.
		{stream: "label_moved_away_and_back", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 4, ringRebuilds: 5,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk)
				watchRVs("1000", "1001", "1002", "1003", "1004")(t, m, api, clk)
			}},
		{stream: "delete_and_recreate", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.4:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true,
			check: watchRVs("1000", "1002")},
		{stream: "null_fields", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.5:8080"}, restarts: 1, ringRebuilds: 2,
			check: watchRVs("1000", "1001")},
		{stream: "bookmark_without_rv", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk)
				watchRVs("1000", "1100", "1100")(t, m, api, clk)
			}},
		// If both events arrive together the state never changes: one build in all.
		{stream: "modified_older_rv", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1,
			check: watchRVs("1000", "1003")},
		{stream: "error_500_mid_stream", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 2, ringRebuilds: 2,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond)
				watchRVs("1000", "1001", "1100")(t, m, api, clk)
				listRVs("")(t, m, api, clk) // no relist: a 500 is not a 410
			}},
		// Resuming from 1001, not 1002, shows the event after the garbage was not applied.
		{stream: "garbage_then_json", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 3,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk, 1200*time.Millisecond)
				watchRVs("1000", "1001", "1002")(t, m, api, clk)
				listRVs("")(t, m, api, clk)
			}},
		{stream: "silent_stream", self: "10.0.0.1:8080", opts: []Option{WithWatchIdleTimeout(100 * time.Millisecond)},
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			check: func(t *testing.T, m *PeersManager, api *fakeAPIServer, clk *fakeClock) {
				wantWaits(t, clk) // a silent stream is not a server failure: no backoff
				watchRVs("1000", "1000", "1100")(t, m, api, clk)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.stream+"/"+tc.self, func(t *testing.T) {
			m, api, clk := startFromStream(t, tc.stream, tc.self, tc.opts...)
			if got := m.Peers(); !slices.Equal(got, tc.peers) {
				t.Errorf("peers = %v\nwant    %v", got, tc.peers)
			}
			s := m.Stats()
			fewest := cmp.Or(tc.fewest, 2)
			rebuildsOK := s.RingRebuilds == tc.ringRebuilds ||
				tc.coalescible && s.RingRebuilds >= fewest && s.RingRebuilds <= tc.ringRebuilds
			if s.Relists != tc.relists || s.WatchRestarts != tc.restarts || !rebuildsOK {
				t.Errorf("relists, watch restarts, ring rebuilds = %d, %d, %d; want %d, %d, %d",
					s.Relists, s.WatchRestarts, s.RingRebuilds, tc.relists, tc.restarts, tc.ringRebuilds)
			}
			if s.Peers != len(tc.peers) || s.LastSync.IsZero() {
				t.Errorf("Stats.Peers = %d (want %d), LastSync = %v", s.Peers, len(tc.peers), s.LastSync)
			}
			if tc.check != nil {
				tc.check(t, m, api, clk)
			}
		})
	}
}

// TestStartupErrors: 401 and 403 at the first LIST fail NewPeersManager at once, with an
// error that says what to do, and leave no goroutine behind.
func TestStartupErrors(t *testing.T) {
	cases := []struct {
		stream string
		want   []string
	}{
		{"forbidden_at_start", []string{"forbidden", "grant list and watch on discovery.k8s.io/endpointslices in namespace shop"}},
		{"unauthorized_at_start", []string{"401", "ServiceAccount token"}},
	}
	for _, tc := range cases {
		t.Run(tc.stream, func(t *testing.T) {
			checkNoGoroutineLeaks(t)
			api := newFakeAPIServer(t, testNamespace, loadStream(t, tc.stream))
			clk := newFakeClock()
			start := time.Now()
			_, err := NewPeersManager(t.Context(), api.clientset(), testService, testNamespace, 8080, "10.0.0.1:8080",
				withClock(clk), WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration())
			if err == nil {
				t.Fatal("NewPeersManager succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if len(clk.waits()) != 0 || time.Since(start) > 5*time.Second {
				t.Errorf("a permanent error must fail at once; waited %v", clk.waits())
			}
		})
	}
}

// TestStartupUnreachable uses real time: an API server that refuses connections makes
// NewPeersManager fail after the startup timeout, not hang, and leave no goroutine behind.
func TestStartupUnreachable(t *testing.T) {
	checkNoGoroutineLeaks(t)
	api := newFakeAPIServer(t, testNamespace, &streamFile{})
	cs := api.clientset()
	api.srv.Close() // connection refused from now on
	start := time.Now()
	_, err := NewPeersManager(t.Context(), cs, testService, testNamespace, 8080, "10.0.0.1:8080",
		WithStartupTimeout(time.Second), WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration())
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "not reachable within 1s") {
		t.Fatalf("err = %v; want 'not reachable within 1s'", err)
	}
	if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("gave up after %v; want about the 1 s startup timeout", elapsed)
	}
}

// TestCancelDuringBackoff: cancelling the context while the loop waits out a long
// backoff stops everything promptly, and Close afterwards returns nil.
func TestCancelDuringBackoff(t *testing.T) {
	api := newFakeAPIServer(t, testNamespace, loadStream(t, "too_many_requests"))
	ctx, cancel := context.WithCancel(t.Context())
	// Real time: the 7 s Retry-After wait is really waited for.
	clk := &waitSignallingClock{waiting: make(chan time.Duration, 1)}
	m, err := NewPeersManager(ctx, api.clientset(), testService, testNamespace, 8080, "10.0.0.1:8080",
		withClock(clk), WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration())
	if err != nil {
		t.Fatal(err)
	}
	if d := <-clk.waiting; d < 7*time.Second {
		t.Fatalf("backoff after a 429 with Retry-After: 7 is %v", d)
	}
	start := time.Now()
	cancel()
	select {
	case <-m.done:
	case <-time.After(2 * time.Second):
		t.Fatal("manager still running 2 s after its context was cancelled mid-backoff")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after cancel = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %v", d)
	}
}

// watchRVs and listRVs check the resourceVersion of each WATCH or LIST request, in order.
func watchRVs(want ...string) func(*testing.T, *PeersManager, *fakeAPIServer, *fakeClock) {
	return requestRVs("watch", want)
}

func listRVs(want ...string) func(*testing.T, *PeersManager, *fakeAPIServer, *fakeClock) {
	return requestRVs("list", want)
}

func requestRVs(kind string, want []string) func(*testing.T, *PeersManager, *fakeAPIServer, *fakeClock) {
	return func(t *testing.T, _ *PeersManager, api *fakeAPIServer, _ *fakeClock) {
		t.Helper()
		var got []string
		for _, q := range api.queries(kind == "watch") {
			got = append(got, q.Get("resourceVersion"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s resourceVersions = %q; want %q", kind, got, want)
		}
	}
}

func wantParam(t *testing.T, q url.Values, key, want string) {
	t.Helper()
	if got := q.Get(key); got != want {
		t.Errorf("%s = %q, want %q (query %v)", key, got, want, q)
	}
}

func wantWaits(t *testing.T, clk *fakeClock, want ...time.Duration) {
	t.Helper()
	if got := clk.waits(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func rangeIDs(prefix string, from, to, port int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, prefix+strconv.Itoa(i)+":"+strconv.Itoa(port))
	}
	slices.Sort(ids)
	return ids
}

// TestOversizedEvent: an event larger than the limit fails the watch without being
// applied; the client backs off and resumes from the last good resourceVersion.
func TestOversizedEvent(t *testing.T) {
	defer func(old int) { maxEventBytes = old }(maxEventBytes)
	maxEventBytes = 4 << 10
	m, api, clk := startFromStream(t, "oversized_event", "10.0.0.1:8080")
	if got, want := m.Peers(), []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}; !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v (the oversized slice must not be applied)", got, want)
	}
	wantWaits(t, clk, 1200*time.Millisecond)
	watchRVs("1000", "1000", "1100")(t, m, api, clk)
}

// TestEventEndingAtAReadBoundaryIsPublished: when encoding/json's read ends exactly at an
// event's closing brace (first events of 512, 1536, 3584, 7680 or 15872 bytes: its read
// sizes), only the newline after it is left in the read buffer. That newline is not
// another event: the event must reach the ring at once, not at the next frame, the idle
// timeout or the end of the watch (which this stream never sends).
func TestEventEndingAtAReadBoundaryIsPublished(t *testing.T) {
	for _, size := range []int{512, 1536, 3584, 7680, 15872} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			live := make(chan string, 1)
			r := make(rebuilds, 10)
			startManager(t, &streamFile{
				lists:   []answer{{status: 200, frames: []string{listFrame(t, 10, readySlice("x", "10.0.0.1"))}}},
				watches: []answer{{status: 200, live: live}},
			}, "10.0.0.1:8080", r.option())
			r.next(t)

			frame := eventOfSize(t, size, readySlice("x", "10.0.0.1", "10.0.0.2"))
			live <- frame
			if got, want := r.next(t), []string{"10.0.0.1:8080", "10.0.0.2:8080"}; !slices.Equal(got, want) {
				t.Fatalf("ring after the %d-byte event = %v, want %v", len(frame), got, want)
			}
		})
	}
}

// eventOfSize is a MODIFIED event of s that is exactly size bytes long, padded with an
// annotation the decoder ignores.
func eventOfSize(t *testing.T, size int, s *discoveryv1.EndpointSlice) string {
	t.Helper()
	padded := func(n int) string {
		s := s.DeepCopy()
		s.Annotations = map[string]string{"pad": strings.Repeat("x", n)}
		return eventFrame(t, "MODIFIED", 11, s)
	}
	frame := padded(size - len(padded(0)))
	if len(frame) != size {
		t.Fatalf("padded event is %d bytes, want %d", len(frame), size)
	}
	return frame
}
