package k8s

// Tests of the warm hand-off: the past rings, and the peek path between two processes
// whose rings differ (groupcache's registries are global, so the previous owner is a
// child process).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"google.golang.org/grpc"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// handoffGroup is the group the peek tests share between the parent and the child.
const handoffGroup = "handoff-test"

// TestPeekPreviousOwner: pod N (this process, 127.0.0.1) joins a Service whose pods are O
// (a child process, 127.0.0.2), U (127.0.0.3, an older version that knows only Get) and
// B (127.0.0.4, which never answers a peek). N is a member of its own ring at once; the
// others route by the ring without N until N is ready. Each step asks N's group for a key
// whose previous owner is the one named, and checks what N's getter, the peek counters
// and the old owner's getter and forwards saw.
func TestPeekPreviousOwner(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		if err := runPeekChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "peek child: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	port := strconv.Itoa(freePort(t))
	n, o, u, b := "127.0.0.1:"+port, "127.0.0.2:"+port, "127.0.0.3:"+port, "127.0.0.4:"+port
	old := startChild(t, "TestPeekPreviousOwner", "O")
	old.send(t, o)
	old.expect(t, "ready")
	startPeerServer(t, u, onlyGet)
	startPeerServer(t, b, neverAnswersPeeks)

	const peekTimeout = 300 * time.Millisecond
	// Only Now is moved by the test, to close the window; waits take real time.
	live, rebuilds, clk := make(chan string), make(rebuilds, 10), newShiftedClock()
	slice := func(rv int, eps ...discoveryv1.Endpoint) string {
		return fakeapi.EventFrame("MODIFIED", rv, apiSlice("cache-x1", discoveryv1.AddressTypeIPv4, eps...))
	}
	serving := func(addr string, ready, serving, terminating *bool) discoveryv1.Endpoint {
		e := apiEndpoint(strings.Split(addr, ":")[0], ready, terminating)
		e.Conditions.Serving = serving
		return e
	}
	m, _ := startManager(t, fakeapi.Listing(10, apiSlice("cache-x1", discoveryv1.AddressTypeIPv4,
		serving(n, no, no, no), serving(o, yes, yes, no), serving(u, yes, yes, no), serving(b, yes, yes, no))).WithLive(live),
		n, WithHandoff(Handoff{Window: time.Minute, PeekTimeout: peekTimeout}), withClock(clk), rebuilds.option())
	rebuilds.next(t)
	waitConnected(t, m)

	var loads atomic.Int64 // N's getter: its backend
	group := m.NewGroup(handoffGroup, 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		loads.Add(1)
		return dest.SetString("new:" + key)
	}))

	// keys picks a fresh key that N owns now and whose owner under each ring is the one given.
	used := map[string]bool{}
	keyOwnedBefore := func(rings map[string]string) string {
		t.Helper()
		for i := range 100000 {
			key := fmt.Sprintf("k%d", i)
			if used[key] || m.Owner(key) != n {
				continue
			}
			match := true
			for ids, owner := range rings {
				r, _ := newRing(strings.Split(ids, ","))
				if r.members()[r.owner(key)] != owner {
					match = false
				}
			}
			if match {
				used[key] = true
				return key
			}
		}
		t.Fatalf("no key owned by %s with previous owners %v", n, rings)
		return ""
	}
	keyOwnedNow := func(owner string) string {
		t.Helper()
		for i := range 100000 {
			if key := fmt.Sprintf("x%d", i); !used[key] && m.Owner(key) == owner {
				used[key] = true
				return key
			}
		}
		t.Fatalf("no key owned by %s", owner)
		return ""
	}
	others := o + "," + u + "," + b // the ring the others use while N is not ready
	all := n + "," + others

	type step struct {
		name       string
		key        func() string
		preload    bool // the old owner O loads the key first
		hold       bool // O is loading the key, held in its getter, during the peek
		want       string
		wantPeek   [3]int64 // hits, misses, errors added
		minElapsed time.Duration
	}
	run := func(steps []step) {
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				key := s.key()
				if s.preload {
					old.send(t, "load "+key)
					old.expect(t, "loaded "+key)
				}
				if s.hold {
					old.send(t, "hold "+key)
					old.expect(t, "holding "+key)
					defer func() { old.send(t, "release "+key); old.expect(t, "loaded "+key) }()
				}
				old.send(t, "stats")
				oldBefore := old.expect(t, "stats ")
				before, loadsBefore := m.Stats(), loads.Load()
				start := time.Now()
				var got string
				if err := group.Get(t.Context(), key, groupcache.StringSink(&got)); err != nil {
					t.Fatal(err)
				}
				elapsed := time.Since(start)
				after := m.Stats()
				peeks := [3]int64{after.PeekHits - before.PeekHits, after.PeekMisses - before.PeekMisses,
					after.PeekErrors - before.PeekErrors}
				if got != s.want+key || peeks != s.wantPeek {
					t.Errorf("Get(%s) = %q with peeks (hits, misses, errors) +%v; want %q and +%v", key, got, peeks,
						s.want+key, s.wantPeek)
				}
				wantLoads := int64(0)
				if s.want == "new:" {
					wantLoads = 1
				}
				if ran := loads.Load() - loadsBefore; ran != wantLoads {
					t.Errorf("N's getter ran %d times; want %d", ran, wantLoads)
				}
				if elapsed < s.minElapsed || elapsed > s.minElapsed+peekTimeout {
					t.Errorf("Get took %v; want %v to %v", elapsed, s.minElapsed, s.minElapsed+peekTimeout)
				}
				old.send(t, "stats")
				if oldAfter := old.expect(t, "stats "); oldAfter != oldBefore {
					t.Errorf("the old owner's getter or forwards changed during the peek: %s, then %s", oldBefore, oldAfter)
				}
			})
		}
	}

	// While N is not ready: the others route by the ring without N.
	run([]step{
		{name: "hit: the value comes from the previous owner's cache", preload: true,
			key: func() string { return keyOwnedBefore(map[string]string{others: o}) }, want: "old:", wantPeek: [3]int64{1, 0, 0}},
		{name: "miss: the previous owner neither loads nor forwards",
			key: func() string { return keyOwnedBefore(map[string]string{others: o}) }, want: "new:", wantPeek: [3]int64{0, 1, 0}},
		{name: "older peer: Unimplemented is a miss",
			key: func() string { return keyOwnedBefore(map[string]string{others: u}) }, want: "new:", wantPeek: [3]int64{0, 1, 0}},
		{name: "a peer that does not answer costs the peek timeout, no more", minElapsed: peekTimeout,
			key: func() string { return keyOwnedBefore(map[string]string{others: b}) }, want: "new:", wantPeek: [3]int64{0, 0, 1}},
		{name: "a peek racing a real load on the peer misses at once", hold: true,
			key: func() string { return keyOwnedBefore(map[string]string{others: o}) }, want: "new:", wantPeek: [3]int64{0, 1, 0}},
		// As when a peer asks N for a key while their rings disagree: N loads it, and its
		// owner in N's ring may hold it.
		{name: "a key N does not own is peeked from its owner in N's ring", preload: true,
			key: func() string { return keyOwnedNow(o) }, want: "old:", wantPeek: [3]int64{1, 0, 0}},
	})
	// N turns ready, O is deleted gracefully (terminating, still serving), U and B are gone.
	live <- slice(11, serving(n, yes, yes, no), serving(o, no, yes, yes))
	if got := rebuilds.next(t); !slices.Equal(got, []string{n}) {
		t.Fatalf("ring after the change = %v, want [%s]", got, n)
	}
	run([]step{
		{name: "hit: a leaving peer is peeked", preload: true,
			key: func() string { return keyOwnedBefore(map[string]string{all: o}) }, want: "old:", wantPeek: [3]int64{1, 0, 0}},
		// U would answer a miss; its successors, N and B, are self and gone; B's successor
		// in the others' ring, O, is asked, and has not loaded the key.
		{name: "a gone peer is not asked, nor its gone successor: the next one is",
			key: func() string {
				return keyOwnedBefore(map[string]string{all: u, others: u, n + "," + o + "," + b: n, o + "," + b: b, o: o})
			}, want: "new:", wantPeek: [3]int64{0, 1, 0}},
		{name: "a gone peer's successor, where its entries went, is asked instead", preload: true,
			key: func() string {
				return keyOwnedBefore(map[string]string{all: u, others: u, n + "," + o + "," + b: o, o + "," + b: o})
			}, want: "old:", wantPeek: [3]int64{1, 0, 0}},
	})

	// The window closes: no more peeks, even of a key the leaving peer holds.
	clk.Advance(time.Minute)
	run([]step{
		{name: "after the window: no peek", preload: true,
			key: func() string { return keyOwnedBefore(map[string]string{all: o}) }, want: "new:"},
	})

	// O is removed: it is gone, and no longer peeked within a new window either.
	live <- slice(12, serving(n, yes, yes, no))
	waitUntil(t, "O's client is retired", func() bool {
		_, ok := m.router.snapshot().clients[o]
		return !ok
	})
}

// waitUntil polls cond until it holds, failing t after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// peerServerKind says how startPeerServer's server answers.
type peerServerKind int

const (
	onlyGet           peerServerKind = iota // an older version of the library: no Peek method
	neverAnswersPeeks                       // Peek waits until the caller gives up
)

// startPeerServer serves the GroupCache service on addr until the test ends.
func startPeerServer(t *testing.T, addr string, kind peerServerKind) {
	t.Helper()
	cfg := testConfig()
	desc := groupCacheServiceDesc
	var opts []grpc.ServerOption
	switch kind {
	case onlyGet:
		desc.Methods = desc.Methods[:1]
	case neverAnswersPeeks:
		opts = append(opts, grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo,
			handler grpc.UnaryHandler) (any, error) {
			if info.FullMethod == peekMethod {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return handler(ctx, req)
		}))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&desc, newGetService(&counters{}, &loopGuard{}, cfg))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

// runPeekChild is the old owner O of TestPeekPreviousOwner: a server on the address it
// reads first, with the test's group, whose getter the parent can hold, and a peer picker
// that sends every load to a peer first, so that any forward is counted. Commands, one per
// line: "load K" (prints "loaded K"), "hold K" (starts loading K and prints "holding K"
// once the getter runs; "release K" lets it finish, and prints "loaded K"), "stats"
// (prints the getter's runs and the forwards).
func runPeekChild(stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	addr, err := in.ReadString('\n')
	if err != nil {
		return err
	}
	cfg := testConfig()
	srv, err := startServer(strings.TrimSpace(addr), cfg, newGetService(&counters{}, &loopGuard{}, cfg))
	if err != nil {
		return err
	}
	defer srv.stop(time.Second)

	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(stdout, format+"\n", args...)
	}
	var loads, forwards atomic.Int64
	groupcache.RegisterPeerPicker(func() groupcache.PeerPicker { return failingPicker{&forwards} })
	var mu sync.Mutex
	held := map[string]chan struct{}{}
	group := groupcache.NewGroup(handoffGroup, 1<<20, groupcache.GetterFunc(
		func(_ context.Context, key string, dest groupcache.Sink) error {
			loads.Add(1)
			mu.Lock()
			release := held[key]
			mu.Unlock()
			if release != nil {
				say("holding %s", key)
				<-release
			}
			return dest.SetString("old:" + key)
		}))
	say("ready")
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return nil // stdin closed: exit
		}
		cmd, key, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch cmd {
		case "load", "hold":
			if cmd == "hold" {
				mu.Lock()
				held[key] = make(chan struct{})
				mu.Unlock()
			}
			wg.Go(func() {
				var v string
				if err := group.Get(context.Background(), key, groupcache.StringSink(&v)); err != nil {
					say("error %s %v", key, err)
					return
				}
				say("loaded %s", key)
			})
		case "release":
			mu.Lock()
			close(held[key])
			delete(held, key)
			mu.Unlock()
		case "stats":
			say("stats loads=%d forwards=%d", loads.Load(), forwards.Load())
		default:
			return fmt.Errorf("unknown command %q", line)
		}
	}
}

// failingPicker sends every key to a peer whose calls fail, counting them.
type failingPicker struct{ calls *atomic.Int64 }

func (p failingPicker) PickPeer(string) (groupcache.ProtoGetter, bool) { return p, true }

func (p failingPicker) Get(context.Context, *groupcachepb.GetRequest, *groupcachepb.GetResponse) error {
	p.calls.Add(1)
	return errors.New("failingPicker: no peer")
}

// TestPreviousOwnersPassOverOwnersGoneInARow: a previous owner gone from the view is replaced
// by its successor in that ring, and that one by its own if it is gone too. At 150 pods a new
// pod's ring from before it joined named an owner that had exited, whose successor had exited
// too; the pod found no previous owner and loaded the key again.
func TestPreviousOwnersPassOverOwnersGoneInARow(t *testing.T) {
	past := testRing(t, "a:1", "b:1", "c:1", "g1:1", "g2:1")
	without1, without2 := testRing(t, "a:1", "b:1", "c:1", "g2:1"), testRing(t, "a:1", "b:1", "c:1")
	h := &handoffState{self: "s:1", past: []pastRing{{ring: past}}}
	peers := map[string]peerGetter{"a:1": &fakePeeker{}, "b:1": &fakePeeker{}, "c:1": &fakePeeker{}}
	without := func(rg *ring) *ring { return ringWithout(rg.members(), goneFrom(rg, peers, h.self)...) }
	found := 0
	for i := 0; i < 100000 && found < 3; i++ {
		k := "k" + strconv.Itoa(i)
		if !ownedBy(past, k, "g1:1") || !ownedBy(without1, k, "g2:1") {
			continue
		}
		found++
		want := without2.members()[without2.owner(k)]
		if got := h.previousOwners(k, peers, time.Time{}, time.Minute, maxPeeks, without); !slices.Equal(got, []string{want}) {
			t.Errorf("previousOwners(%s) = %v; want [%s]: the successor of g1's successor g2, both gone", k, got, want)
		}
	}
	if found == 0 {
		t.Fatal("no key owned by g1, then by g2")
	}
}

// TestNextPast: which rings a pod remembers after each kind of change.
func TestNextPast(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ringOf := func(ids ...string) *ring { r, _ := newRing(ids); return r }
	abs, ab := ringOf("a", "b", "s"), ringOf("a", "b")
	var tenRecent []pastRing
	for i := range 10 {
		tenRecent = append(tenRecent, pastRing{ring: ringOf("a", "s"), until: now.Add(-time.Duration(i) * time.Second)})
	}
	cases := []struct {
		name       string
		past       []pastRing
		old, next  view
		oldRing    *ring
		others     *ring
		want       []string // each past ring as "members@until", until as seconds before now or "live"
		wantOthers bool
	}{
		{name: "startup, not ready: the others' ring without self is live",
			next: view{members: []string{"a", "b", "s"}}, oldRing: emptyRing,
			want: []string{"a,b@live"}, wantOthers: true},
		{name: "startup, already ready: the others' ring without self ends now",
			next: view{members: []string{"a", "b", "s"}, selfReady: true}, oldRing: emptyRing,
			want: []string{"a,b@0"}},
		{name: "startup, alone: no past", next: view{members: []string{"s"}, selfReady: true}, oldRing: emptyRing},
		{name: "turns ready: the others' ring ends now",
			old: view{members: []string{"a", "b", "s"}}, next: view{members: []string{"a", "b", "s"}, selfReady: true},
			oldRing: abs, others: ab, want: []string{"a,b@0"}},
		{name: "a peer leaves: the old ring ends now",
			old: view{members: []string{"a", "b", "s"}, selfReady: true}, next: view{members: []string{"a", "s"}, selfReady: true},
			oldRing: abs, want: []string{"a,b,s@0"}},
		{name: "only the leaving peers change: the past stays",
			past: []pastRing{{ring: abs, until: now.Add(-5 * time.Second)}},
			old:  view{members: []string{"a", "s"}, selfReady: true}, next: view{members: []string{"a", "s"}, leaving: []string{"b"}, selfReady: true},
			oldRing: ringOf("a", "s"), want: []string{"a,b,s@5"}},
		{name: "rings replaced before the window are forgotten",
			past: []pastRing{{ring: abs, until: now.Add(-time.Minute)}},
			old:  view{members: []string{"a", "s"}, selfReady: true}, next: view{members: []string{"s"}, selfReady: true},
			oldRing: ringOf("a", "s"), want: []string{"a,s@0"}},
		{name: "at most maxPastRings", past: tenRecent,
			old: view{members: []string{"a", "s"}, selfReady: true}, next: view{members: []string{"s"}, selfReady: true},
			oldRing: ringOf("a", "s"), want: []string{"a,s@0", "a,s@0", "a,s@1", "a,s@2", "a,s@3", "a,s@4", "a,s@5", "a,s@6"}},
		{name: "beyond maxPastRings, the newest ring the others used without self",
			past: append(slices.Clone(tenRecent), pastRing{ring: ab, until: now.Add(-20 * time.Second), without: true},
				pastRing{ring: ringOf("b"), until: now.Add(-30 * time.Second), without: true}),
			old: view{members: []string{"a", "s"}, selfReady: true}, next: view{members: []string{"s"}, selfReady: true},
			oldRing: ringOf("a", "s"), want: []string{"a,s@0", "a,s@0", "a,s@1", "a,s@2", "a,s@3", "a,s@4", "a,s@5", "a,s@6", "a,b@20"}},
		{name: "a ring without self among the newest: no other kept beyond maxPastRings",
			past: append([]pastRing{{ring: ab, until: now.Add(-time.Second), without: true}}, append(slices.Clone(tenRecent),
				pastRing{ring: ringOf("b"), until: now.Add(-30 * time.Second), without: true})...),
			old: view{members: []string{"a", "s"}, selfReady: true}, next: view{members: []string{"s"}, selfReady: true},
			oldRing: ringOf("a", "s"), want: []string{"a,s@0", "a,b@1", "a,s@0", "a,s@1", "a,s@2", "a,s@3", "a,s@4", "a,s@5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			past, others := nextPast(tc.past, tc.old, tc.next, !slices.Equal(tc.old.members, tc.next.members), tc.oldRing, tc.others, "s", now, time.Minute)
			var got []string
			for _, p := range past {
				at := "live"
				if !p.until.IsZero() {
					at = strconv.Itoa(int(now.Sub(p.until) / time.Second))
				}
				got = append(got, strings.Join(p.ring.members(), ",")+"@"+at)
			}
			if !slices.Equal(got, tc.want) || (others != nil) != tc.wantOthers {
				t.Errorf("past = %v, others = %v; want %v, others %v", got, others != nil, tc.want, tc.wantOthers)
			}
		})
	}
}

// TestHandoffStateDroppedWhenTheWindowCloses: once the window of every past ring has
// closed, the snapshot no longer carries hand-off state, so a load outside the window
// does not even read the clock.
func TestHandoffStateDroppedWhenTheWindowCloses(t *testing.T) {
	live, r, clk := make(chan string), make(rebuilds, 10), newFakeClock()
	m, _ := startManager(t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1", "10.0.0.2")).WithLive(live),
		"10.0.0.1:8080", WithHandoff(Handoff{Window: time.Minute}), withClock(clk), r.option())
	r.next(t)
	if m.router.snapshot().handoff == nil { // the others used the ring without this pod until now
		t.Fatal("no hand-off state after starting ready beside a ready peer")
	}
	live <- fakeapi.EventFrame("MODIFIED", 11, readySlice("cache-x1", "10.0.0.1"))
	r.next(t)
	steps := []struct {
		advance time.Duration
		want    bool // hand-off state in the snapshot
	}{
		{0, true},
		{time.Minute - time.Nanosecond, true},
		{time.Nanosecond, false},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if got := m.router.snapshot().handoff != nil; got != s.want {
			t.Fatalf("after %v more: hand-off state %v, want %v", s.advance, got, s.want)
		}
	}
}

// TestWindowEndDoesNotChangePublishedSnapshots: the window's end publishes a new
// snapshot and leaves the one loads may be reading as it was. It used to delete the old
// rings in place from the array the published hand-off state shared, zeroing its tail:
// a load then read a nil ring whose zero time said "still live", and panicked (the
// process exited, since neither groupcache nor grpc recovers). The second case closes
// the window of one ring while a newer one stays: nothing was published then, so every
// later load could panic until the next change.
func TestWindowEndDoesNotChangePublishedSnapshots(t *testing.T) {
	cases := []struct {
		name      string
		changes   [][]string    // ready pods after each change, self first; self alone at the end, so Close does not drain
		gap       time.Duration // between the changes
		advance   time.Duration // after the last change
		wantRings int           // past rings in the current snapshot afterwards
	}{
		{name: "every window closes", changes: [][]string{{"10.0.0.1"}}, advance: time.Minute, wantRings: 0},
		{name: "the older window closes, the newer stays",
			changes: [][]string{{"10.0.0.1", "10.0.0.3"}, {"10.0.0.1"}}, gap: 30 * time.Second,
			advance: 30 * time.Second, wantRings: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m, _ := startManager(t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1", "10.0.0.2")),
				"10.0.0.1:8080", WithHandoff(Handoff{Window: time.Minute}), withClock(clk))
			for i, pods := range tc.changes {
				if i > 0 {
					clk.Advance(tc.gap)
				}
				m.watcher.update(compacted(t, map[string]*discoveryv1.EndpointSlice{"x": readySlice("x", pods...)}))
			}
			before := m.router.snapshot()
			published := slices.Clone(before.handoff.past)
			clk.Advance(tc.advance)

			if !slices.Equal(before.handoff.past, published) {
				t.Errorf("the published past rings changed at the window's end: %v, were %v", before.handoff.past, published)
			}
			for i := range 1000 { // no load reading the old snapshot panics
				before.handoff.previousOwner("k"+strconv.Itoa(i), before.clients, clk.Now(), time.Minute)
			}
			now := m.router.snapshot()
			var got int
			if now.handoff != nil {
				got = len(now.handoff.past)
				for _, p := range now.handoff.past {
					if p.ring == nil || !p.until.IsZero() && clk.Now().Sub(p.until) >= time.Minute {
						t.Errorf("the current snapshot holds a ring that is nil or past its window: %+v", p)
					}
				}
			}
			if got != tc.wantRings {
				t.Errorf("the current snapshot has %d past rings, want %d", got, tc.wantRings)
			}
		})
	}
}
