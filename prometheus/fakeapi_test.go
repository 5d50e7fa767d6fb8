package prometheus

// The API server of the tests: the shared fake (internal/fakeapi) with the EndpointSlice
// of one Service, one LIST answer and a WATCH that stays open and sends what the test
// hands it.

import (
	"slices"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	testNamespace = "shop"
	testService   = "cache"
)

// stuck is how long a test waits for something that happens at once, before it fails
// saying what did not happen (rather than hanging until go test's timeout).
const stuck = 10 * time.Second

// serviceAPI is a fake API server whose LIST answers the slices it was made with, at
// resourceVersion 1, and whose first WATCH stays open and sends what send hands it.
type serviceAPI struct {
	*fakeapi.Server
	t    *testing.T
	live chan string
}

// newServiceAPI starts a serviceAPI; the test's cleanup stops it.
func newServiceAPI(t *testing.T, items ...*discoveryv1.EndpointSlice) *serviceAPI {
	live := make(chan string)
	return &serviceAPI{Server: fakeapi.Start(t, testNamespace, fakeapi.Listing(1, items...).WithLive(live)), t: t, live: live}
}

// send sends a watch event of typ for s at resourceVersion rv through the open watch,
// waiting until the watch takes it.
func (a *serviceAPI) send(typ watch.EventType, rv int, s *discoveryv1.EndpointSlice) {
	a.t.Helper()
	select {
	case a.live <- fakeapi.EventFrame(typ, rv, s):
	case <-time.After(stuck):
		a.t.Fatalf("no watch took the event within %v", stuck)
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
