package k8s

// EndpointSlices of the test Service made in code, for the fake API server
// (internal/fakeapi) to send, and what the watcher keeps of them.

import (
	"encoding/json"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readySlice is the IPv4 slice name of the test Service listing addrs, each ready.
func readySlice(name string, addrs ...string) *discoveryv1.EndpointSlice {
	var eps []discoveryv1.Endpoint
	for _, a := range addrs {
		eps = append(eps, apiEndpoint(a, yes, no))
	}
	return apiSlice(name, discoveryv1.AddressTypeIPv4, eps...)
}

// apiSlice is the slice name of the test Service of family with eps.
func apiSlice(name string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: testService}},
		AddressType: family,
		Endpoints:   eps,
	}
}

// apiEndpoint is an endpoint of addr with the given conditions (nil: unset).
func apiEndpoint(addr string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

// compacted is what the watcher keeps of the given API slices: each goes through the same
// JSON decoding as a watch event.
func compacted(t testing.TB, all map[string]*discoveryv1.EndpointSlice) map[string]*slice {
	out := make(map[string]*slice, len(all))
	for name, s := range all {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var w wireSlice
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatal(err)
		}
		out[name] = w.compact()
	}
	return out
}

var yes, no = new(bool), new(bool)

func init() { *yes = true }
