package prometheus

// The collector: a PeersManager's counters and its groups' counters and caches, read
// at every scrape and handed to Prometheus as const metrics.

import (
	"slices"

	"github.com/golang/groupcache"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/groupcache-k8s/k8s"
)

// The metric name prefixes: the manager's metrics are this library's, the groups'
// are groupcache's own (and keep the names other groupcache exporters use, see doc.go).
const (
	managerPrefix = "groupcache_k8s_"
	groupPrefix   = "groupcache_"
)

// NewCollector returns a prometheus.Collector of m's counters (m.Stats) and of the
// counters and caches of groupcache groups: those made with m.NewGroup, and those
// named in groups (such as groups made with groupcache.NewGroup). The metrics are
// listed in the package documentation.
//
// Everything is read when the collector is collected, at every scrape: a group created
// after the collector was registered, with m.NewGroup or under one of the names,
// appears at the next scrape, and a name of no group yields nothing until that group
// exists. Every value comes from m.Stats or from a group's own counters, which only
// grow, so no series disappears and no counter goes down when peers come and go; the
// metrics carry no per-peer label.
//
// The collector is safe for concurrent use and keeps no state of its own. The group
// metrics carry only a group label, so one registry takes one collector per process:
// for a second manager, register its collector through prometheus.WrapRegistererWith
// with a label that tells them apart. m must not be nil.
func NewCollector(m *k8s.PeersManager, groups ...string) prometheus.Collector {
	if m == nil {
		panic("groupcache-k8s/prometheus: NewCollector needs a *k8s.PeersManager, got nil")
	}
	return &collector{m: m, groups: slices.Clone(groups)}
}

type collector struct {
	m      *k8s.PeersManager
	groups []string
}

// managerMetric is one metric of the manager's Stats, without labels.
type managerMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(k8s.Stats) float64
}

func newManagerMetric(name, help string, typ prometheus.ValueType, value func(k8s.Stats) float64) managerMetric {
	return managerMetric{prometheus.NewDesc(managerPrefix+name, help, nil, nil), typ, value}
}

var managerMetrics = []managerMetric{
	newManagerMetric("peers", "Members of this pod's ring, itself included.",
		prometheus.GaugeValue, func(s k8s.Stats) float64 { return float64(s.Peers) }),
	newManagerMetric("watch_events_total", "EndpointSlice watch events received (ADDED, MODIFIED, DELETED, BOOKMARK).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.WatchEvents) }),
	newManagerMetric("watch_restarts_total", "EndpointSlice watches started after the first one.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.WatchRestarts) }),
	newManagerMetric("relists_total", "EndpointSlice LISTs after the first one (after a 410 or an error).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.Relists) }),
	newManagerMetric("api_requests_total", "LIST and WATCH requests sent to the API server, answered or not.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.APIRequests) }),
	newManagerMetric("last_sync_timestamp_seconds",
		"Unix time at which the last LIST or watch event was applied (0: never). Its age is time() minus this.",
		prometheus.GaugeValue, func(s k8s.Stats) float64 {
			if s.LastSync.IsZero() {
				return 0
			}
			return float64(s.LastSync.UnixNano()) / 1e9
		}),
	newManagerMetric("peer_calls_total", "Gets this pod sent to peers.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PeerRPCs) }),
	newManagerMetric("peer_call_errors_total", "Gets this pod sent to peers that failed (the key was then loaded locally).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PeerErrors) }),
	newManagerMetric("loops_prevented_total",
		"Gets refused or not forwarded because the peers disagreed about a key's owner (the key was loaded locally).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.LoopsPrevented) }),
	newManagerMetric("server_requests_total", "Gets this pod's server answered for peers, all groups.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.ServerRequests) }),
	newManagerMetric("ring_rebuilds_total", "Times the set of peers changed and a new ring was built.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.RingRebuilds) }),
	newManagerMetric("peers_marked_unavailable_total",
		"Times a peer was marked unavailable: it stopped answering or refused a connection (its keys went to their next owner until it answered again).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PeersMarkedUnavailable) }),
	newManagerMetric("calls_failed_fast_total", "Gets to a peer marked unavailable that failed at once (passed on to the key's next owner, or loaded locally; its keys go past it meanwhile).",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.CallsFailedFast) }),
	newManagerMetric("calls_passed_on_total", "Gets to a peer marked unavailable or refusing connections that went on to the key's next owner instead of being loaded locally.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.CallsPassedOn) }),
	newManagerMetric("owner_errors_total",
		"Errors of keys' owners' getters returned to callers without loading the key again here.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.OwnerErrors) }),
	newManagerMetric("peeks_served_total", "Peeks (warm hand-off) this pod's server answered for peers.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PeeksServed) }),
	newManagerMetric("peeks_served_hits_total", "Peeks this pod's server answered with a value it held.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PeekServedHits) }),
	newManagerMetric("draining", "1 while Shutdown keeps serving peers before it stops, else 0.",
		prometheus.GaugeValue, func(s k8s.Stats) float64 {
			if s.Draining {
				return 1
			}
			return 0
		}),
	newManagerMetric("drain_requests_total", "Gets and peeks this pod served for peers while draining.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.DrainRequests) }),
	newManagerMetric("pushes_received_total", "Entries peers pushed to this pod, stored as if loaded here.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushesReceived) }),
	newManagerMetric("pushed_bytes_received_total", "Bytes of the entries peers pushed to this pod and it stored.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushedBytesReceived) }),
	newManagerMetric("pushes_refused_total", "Pushes refused because the sender is not a peer.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushesRefused) }),
	newManagerMetric("pushes_dropped_total",
		"Pushes dropped: a group not made by NewGroup here, a key this pod does not own, or one it holds already.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushesDropped) }),
	newManagerMetric("pushes_sent_total", "Entries this pod pushed to the new owners of their keys.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushesSent) }),
	newManagerMetric("pushed_bytes_sent_total", "Bytes of the entries this pod pushed.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushedBytesSent) }),
	newManagerMetric("push_failures_total", "Pushes of this pod that failed.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return float64(s.PushFailures) }),
	newManagerMetric("push_seconds_total", "Time this pod spent pushing entries.",
		prometheus.CounterValue, func(s k8s.Stats) float64 { return s.PushTime.Seconds() }),
}

// peeksDesc is this pod's peeks of keys' previous owners, by outcome: three counters
// of Stats that never count the same peek twice.
var peeksDesc = prometheus.NewDesc(managerPrefix+"peeks_total",
	"Peeks this pod made of keys' previous owners (warm hand-off), by outcome: hit (the value was not loaded), "+
		"miss (the owner did not hold it), error (failed or timed out).",
	[]string{"outcome"}, nil)

var peekOutcomes = []struct {
	outcome string
	value   func(k8s.Stats) int64
}{
	{"hit", func(s k8s.Stats) int64 { return s.PeekHits }},
	{"miss", func(s k8s.Stats) int64 { return s.PeekMisses }},
	{"error", func(s k8s.Stats) int64 { return s.PeekErrors }},
}

// groupMetric is one counter of a group's groupcache.Stats, labelled by group.
type groupMetric struct {
	desc  *prometheus.Desc
	value func(*groupcache.Stats) int64
}

func newGroupMetric(name, help string, value func(*groupcache.Stats) int64) groupMetric {
	return groupMetric{prometheus.NewDesc(groupPrefix+name, help, []string{"group"}, nil), value}
}

var groupMetrics = []groupMetric{
	newGroupMetric("gets_total", "Gets of the group, including those from peers.",
		func(s *groupcache.Stats) int64 { return s.Gets.Get() }),
	newGroupMetric("hits_total", "Gets answered from the group's main or hot cache.",
		func(s *groupcache.Stats) int64 { return s.CacheHits.Get() }),
	newGroupMetric("peer_loads_total", "Values loaded from peers (their caches or their getters).",
		func(s *groupcache.Stats) int64 { return s.PeerLoads.Get() }),
	newGroupMetric("peer_errors_total", "Loads from peers that failed.",
		func(s *groupcache.Stats) int64 { return s.PeerErrors.Get() }),
	newGroupMetric("loads_total", "Gets not answered from the caches (gets minus hits).",
		func(s *groupcache.Stats) int64 { return s.Loads.Get() }),
	newGroupMetric("loads_deduped_total", "Loads left after concurrent loads of a key were merged.",
		func(s *groupcache.Stats) int64 { return s.LoadsDeduped.Get() }),
	newGroupMetric("local_loads_total", "Values loaded by this process's getter.",
		func(s *groupcache.Stats) int64 { return s.LocalLoads.Get() }),
	newGroupMetric("local_load_errors_total", "Loads by this process's getter that failed.",
		func(s *groupcache.Stats) int64 { return s.LocalLoadErrs.Get() }),
	newGroupMetric("server_requests_total", "Gets of the group that came from peers.",
		func(s *groupcache.Stats) int64 { return s.ServerRequests.Get() }),
}

// cacheMetric is one field of a group's groupcache.CacheStats, labelled by group and
// cache.
type cacheMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(groupcache.CacheStats) int64
}

func newCacheMetric(name, help string, typ prometheus.ValueType, value func(groupcache.CacheStats) int64) cacheMetric {
	return cacheMetric{prometheus.NewDesc(groupPrefix+name, help, []string{"group", "cache"}, nil), typ, value}
}

var cacheMetrics = []cacheMetric{
	newCacheMetric("cache_bytes", "Bytes of keys and values held in the cache.",
		prometheus.GaugeValue, func(c groupcache.CacheStats) int64 { return c.Bytes }),
	newCacheMetric("cache_items", "Entries held in the cache.",
		prometheus.GaugeValue, func(c groupcache.CacheStats) int64 { return c.Items }),
	newCacheMetric("cache_gets_total", "Lookups in the cache.",
		prometheus.CounterValue, func(c groupcache.CacheStats) int64 { return c.Gets }),
	newCacheMetric("cache_hits_total", "Lookups in the cache that found the key.",
		prometheus.CounterValue, func(c groupcache.CacheStats) int64 { return c.Hits }),
	newCacheMetric("cache_evictions_total", "Entries evicted from the cache to stay within its size.",
		prometheus.CounterValue, func(c groupcache.CacheStats) int64 { return c.Evictions }),
}

// caches are a group's two caches, by the value of the cache label.
var caches = []struct {
	label string
	which groupcache.CacheType
}{
	{"main", groupcache.MainCache},
	{"hot", groupcache.HotCache},
}

// Describe sends the descriptor of every metric the collector can send.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, mm := range managerMetrics {
		ch <- mm.desc
	}
	ch <- peeksDesc
	for _, gm := range groupMetrics {
		ch <- gm.desc
	}
	for _, cm := range cacheMetrics {
		ch <- cm.desc
	}
}

// Collect sends the manager's metrics, then each group's, in the order of the groups'
// names.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Stats()
	for _, mm := range managerMetrics {
		ch <- prometheus.MustNewConstMetric(mm.desc, mm.typ, mm.value(s))
	}
	for _, p := range peekOutcomes {
		ch <- prometheus.MustNewConstMetric(peeksDesc, prometheus.CounterValue, float64(p.value(s)), p.outcome)
	}

	names := append(c.m.Groups(), c.groups...)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		g := groupcache.GetGroup(name)
		if g == nil {
			continue // named, but not created (yet)
		}
		for _, gm := range groupMetrics {
			ch <- prometheus.MustNewConstMetric(gm.desc, prometheus.CounterValue, float64(gm.value(&g.Stats)), name)
		}
		for _, cache := range caches {
			cs := g.CacheStats(cache.which)
			for _, cm := range cacheMetrics {
				ch <- prometheus.MustNewConstMetric(cm.desc, cm.typ, float64(cm.value(cs)), name, cache.label)
			}
		}
	}
}
