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
//	LISTEN_IP        the address the HTTP and admin servers listen on; default all interfaces,
//	                 which kubectl port-forward needs (it connects to localhost in the pod). The
//	                 groupcache port always listens on POD_IP only: it is the peers' and the
//	                 library's, and its address is this pod's peer id. The end-to-end test bed
//	                 sets POD_IP here, because its pods share one network namespace
//	KUBECONFIG       a kubeconfig file, for running outside a cluster; default in-cluster config
//	LOG_FORMAT       "json" for JSON logs; default text
//	WATCH_IDLE_TIMEOUT  how long a silent watch may stay open (k8s.WithWatchIdleTimeout); default 90s
//	ADMIN_PORT       a port for the operator page, /debug/groupcache (k8s.PeersManager.DebugHandler),
//	                 and the Prometheus metrics, /metrics, kept off the Service's ports; default none
//	HANDOFF          "off" turns the warm hand-off off (k8s.Handoff.Off); default on
//	HANDOFF_DRAIN    the longest drain at shutdown (k8s.Handoff.Drain); default 15s
//	TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE
//	                 mutual TLS between pods: this pod's certificate and key, and the CA that
//	                 signs every pod's certificate; default plaintext
//
// Endpoints: /get?key=K (the value, the pod that loaded it and the owner's address;
// &timeout=15s gives the Get that deadline, as a server's request timeout would),
// /owner?key=K (the key's owner in this pod's ring, without loading it), /peers (this pod's
// peer id, the ring and the manager's Stats), /stats (the group's and the manager's counters,
// and backendLoads: how many times this pod called its backend, the getter, which peeks do
// not count) and /healthz.
//
// Test-only: settings named TESTONLY_ (TESTONLY_TRANSPORT, TESTONLY_RING_HISTORY,
// TESTONLY_EXIT_STATE, TESTONLY_BACKEND_KEYS, TESTONLY_CPU_PROFILE) turn on features that exist for the end-to-end tests and the benchmark
// comparison, not for users; a deployment leaves them unset, and the endpoints they add are
// under /testonly/. They are described in testonly.go, and each lives in a testonly_*.go file
// of its own.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	gcprom "github.com/groupcache-k8s/k8s/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	// LOG_LEVEL (debug, info, warn, error; default info): debug shows each push and peek
	// with its key.
	opts := &slog.HandlerOptions{}
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(v)); err != nil {
			fmt.Fprintln(os.Stderr, "LOG_LEVEL:", err)
			os.Exit(2)
		}
		opts.Level = level
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if os.Getenv("LOG_FORMAT") == "json" {
		handler = slog.NewJSONHandler(os.Stderr, opts)
	}
	logger := slog.New(handler)
	if err := run(logger); err != nil {
		logger.Error("example stopped", "err", err)
		os.Exit(1)
	}
}

type settings struct {
	podIP, podName, namespace, service string
	listenIP                           string // "" is every interface
	groupcachePort, httpPort           int
}

func readSettings() (settings, error) {
	s := settings{
		podIP:     os.Getenv("POD_IP"),
		podName:   os.Getenv("POD_NAME"),
		namespace: os.Getenv("NAMESPACE"),
		service:   os.Getenv("SERVICE_NAME"),
		listenIP:  os.Getenv("LISTEN_IP"),
	}
	if s.podName == "" {
		s.podName, _ = os.Hostname()
	}
	for name, v := range map[string]string{"POD_IP": s.podIP, "NAMESPACE": s.namespace, "SERVICE_NAME": s.service} {
		if v == "" {
			return s, fmt.Errorf("%s is not set", name)
		}
	}
	if s.listenIP != "" && net.ParseIP(s.listenIP) == nil {
		return s, fmt.Errorf("LISTEN_IP=%q is not an IP address; leave it unset to listen on every interface", s.listenIP)
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

func run(logger *slog.Logger) (err error) {
	s, err := readSettings()
	if err != nil {
		return err
	}
	testOnly, err := readTestOnly()
	if err != nil {
		return err
	}
	if testOnly.cpuProfile != "" {
		stopProfile, perr := startCPUProfiles(testOnly.cpuProfile, s.podName, cpuProfilePeriod)
		if perr != nil {
			return perr
		}
		defer func() { err = errors.Join(err, stopProfile()) }()
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

	opts, err := managerOptions(logger, testOnly.httpPool)
	if err != nil {
		return err
	}
	var rings *ringHistory
	var onChange func([]string)
	if testOnly.ringHistory {
		rings = newRingHistory()
		onChange = rings.add
	}
	mux := http.NewServeMux()
	m, self, err := startNode(ctx, testOnly.httpPool, client, s, mux, onChange, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	if rings != nil {
		mux.Handle("GET /testonly/rings", rings.handler(ctx, self))
	}

	// The backend: a value names the pod that loaded it. Created through the manager, so
	// that a key's new owner asks its previous owner before loading it.
	var backendLoads atomic.Int64
	group := m.NewGroup("example", 64<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			backendLoads.Add(1)
			logger.Debug("loading", "key", key)
			if err := testBackend(ctx, testOnly.backendKeys, key); err != nil {
				return err
			}
			return dest.SetString(s.podName + "\n" + "value of " + key)
		}))

	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			http.Error(w, "want /get?key=K", http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				http.Error(w, fmt.Sprintf("timeout=%q: want a positive Go duration such as 15s", v), http.StatusBadRequest)
				return
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		var data string
		if err := group.Get(ctx, key, groupcache.StringSink(&data)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		loadedBy, value, _ := strings.Cut(data, "\n")
		writeJSON(w, map[string]string{"key": key, "value": value, "loadedBy": loadedBy, "servedBy": s.podName,
			"owner": m.Owner(key)})
	})
	mux.HandleFunc("GET /owner", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			http.Error(w, "want /owner?key=K", http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"key": key, "owner": m.Owner(key)})
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"self": self, "peers": m.Peers(), "stats": m.Stats()})
	})
	stats := func() map[string]any {
		g := &group.Stats
		return map[string]any{"peers": m.Stats(), "backendLoads": backendLoads.Load(), "group": map[string]int64{
			"Gets": g.Gets.Get(), "CacheHits": g.CacheHits.Get(), "PeerLoads": g.PeerLoads.Get(),
			"PeerErrors": g.PeerErrors.Get(), "Loads": g.Loads.Get(), "LocalLoads": g.LocalLoads.Get(),
			"ServerRequests": g.ServerRequests.Get(),
		}}
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, stats()) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })

	srv := &http.Server{Addr: net.JoinHostPort(s.listenIP, strconv.Itoa(s.httpPort)), Handler: mux,
		ReadHeaderTimeout: 5 * time.Second}
	// At SIGTERM the server stops taking requests and answers those in flight, within the
	// budget; run returns only after that (the process exits when run returns, and a
	// request still in flight would get EOF).
	httpStopped := make(chan struct{})
	go func() {
		defer close(httpStopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), shutdownBudget)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := serveAdmin(ctx, s, m, logger); err != nil {
		return err
	}
	logger.Info("serving", "http", srv.Addr, "groupcache", self, "pod", s.podName)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// ctx has ended (SIGTERM, after the preStop sleep): hand this pod's keys over and stop,
	// within what is left of the termination grace period.
	stopping := time.Now()
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	if err := m.Shutdown(shutdown); err != nil {
		logger.Warn("shutdown cut short", "error", err)
	}
	<-httpStopped
	if testOnly.exitState != "" {
		return writeExitState(testOnly.exitState, exitState{Stats: stats(), CloseTook: time.Since(stopping)})
	}
	return nil
}

// shutdownBudget bounds the peers manager's Shutdown at SIGTERM, and the HTTP server's,
// which answers the requests in flight meanwhile: the manifest's
// terminationGracePeriodSeconds (30 s) less its preStop sleep (5 s), less a margin for
// the exit. It covers the longest drain (15 s) and the gRPC server's graceful stop (5 s).
const shutdownBudget = 20 * time.Second

// managerOptions turns the optional settings into the peers manager's options; for a
// watcher alone (WatchPeers), only those of the watch.
func managerOptions(logger *slog.Logger, watchOnly bool) ([]k8s.Option, error) {
	opts := []k8s.Option{k8s.WithLogger(logger)}
	if v := os.Getenv("WATCH_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("WATCH_IDLE_TIMEOUT=%q: %v", v, err)
		}
		opts = append(opts, k8s.WithWatchIdleTimeout(d))
	}
	if watchOnly {
		return opts, nil
	}
	var handoff k8s.Handoff
	switch v := os.Getenv("HANDOFF"); v {
	case "", "on":
	case "off":
		handoff.Off = true
	default:
		return nil, fmt.Errorf("HANDOFF=%q: want on or off", v)
	}
	if v := os.Getenv("HANDOFF_DRAIN"); v != "" && !handoff.Off {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HANDOFF_DRAIN=%q: want a positive Go duration such as 15s", v)
		}
		handoff.Drain = d
	}
	if handoff != (k8s.Handoff{}) {
		opts = append(opts, k8s.WithHandoff(handoff))
	}
	certFile, keyFile, caFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE"), os.Getenv("TLS_CA_FILE")
	if certFile == "" && keyFile == "" && caFile == "" {
		return opts, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT_FILE, TLS_KEY_FILE: %v", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("TLS_CA_FILE: %v", err)
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("TLS_CA_FILE=%q holds no PEM certificate", caFile)
	}
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: cas,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: cas, MinVersion: tls.VersionTLS13}
	return append(opts, k8s.WithTransportCredentials(credentials.NewTLS(server), credentials.NewTLS(client))), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveAdmin serves the operator page and the Prometheus metrics (/metrics) on
// ADMIN_PORT, if set, until ctx ends.
func serveAdmin(ctx context.Context, s settings, n node, logger *slog.Logger) error {
	v := os.Getenv("ADMIN_PORT")
	m, ok := n.(*k8s.PeersManager)
	if v == "" || !ok {
		return nil
	}
	port, err := portFromEnv("ADMIN_PORT", 0)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(gcprom.NewCollector(m), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /debug/groupcache", m.DebugHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	lis, err := net.Listen("tcp", net.JoinHostPort(s.listenIP, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("ADMIN_PORT: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis)
	context.AfterFunc(ctx, func() { srv.Close() })
	// Listening on every interface, the address to give is the pod's, not [::].
	at := net.JoinHostPort(cmp.Or(s.listenIP, s.podIP), strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
	logger.Info("operator page and metrics", "page", "http://"+at+"/debug/groupcache", "metrics", "http://"+at+"/metrics")
	return nil
}
