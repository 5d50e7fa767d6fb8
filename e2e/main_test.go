// Package e2e runs the library against a real control plane on this machine: etcd,
// kube-apiserver and the EndpointSlice controller, with every pod a real process on its own
// 192.0.2.x address inside a private network namespace. See testbed for how.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// cluster is the control plane every test shares; each test has its own namespace.
var cluster *testbed.Cluster

// TestMain builds the control plane (cached by version) and the example pod binary while the
// module proxy is reachable, then runs the tests again inside a private network namespace
// where it starts the control plane once for all of them.
func TestMain(m *testing.M) {
	if !testbed.InNetNS() {
		os.Exit(testbed.BuildAndRerun())
	}
	os.Exit(runInside(m))
}

func runInside(m *testing.M) int {
	bins, err := testbed.BinariesFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := testbed.Start(context.Background(), bins, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	// Ctrl-C or SIGTERM: stop the control plane and remove its files before exiting.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-signals
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the control plane\n", s)
		c.Stop()
		os.Exit(130)
	}()
	code := m.Run()
	signal.Stop(signals)
	c.Stop()
	return code
}
