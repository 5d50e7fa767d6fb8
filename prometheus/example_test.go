package prometheus_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/golang/groupcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/k8stest"
	gcprom "github.com/groupcache-k8s/k8s/prometheus"
)

// Register the collector once, after the manager is created; groups made later with
// m.NewGroup are collected from the next scrape on. Serve /metrics on an admin port that
// no Service exposes. In a cluster the clientset comes from rest.InClusterConfig, the
// collector goes to prometheus.MustRegister and the admin mux to
// http.ListenAndServe(podIP+":9090", admin); here the fake API server of package k8stest
// lists this pod alone, and an httptest server stands in for the admin port.
func ExampleNewCollector() {
	api := k8stest.NewServer()
	defer api.Close()
	api.SetPods("shop", "cache", 18082, k8stest.Pod{IP: "127.0.0.1"})
	m, err := k8s.NewPeersManager(context.Background(), api.Clientset(), "cache", "shop", 18082, "127.0.0.1:18082")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	registry := prometheus.NewRegistry()
	registry.MustRegister(gcprom.NewCollector(m))

	thumbnails := m.NewGroup("thumbnails", 64<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			return dest.SetString("thumbnail of " + key)
		}))
	var thumb string
	if err := thumbnails.Get(context.Background(), "cat.png", groupcache.StringSink(&thumb)); err != nil {
		fmt.Println(err)
		return
	}

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(admin)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	for lines := bufio.NewScanner(resp.Body); lines.Scan(); {
		if line := lines.Text(); strings.HasPrefix(line, "groupcache_k8s_peers ") ||
			strings.HasPrefix(line, `groupcache_local_loads_total{group="thumbnails"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// groupcache_k8s_peers 1
	// groupcache_local_loads_total{group="thumbnails"} 1
}
