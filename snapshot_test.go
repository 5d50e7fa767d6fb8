package k8s

// Tests of the snapshot: PickPeer's contract on a snapshot, and reading snapshots while
// they are swapped.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	pb "github.com/golang/groupcache/groupcachepb"
)

// fakeGetter stands for the client of the peer id.
type fakeGetter struct{ id string }

func (fakeGetter) Get(context.Context, *pb.GetRequest, *pb.GetResponse) error { return nil }

// testSnapshot builds a snapshot over ids with self at members()[self] (-1: not a member),
// each peer with a liveness (none marked), as the router's.
func testSnapshot(t testing.TB, ids []string, self int) *snapshot {
	t.Helper()
	r := mustRing(t, ids)
	getters := make([]groupcache.ProtoGetter, len(r.members()))
	health := make([]*peerHealth, len(r.members()))
	for i, id := range r.members() {
		if i != self {
			getters[i], health[i] = fakeGetter{id}, &peerHealth{}
		}
	}
	return &snapshot{ring: r, self: self, getters: getters, health: health}
}

// TestPick checks PickPeer's contract on a real ring: the owner's getter and true for a
// remote owner, nil and false when self owns the key.
func TestPick(t *testing.T) {
	ids := testPeers(3, 4)
	keys := testKeys(3000)
	tests := []struct {
		name string
		self int
	}{
		{name: "self is first", self: 0},
		{name: "self is last", self: 2},
		{name: "self not a member", self: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSnapshot(t, ids, tt.self)
			local, remote := 0, 0
			for _, k := range keys {
				g, ok := s.pick(k)
				owner := s.ring.owner(k)
				switch {
				case ok && g == nil:
					t.Fatalf("pick(%q) = nil, true", k)
				case owner == tt.self:
					if ok || g != nil {
						t.Fatalf("pick(%q) = %v, %v; owner %d is self, want nil, false", k, g, ok, owner)
					}
					local++
				default:
					if !ok || g != (fakeGetter{ids[owner]}) {
						t.Fatalf("pick(%q) = %v, %v; want getter of %s, true", k, g, ok, ids[owner])
					}
					remote++
				}
			}
			if remote == 0 || (tt.self >= 0 && local == 0) {
				t.Errorf("%d keys local, %d remote: the test did not exercise both", local, remote)
			}
		})
	}
}

// TestPickWhileSwapping reads snapshots through an atomic.Pointer while another goroutine
// swaps them, as PickPeer does during membership changes. Run with -race.
func TestPickWhileSwapping(t *testing.T) {
	snaps := []*snapshot{
		{ring: mustRing(t, nil), self: -1},
		testSnapshot(t, testPeers(3, 1), 0),
		testSnapshot(t, testPeers(10, 1), -1),
		testSnapshot(t, testPeers(100, 1), 42),
	}
	var current atomic.Pointer[snapshot]
	current.Store(snaps[0])
	keys := testKeys(1024)

	var done atomic.Bool
	var wg sync.WaitGroup
	var picks, remote atomic.Int64
	for range 2 {
		wg.Go(func() {
			for i := 0; !done.Load() || i < 20000; i++ {
				s := current.Load()
				k := keys[i%len(keys)]
				g, ok := s.pick(k)
				if ok && (g == nil || g != s.getters[s.ring.owner(k)]) {
					t.Errorf("pick(%q) = %v, true; want the owner's getter", k, g)
					return
				}
				picks.Add(1)
				if ok {
					remote.Add(1)
				}
			}
		})
	}
	for i := range 2000 {
		current.Store(snaps[i%len(snaps)])
	}
	done.Store(true)
	wg.Wait()
	if picks.Load() < 40000 || remote.Load() == 0 {
		t.Errorf("%d picks, %d remote: readers did not run", picks.Load(), remote.Load())
	}
}

var benchSink atomic.Int64 // keeps results alive; atomic because RunParallel writes it

// The comparisons with groupcache's consistenthash and HTTPPool are in the bench module
// (bench/picker_test.go), under the same sub-benchmark names: N=<peers>/impl=<name>.

func BenchmarkPickPeer(b *testing.B) {
	keys := testKeys(1 << 16)
	for _, n := range pickerSizes {
		var current atomic.Pointer[snapshot]
		current.Store(testSnapshot(b, testPeers(n, 1), 0))
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			b.ReportAllocs()
			hits, i := 0, 0
			for b.Loop() {
				if _, ok := current.Load().pick(keys[i&(len(keys)-1)]); ok {
					hits++
				}
				i++
			}
			benchSink.Add(int64(hits))
		})
	}
}

func BenchmarkPickPeerParallel(b *testing.B) {
	keys := testKeys(1 << 16)
	for _, n := range pickerSizes {
		var current atomic.Pointer[snapshot]
		current.Store(testSnapshot(b, testPeers(n, 1), 0))
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				hits, i := 0, 0
				for pb.Next() {
					if _, ok := current.Load().pick(keys[i&(len(keys)-1)]); ok {
						hits++
					}
					i++
				}
				benchSink.Add(int64(hits))
			})
		})
	}
}

// TestPickRoutesPastPeersMarkedUnavailable: a key whose owner is marked unavailable goes
// to its owner in the ring without every member so marked (nil and false when that is
// this pod, or when no member is left); every other key keeps its owner.
func TestPickRoutesPastPeersMarkedUnavailable(t *testing.T) {
	ids := testPeers(5, 8)
	keys := testKeys(3000)
	tests := []struct {
		name   string
		self   int   // index in ids; -1: not a member
		marked []int // indexes in ids
	}{
		{name: "one peer marked", self: 0, marked: []int{2}},
		{name: "two peers marked", self: 0, marked: []int{1, 3}},
		{name: "every peer but self marked", self: 4, marked: []int{0, 1, 2, 3}},
		{name: "self not a member, one peer marked", self: -1, marked: []int{4}},
		{name: "self not a member, every peer marked", self: -1, marked: []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRing(t, ids)
			var rt router // its ring without the marked peers, built once (nil without: at each pick)
			s := &snapshot{ring: r, self: -1, getters: make([]groupcache.ProtoGetter, len(ids)),
				health: make([]*peerHealth, len(ids)), clients: map[string]peerGetter{}, without: rt.ringWithoutMarked}
			var gone []string
			for i, id := range r.members() {
				if tt.self >= 0 && id == ids[tt.self] {
					s.self = i
					continue
				}
				c := &fakePeeker{}
				s.clients[id], s.getters[i], s.health[i] = c, c, &peerHealth{}
				for _, m := range tt.marked {
					if ids[m] == id {
						s.health[i].unavailable.Store(true)
						gone = append(gone, id)
					}
				}
			}
			without := ringWithout(r.members(), gone...)
			rerouted := 0
			for _, k := range keys {
				owner := r.members()[max(r.owner(k), 0)]
				want := owner
				if slices.Contains(gone, owner) {
					want = ""
					if o := without.owner(k); o >= 0 {
						want = without.members()[o]
					}
					rerouted++
				}
				g, ok := s.pick(k)
				wantGetter, remote := s.clients[want]
				if ok != remote || g != groupcache.ProtoGetter(wantGetter) && remote {
					t.Fatalf("pick(%q), owned by %s: %v, %v; want the getter of %q (empty or self: none)", k, owner, g, ok, want)
				}
			}
			if rerouted == 0 {
				t.Error("no key's owner was marked: the test did not exercise the detour")
			}
		})
	}
}

// TestPickPastKeepsFewRingsPerView: peers marked one after another within one view (each
// frozen or restarting for a moment, then answering again) must not leave the router
// holding one ring without marked peers (tableSize slots, 128 KiB) per distinct set
// marked until the next view.
func TestPickPastKeepsFewRingsPerView(t *testing.T) {
	const n = 150
	ids := append(testPeers(n-1, 9), "s:1")
	slices.Sort(ids)
	cfg := testConfig()
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: ids, selfReady: true})
	s := r.snapshot()
	keys := testKeys(20000)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	start := time.Now()
	marked := 0
	for i, id := range s.ring.members() {
		if i == s.self {
			continue
		}
		s.health[i].unavailable.Store(true) // marked for a moment
		for _, k := range keys {
			if ownedBy(s.ring, k, id) {
				s.pick(k)
				break
			}
		}
		s.health[i].unavailable.Store(false) // answers again
		marked++
	}
	elapsed := time.Since(start)
	grown := int64(heap()) - int64(before)
	runtime.KeepAlive(s)
	runtime.KeepAlive(keys)
	t.Logf("%d peers marked one at a time: the heap grew by %d KiB; %v to route past them (%v each)",
		marked, grown>>10, elapsed, elapsed/time.Duration(marked))
	if grown > 4<<20 {
		t.Errorf("the heap grew by %d KiB after %d peers were marked one at a time within one view: a ring kept per set marked",
			grown>>10, marked)
	}
}
