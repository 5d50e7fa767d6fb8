package main

// The cache node: the example runs on a PeersManager by default, or, to compare against
// groupcache's own transport, on an HTTPPool fed by k8s.WatchPeers (TRANSPORT=httppool).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"k8s.io/client-go/kubernetes"
)

// node is what the example's handlers use of the peers.
type node interface {
	NewGroup(name string, cacheBytes int64, getter groupcache.Getter) *groupcache.Group
	Owner(key string) string // "" when the node cannot tell
	Peers() []string
	Stats() k8s.Stats
	Close() error
}

// startNode starts the peers of the transport named ("grpc" or "httppool"). With
// httppool, the pool's handler is mounted on mux and peers are this Service's pods on
// the HTTP port.
func startNode(ctx context.Context, transport string, client kubernetes.Interface, s settings, mux *http.ServeMux,
	onChange func([]string), opts []k8s.Option) (node, string, error) {
	switch transport {
	case "", "grpc":
		self := net.JoinHostPort(s.podIP, strconv.Itoa(s.groupcachePort))
		m, err := k8s.NewPeersManager(ctx, client, s.service, s.namespace, s.groupcachePort, self,
			append(opts, k8s.WithPeersChanged(onChange))...)
		return m, self, err
	case "httppool":
		self := net.JoinHostPort(s.podIP, strconv.Itoa(s.httpPort))
		pool := groupcache.NewHTTPPoolOpts("http://"+self, nil)
		mux.Handle("/_groupcache/", pool)
		w, err := k8s.WatchPeers(ctx, client, s.service, s.namespace, s.httpPort, self, func(peers []string) {
			onChange(peers)
			urls := make([]string, len(peers))
			for i, p := range peers {
				urls[i] = "http://" + p
			}
			pool.Set(urls...)
		}, opts...)
		if err != nil {
			return nil, "", err
		}
		return poolNode{w}, self, nil
	}
	return nil, "", fmt.Errorf("TRANSPORT=%q: want grpc or httppool", transport)
}

// poolNode is an HTTPPool's node: groups are plain groupcache groups.
type poolNode struct{ *k8s.PeerWatcher }

func (poolNode) NewGroup(name string, cacheBytes int64, getter groupcache.Getter) *groupcache.Group {
	return groupcache.NewGroup(name, cacheBytes, getter)
}

func (poolNode) Owner(string) string { return "" }

// Stats are the watch's counters; an HTTPPool keeps no others.
func (n poolNode) Stats() k8s.Stats { return k8s.Stats{WatchStats: n.PeerWatcher.Stats()} }
