package k8s_test

// The package example.

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/k8stest"
)

// A pod of the Service "cache" in namespace "shop" serves groupcache on port 18081 and
// shares the "thumbnails" group with the other pods of the Service. In a cluster the
// clientset comes from rest.InClusterConfig and self from the pod's IP (see the README's
// main.go); here the fake API server of package k8stest lists this pod alone.
//
// The group is made through the manager, so that after a membership change a key's new
// owner takes the value over from its previous owner instead of loading it again. At
// SIGTERM the pod calls m.Shutdown, which hands its keys over; m.Close stops at once.
func ExampleNewPeersManager() {
	api := k8stest.NewServer()
	defer api.Close()
	api.SetPods("shop", "cache", 18081, k8stest.Pod{IP: "127.0.0.1"})

	m, err := k8s.NewPeersManager(context.Background(), api.Clientset(), "cache", "shop", 18081, "127.0.0.1:18081")
	if err != nil {
		fmt.Println(err) // for example: endpointslices is forbidden: grant list and watch on ...
		return
	}
	defer m.Close()

	var loads atomic.Int64
	thumbnails := m.NewGroup("thumbnails", 64<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			loads.Add(1)
			return dest.SetString("thumbnail of " + key)
		}))
	var thumb string
	for range 2 {
		if err := thumbnails.Get(context.Background(), "cat.png", groupcache.StringSink(&thumb)); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("peers:", m.Peers())
	fmt.Println("owner of cat.png:", m.Owner("cat.png"))
	fmt.Printf("%q, loaded %d time(s) for 2 Gets\n", thumb, loads.Load())
	// Output:
	// peers: [127.0.0.1:18081]
	// owner of cat.png: 127.0.0.1:18081
	// "thumbnail of cat.png", loaded 1 time(s) for 2 Gets
}
