package testbed

import (
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestReadyAddresses(t *testing.T) {
	yes, no := true, false
	ep := func(ready *bool, addrs ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	for _, tc := range []struct {
		name      string
		endpoints []discoveryv1.Endpoint
		want      []string
	}{
		{"no endpoints", nil, nil},
		{"ready", []discoveryv1.Endpoint{ep(&yes, "192.0.2.10"), ep(&yes, "192.0.2.11")}, []string{"192.0.2.10", "192.0.2.11"}},
		{"not ready left out", []discoveryv1.Endpoint{ep(&no, "192.0.2.10"), ep(&yes, "192.0.2.11")}, []string{"192.0.2.11"}},
		{"no ready condition means ready", []discoveryv1.Endpoint{ep(nil, "192.0.2.10")}, []string{"192.0.2.10"}},
		{"the first address of an endpoint", []discoveryv1.Endpoint{ep(&yes, "192.0.2.10", "192.0.2.99")}, []string{"192.0.2.10"}},
		{"an endpoint without addresses left out", []discoveryv1.Endpoint{ep(&yes)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readyAddresses(&discoveryv1.EndpointSlice{Endpoints: tc.endpoints})
			if !slices.Equal(got, tc.want) {
				t.Errorf("readyAddresses = %v, want %v", got, tc.want)
			}
		})
	}
}
