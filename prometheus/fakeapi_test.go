package prometheus

// A minimal fake API server: the EndpointSlices of one Service on the real REST path,
// one LIST answer and a WATCH that stays open and sends what the test hands it.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	testNamespace = "shop"
	testService   = "cache"
)

// stuck is how long a test waits for something that happens at once, before it fails
// saying what did not happen (rather than hanging until go test's timeout).
const stuck = 10 * time.Second

// fakeAPI answers GET /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices: a LIST
// with the slices it was made with, and a WATCH (?watch=true) held open until the
// request's context ends, which sends every frame given to send.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	list   []byte
	frames chan []byte

	watchOnce sync.Once
	watching  chan struct{} // closed when the first WATCH arrives
}

// newFakeAPI starts a fake API server whose LIST answers slices at resourceVersion 1;
// the test's cleanup stops it.
func newFakeAPI(t *testing.T, items ...*discoveryv1.EndpointSlice) *fakeAPI {
	list := discoveryv1.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "1"},
	}
	for _, s := range items {
		list.Items = append(list.Items, *s)
	}
	f := &fakeAPI{t: t, list: mustJSON(t, list), frames: make(chan []byte), watching: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// clientset returns a real clientset pointed at the fake server.
func (f *fakeAPI) clientset() kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: f.srv.URL})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/"+testNamespace+"/endpointslices" {
		f.t.Errorf("fake API server: unexpected request %s %s", r.Method, r.URL)
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
	f.watchOnce.Do(func() { close(f.watching) })
	for {
		select {
		case frame := <-f.frames:
			w.Write(append(frame, '\n'))
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// waitWatching waits until the client has opened its watch: from then on its LIST and
// WATCH requests are counted.
func (f *fakeAPI) waitWatching() {
	f.t.Helper()
	select {
	case <-f.watching:
	case <-time.After(stuck):
		f.t.Fatalf("the client opened no watch within %v", stuck)
	}
}

// send sends a watch event of typ ("ADDED", "MODIFIED", "DELETED") for s at
// resourceVersion rv through the open watch, waiting until the watch takes it.
func (f *fakeAPI) send(typ watch.EventType, rv int, s *discoveryv1.EndpointSlice) {
	f.t.Helper()
	s = s.DeepCopy()
	s.ResourceVersion = strconv.Itoa(rv)
	frame := mustJSON(f.t, map[string]any{"type": typ, "object": s})
	select {
	case f.frames <- frame:
	case <-time.After(stuck):
		f.t.Fatalf("no watch took the event within %v", stuck)
	}
}

// readySlice is the EndpointSlice of the test Service listing addrs, each ready.
func readySlice(addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSlice", APIVersion: "discovery.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: testService + "-x1", Namespace: testNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: testService}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	ready := true
	for _, a := range slices.Sorted(slices.Values(addrs)) {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

func mustJSON(t *testing.T, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFakeAPI: a real clientset LISTs the slices and receives a watch event; the watch
// ends when the client stops it.
func TestFakeAPI(t *testing.T) {
	leakcheck.Check(t)
	f := newFakeAPI(t, readySlice("127.0.0.1", "127.0.0.2"))
	client := f.clientset().DiscoveryV1().EndpointSlices(testNamespace)

	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Endpoints) != 2 || list.ResourceVersion != "1" {
		t.Fatalf("LIST = %+v; want one slice of two endpoints at resourceVersion 1", list)
	}

	w, err := client.Watch(t.Context(), metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	f.waitWatching()
	f.send(watch.Modified, 2, readySlice("127.0.0.1"))
	ev := <-w.ResultChan()
	s, ok := ev.Object.(*discoveryv1.EndpointSlice)
	if ev.Type != watch.Modified || !ok || len(s.Endpoints) != 1 || s.ResourceVersion != "2" {
		t.Fatalf("watch event = %s %+v; want MODIFIED of a slice of one endpoint at resourceVersion 2", ev.Type, ev.Object)
	}
}
