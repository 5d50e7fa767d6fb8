package k8s

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func slice(name string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: testService}},
		AddressType: family,
		Endpoints:   eps,
	}
}

func endpoint(addr string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

var yes, no = new(bool), new(bool)

func init() { *yes = true }

func TestPeerSetIDs(t *testing.T) {
	v4 := discoveryv1.AddressTypeIPv4
	cases := []struct {
		name   string
		self   string
		slices []*discoveryv1.EndpointSlice
		want   []string
	}{
		{"no slices: self alone", "10.0.0.1:80", nil, []string{"10.0.0.1:80"}},
		{"ready unset is ready", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.2", nil, nil))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"ready=false is not", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.2", no, nil))},
			[]string{"10.0.0.1:80"}},
		{"publishNotReadyAddresses: ready and terminating is not", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.2", yes, yes))},
			[]string{"10.0.0.1:80"}},
		{"duplicate with conflicting conditions: ready wins", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.2", no, nil)), slice("b", v4, endpoint("10.0.0.2", yes, no))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"slice deleted but endpoint in another slice stays", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("b", v4, endpoint("10.0.0.2", yes, no))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"self terminating drains", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.1", no, yes), endpoint("10.0.0.2", nil, nil))},
			[]string{"10.0.0.2:80"}},
		{"self terminating and alone: empty ring", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.1", no, yes))},
			[]string{}},
		{"self not ready stays", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.1", no, no))},
			[]string{"10.0.0.1:80"}},
		{"IPv6 self ignores IPv4 slices", "[fd00::1]:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.2", nil, nil)),
				slice("b", discoveryv1.AddressTypeIPv6, endpoint("fd00:0::2", nil, nil))},
			[]string{"[fd00::1]:80", "[fd00::2]:80"}},
		{"FQDN slices ignored", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", discoveryv1.AddressTypeFQDN, endpoint("cache.example.com", nil, nil))},
			[]string{"10.0.0.1:80"}},
		{"bad addresses skipped", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{slice("a", v4, endpoint("10.0.0.300", nil, nil), endpoint("", nil, nil),
				discoveryv1.Endpoint{}, endpoint("fe80::1%eth0", nil, nil))},
			[]string{"10.0.0.1:80"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			self, err := parseSelf(tc.self)
			if err != nil {
				t.Fatal(err)
			}
			all := map[string]*discoveryv1.EndpointSlice{}
			for _, s := range tc.slices {
				all[s.Name] = s
			}
			if got := newPeerSet(testService, self).ids(all); !slices.Equal(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPeerSetOrderIndependent: the same slices, in any order and split any way,
// give the same ids; an endpoint moving between slices in either order of updates
// is a member in every intermediate state that lists it anywhere as ready.
func TestPeerSetOrderIndependent(t *testing.T) {
	self := netip.MustParseAddrPort("10.0.0.1:80")
	p := newPeerSet(testService, self)
	rng := rand.New(rand.NewPCG(1, 2))
	var eps []discoveryv1.Endpoint
	for i := 2; i < 252; i++ {
		ready := []*bool{yes, no, nil}[i%3]
		eps = append(eps, endpoint(netip.AddrFrom4([4]byte{10, 0, byte(i / 200), byte(i)}).String(), ready, nil))
	}
	var want []string
	for trial := 0; trial < 1000; trial++ {
		shuffled := slices.Clone(eps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		all := map[string]*discoveryv1.EndpointSlice{}
		for i := 0; i < len(shuffled); i += 100 {
			name := string(rune('a' + i/100))
			all[name] = slice(name, discoveryv1.AddressTypeIPv4, shuffled[i:min(i+100, len(shuffled))]...)
		}
		// A duplicate of a random endpoint, not ready, in an extra slice.
		dup := shuffled[rng.IntN(len(shuffled))]
		all["dup"] = slice("dup", discoveryv1.AddressTypeIPv4, endpoint(dup.Addresses[0], no, nil))
		got := p.ids(all)
		if trial == 0 {
			want = got
			if len(want) != 1+167 { // self + two in three ready (true or unset)
				t.Fatalf("got %d ids, want 168", len(want))
			}
		} else if !slices.Equal(got, want) {
			t.Fatalf("trial %d: ids depend on order", trial)
		}
	}

	moving := endpoint("10.0.0.9", yes, nil)
	a, b := slice("a", discoveryv1.AddressTypeIPv4, moving), slice("b", discoveryv1.AddressTypeIPv4)
	bWith := slice("b", discoveryv1.AddressTypeIPv4, moving)
	aWithout := slice("a", discoveryv1.AddressTypeIPv4)
	for _, state := range []map[string]*discoveryv1.EndpointSlice{
		{"a": a, "b": b}, {"a": a, "b": bWith}, {"a": aWithout, "b": bWith},
	} {
		if !slices.Contains(p.ids(state), "10.0.0.9:80") {
			t.Fatalf("moving endpoint dropped out in state %v", state)
		}
	}
}

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
		if ev.slice == nil || ev.kind != eventBookmark && ev.slice.Name == "" {
			t.Fatalf("accepted %q without a named slice", frame)
		}
		ids := p.ids(map[string]*discoveryv1.EndpointSlice{ev.slice.Name: ev.slice})
		if !slices.IsSorted(ids) {
			t.Fatalf("ids not sorted: %v", ids)
		}
	})
}

// TestTrimSlice: a slice as the real API server sends it (recorded, with managed fields,
// owner and target references) is trimmed to what peerSet reads, and gives the same peers.
func TestTrimSlice(t *testing.T) {
	stream := loadStream(t, "real_dual_stack")
	var list discoveryv1.EndpointSliceList
	if err := json.Unmarshal([]byte(stream.lists[0].frames[0]), &list); err != nil {
		t.Fatal(err)
	}
	full, trimmed := map[string]*discoveryv1.EndpointSlice{}, map[string]*discoveryv1.EndpointSlice{}
	for i := range list.Items {
		s := &list.Items[i]
		if len(s.ManagedFields) == 0 || len(s.OwnerReferences) == 0 || s.Endpoints[0].TargetRef == nil {
			t.Fatalf("the recorded slice %s lacks the fields this test expects to be dropped", s.Name)
		}
		full[s.Name], trimmed[s.Name] = s, trimSlice(s)
		tr := trimmed[s.Name]
		if tr.Name != s.Name || tr.AddressType != s.AddressType || len(tr.Labels) != 1 ||
			len(tr.ManagedFields) != 0 || len(tr.OwnerReferences) != 0 || tr.Endpoints[0].TargetRef != nil ||
			len(tr.Ports) != 0 || tr.Endpoints[0].NodeName != nil {
			t.Errorf("trimSlice(%s) = %+v", s.Name, tr)
		}
	}
	for _, self := range []string{"10.0.0.1:8080", "[fd00::2]:8080"} {
		ap := netip.MustParseAddrPort(self)
		p := newPeerSet("cache", ap)
		if got, want := p.ids(trimmed), p.ids(full); !slices.Equal(got, want) || len(got) != 2 {
			t.Errorf("self %s: peers from trimmed slices %v, from full slices %v", self, got, want)
		}
	}
}
