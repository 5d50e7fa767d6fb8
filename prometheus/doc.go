// Package prometheus exports the counters of a github.com/groupcache-k8s/k8s
// PeersManager and of the process's groupcache groups as Prometheus metrics, with
// github.com/prometheus/client_golang. It is a module of its own, so that the k8s
// package does not bring client_golang into builds that do not use it.
//
// Its name is client_golang's, so import it under another one:
//
//	import gcprom "github.com/groupcache-k8s/k8s/prometheus"
//
//	prometheus.MustRegister(gcprom.NewCollector(m)) // m's groups, plus any named
//
// # Metrics
//
// Every value is read at each scrape from PeersManager.Stats or from the groups' own
// counters; counters only grow (a restart of the process starts them again from 0),
// and no series disappears when peers come and go.
//
// The manager (no labels):
//
//	groupcache_k8s_peers                         gauge    members of this pod's ring, itself included
//	groupcache_k8s_watch_events_total            counter  EndpointSlice watch events received
//	groupcache_k8s_watch_restarts_total          counter  watches started after the first one
//	groupcache_k8s_relists_total                 counter  LISTs after the first one
//	groupcache_k8s_api_requests_total            counter  LIST and WATCH requests sent, answered or not
//	groupcache_k8s_last_sync_timestamp_seconds   gauge    Unix time of the last LIST or watch event applied
//	groupcache_k8s_peer_calls_total              counter  Gets sent to peers
//	groupcache_k8s_peer_call_errors_total        counter  of those, the ones that failed
//	groupcache_k8s_loops_prevented_total         counter  Gets refused or not forwarded while rings disagreed
//	groupcache_k8s_server_requests_total         counter  Gets served for peers, all groups
//	groupcache_k8s_ring_rebuilds_total           counter  times the peers changed and a ring was built
//	groupcache_k8s_peers_marked_unavailable_total counter times a peer stopped answering and was marked unavailable
//	groupcache_k8s_calls_failed_fast_total       counter  Gets to a peer marked unavailable, failed at once
//	groupcache_k8s_calls_passed_on_total         counter  of those and refused Gets, sent on to the next owner
//	groupcache_k8s_owner_errors_total            counter  owners' getter errors returned without a second load
//	groupcache_k8s_pushes_received_total         counter  entries peers pushed here, stored as if loaded
//	groupcache_k8s_pushed_bytes_received_total   counter  their bytes
//	groupcache_k8s_pushes_refused_total          counter  pushes from an address that is not a peer
//	groupcache_k8s_pushes_dropped_total          counter  pushes not stored: no such group, not this pod's key, or held already
//	groupcache_k8s_pushes_sent_total             counter  entries pushed to their keys' new owners
//	groupcache_k8s_pushed_bytes_sent_total       counter  their bytes
//	groupcache_k8s_push_failures_total           counter  pushes that failed
//	groupcache_k8s_push_seconds_total            counter  time spent pushing
//	groupcache_k8s_peeks_total{outcome}          counter  this pod's peeks of previous owners: hit, miss, error
//	groupcache_k8s_peeks_served_total            counter  peeks answered for peers
//	groupcache_k8s_peeks_served_hits_total       counter  of those, the ones answered with a value
//	groupcache_k8s_draining                      gauge    1 while Shutdown keeps serving peers, else 0
//	groupcache_k8s_drain_requests_total          counter  Gets and peeks served while draining
//
// The time since the last sync is time() - groupcache_k8s_last_sync_timestamp_seconds
// in PromQL (a timestamp, not an age, as Prometheus recommends: it stays right between
// scrapes). Peer calls and their errors are two counters rather than one with an
// outcome label because a call is counted when it starts and its error when it ends:
// a "success" series computed as their difference could go down.
//
// Each group (label group), from groupcache.Group.Stats:
//
//	groupcache_gets_total                   counter  Gets, including those from peers
//	groupcache_hits_total                   counter  Gets answered from the main or hot cache
//	groupcache_peer_loads_total             counter  values loaded from peers
//	groupcache_peer_errors_total            counter  loads from peers that failed
//	groupcache_loads_total                  counter  Gets not answered from the caches
//	groupcache_loads_deduped_total          counter  loads left after concurrent loads were merged
//	groupcache_local_loads_total            counter  values loaded by this process's getter
//	groupcache_local_load_errors_total      counter  of those, the ones that failed
//	groupcache_server_requests_total        counter  Gets of the group that came from peers
//
// Each group's main and hot cache (labels group, and cache "main" or "hot"), from
// groupcache.Group.CacheStats:
//
//	groupcache_cache_bytes                  gauge    bytes of keys and values held
//	groupcache_cache_items                  gauge    entries held
//	groupcache_cache_gets_total             counter  lookups
//	groupcache_cache_hits_total             counter  lookups that found the key
//	groupcache_cache_evictions_total        counter  entries evicted to stay within the size
//
// The group and cache metrics keep the names of github.com/udhos/groupcache_exporter
// (with an empty namespace) but for two counters, which it calls
// groupcache_local_load_total and groupcache_local_load_errs_total, and the cache
// label, which it calls type. Its get_from_peers_latency_slowest_milliseconds,
// crosstalk_refusals_total and cache_evictions_nonexpired_total come from groupcache
// forks; golang/groupcache has no such counters, so they have no counterpart here.
package prometheus
