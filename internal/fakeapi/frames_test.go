package fakeapi

import (
	"strconv"
	"testing"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// testSlice is a slice of the Service cache listing addrs, each ready.
func testSlice(name string, addrs ...string) *discoveryv1.EndpointSlice {
	ready := true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "cache"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

// TestListFrame: a real clientset decodes a LIST frame into the slices it was made of,
// in order, at its resourceVersion.
func TestListFrame(t *testing.T) {
	api := Start(t, ns, &Stream{Lists: []Answer{{Status: 200, Frames: []string{
		ListFrame(42, testSlice("a", "10.0.0.1"), testSlice("b", "10.0.0.2", "10.0.0.3")),
	}}}})
	list, err := api.Clientset().DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion != "42" || len(list.Items) != 2 || list.Items[0].Name != "a" || list.Items[1].Name != "b" ||
		len(list.Items[1].Endpoints) != 2 || list.Items[1].Endpoints[1].Addresses[0] != "10.0.0.3" {
		t.Errorf("LIST = %+v; want slices a (10.0.0.1) and b (10.0.0.2, 10.0.0.3) at resourceVersion 42", list)
	}
}

// TestEventFrame: a real clientset decodes each event frame as an event of its type,
// carrying the slice at the frame's resourceVersion; the slice handed in is not changed.
func TestEventFrame(t *testing.T) {
	leakcheck.Check(t)
	s := testSlice("a", "10.0.0.1")
	s.ResourceVersion = "1"
	types := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
	var frames []string
	for i, typ := range types {
		frames = append(frames, EventFrame(typ, 10+i, s))
	}
	api := Start(t, ns, &Stream{Watches: []Answer{{Status: 200, Frames: frames}}})
	w, err := api.Clientset().DiscoveryV1().EndpointSlices(ns).Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i, typ := range types {
		ev, _ := next(t, w)
		got, ok := ev.Object.(*discoveryv1.EndpointSlice)
		if ev.Type != typ || !ok || got.Name != "a" || got.ResourceVersion != strconv.Itoa(10+i) || len(got.Endpoints) != 1 {
			t.Errorf("event %d = %s %+v; want %s of slice a at resourceVersion %d", i, ev.Type, ev.Object, typ, 10+i)
		}
	}
	if s.ResourceVersion != "1" || s.Kind != "" {
		t.Errorf("EventFrame changed the slice handed in: resourceVersion %q, kind %q", s.ResourceVersion, s.Kind)
	}
}
