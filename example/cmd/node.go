package main

// The cache node: the example runs on a PeersManager, or, to compare against groupcache's
// own transport in the tests, on an HTTPPool fed by k8s.WatchPeers (TESTONLY_TRANSPORT=httppool,
// testonly_httppool.go).

import (
	"context"
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
	Shutdown(ctx context.Context) error // drains, then stops
	Close() error
}

// startNode starts the node: a PeersManager serving peers on the groupcache port, or with
// httpPool the test-only HTTPPool (see startPoolNode). It returns the node and this pod's
// peer id. onChange, if not nil, hears every ring the node publishes. ctx bounds the
// start only: the node lives until Shutdown or Close (the end of a manager's own ctx
// would stop it at once, without the drain that Shutdown does at SIGTERM).
func startNode(ctx context.Context, httpPool bool, client kubernetes.Interface, s settings, mux *http.ServeMux,
	onChange func([]string), opts []k8s.Option) (node, string, error) {
	if httpPool {
		return startPoolNode(ctx, client, s, mux, onChange, opts)
	}
	self := net.JoinHostPort(s.podIP, strconv.Itoa(s.groupcachePort))
	if onChange != nil {
		opts = append(opts, k8s.WithPeersChanged(onChange))
	}
	m, err := k8s.NewPeersManager(context.WithoutCancel(ctx), client, s.service, s.namespace, s.groupcachePort, self, opts...)
	return m, self, err
}
