package prometheus_test

import (
	"context"
	"net/http"

	"github.com/golang/groupcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"github.com/groupcache-k8s/k8s"
	gcprom "github.com/groupcache-k8s/k8s/prometheus"
)

// Register the collector once, after the manager is created; groups made later with
// m.NewGroup are collected from the next scrape on.
func ExampleNewCollector() {
	var (
		ctx     context.Context
		client  kubernetes.Interface // from rest.InClusterConfig
		getter  groupcache.Getter
		podAddr = "10.0.0.7:8081" // POD_IP and the groupcache port
	)
	m, err := k8s.NewPeersManager(ctx, client, "cache", "shop", 8081, podAddr)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	prometheus.MustRegister(gcprom.NewCollector(m))

	m.NewGroup("thumbnails", 64<<20, getter)

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.Handler())
	go http.ListenAndServe("10.0.0.7:9090", admin)
}
