package k8s_test

// The package example.

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A pod of Service "cache" in namespace "shop" serves groupcache on port 8081 and
// shares the "thumbnails" group with the other pods of the Service.
func ExampleNewPeersManager() {
	config, err := rest.InClusterConfig()
	if err != nil {
		log.Fatal(err)
	}
	port := 8081
	m, err := k8s.NewPeersManager(context.Background(), kubernetes.NewForConfigOrDie(config), "cache", "shop",
		port, fmt.Sprintf("%s:%d", os.Getenv("POD_IP"), port))
	if err != nil {
		log.Fatal(err) // for example: endpointslices is forbidden: grant list and watch on ...
	}
	defer m.Close()

	thumbnails := groupcache.NewGroup("thumbnails", 64<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			return dest.SetBytes([]byte("thumbnail of " + key))
		}))
	var thumb []byte
	if err := thumbnails.Get(context.Background(), "cat.png", groupcache.AllocatingByteSliceSink(&thumb)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Peers(), len(thumb))
}
