package k8s

// Replays of API-server streams (testdata/streams/*.txt, recorded from a real server or
// written by hand) through the fake API server, each with what it must leave behind.

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestReplayStreams replays recorded watch streams and checks the final ring, the
// counters, the requests the client made and the waits it took.
func TestReplayStreams(t *testing.T) {
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
		watchRVs     []string        // resourceVersion of each WATCH, in order
		listRVs      []string        // resourceVersion of each LIST, in order; nil: one consistent LIST ("")
		waits        []time.Duration // every backoff wait, in order
		watchEvents  int64           // Stats.WatchEvents
	}{
		{stream: "conditions", self: "10.0.0.1:8080",
			peers:   []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.7:8080", "10.0.0.8:8080"},
			relists: 0, restarts: 0, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "watch_basic", self: "10.0.0.1:8080",
			peers:   []string{"10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.4:8080"},
			relists: 0, restarts: 1, ringRebuilds: 4, coalescible: true,
			watchRVs: []string{"1000", "1003"}, watchEvents: 3},
		{stream: "list_rv_older_than_items", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "1201"}, watchEvents: 1},
		{stream: "bookmarks", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1600", "1700"}, watchEvents: 3},
		{stream: "expired_event_lost_delete", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, relists: 1, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "2100"}, listRVs: []string{"", "1001"}, watchEvents: 1},
		// no backoff: the 410 came after a healthy watch
		{stream: "gone_at_watch_start", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080"}, relists: 1, restarts: 2, ringRebuilds: 2,
			watchRVs: []string{"1000", "1200", "1600"}, listRVs: []string{"", "1200"}, watchEvents: 1},
		{stream: "expired_right_after_list", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			watchRVs: []string{"1000", "1600"}, listRVs: []string{"", "1000"}, waits: []time.Duration{1200 * time.Millisecond}},
		{stream: "relist_expired_falls_back", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			watchRVs: []string{"1000", "1700"}, listRVs: []string{"", "1000", ""}, waits: []time.Duration{1200 * time.Millisecond}},
		{stream: "relist_too_large", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, relists: 1, restarts: 1, ringRebuilds: 1,
			watchRVs: []string{"1000", "1700"}, listRVs: []string{"", "1000", ""}, waits: []time.Duration{1200 * time.Millisecond}},
		// rand is 0.5: each delay is 1.5 × 0.8 s, 1.6 s, 3.2 s.
		{stream: "very_short_watches", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 3, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1000", "1000"}, waits: []time.Duration{1200 * time.Millisecond, 2400 * time.Millisecond, 4800 * time.Millisecond}},
		{stream: "outage", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 3, ringRebuilds: 2,
			watchRVs: []string{"1000", "1000", "1000", "1001"}, waits: []time.Duration{1200 * time.Millisecond, 2400 * time.Millisecond}, watchEvents: 1},
		{stream: "too_many_requests", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1100"}, waits: []time.Duration{7 * time.Second}, watchEvents: 1},
		{stream: "retry_after_a_day", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1100"}, waits: []time.Duration{30 * time.Second}, watchEvents: 1},
		{stream: "error_event_retry_after_a_day", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1050", "1100"}, waits: []time.Duration{30 * time.Second}, watchEvents: 2},
		{stream: "unavailable_at_start", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}, listRVs: []string{"", "", ""}, waits: []time.Duration{1200 * time.Millisecond, 2400 * time.Millisecond}},
		{stream: "forbidden_later", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1000"}, waits: []time.Duration{1200 * time.Millisecond, 2400 * time.Millisecond}},
		{stream: "dual_stack", self: "10.0.0.2:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "dual_stack", self: "fd00::2:8080", // the unbracketed fmt.Sprintf form
			peers: []string{"[fd00::1]:8080", "[fd00::2]:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "duplicates_and_moves", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 1, ringRebuilds: 1,
			watchRVs: []string{"1000", "1002"}, watchEvents: 2},
		{stream: "placeholder", self: "10.0.0.1:8080", peers: []string{"10.0.0.1:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "burst", self: "10.0.0.1:8080", restarts: 1, ringRebuilds: 2,
			peers:    append([]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, rangeIDs("10.0.1.", 4, 23, 8080)...),
			watchRVs: []string{"1000", "1020"}, watchEvents: 20},
		{stream: "malformed", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "1003"}, watchEvents: 1},
		{stream: "broken_stream", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "1001"}, waits: []time.Duration{1200 * time.Millisecond}, watchEvents: 1},
		{stream: "self_terminating", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "self_not_ready", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, ringRebuilds: 1,
			watchRVs: []string{"1000"}},
		{stream: "foreign_slices", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080"}, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "1003"}, watchEvents: 3},
		// the idle timeout itself paces the retries
		{stream: "unanswered_watch", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1100"}, watchEvents: 1},
		// Recorded from a real kube-apiserver by e2e/cmd/record (make record).
		// nine changes and the bookmark
		{stream: "real_lifecycle", self: "10.0.0.3:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}, restarts: 1, ringRebuilds: 7, coalescible: true,
			watchRVs: []string{"219", "241"}, watchEvents: 10},
		// the 410 came after a healthy watch: relist at once
		{stream: "real_expired", self: "10.0.0.2:8080",
			peers: []string{"10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}, relists: 1, restarts: 3, ringRebuilds: 4,
			watchRVs: []string{"275", "278", "400", "403"}, listRVs: []string{"", "278"}, watchEvents: 2},
		// b leaves and comes back: if the four frames arrive together, nothing changes at all.
		{stream: "real_dual_stack", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1,
			watchRVs: []string{"429", "435"}, watchEvents: 4},
		{stream: "real_dual_stack", self: "fd00::1:8080",
			peers: []string{"[fd00::1]:8080", "[fd00::2]:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1,
			watchRVs: []string{"429", "435"}, watchEvents: 4},
		// Moved away and back twice, one watch per step: c leaves and returns each time.
		{stream: "label_moved_away_and_back", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 4, ringRebuilds: 5,
			watchRVs: []string{"1000", "1001", "1002", "1003", "1004"}, watchEvents: 4},
		{stream: "delete_and_recreate", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.4:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true,
			watchRVs: []string{"1000", "1002"}, watchEvents: 2},
		{stream: "null_fields", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.5:8080"}, restarts: 1, ringRebuilds: 2,
			watchRVs: []string{"1000", "1001"}, watchEvents: 1},
		{stream: "bookmark_without_rv", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1100", "1100"}, watchEvents: 4},
		// If both events arrive together the state never changes: one build in all.
		{stream: "modified_older_rv", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 1, ringRebuilds: 3, coalescible: true, fewest: 1,
			watchRVs: []string{"1000", "1003"}, watchEvents: 2},
		// no relist: a 500 is not a 410
		{stream: "error_500_mid_stream", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080"}, restarts: 2, ringRebuilds: 2,
			watchRVs: []string{"1000", "1001", "1100"}, waits: []time.Duration{1200 * time.Millisecond}, watchEvents: 2},
		// Resuming from 1001, not 1002, shows the event after the garbage was not applied.
		{stream: "garbage_then_json", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 3,
			watchRVs: []string{"1000", "1001", "1002"}, waits: []time.Duration{1200 * time.Millisecond}, watchEvents: 2},
		// a silent stream is not a server failure: no backoff
		{stream: "silent_stream", self: "10.0.0.1:8080",
			peers: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, restarts: 2, ringRebuilds: 1,
			watchRVs: []string{"1000", "1000", "1100"}, watchEvents: 1},
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
			if sent := int64(len(api.Lists()) + len(api.Watches())); s.APIRequests != sent {
				t.Errorf("APIRequests = %d; the API server received %d", s.APIRequests, sent)
			}
			if s.WatchEvents != tc.watchEvents {
				t.Errorf("WatchEvents = %d, want %d", s.WatchEvents, tc.watchEvents)
			}
			if got := clk.waits(); !slices.Equal(got, tc.waits) {
				t.Errorf("waits = %v, want %v", got, tc.waits)
			}
			wantRequests(t, "WATCH", api.Watches(), tc.watchRVs)
			lists := tc.listRVs
			if lists == nil {
				lists = []string{""}
			}
			wantRequests(t, "LIST", api.Lists(), lists)
		})
	}
}

// wantRequests checks the resourceVersion of each request of one kind, in order, and
// what every such request must carry: the label selector; for a WATCH, bookmarks and a
// timeoutSeconds in [300, 600); for a LIST, resourceVersionMatch=NotOlderThan exactly
// when it asks for a resourceVersion.
func wantRequests(t *testing.T, kind string, got []url.Values, wantRVs []string) {
	t.Helper()
	var rvs []string
	for _, q := range got {
		rv := q.Get("resourceVersion")
		rvs = append(rvs, rv)
		wantParam(t, kind, q, "labelSelector", "kubernetes.io/service-name=cache")
		if kind == "WATCH" {
			wantParam(t, kind, q, "allowWatchBookmarks", "true")
			if secs, _ := strconv.Atoi(q.Get("timeoutSeconds")); secs < 300 || secs >= 600 {
				t.Errorf("WATCH timeoutSeconds = %d, want a value in [300, 600)", secs)
			}
			continue
		}
		match := ""
		if rv != "" {
			match = "NotOlderThan"
		}
		wantParam(t, kind, q, "resourceVersionMatch", match)
	}
	if !slices.Equal(rvs, wantRVs) {
		t.Errorf("%s resourceVersions = %q; want %q", kind, rvs, wantRVs)
	}
}

func wantParam(t *testing.T, kind string, q url.Values, key, want string) {
	t.Helper()
	if got := q.Get(key); got != want {
		t.Errorf("%s %s = %q, want %q", kind, key, got, want)
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
