package k8stest_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/k8stest"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestServerListAndWatch: through a real clientset, a LIST returns the Service's one
// slice with the pods' conditions as the EndpointSlice controller writes them, and a
// WATCH from the list's resourceVersion sees SetPods as a MODIFIED event, and nothing of
// another Service.
func TestServerListAndWatch(t *testing.T) {
	s := k8stest.NewServer()
	t.Cleanup(s.Close)
	s.SetPods("ns", "cache", 8081, k8stest.Pod{IP: "10.0.0.1"}, k8stest.Pod{IP: "10.0.0.2", NotReady: true},
		k8stest.Pod{IP: "10.0.0.3", Terminating: true})
	slices := s.Clientset().DiscoveryV1().EndpointSlices("ns")
	opts := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=cache"}
	list, err := slices.List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("LIST returned %d slices, want 1", len(list.Items))
	}
	tests := []struct {
		ip                          string
		ready, serving, terminating bool
	}{
		{"10.0.0.1", true, true, false},
		{"10.0.0.2", false, false, false},
		{"10.0.0.3", false, true, true},
	}
	es := list.Items[0]
	if es.AddressType != discoveryv1.AddressTypeIPv4 || len(es.Ports) != 1 || *es.Ports[0].Port != 8081 || len(es.Endpoints) != len(tests) {
		t.Fatalf("slice = %+v", es)
	}
	for i, tt := range tests {
		e := es.Endpoints[i]
		c := e.Conditions
		if e.Addresses[0] != tt.ip || *c.Ready != tt.ready || *c.Serving != tt.serving || *c.Terminating != tt.terminating {
			t.Errorf("endpoint %d = %v ready=%v serving=%v terminating=%v, want %+v", i, e.Addresses, *c.Ready, *c.Serving, *c.Terminating, tt)
		}
	}

	opts.ResourceVersion = list.ResourceVersion
	w, err := slices.Watch(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.SetPods("ns", "other", 8081, k8stest.Pod{IP: "10.0.0.9"}) // another Service: not seen
	s.SetPods("ns", "cache", 8081, k8stest.Pod{IP: "10.0.0.4"})
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*discoveryv1.EndpointSlice)
		if ev.Type != watch.Modified || !ok || got.Endpoints[0].Addresses[0] != "10.0.0.4" {
			t.Errorf("watch event %v %+v, want MODIFIED with 10.0.0.4", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10 s")
	}
}

// TestServerRefusesOtherRequests: paths other than a namespace's EndpointSlices are not
// found, and a watch from a malformed resourceVersion is a bad request.
func TestServerRefusesOtherRequests(t *testing.T) {
	s := k8stest.NewServer()
	t.Cleanup(s.Close)
	host := s.Config().Host
	tests := []struct {
		path string
		want int
	}{
		{"/api/v1/namespaces/ns/pods", http.StatusNotFound},
		{"/apis/discovery.k8s.io/v1/endpointslices", http.StatusNotFound},
		{"/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices?watch=true&resourceVersion=x", http.StatusBadRequest},
		{"/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices", http.StatusOK},
	}
	for _, tt := range tests {
		resp, err := http.Get(host + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
}

// TestManagerFollowsTheServer: a PeersManager against the server knows the Service's
// ready pods, and follows SetPods.
func TestManagerFollowsTheServer(t *testing.T) {
	s := k8stest.NewServer()
	t.Cleanup(s.Close)
	port := freePort(t)
	s.SetPods("ns", "cache", port, k8stest.Pod{IP: "127.0.0.1"}, k8stest.Pod{IP: "127.0.0.2"})
	changed := make(chan []string, 10)
	m, err := k8s.NewPeersManager(context.Background(), s.Clientset(), "cache", "ns", port,
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), k8s.WithoutPeerPickerRegistration(),
		k8s.WithPeersChanged(func(peers []string) { changed <- peers }), k8s.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	self, other := net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), net.JoinHostPort("127.0.0.2", strconv.Itoa(port))
	if got := m.Peers(); !slices.Equal(got, []string{self, other}) {
		t.Fatalf("Peers = %v, want [%s %s]", got, self, other)
	}
	s.SetPods("ns", "cache", port, k8stest.Pod{IP: "127.0.0.1"}, k8stest.Pod{IP: "127.0.0.2", Terminating: true})
	for {
		select {
		case peers := <-changed:
			if slices.Equal(peers, []string{self}) {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the manager did not follow SetPods within 10 s; Peers = %v", m.Peers())
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 and 127.0.0.2 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		lis.Close()
		if other, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port))); err == nil {
			other.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
