package testbed

import (
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"
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

// TestSliceMoves: an address listed by another slice than the one that listed it last is a
// move, whether the first slice dropped it before or after; new addresses, addresses that
// stay in their slice, and moves before from are not counted.
func TestSliceMoves(t *testing.T) {
	ev := func(slice string, addrs ...string) SliceEvent {
		return SliceEvent{Type: watch.Modified, Slice: slice, Ready: addrs}
	}
	for _, tc := range []struct {
		name   string
		events []SliceEvent
		from   int
		want   int
	}{
		{"no change", []SliceEvent{ev("a", "1", "2"), ev("a", "1", "2")}, 1, 0},
		{"a new address", []SliceEvent{ev("a", "1"), ev("b", "2")}, 1, 0},
		{"added to b, then dropped from a", []SliceEvent{ev("a", "1", "2"), ev("b", "2"), ev("a", "1")}, 1, 1},
		{"dropped from a, then added to b", []SliceEvent{ev("a", "1", "2"), ev("a", "1"), ev("b", "2")}, 1, 1},
		{"a move before from is not counted", []SliceEvent{ev("a", "1"), ev("b", "1"), ev("b", "1")}, 2, 0},
		{"not ready endpoints count too", []SliceEvent{ev("a", "1"), {Type: watch.Modified, Slice: "b", NotReady: []string{"1"}}}, 1, 1},
		{"a deleted slice moves nothing", []SliceEvent{ev("a", "1"), {Type: watch.Deleted, Slice: "b", Ready: []string{"1"}}}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SliceMoves(tc.events, tc.from); got != tc.want {
				t.Errorf("SliceMoves = %d; want %d", got, tc.want)
			}
		})
	}
}
