// Package watchers compares the library's EndpointSlice watcher (k8s.WatchPeers) with a
// client-go SharedInformer on the same EndpointSlices, the way other groupcache-on-Kubernetes
// libraries watch, against a real kube-apiserver and EndpointSlice controller from the
// e2e test bed: convergence after a Pod status change, live heap, and the requests each makes
// of the API server.
package watchers

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// cluster is the control plane all benchmarks share.
var cluster *testbed.Cluster

// TestMain builds the control plane (cached) while the module proxy is reachable, then runs
// the benchmarks again inside a private network namespace with the control plane started.
func TestMain(m *testing.M) {
	if spec := os.Getenv(heapChildEnv); spec != "" {
		if err := heapChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if !testbed.InNetNS() {
		os.Exit(testbed.BuildAndRerun())
	}
	bins, err := testbed.BinariesFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := testbed.Start(context.Background(), bins, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}
