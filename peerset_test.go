package k8s

// Tests of the peer set: members, order independence, IPv6, the family warning, and one
// pod's readiness flip and graceful delete followed through a manager.

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

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
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.2", nil, nil))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"ready=false is not", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.2", no, nil))},
			[]string{"10.0.0.1:80"}},
		{"publishNotReadyAddresses: ready and terminating is not", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.2", yes, yes))},
			[]string{"10.0.0.1:80"}},
		{"duplicate with conflicting conditions: ready wins", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.2", no, nil)), apiSlice("b", v4, apiEndpoint("10.0.0.2", yes, no))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"slice deleted but endpoint in another slice stays", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("b", v4, apiEndpoint("10.0.0.2", yes, no))},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"self terminating drains", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.1", no, yes), apiEndpoint("10.0.0.2", nil, nil))},
			[]string{"10.0.0.2:80"}},
		{"self terminating and alone: empty ring", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.1", no, yes))},
			[]string{}},
		{"self not ready stays", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.1", no, no))},
			[]string{"10.0.0.1:80"}},
		{"IPv6 self ignores IPv4 slices", "[fd00::1]:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.2", nil, nil)),
				apiSlice("b", discoveryv1.AddressTypeIPv6, apiEndpoint("fd00:0::2", nil, nil))},
			[]string{"[fd00::1]:80", "[fd00::2]:80"}},
		{"IPv6: non-canonical addresses give canonical ids, zoned ones are skipped", "[fd00::1]:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", discoveryv1.AddressTypeIPv6,
				apiEndpoint("FD00:0000:0000::0002", nil, nil), apiEndpoint("fd00:0:0:0:0:0:0:3", nil, nil),
				apiEndpoint("fd00::4%eth0", nil, nil), apiEndpoint("fe80::5%2", nil, nil))},
			[]string{"[fd00::1]:80", "[fd00::2]:80", "[fd00::3]:80"}},
		{"IPv6: self listed in another form is still self, and drains when terminating", "[fd00::1]:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", discoveryv1.AddressTypeIPv6,
				apiEndpoint("FD00:0:0::1", no, yes), apiEndpoint("fd00::2", nil, nil))},
			[]string{"[fd00::2]:80"}},
		{"FQDN slices ignored", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", discoveryv1.AddressTypeFQDN, apiEndpoint("cache.example.com", nil, nil))},
			[]string{"10.0.0.1:80"}},
		{"bad addresses skipped", "10.0.0.1:80",
			[]*discoveryv1.EndpointSlice{apiSlice("a", v4, apiEndpoint("10.0.0.300", nil, nil), apiEndpoint("", nil, nil),
				discoveryv1.Endpoint{}, apiEndpoint("fe80::1%eth0", nil, nil))},
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
			if got := newPeerSet(testService, self).ids(compacted(t, all)); !slices.Equal(got, tc.want) {
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
		eps = append(eps, apiEndpoint(netip.AddrFrom4([4]byte{10, 0, byte(i / 200), byte(i)}).String(), ready, nil))
	}
	var want []string
	for trial := 0; trial < 1000; trial++ {
		shuffled := slices.Clone(eps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		all := map[string]*discoveryv1.EndpointSlice{}
		for i := 0; i < len(shuffled); i += 100 {
			name := string(rune('a' + i/100))
			all[name] = apiSlice(name, discoveryv1.AddressTypeIPv4, shuffled[i:min(i+100, len(shuffled))]...)
		}
		// A duplicate of a random endpoint, not ready, in an extra slice.
		dup := shuffled[rng.IntN(len(shuffled))]
		all["dup"] = apiSlice("dup", discoveryv1.AddressTypeIPv4, apiEndpoint(dup.Addresses[0], no, nil))
		got := p.ids(compacted(t, all))
		if trial == 0 {
			want = got
			if len(want) != 1+167 { // self + two in three ready (true or unset)
				t.Fatalf("got %d ids, want 168", len(want))
			}
		} else if !slices.Equal(got, want) {
			t.Fatalf("trial %d: ids depend on order", trial)
		}
	}

	moving := apiEndpoint("10.0.0.9", yes, nil)
	a, b := apiSlice("a", discoveryv1.AddressTypeIPv4, moving), apiSlice("b", discoveryv1.AddressTypeIPv4)
	bWith := apiSlice("b", discoveryv1.AddressTypeIPv4, moving)
	aWithout := apiSlice("a", discoveryv1.AddressTypeIPv4)
	for _, state := range []map[string]*discoveryv1.EndpointSlice{
		{"a": a, "b": b}, {"a": a, "b": bWith}, {"a": aWithout, "b": bWith},
	} {
		if !slices.Contains(p.ids(compacted(t, state)), "10.0.0.9:80") {
			t.Fatalf("moving endpoint dropped out in state %v", state)
		}
	}
}

// TestFamilyMismatchWarning: on a dual-stack cluster, an IPv6-only Service and an IPv4 self
// (or the reverse) leave the pod alone in its ring. The peer set warns once when that
// starts, naming both families, and again only after it was resolved and came back.
func TestFamilyMismatchWarning(t *testing.T) {
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	onlyV6 := map[string]*discoveryv1.EndpointSlice{"a": apiSlice("a", v6, apiEndpoint("fd00::2", yes, no))}
	bothFamilies := map[string]*discoveryv1.EndpointSlice{
		"a": apiSlice("a", v6, apiEndpoint("fd00::2", yes, no)),
		"b": apiSlice("b", v4, apiEndpoint("10.0.0.2", yes, no)),
	}
	fqdnOnly := map[string]*discoveryv1.EndpointSlice{"c": apiSlice("c", discoveryv1.AddressTypeFQDN)}
	steps := []struct {
		name         string
		slices       map[string]*discoveryv1.EndpointSlice
		wantWarnings int // in all, so far
	}{
		{"no slices yet", nil, 0},
		{"only FQDN slices", fqdnOnly, 0},
		{"only IPv6 slices", onlyV6, 1},
		{"still only IPv6 slices", onlyV6, 1},
		{"an IPv4 slice appears", bothFamilies, 1},
		{"only IPv6 slices again", onlyV6, 2},
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p := newPeerSet(testService, netip.MustParseAddrPort("10.0.0.1:8080"))
	for _, step := range steps {
		p.warnFamilyMismatch(compacted(t, step.slices), logger)
		text := logs.String()
		if got := strings.Count(text, "level=WARN"); got != step.wantWarnings {
			t.Fatalf("%s: %d warnings, want %d:\n%s", step.name, got, step.wantWarnings, text)
		}
	}
	for _, want := range []string{"all IPv6", "address is IPv4", "status.podIPs", "ipFamilyPolicy"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the warning does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestReadinessAndGracefulDelete follows one pod through a readiness flip and a
// graceful delete, one event at a time: it leaves the ring when it turns not ready,
// comes back when ready again, and leaves at the first terminating update, before its
// endpoint is removed.
func TestReadinessAndGracefulDelete(t *testing.T) {
	live := make(chan string)
	r := make(rebuilds, 10)
	startManager(t, &streamFile{
		lists:   []answer{{status: 200, frames: []string{listFrame(t, 10, readySlice("x", "10.0.0.1", "10.0.0.2", "10.0.0.3"))}}},
		watches: []answer{{status: 200, live: live}},
	}, "10.0.0.1:8080", r.option())
	r.next(t)
	ready, notReady := apiEndpoint("10.0.0.3", yes, no), apiEndpoint("10.0.0.3", no, no)
	terminating := discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"},
		Conditions: discoveryv1.EndpointConditions{Ready: no, Serving: yes, Terminating: yes}}
	others := []discoveryv1.Endpoint{apiEndpoint("10.0.0.1", yes, no), apiEndpoint("10.0.0.2", yes, no)}
	steps := []struct {
		name string
		eps  []discoveryv1.Endpoint
		want []string
	}{
		{"readiness probe fails", append(slices.Clone(others), notReady), []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{"readiness probe passes", append(slices.Clone(others), ready), []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}},
		{"pod deleted: terminating", append(slices.Clone(others), terminating), []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
	}
	for i, step := range steps {
		live <- eventFrame(t, "MODIFIED", 11+i, apiSlice("x", discoveryv1.AddressTypeIPv4, step.eps...))
		if got := r.next(t); !slices.Equal(got, step.want) {
			t.Fatalf("%s: ring %v, want %v", step.name, got, step.want)
		}
	}
	// The endpoint finally goes: the ring is already right, so nothing is rebuilt.
	live <- eventFrame(t, "MODIFIED", 20, apiSlice("x", discoveryv1.AddressTypeIPv4, others...))
	live <- eventFrame(t, "MODIFIED", 21, apiSlice("x", discoveryv1.AddressTypeIPv4, append(slices.Clone(others), ready)...))
	if got := r.next(t); !slices.Equal(got, []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}) {
		t.Fatalf("ring after the endpoint was removed and re-added: %v (an extra rebuild for the removal?)", got)
	}
}
