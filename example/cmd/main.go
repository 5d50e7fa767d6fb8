// Command example is a small groupcache service for Kubernetes: GET /get?key=K returns
// the value of K and the pod that loaded it. Each pod finds its peers through the
// EndpointSlices of its Service.
//
// Settings come from the environment:
//
//	POD_IP           this pod's IP (downward API: status.podIP); required
//	POD_NAME         this pod's name (metadata.name); defaults to the host name
//	NAMESPACE        the Service's namespace (metadata.namespace); required
//	SERVICE_NAME     the Service whose EndpointSlices list the pods; required
//	GROUPCACHE_PORT  the gRPC port peers use; default 8081
//	HTTP_PORT        the HTTP port; default 8080
//	KUBECONFIG       a kubeconfig file, for running outside a cluster; default in-cluster config
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("example stopped", "err", err)
		os.Exit(1)
	}
}

type settings struct {
	podIP, podName, namespace, service string
	groupcachePort, httpPort           int
}

func readSettings() (settings, error) {
	s := settings{
		podIP:     os.Getenv("POD_IP"),
		podName:   os.Getenv("POD_NAME"),
		namespace: os.Getenv("NAMESPACE"),
		service:   os.Getenv("SERVICE_NAME"),
	}
	if s.podName == "" {
		s.podName, _ = os.Hostname()
	}
	for name, v := range map[string]string{"POD_IP": s.podIP, "NAMESPACE": s.namespace, "SERVICE_NAME": s.service} {
		if v == "" {
			return s, fmt.Errorf("%s is not set", name)
		}
	}
	var err error
	if s.groupcachePort, err = portFromEnv("GROUPCACHE_PORT", 8081); err != nil {
		return s, err
	}
	s.httpPort, err = portFromEnv("HTTP_PORT", 8080)
	return s, err
}

func portFromEnv(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port", name, v)
	}
	return p, nil
}

func restConfig() (*rest.Config, error) {
	if path := os.Getenv("KUBECONFIG"); path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return rest.InClusterConfig()
}

func run(logger *slog.Logger) error {
	s, err := readSettings()
	if err != nil {
		return err
	}
	cfg, err := restConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	self := net.JoinHostPort(s.podIP, strconv.Itoa(s.groupcachePort))
	m, err := k8s.NewPeersManager(ctx, client, s.service, s.namespace, s.groupcachePort, self,
		k8s.WithLogger(logger))
	if err != nil {
		return err
	}
	defer m.Close()

	group := groupcache.NewGroup("example", 64<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			logger.Info("loading", "key", key)
			return dest.SetString(s.podName + "\n" + "value of " + key)
		}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			http.Error(w, "want /get?key=K", http.StatusBadRequest)
			return
		}
		var data string
		if err := group.Get(r.Context(), key, groupcache.StringSink(&data)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		loadedBy, value, _ := strings.Cut(data, "\n")
		writeJSON(w, map[string]string{"key": key, "value": value, "loadedBy": loadedBy, "servedBy": s.podName})
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"self": self, "peers": m.Peers(), "stats": m.Stats()})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })

	srv := &http.Server{Addr: net.JoinHostPort(s.podIP, strconv.Itoa(s.httpPort)), Handler: mux,
		ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	logger.Info("serving", "http", srv.Addr, "groupcache", self, "pod", s.podName)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
