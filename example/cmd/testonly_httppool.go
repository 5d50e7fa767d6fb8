package main

// Test-only (TESTONLY_TRANSPORT=httppool): groupcache's own HTTPPool, fed by k8s.WatchPeers, in
// place of a PeersManager, so that the e2e hand-off tests can measure what users would pick
// instead of this library. Not for users: a service on HTTPPool would use it directly.

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"k8s.io/client-go/kubernetes"
)

// startPoolNode mounts an HTTPPool's handler on mux and sets the pool's peers to this
// Service's pods on the HTTP port, from k8s.WatchPeers, until ctx ends. The peer id it
// returns is this pod's HTTP address. onChange, if not nil, hears every ring before the
// pool does.
// Only the watch's options of opts apply.
func startPoolNode(ctx context.Context, client kubernetes.Interface, s settings, mux *http.ServeMux,
	onChange func([]string), opts []k8s.Option) (node, string, error) {
	self := net.JoinHostPort(s.podIP, strconv.Itoa(s.httpPort))
	pool := groupcache.NewHTTPPoolOpts(poolURL(self), nil)
	mux.Handle("/_groupcache/", pool)
	w, err := k8s.WatchPeers(ctx, client, s.service, s.namespace, s.httpPort, self, func(peers []string) {
		if onChange != nil {
			onChange(peers)
		}
		pool.Set(poolURLs(peers)...)
	}, opts...)
	if err != nil {
		return nil, "", err
	}
	return poolNode{w}, self, nil
}

// poolURL is the HTTPPool base URL of the pod whose peer id (HTTP address) is peer.
func poolURL(peer string) string { return "http://" + peer }

// poolURLs maps poolURL over peers.
func poolURLs(peers []string) []string {
	urls := make([]string, len(peers))
	for i, p := range peers {
		urls[i] = poolURL(p)
	}
	return urls
}

// poolNode is an HTTPPool's node: groups are plain groupcache groups, and it cannot tell a
// key's owner.
type poolNode struct{ *k8s.PeerWatcher }

// NewGroup is groupcache.NewGroup.
func (poolNode) NewGroup(name string, cacheBytes int64, getter groupcache.Getter) *groupcache.Group {
	return groupcache.NewGroup(name, cacheBytes, getter)
}

// Owner is always "": the pool does not say whom it would ask.
func (poolNode) Owner(string) string { return "" }

// Shutdown is Close: an HTTPPool has no drain.
func (n poolNode) Shutdown(context.Context) error { return n.Close() }

// Stats are the watch's counters; an HTTPPool keeps no others.
func (n poolNode) Stats() k8s.Stats { return k8s.Stats{WatchStats: n.PeerWatcher.Stats()} }
