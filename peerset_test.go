package k8s

// Tests of the peer set: members, order independence, IPv6, the family warning, and one
// pod's readiness flip and graceful delete followed through a manager.

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
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
	startManager(t, fakeapi.Listing(10, readySlice("x", "10.0.0.1", "10.0.0.2", "10.0.0.3")).WithLive(live),
		"10.0.0.1:8080", r.option())
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
		live <- fakeapi.EventFrame("MODIFIED", 11+i, apiSlice("x", discoveryv1.AddressTypeIPv4, step.eps...))
		if got := r.next(t); !slices.Equal(got, step.want) {
			t.Fatalf("%s: ring %v, want %v", step.name, got, step.want)
		}
	}
	// The endpoint finally goes: the ring is already right, so nothing is rebuilt.
	live <- fakeapi.EventFrame("MODIFIED", 20, apiSlice("x", discoveryv1.AddressTypeIPv4, others...))
	live <- fakeapi.EventFrame("MODIFIED", 21, apiSlice("x", discoveryv1.AddressTypeIPv4, append(slices.Clone(others), ready)...))
	if got := r.next(t); !slices.Equal(got, []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}) {
		t.Fatalf("ring after the endpoint was removed and re-added: %v (an extra rebuild for the removal?)", got)
	}
}

// TestPeerSetView: which endpoints are members and which are leaving, by their ready,
// serving and terminating conditions, as the EndpointSlice controller writes them for
// Services with and without publishNotReadyAddresses, and for clusters that predate
// serving. Self is in the first address; the peer is 10.0.0.2.
func TestPeerSetView(t *testing.T) {
	v4 := discoveryv1.AddressTypeIPv4
	peer := func(ready, serving, terminating *bool) discoveryv1.Endpoint {
		e := apiEndpoint("10.0.0.2", ready, terminating)
		e.Conditions.Serving = serving
		return e
	}
	cases := []struct {
		name      string
		self      discoveryv1.Endpoint
		peer      discoveryv1.Endpoint
		members   []string
		leaving   []string
		selfReady bool
	}{
		{"ready, serving", apiEndpoint("10.0.0.1", yes, no), peer(yes, yes, no),
			[]string{"10.0.0.1:80", "10.0.0.2:80"}, nil, true},
		{"not ready, not serving", apiEndpoint("10.0.0.1", yes, no), peer(no, no, no),
			[]string{"10.0.0.1:80"}, nil, true},
		{"publishNotReadyAddresses: ready but not serving is not a member", apiEndpoint("10.0.0.1", yes, no),
			peer(yes, no, no), []string{"10.0.0.1:80"}, nil, true},
		{"terminating and serving is leaving", apiEndpoint("10.0.0.1", yes, no), peer(no, yes, yes),
			[]string{"10.0.0.1:80"}, []string{"10.0.0.2:80"}, true},
		{"publishNotReadyAddresses: terminating, ready and serving is leaving", apiEndpoint("10.0.0.1", yes, no),
			peer(yes, yes, yes), []string{"10.0.0.1:80"}, []string{"10.0.0.2:80"}, true},
		{"terminating and not serving is gone", apiEndpoint("10.0.0.1", yes, no), peer(no, no, yes),
			[]string{"10.0.0.1:80"}, nil, true},
		{"publishNotReadyAddresses: terminating, ready, not serving is gone", apiEndpoint("10.0.0.1", yes, no),
			peer(yes, no, yes), []string{"10.0.0.1:80"}, nil, true},
		{"no serving (old cluster): ready decides", apiEndpoint("10.0.0.1", yes, no), peer(yes, nil, no),
			[]string{"10.0.0.1:80", "10.0.0.2:80"}, nil, true},
		{"no serving (old cluster): terminating and not ready is gone", apiEndpoint("10.0.0.1", yes, no),
			peer(no, nil, yes), []string{"10.0.0.1:80"}, nil, true},
		{"no conditions at all: a member", apiEndpoint("10.0.0.1", yes, no), peer(nil, nil, nil),
			[]string{"10.0.0.1:80", "10.0.0.2:80"}, nil, true},
		{"self not serving: a member of its own ring, not ready for the others",
			func() discoveryv1.Endpoint {
				e := apiEndpoint("10.0.0.1", yes, no)
				e.Conditions.Serving = no
				return e
			}(),
			peer(yes, yes, no), []string{"10.0.0.1:80", "10.0.0.2:80"}, nil, false},
		{"self terminating and serving: drains, and is never its own leaving peer",
			func() discoveryv1.Endpoint {
				e := apiEndpoint("10.0.0.1", no, yes)
				e.Conditions.Serving = yes
				return e
			}(),
			peer(yes, yes, no), []string{"10.0.0.2:80"}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := map[string]*discoveryv1.EndpointSlice{"a": apiSlice("a", v4, tc.self, tc.peer)}
			got := newPeerSet(testService, netip.MustParseAddrPort("10.0.0.1:80")).view(compacted(t, all))
			want := view{members: tc.members, leaving: tc.leaving, selfReady: tc.selfReady}
			if !got.equal(want) || len(got.leaving) != len(tc.leaving) {
				t.Errorf("view = %+v, want %+v", got, want)
			}
		})
	}
}

// TestPublishNotReadyAddressesRecorded replays a real recording of a Service with
// publishNotReadyAddresses: true, where ready is true for every endpoint and serving
// tells the pods apart: c joins not ready, turns ready; b is deleted gracefully, turns
// not ready while terminating, and is removed. The watcher reports every change of the
// view, and only changes.
func TestPublishNotReadyAddressesRecorded(t *testing.T) {
	leakcheck.Check(t)
	stream := fakeapi.Load(t, "real_publish_not_ready")
	// One frame at a time: the watcher publishes once per batch of buffered events.
	frames, live := stream.Watches[0].Frames, make(chan string)
	stream.Watches[0].Frames, stream.Watches[0].Live = nil, live
	api := fakeapi.Start(t, testNamespace, stream)
	views := make(chan view, 10)
	cfg := newConfig([]Option{withClock(newFakeClock())})
	pw, err := newPeerWatcher(t.Context(), api.Clientset(), testService, testNamespace, 8080, "10.0.0.1:8080", cfg,
		&counters{}, func(v view) { views <- v })
	if err != nil {
		t.Fatal(err)
	}
	// Every batch the watcher applies is signalled, whether or not the view changed.
	applied, update := make(chan struct{}, 10), pw.watch.onChange
	pw.watch.onChange = func(all map[string]*slice) { update(all); applied <- struct{}{} }
	if err := pw.start(context.WithCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	a, b, c := "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"
	ab, ac, abc := []string{a, b}, []string{a, c}, []string{a, b, c}
	steps := []struct {
		what string
		want *view // nil: no change of the view
	}{
		{"the LIST: a and b ready and serving", &view{members: ab, selfReady: true}},
		{"c joins not ready: ready=true (published), serving=false", nil},
		{"c turns ready", &view{members: abc, selfReady: true}},
		{"b deleted gracefully: terminating, still serving", &view{members: ac, leaving: []string{b}, selfReady: true}},
		{"b not ready while terminating: serving=false", &view{members: ac, selfReady: true}},
		{"b removed", nil},
	}
	if len(frames) != len(steps)-1 {
		t.Fatalf("the recording has %d watch frames; the test expects %d", len(frames), len(steps)-1)
	}
	for i, step := range steps {
		if i > 0 {
			live <- frames[i-1]
		}
		select {
		case <-applied:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not applied within 10 s", step.what)
		}
		var got *view
		select {
		case v := <-views:
			got = &v
		default:
		}
		switch {
		case step.want == nil && got != nil:
			t.Fatalf("%s: view %+v reported; want no change", step.what, *got)
		case step.want != nil && (got == nil || !got.equal(*step.want)):
			t.Fatalf("%s: view = %+v, want %+v", step.what, got, *step.want)
		}
	}
	close(live)
}
