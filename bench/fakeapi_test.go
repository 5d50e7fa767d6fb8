package bench

// A minimal stand-in for kube-apiserver, enough to drive a real k8s.PeersManager: it
// answers the EndpointSlice LIST of one Service from a fixed set of endpoints, and holds
// every WATCH open, sending only the frames the benchmark pushes (membership changes).
// It is not a test of the watcher (the root's tests do that); it only lets the
// benchmarks build the manager's ring the way a pod does, through the public API.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	k8s "github.com/groupcache-k8s/k8s"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	benchNamespace = "bench"
	benchService   = "cache"
	// endpointsPerSlice is what the EndpointSlice controller puts in one slice by default.
	endpointsPerSlice = 100
)

// fakeAPI serves one Service's EndpointSlices. The LIST is fixed at creation; watches
// stay open and receive the frames given to push.
type fakeAPI struct {
	srv    *httptest.Server
	list   []byte
	frames chan []byte
	closed chan struct{}
	once   sync.Once
}

// newFakeAPI serves a LIST of the given endpoint IPs (all ready), split into slices of
// endpointsPerSlice as the EndpointSlice controller does.
func newFakeAPI(ips []string) (*fakeAPI, error) { return newFakeAPIOf(endpointSlices(ips, "1")) }

// newFakeAPIOf serves a LIST of the given slices.
func newFakeAPIOf(items []discoveryv1.EndpointSlice) (*fakeAPI, error) {
	list, err := json.Marshal(&discoveryv1.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "1"},
		Items:    items,
	})
	if err != nil {
		return nil, err
	}
	f := &fakeAPI{list: list, frames: make(chan []byte), closed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f, nil
}

// endpointSlices splits ips into slices named cache-0, cache-1, ...
func endpointSlices(ips []string, resourceVersion string) []discoveryv1.EndpointSlice {
	var out []discoveryv1.EndpointSlice
	for i := 0; i < len(ips); i += endpointsPerSlice {
		out = append(out, endpointSlice(i/endpointsPerSlice, ips[i:min(i+endpointsPerSlice, len(ips))], resourceVersion))
	}
	return out
}

func endpointSlice(index int, ips []string, resourceVersion string) discoveryv1.EndpointSlice {
	ready := true
	s := discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSlice", APIVersion: "discovery.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            benchService + "-" + strconv.Itoa(index),
			Namespace:       benchNamespace,
			ResourceVersion: resourceVersion,
			Labels:          map[string]string{discoveryv1.LabelServiceName: benchService},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		})
	}
	return s
}

// withNotReady returns s with the endpoint of ip listed but not ready, as the
// EndpointSlice controller lists a pod whose readiness probe has not passed yet.
func withNotReady(s discoveryv1.EndpointSlice, ip string) discoveryv1.EndpointSlice {
	no := false
	s.Endpoints = slices.Clone(s.Endpoints)
	for i, e := range s.Endpoints {
		if slices.Contains(e.Addresses, ip) {
			s.Endpoints[i].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &no, Terminating: &no}
		}
	}
	return s
}

// modifiedFrame is the watch frame that replaces slice index with one holding ips.
func modifiedFrame(index int, ips []string, resourceVersion int) ([]byte, error) {
	obj, err := json.Marshal(endpointSlice(index, ips, strconv.Itoa(resourceVersion)))
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"type":"MODIFIED","object":%s}`+"\n", obj), nil
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/"+benchNamespace+"/endpointslices" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("watch") != "true" {
		w.Write(f.list)
		return
	}
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case frame := <-f.frames:
			w.Write(frame)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		case <-f.closed:
			return
		}
	}
}

// push sends one frame to the open watch. It waits until a watch takes it.
func (f *fakeAPI) push(ctx context.Context, frame []byte) error {
	select {
	case f.frames <- frame:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clientset is a real clientset pointed at the fake server.
func (f *fakeAPI) clientset() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(&rest.Config{Host: f.srv.URL, QPS: -1})
}

// Close ends open watches and stops the server. Close the managers that use it first.
func (f *fakeAPI) Close() {
	f.once.Do(func() {
		close(f.closed)
		f.srv.Close()
	})
}

// benchManager is a PeersManager of a Service whose endpoints are ips (self among them
// or not), together with the fake API server it watches.
type benchManager struct {
	*k8s.PeersManager
	api *fakeAPI
}

// benchWatchOptions are the options of every watcher of a fake API server, followed by
// opts: the watch idle timeout is raised so that a quiet benchmark never sees a watch
// restart.
func benchWatchOptions(opts ...k8s.Option) []k8s.Option {
	return append([]k8s.Option{k8s.WithWatchIdleTimeout(time.Hour), k8s.WithStartupTimeout(10 * time.Second)}, opts...)
}

// newBenchManager starts a manager for self ("ip:port") and the Service endpoints ips,
// all on port, with benchWatchOptions(opts...).
func newBenchManager(ips []string, port int, self string, opts ...k8s.Option) (*benchManager, error) {
	return newBenchManagerOf(endpointSlices(ips, "1"), port, self, opts...)
}

// newBenchManagerOf is newBenchManager for a Service whose EndpointSlices are items.
func newBenchManagerOf(items []discoveryv1.EndpointSlice, port int, self string, opts ...k8s.Option) (*benchManager, error) {
	api, err := newFakeAPIOf(items)
	if err != nil {
		return nil, err
	}
	cs, err := api.clientset()
	if err != nil {
		api.Close()
		return nil, err
	}
	m, err := k8s.NewPeersManager(context.Background(), cs, benchService, benchNamespace, port, self, benchWatchOptions(opts...)...)
	if err != nil {
		api.Close()
		return nil, err
	}
	return &benchManager{PeersManager: m, api: api}, nil
}

// Close stops the manager, then the fake API server.
func (b *benchManager) Close() error {
	err := b.PeersManager.Close()
	b.api.Close()
	return err
}
