package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exampleRun is the example running in this process (run) against a fake API server that
// lists one ready endpoint, this pod, on 127.0.0.1.
type exampleRun struct {
	base  string // http://127.0.0.1:HTTP_PORT
	admin string // http://127.0.0.1:ADMIN_PORT
	self  string // the peer id: 127.0.0.1:GROUPCACHE_PORT
	done  chan error
}

// startExample starts the example with env added to its settings and waits until it answers
// /healthz. The test must stop it (see stop).
func startExample(t *testing.T, env map[string]string) *exampleRun {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("watch") == "true" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"7"},
			"items":[{"metadata":{"name":"demo-1","labels":{"kubernetes.io/service-name":"demo"}},
			"addressType":"IPv4","endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true}}]}]}`)
	}))
	t.Cleanup(api.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
users: [{name: test, user: {}}]
current-context: test
`, api.URL)), 0o600)

	httpPort, grpcPort, adminPort := freePort(t), freePort(t), freePort(t)
	for k, v := range map[string]string{"POD_IP": "127.0.0.1", "POD_NAME": "demo-pod-1", "NAMESPACE": "demo",
		"SERVICE_NAME": "demo", "GROUPCACHE_PORT": strconv.Itoa(grpcPort), "HTTP_PORT": strconv.Itoa(httpPort),
		"KUBECONFIG": kubeconfig, "ADMIN_PORT": strconv.Itoa(adminPort)} {
		t.Setenv(k, v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	e := &exampleRun{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), admin: "http://127.0.0.1:" + strconv.Itoa(adminPort),
		self: "127.0.0.1:" + strconv.Itoa(grpcPort), done: make(chan error, 1)}
	go func() { e.done <- run(slog.New(slog.DiscardHandler)) }()
	waitHealthy(t, e.base+"/healthz", e.done)
	return e
}

// stop sends the process SIGTERM, as the kubelet would, and returns run's error once it has
// returned; the test fails if it has not within 10 s.
func (e *exampleRun) stop(t *testing.T) error {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-e.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the example did not stop within 10 s of SIGTERM")
		return nil
	}
}

// TestExampleServes runs the example and checks /healthz, /get (also with a timeout), /owner,
// /peers, /stats, the operator page and the metrics, and that no test-only endpoint is
// served without its setting; then stops it with SIGTERM as the kubelet would.
func TestExampleServes(t *testing.T) {
	e := startExample(t, nil)
	base := e.base

	var got map[string]string
	getJSON(t, base+"/get?key=hello", &got)
	if got["key"] != "hello" || got["value"] != "value of hello" || got["loadedBy"] != "demo-pod-1" || got["servedBy"] != "demo-pod-1" ||
		got["owner"] != e.self {
		t.Errorf("/get?key=hello = %v", got)
	}
	got = nil
	getJSON(t, base+"/get?key=hello&timeout=15s", &got)
	if got["value"] != "value of hello" || got["loadedBy"] != "demo-pod-1" {
		t.Errorf("/get?key=hello&timeout=15s = %v", got)
	}
	for _, timeout := range []string{"soon", "0s", "-1s"} {
		if resp, err := http.Get(base + "/get?key=hello&timeout=" + timeout); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/get with timeout=%s: %v %v; want 400", timeout, resp, err)
		}
	}
	got = nil
	getJSON(t, base+"/owner?key=hello", &got)
	if got["key"] != "hello" || got["owner"] != e.self {
		t.Errorf("/owner?key=hello = %v", got)
	}
	if resp, err := http.Get(base + "/owner"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/owner without a key: %v %v; want 400", resp, err)
	}
	var peers struct {
		Self  string
		Peers []string
	}
	getJSON(t, base+"/peers", &peers)
	if peers.Self != e.self || len(peers.Peers) != 1 || peers.Peers[0] != e.self {
		t.Errorf("/peers = %+v, want self and ring [%s]", peers, e.self)
	}
	if resp, err := http.Get(base + "/testonly/rings?since=0"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/testonly/rings without TESTONLY_RING_HISTORY: %v %v; want 404", resp, err)
	}
	var stats struct {
		Group map[string]int64
		Peers struct{ Peers int }
	}
	getJSON(t, base+"/stats", &stats)
	if stats.Group["Gets"] != 2 || stats.Group["CacheHits"] != 1 || stats.Group["LocalLoads"] != 1 || stats.Peers.Peers != 1 {
		t.Errorf("/stats = %+v, want two gets, one cache hit, one local load, one peer", stats)
	}
	if resp, err := http.Get(base + "/get"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/get without a key: %v %v; want 400", resp, err)
	}
	var page struct{ Self, Owner string }
	getJSON(t, e.admin+"/debug/groupcache?format=json&key=hello", &page)
	if page.Self != e.self || page.Owner != e.self {
		t.Errorf("the operator page on ADMIN_PORT = %+v; want self and owner %s", page, e.self)
	}
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"groupcache_k8s_peers 1", `groupcache_gets_total{group="example"} 2`, "go_goroutines"} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("/metrics on ADMIN_PORT lacks %q", want)
		}
	}

	if err := e.stop(t); err != nil {
		t.Errorf("run after SIGTERM = %v", err)
	}
}

// TestExampleListensWhereItIsTold: the HTTP and admin servers listen on every interface unless
// LISTEN_IP names one, so that kubectl port-forward, which connects to localhost inside the
// pod, reaches them. 127.0.0.2 stands for an address other than POD_IP (127.0.0.1): Linux
// routes all of 127.0.0.0/8 to the loopback.
func TestExampleListensWhereItIsTold(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address only on Linux")
	}
	for _, c := range []struct {
		name, listenIP string
		otherAnswers   bool
	}{
		{"unset: every interface", "", true},
		{"the pod's IP only", "127.0.0.1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := startExample(t, map[string]string{"LISTEN_IP": c.listenIP})
			defer e.stop(t)
			client := &http.Client{Timeout: 5 * time.Second}
			for _, url := range []string{e.base + "/healthz", e.admin + "/metrics"} {
				other := strings.Replace(url, "127.0.0.1", "127.0.0.2", 1)
				resp, err := client.Get(other)
				if err == nil {
					resp.Body.Close()
				}
				if answered := err == nil && resp.StatusCode == http.StatusOK; answered != c.otherAnswers {
					t.Errorf("LISTEN_IP=%q: GET %s answered = %v (%v), want %v", c.listenIP, other, answered, err, c.otherAnswers)
				}
			}
		})
	}
}

func TestExampleRejectsABadListenIP(t *testing.T) {
	for k, v := range map[string]string{"POD_IP": "127.0.0.1", "NAMESPACE": "demo", "SERVICE_NAME": "demo", "LISTEN_IP": "localhost"} {
		t.Setenv(k, v)
	}
	if _, err := readSettings(); err == nil || !strings.Contains(err.Error(), "LISTEN_IP") {
		t.Errorf("readSettings with LISTEN_IP=localhost: err = %v, want one naming LISTEN_IP", err)
	}
}

func TestExampleRequiresSettings(t *testing.T) {
	t.Setenv("POD_IP", "")
	if err := run(slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("run without POD_IP succeeded")
	}
}

func TestExampleRejectsBadOptionalSettings(t *testing.T) {
	for _, env := range [][2]string{
		{"WATCH_IDLE_TIMEOUT", "soon"},
		{"TLS_CERT_FILE", "/nonexistent.crt"},
		{"HANDOFF", "maybe"},
		{"HANDOFF_DRAIN", "-1s"},
	} {
		t.Run(env[0], func(t *testing.T) {
			t.Setenv(env[0], env[1])
			if _, err := managerOptions(slog.New(slog.DiscardHandler), false); err == nil || !strings.Contains(err.Error(), env[0]) {
				t.Errorf("managerOptions with %s=%q: err = %v, want one naming %s", env[0], env[1], err, env[0])
			}
		})
	}
}

func waitHealthy(t *testing.T, url string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the example stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within 10 s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server that has no readiness signal
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestExampleAnswersAGetInFlightAtSIGTERM: a request in flight when SIGTERM comes is
// answered before run returns (the process exits when it does). At 150 pods two Gets
// through pods being deleted ended in EOF: the HTTP server's stop was not waited for, and
// its 5 s bound was shorter than a Get on a starved node.
func TestExampleAnswersAGetInFlightAtSIGTERM(t *testing.T) {
	e := startExample(t, map[string]string{"TESTONLY_BACKEND_KEYS": "on"})
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Get(e.base + "/get?key=slow-1") // the backend takes 3 s
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		answered <- err
	}()
	waitUntilLoading(t, e.base+"/stats")
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-e.done:
		t.Fatalf("run returned (%v) before the Get in flight was answered", err)
	case err := <-answered:
		if err != nil {
			t.Errorf("the Get in flight at SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Get in flight was not answered within 10 s of SIGTERM")
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("run after SIGTERM = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the example did not stop within 10 s of SIGTERM")
	}
}

// waitUntilLoading polls the example's /stats until its backend has been called.
func waitUntilLoading(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var stats struct{ BackendLoads int64 }
		getJSON(t, url, &stats)
		if stats.BackendLoads > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the backend was not called within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
