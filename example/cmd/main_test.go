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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExampleServes runs the example against an API server that lists one ready
// endpoint, this pod, and checks /healthz, /get (also with a timeout), /owner and /peers,
// then stops it with SIGTERM as the kubelet would.
func TestExampleServes(t *testing.T) {
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
	defer api.Close()
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
	done := make(chan error, 1)
	go func() { done <- run(slog.New(slog.DiscardHandler)) }()

	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	waitHealthy(t, base+"/healthz", done)

	var got map[string]string
	getJSON(t, base+"/get?key=hello", &got)
	if got["key"] != "hello" || got["value"] != "value of hello" || got["loadedBy"] != "demo-pod-1" || got["servedBy"] != "demo-pod-1" ||
		got["owner"] != "127.0.0.1:"+strconv.Itoa(grpcPort) {
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
	if got["key"] != "hello" || got["owner"] != "127.0.0.1:"+strconv.Itoa(grpcPort) {
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
	if want := "127.0.0.1:" + strconv.Itoa(grpcPort); peers.Self != want || len(peers.Peers) != 1 || peers.Peers[0] != want {
		t.Errorf("/peers = %+v, want self and ring [%s]", peers, want)
	}
	var history struct{ Rings [][]string }
	getJSON(t, base+"/peers?since=0", &history)
	if want := "127.0.0.1:" + strconv.Itoa(grpcPort); len(history.Rings) != 1 || !slices.Equal(history.Rings[0], []string{want}) {
		t.Errorf("/peers?since=0 = %+v, want the one ring published, [%s]", history, want)
	}
	if resp, err := http.Get(base + "/peers?since=-1"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/peers?since=-1: %v %v; want 400", resp, err)
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
	getJSON(t, "http://127.0.0.1:"+strconv.Itoa(adminPort)+"/debug/groupcache?format=json&key=hello", &page)
	if want := "127.0.0.1:" + strconv.Itoa(grpcPort); page.Self != want || page.Owner != want {
		t.Errorf("the operator page on ADMIN_PORT = %+v; want self and owner %s", page, want)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(adminPort) + "/metrics")
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

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after SIGTERM = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the example did not stop within 10 s of SIGTERM")
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
