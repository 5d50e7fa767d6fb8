package prometheus

// Two pods in one process, real calls between them, and what the collector reports
// against the managers' and the group's own counters.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/groupcache-k8s/k8s"
)

// pod is one manager of the test cluster, with its own fake API server.
type pod struct {
	id    string // "ip:port"
	m     *k8s.PeersManager
	api   *serviceAPI
	rings chan []string // the manager's rings after the first, from WithPeersChanged
}

// startPods starts a manager on each of ips, all on one free port and all listed ready
// by their API servers, each serving gRPC for real. They register no peer picker, do
// not hand off (so Close does not drain) and discard their logs; their calls wait for
// a connection to a peer that is still starting instead of failing. Each has its watch
// open on return; the test's cleanup closes them.
func startPods(t *testing.T, ips ...string) []*pod {
	t.Helper()
	port := freePort(t, ips)
	var pods []*pod
	for _, ip := range ips {
		p := &pod{id: net.JoinHostPort(ip, strconv.Itoa(port)), api: newServiceAPI(t, readySlice(ips...)),
			rings: make(chan []string, 10)}
		m, err := k8s.NewPeersManager(t.Context(), p.api.Clientset(), testService, testNamespace, port, p.id,
			k8s.WithoutPeerPickerRegistration(), k8s.WithHandoff(k8s.Handoff{Off: true}),
			k8s.WithPeersChanged(func(peers []string) { p.rings <- peers }),
			k8s.WithDialOptions(grpc.WithDefaultCallOptions(grpc.WaitForReady(true))),
			k8s.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		p.m = m
		<-p.rings // the first ring, built before NewPeersManager returned
		p.api.WaitWatches(t, 1)
		pods = append(pods, p)
	}
	return pods
}

// freePort returns a port free on every one of ips, so that the pods serve on one port
// as a Service's pods do.
func freePort(t *testing.T, ips []string) int {
	t.Helper()
next:
	for range 20 {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		listeners := []net.Listener{l}
		for _, ip := range ips[1:] {
			other, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				for _, l := range listeners {
					l.Close()
				}
				continue next
			}
			listeners = append(listeners, other)
		}
		for _, l := range listeners {
			l.Close()
		}
		return port
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// keysOwnedBy returns n keys that owner owns in from's ring.
func keysOwnedBy(t *testing.T, from *pod, owner string, n int) []string {
	t.Helper()
	var keys []string
	for i := 0; len(keys) < n && i < 100*n; i++ {
		if key := "key-" + strconv.Itoa(i); from.m.Owner(key) == owner {
			keys = append(keys, key)
		}
	}
	if len(keys) < n {
		t.Fatalf("found %d keys owned by %s in %s's ring %v, want %d", len(keys), owner, from.id, from.m.Peers(), n)
	}
	return keys
}

// get asks key's owner for it, from pod from, as groupcache would: through PickPeer's
// client.
func get(t *testing.T, from *pod, group, key string) ([]byte, error) {
	t.Helper()
	peer, remote := from.m.PickPeer(key)
	if !remote {
		t.Fatalf("%s owns %q itself; the test wants a key of a peer", from.id, key)
	}
	var out groupcachepb.GetResponse
	err := peer.Get(t.Context(), &groupcachepb.GetRequest{Group: &group, Key: &key}, &out)
	return out.Value, err
}

// peek asks the pod at addr for key of group as a hand-off's peek does, over the
// library's Peek method, on a connection of its own.
func peek(t *testing.T, addr, group, key string) ([]byte, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out groupcachepb.GetResponse
	err = conn.Invoke(t.Context(), "/groupcachepb.GroupCache/Peek", &groupcachepb.GetRequest{Group: &group, Key: &key}, &out)
	return out.Value, err
}

// groupName is a group name of the test's own, also when the test is run again with
// -count: groups live as long as the process.
func groupName(t *testing.T) string {
	return fmt.Sprintf("prometheus-test/%s#%d", t.Name(), groupSeq.Add(1))
}

var groupSeq atomic.Int64

var echoGetter = groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
	return dest.SetString("value of " + key)
})

// sample is one collected series' type and value.
type sample struct {
	typ   dto.MetricType
	value float64
}

func (s sample) String() string { return fmt.Sprintf("%s %g", s.typ, s.value) }

const (
	counter = dto.MetricType_COUNTER
	gauge   = dto.MetricType_GAUGE
)

// series names a series as name{label="value",...}, labels sorted by name.
func series(name string, labelPairs ...string) string {
	var labels []string
	for i := 0; i+1 < len(labelPairs); i += 2 {
		labels = append(labels, fmt.Sprintf("%s=%q", labelPairs[i], labelPairs[i+1]))
	}
	if len(labels) == 0 {
		return name
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// gather collects c through a pedantic registry, which also checks that c described
// everything it sent, and returns every series.
func gather(t *testing.T, c prometheus.Collector) map[string]sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]sample)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName(), l.GetValue())
			}
			s := sample{typ: f.GetType()}
			switch f.GetType() {
			case counter:
				s.value = m.GetCounter().GetValue()
			case gauge:
				s.value = m.GetGauge().GetValue()
			default:
				t.Fatalf("%s is a %s; want counters and gauges only", f.GetName(), f.GetType())
			}
			got[series(f.GetName(), pairs...)] = s
		}
	}
	return got
}

// wantManager is what the collector must report for a manager with Stats s.
func wantManager(s k8s.Stats) map[string]sample {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	return map[string]sample{
		"groupcache_k8s_peers":                                   {gauge, float64(s.Peers)},
		"groupcache_k8s_watch_events_total":                      {counter, float64(s.WatchEvents)},
		"groupcache_k8s_watch_restarts_total":                    {counter, float64(s.WatchRestarts)},
		"groupcache_k8s_relists_total":                           {counter, float64(s.Relists)},
		"groupcache_k8s_api_requests_total":                      {counter, float64(s.APIRequests)},
		"groupcache_k8s_last_sync_timestamp_seconds":             {gauge, float64(s.LastSync.UnixNano()) / 1e9},
		"groupcache_k8s_peer_calls_total":                        {counter, float64(s.PeerRPCs)},
		"groupcache_k8s_peer_call_errors_total":                  {counter, float64(s.PeerErrors)},
		"groupcache_k8s_loops_prevented_total":                   {counter, float64(s.LoopsPrevented)},
		"groupcache_k8s_server_requests_total":                   {counter, float64(s.ServerRequests)},
		"groupcache_k8s_ring_rebuilds_total":                     {counter, float64(s.RingRebuilds)},
		"groupcache_k8s_peers_marked_unavailable_total":          {counter, float64(s.PeersMarkedUnavailable)},
		"groupcache_k8s_calls_failed_fast_total":                 {counter, float64(s.CallsFailedFast)},
		"groupcache_k8s_calls_passed_on_total":                   {counter, float64(s.CallsPassedOn)},
		"groupcache_k8s_owner_errors_total":                      {counter, float64(s.OwnerErrors)},
		"groupcache_k8s_pushes_received_total":                   {counter, float64(s.PushesReceived)},
		"groupcache_k8s_pushed_bytes_received_total":             {counter, float64(s.PushedBytesReceived)},
		"groupcache_k8s_pushes_refused_total":                    {counter, float64(s.PushesRefused)},
		"groupcache_k8s_pushes_dropped_total":                    {counter, float64(s.PushesDropped)},
		"groupcache_k8s_pushes_sent_total":                       {counter, float64(s.PushesSent)},
		"groupcache_k8s_pushed_bytes_sent_total":                 {counter, float64(s.PushedBytesSent)},
		"groupcache_k8s_push_failures_total":                     {counter, float64(s.PushFailures)},
		"groupcache_k8s_push_seconds_total":                      {counter, s.PushTime.Seconds()},
		series("groupcache_k8s_peeks_total", "outcome", "hit"):   {counter, float64(s.PeekHits)},
		series("groupcache_k8s_peeks_total", "outcome", "miss"):  {counter, float64(s.PeekMisses)},
		series("groupcache_k8s_peeks_total", "outcome", "error"): {counter, float64(s.PeekErrors)},
		"groupcache_k8s_peeks_served_total":                      {counter, float64(s.PeeksServed)},
		"groupcache_k8s_peeks_served_hits_total":                 {counter, float64(s.PeekServedHits)},
		"groupcache_k8s_draining":                                {gauge, b(s.Draining)},
		"groupcache_k8s_drain_requests_total":                    {counter, float64(s.DrainRequests)},
	}
}

// wantGroup is what the collector must report for group g.
func wantGroup(g *groupcache.Group) map[string]sample {
	want := make(map[string]sample)
	st := &g.Stats
	for metric, v := range map[string]*groupcache.AtomicInt{
		"groupcache_gets_total":              &st.Gets,
		"groupcache_hits_total":              &st.CacheHits,
		"groupcache_peer_loads_total":        &st.PeerLoads,
		"groupcache_peer_errors_total":       &st.PeerErrors,
		"groupcache_loads_total":             &st.Loads,
		"groupcache_loads_deduped_total":     &st.LoadsDeduped,
		"groupcache_local_loads_total":       &st.LocalLoads,
		"groupcache_local_load_errors_total": &st.LocalLoadErrs,
		"groupcache_server_requests_total":   &st.ServerRequests,
	} {
		want[series(metric, "group", g.Name())] = sample{counter, float64(v.Get())}
	}
	for cache, which := range map[string]groupcache.CacheType{"main": groupcache.MainCache, "hot": groupcache.HotCache} {
		cs := g.CacheStats(which)
		for metric, s := range map[string]sample{
			"groupcache_cache_bytes":           {gauge, float64(cs.Bytes)},
			"groupcache_cache_items":           {gauge, float64(cs.Items)},
			"groupcache_cache_gets_total":      {counter, float64(cs.Gets)},
			"groupcache_cache_hits_total":      {counter, float64(cs.Hits)},
			"groupcache_cache_evictions_total": {counter, float64(cs.Evictions)},
		} {
			want[series(metric, "group", g.Name(), "cache", cache)] = s
		}
	}
	return want
}

// diffSeries lists how got differs from want.
func diffSeries(got, want map[string]sample) []string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing, want %v", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want no such series", k, g))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// TestCollectorMatchesStats: after real calls between two pods (Gets that load, Gets
// that hit, a Get of a group the peer does not have, peeks that hit and miss), each
// pod's collector reports exactly its manager's Stats and the group's counters and
// caches: for pod A the group it made with NewGroup, for pod B the same group by name.
func TestCollectorMatchesStats(t *testing.T) {
	leakcheck.Check(t)
	pods := startPods(t, "127.0.0.1", "127.0.0.2")
	a, b := pods[0], pods[1]
	g := a.m.NewGroup(groupName(t), 1<<20, echoGetter)

	// A asks B for 20 keys twice (a load, then a hit of B's main cache), B asks A for 5.
	ofB, ofA := keysOwnedBy(t, a, b.id, 20), keysOwnedBy(t, b, a.id, 5)
	for _, key := range ofB {
		for range 2 {
			if v, err := get(t, a, g.Name(), key); err != nil || string(v) != "value of "+key {
				t.Fatalf("Get(%q) from %s = %q, %v", key, b.id, v, err)
			}
		}
	}
	for _, key := range ofA {
		if v, err := get(t, b, g.Name(), key); err != nil || string(v) != "value of "+key {
			t.Fatalf("Get(%q) from %s = %q, %v", key, a.id, v, err)
		}
	}
	// A failed call: B has no such group.
	if _, err := get(t, a, "no such group", ofB[0]); status.Code(err) != codes.NotFound {
		t.Fatalf("Get of an unknown group = %v; want NotFound", err)
	}
	// Two peeks served by B: a key it holds, and one nobody loaded.
	if v, err := peek(t, b.id, g.Name(), ofB[0]); err != nil || string(v) != "value of "+ofB[0] {
		t.Fatalf("peek of a held key = %q, %v", v, err)
	}
	if _, err := peek(t, b.id, g.Name(), "never loaded"); status.Code(err) != codes.NotFound {
		t.Fatalf("peek of a key nobody loaded = %v; want NotFound", err)
	}

	// The traffic was what it says (the same process plays both pods, so the group's
	// counters are both pods').
	sa, sb := a.m.Stats(), b.m.Stats()
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"A's peer calls", sa.PeerRPCs, 41},
		{"A's failed peer calls", sa.PeerErrors, 1},
		{"A's server requests", sa.ServerRequests, 5},
		{"B's peer calls", sb.PeerRPCs, 5},
		{"B's server requests", sb.ServerRequests, 40},
		{"B's peeks served", sb.PeeksServed, 2},
		{"B's peeks served with a value", sb.PeekServedHits, 1},
		{"the group's gets", g.Stats.Gets.Get(), 45},
		{"the group's cache hits", g.Stats.CacheHits.Get(), 20},
		{"the group's local loads", g.Stats.LocalLoads.Get(), 25},
		{"the group's main cache items", g.CacheStats(groupcache.MainCache).Items, 25},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}

	for _, tc := range []struct {
		pod       *pod
		collector prometheus.Collector
	}{
		{a, NewCollector(a.m)},           // the group made with a.m.NewGroup
		{b, NewCollector(b.m, g.Name())}, // the same group, named
	} {
		before := tc.pod.m.Stats()
		got := gather(t, tc.collector)
		if after := tc.pod.m.Stats(); after != before {
			t.Fatalf("%s's Stats changed during the collection: %+v, then %+v", tc.pod.id, before, after)
		}
		want := wantManager(before)
		maps.Copy(want, wantGroup(g))
		if diffs := diffSeries(got, want); len(diffs) > 0 {
			t.Errorf("pod %s's collector, against its Stats and the group's:\n%s", tc.pod.id, strings.Join(diffs, "\n"))
		}
	}
}
