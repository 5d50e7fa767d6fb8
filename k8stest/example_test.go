package k8stest_test

import (
	"context"
	"fmt"

	"github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/k8stest"
	"google.golang.org/grpc"
)

// A test of code that uses a PeersManager, without a cluster: the fake API server lists
// this pod and another as the Service's ready pods.
func ExampleServer() {
	api := k8stest.NewServer()
	defer api.Close()
	api.SetPods("default", "cache", 18081, k8stest.Pod{IP: "127.0.0.1"}, k8stest.Pod{IP: "127.0.0.2"})

	// The test's own gRPC server, never served: nothing listens.
	m, err := k8s.NewPeersManager(context.Background(), api.Clientset(), "cache", "default", 18081,
		"127.0.0.1:18081", k8s.WithGRPCServer(grpc.NewServer()), k8s.WithoutPeerPickerRegistration())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	fmt.Println(m.Peers())
	// Output: [127.0.0.1:18081 127.0.0.2:18081]
}
