package k8s

// Tests of the wire: decoding watch events and compacting slices.

import (
	"encoding/json"
	"net/netip"
	"slices"
	"testing"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// FuzzDecodeEvent feeds arbitrary frames through the event decoding path and the
// peer computation: no panic, and an accepted upsert always names its slice.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"ADDED","object":{"kind":"EndpointSlice","metadata":{"name":"a","resourceVersion":"5","labels":{"kubernetes.io/service-name":"cache"}},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.2"],"conditions":{"ready":true}}]}}`,
		`{"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"12"}}}`,
		`{"type":"ERROR","object":{"kind":"Status","status":"Failure","code":410,"reason":"Expired"}}`,
		`{"type":"DELETED","object":{"metadata":{"name":"a"}}}`,
		`{"type":"MODIFIED","object":{"endpoints":null,"metadata":{"name":"b"}}}`,
		`{"type":"ADDED","object":"nope"}`,
	} {
		f.Add([]byte(s))
	}
	p := newPeerSet(testService, netip.MustParseAddrPort("10.0.0.1:80"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var raw rawEvent
		if json.Unmarshal(frame, &raw) != nil {
			return
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if ev.slice == nil || ev.kind != eventBookmark && ev.slice.name == "" {
			t.Fatalf("accepted %q without a named slice", frame)
		}
		ids := p.ids(map[string]*slice{ev.slice.name: ev.slice})
		if !slices.IsSorted(ids) {
			t.Fatalf("ids not sorted: %v", ids)
		}
	})
}

// TestCompactSlice: slices as the real API server sends them (recorded, with managed
// fields, owner and target references) keep only what peerSet reads, and give the peers
// of either address family.
func TestCompactSlice(t *testing.T) {
	stream := fakeapi.Load(t, "real_dual_stack")
	var list wireList
	if err := json.Unmarshal([]byte(stream.Lists[0].Frames[0]), &list); err != nil {
		t.Fatal(err)
	}
	all := map[string]*slice{}
	families := map[discoveryv1.AddressType][]netip.Addr{}
	for i := range list.Items {
		s := list.Items[i].compact()
		if s.name == "" || s.resourceVersion == "" || s.service != "cache" || len(s.endpoints) != 2 {
			t.Fatalf("compact slice %+v", s)
		}
		for _, e := range s.endpoints {
			if !e.usable() {
				t.Errorf("slice %s: endpoint %v not usable", s.name, e.addr)
			}
			families[s.family] = append(families[s.family], e.addr)
		}
		all[s.name] = s
	}
	if len(families[discoveryv1.AddressTypeIPv4]) != 2 || len(families[discoveryv1.AddressTypeIPv6]) != 2 {
		t.Errorf("addresses by family: %v", families)
	}
	for self, want := range map[string][]string{
		"10.0.0.1:8080":  {"10.0.0.1:8080", "10.0.0.2:8080"},
		"[fd00::2]:8080": {"[fd00::1]:8080", "[fd00::2]:8080"},
	} {
		if got := newPeerSet("cache", netip.MustParseAddrPort(self)).ids(all); !slices.Equal(got, want) {
			t.Errorf("self %s: peers %v, want %v", self, got, want)
		}
	}
}
