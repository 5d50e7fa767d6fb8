package k8s

// Tests of the router: what each view publishes, that a published snapshot is never
// changed, and that nothing is published after stop.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRouterApply: a sequence of views, each applied in turn. After each, the router
// says whether the members changed, the snapshot holds a client for exactly the members
// but self and the leaving peers, the clients of peers that are gone are retiring, and
// the snapshot published before is as it was.
func TestRouterApply(t *testing.T) {
	cfg := testConfig(WithHandoff(Handoff{}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	steps := []struct {
		name         string
		view         view
		wantChanged  bool
		wantClients  []string
		wantRetiring []string
	}{
		{"the first view", view{members: []string{"a:1", "s:1"}, selfReady: true}, true, []string{"a:1"}, nil},
		{"the same members, one leaving", view{members: []string{"a:1", "s:1"}, leaving: []string{"b:1"}, selfReady: true},
			false, []string{"a:1", "b:1"}, nil},
		{"a peer joins, the leaving one is gone", view{members: []string{"a:1", "c:1", "s:1"}, selfReady: true},
			true, []string{"a:1", "c:1"}, []string{"b:1"}},
		{"the gone peer comes back", view{members: []string{"a:1", "b:1", "c:1", "s:1"}, selfReady: true},
			true, []string{"a:1", "b:1", "c:1"}, nil},
		{"self is terminating", view{members: []string{"a:1", "b:1", "c:1"}}, true, []string{"a:1", "b:1", "c:1"}, nil},
	}
	for _, st := range steps {
		before := r.snapshot()
		beforeClients, beforeGetters, beforePast := maps.Clone(before.clients), slices.Clone(before.getters), before.handoff
		members, changed := r.apply(st.view)
		s := r.snapshot()
		if changed != st.wantChanged || changed && !slices.Equal(members, st.view.members) {
			t.Errorf("%s: apply = %v, %v; want changed %v", st.name, members, changed, st.wantChanged)
		}
		if got := slices.Sorted(maps.Keys(s.clients)); !slices.Equal(got, st.wantClients) {
			t.Errorf("%s: clients of %v, want %v", st.name, got, st.wantClients)
		}
		if got := slices.Sorted(maps.Keys(r.retiring)); !slices.Equal(got, st.wantRetiring) {
			t.Errorf("%s: retiring %v, want %v", st.name, got, st.wantRetiring)
		}
		if !maps.Equal(before.clients, beforeClients) || !slices.Equal(before.getters, beforeGetters) || before.handoff != beforePast {
			t.Errorf("%s: the snapshot published before changed", st.name)
		}
	}
	r.stop()
	if _, changed := r.apply(view{members: []string{"a:1", "s:1"}, selfReady: true}); changed || len(r.snapshot().ring.members()) != 0 {
		t.Error("a view applied after stop was published")
	}
}

// TestWindowEndAfterStopPublishesNothing: a window's end whose callback was already
// under way when the router stopped (it waited for the lock) publishes nothing and arms
// no timer. It used to keep the rings still in their window, replace the stopped
// snapshot and arm a timer that fired after Close had returned.
func TestWindowEndAfterStopPublishesNothing(t *testing.T) {
	clk := newFakeClock()
	cfg := testConfig(WithHandoff(Handoff{Window: time.Minute}), withClock(clk))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	r.apply(view{members: []string{"a:1", "s:1"}, selfReady: true})
	r.apply(view{members: []string{"b:1", "s:1"}, selfReady: true})
	clk.Advance(30 * time.Second)
	r.apply(view{members: []string{"s:1"}, selfReady: true}) // two past rings, 30 s apart
	late := clk.expire(30 * time.Second)                     // the first window's end, not yet run
	if len(late) == 0 {
		t.Fatal("no window's end due")
	}
	r.stop()
	stopped := r.snapshot()
	for _, f := range late {
		f()
	}
	if r.snapshot() != stopped {
		t.Error("a window's end replaced the stopped router's snapshot")
	}
	clk.mu.Lock()
	pending := len(clk.pending)
	clk.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d timers armed after stop", pending)
	}
	r.closeClients()
}

// fakePeeker is a peer as the peek sees it: its answer to every peek, and how many it got.
type fakePeeker struct {
	value []byte
	err   error
	after time.Duration // how long it takes to answer; the peek's deadline may come first
	asked atomic.Int32
}

func (f *fakePeeker) Get(context.Context, *groupcachepb.GetRequest, *groupcachepb.GetResponse) error {
	return errNotCached
}
func (f *fakePeeker) Peek(ctx context.Context, _, _ string) ([]byte, error) {
	f.asked.Add(1)
	select {
	case <-time.After(f.after):
		return f.value, f.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
func (f *fakePeeker) Close() error { return nil }

// TestPeekFollowsAGoneOwnerToItsSuccessor: a load whose previous owner is gone (Unavailable:
// it exited, or is marked as not answering) peeks the key's owner in that past ring without
// it, where the gone owner, leaving, pushed its entries. At 150 pods most keys loaded again in
// a rollout were held there while the new owner's only previous owner had exited. A previous
// owner no longer in the view is replaced by its successor at once. A previous owner that
// answers (a miss), or does not in time, is not followed.
func TestPeekFollowsAGoneOwnerToItsSuccessor(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	past := testRing(t, "a:1", "b:1", "c:1", "g:1") // the others' ring while s was not ready
	now := testRing(t, "a:1", "b:1", "c:1", "s:1")
	// key returns a key that s owns now, that g owned under past, and whose owner in past
	// without g is successor.
	key := func(successor string) string {
		without := testRing(t, "a:1", "b:1", "c:1")
		for i := range 100000 {
			k := "k" + strconv.Itoa(i)
			if ownedBy(now, k, "s:1") && ownedBy(past, k, "g:1") && ownedBy(without, k, successor) {
				return k
			}
		}
		t.Fatalf("no key for successor %s", successor)
		return ""
	}
	for _, tc := range []struct {
		name      string
		gone      error // g's answer; nil when g is no longer a peer
		successor string
		want      string // the value peeked; "" for none
		wantAsked string // the peers asked, in order
	}{
		{"gone: its successor has the entry", unavailable, "b:1", "v", "g:1 b:1"},
		{"a miss is not followed", errNotCached, "b:1", "", "g:1"},
		{"a timeout is not followed", status.Error(codes.DeadlineExceeded, "slow"), "b:1", "", "g:1"},
		{"gone from the view: its successor is asked instead", nil, "c:1", "v", "c:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second}), withClock(newFakeClock()))
			r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
			t.Cleanup(func() { r.stop(); r.closeClients() })
			peers := map[string]*fakePeeker{"a:1": {err: errNotCached}, "b:1": {err: errNotCached},
				"c:1": {err: errNotCached}, "g:1": {err: tc.gone}}
			peers[tc.successor].value, peers[tc.successor].err = []byte("v"), nil
			clients := map[string]peerGetter{}
			for id, p := range peers {
				if id != "g:1" || tc.gone != nil { // no error: g has left the view, and has no client
					clients[id] = p
				}
			}
			r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"), clients: clients,
				handoff: &handoffState{self: "s:1", past: []pastRing{{ring: past}}}})
			k := key(tc.successor)
			value, ok := r.peekPrevious(t.Context(), "g", k)
			if string(value) != tc.want || ok != (tc.want != "") {
				t.Errorf("peekPrevious(%s) = %q, %v; want %q", k, value, ok, tc.want)
			}
			var asked []string
			for _, id := range []string{"g:1", "a:1", "b:1", "c:1"} {
				if peers[id].asked.Load() > 0 {
					asked = append(asked, id)
				}
			}
			if got := strings.Join(asked, " "); got != tc.wantAsked {
				t.Errorf("peers asked: %s; want %s", got, tc.wantAsked)
			}
		})
	}
}

// TestPeekFindsTheOwnerFromBeforeThisPodJoinedAfterManyChanges: a key this pod took when it
// joined is peeked from its owner in the ring the others used before, however many changes
// came since within the window. At 150 pods a rolling update changes the ring every second or
// two; the pod kept only its eight newest rings, found no previous owner for the keys it took
// by joining, and loaded them again.
func TestPeekFindsTheOwnerFromBeforeThisPodJoinedAfterManyChanges(t *testing.T) {
	before, after, busier := testRing(t, "a:1", "b:1"), testRing(t, "a:1", "b:1", "s:1"), testRing(t, "a:1", "b:1", "s:1", "x:1")
	k := ""
	for i := 0; k == ""; i++ {
		if c := "k" + strconv.Itoa(i); ownedBy(before, c, "a:1") && ownedBy(after, c, "s:1") && ownedBy(busier, c, "s:1") {
			k = c
		}
	}
	cfg := testConfig(WithHandoff(Handoff{Window: time.Minute, PeekTimeout: time.Second}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: []string{"a:1", "b:1", "s:1"}}) // not ready: the others use a, b
	r.apply(view{members: []string{"a:1", "b:1", "s:1"}, selfReady: true})
	for i := range 2 * maxPastRings { // x comes and goes: k stays this pod's
		members := []string{"a:1", "b:1", "s:1"}
		if i%2 == 0 {
			members = append(members, "x:1")
		}
		r.apply(view{members: members, selfReady: true})
	}
	a := &fakePeeker{value: []byte("v")}
	s := *r.snapshot()
	s.clients = map[string]peerGetter{"a:1": a, "b:1": &fakePeeker{err: errNotCached}, "x:1": &fakePeeker{err: errNotCached}}
	r.snap.Store(&s)
	if value, ok := r.peekPrevious(t.Context(), "g", k); string(value) != "v" || !ok || a.asked.Load() != 1 {
		t.Errorf("after %d changes, peekPrevious(%s) = %q, %v, a asked %d times; want a's value, a asked once",
			2*maxPastRings, k, value, ok, a.asked.Load())
	}
}

// TestPeekGivesEachPeerItsOwnTimeout: each peer a peek asks has the whole peek timeout to
// answer. At 150 pods on a busy node, a gone owner's refusal took most of the 50 ms the
// peeks of a load shared, its successor, which held the entry, was left a few milliseconds,
// and the key was loaded again. A peer that does not answer in time still ends the peek.
func TestPeekGivesEachPeerItsOwnTimeout(t *testing.T) {
	const timeout = time.Second
	unavailable := status.Error(codes.Unavailable, "connection refused")
	past, now := testRing(t, "a:1", "g:1"), testRing(t, "a:1", "s:1")
	k := ""
	for i := 0; k == ""; i++ {
		if c := "k" + strconv.Itoa(i); ownedBy(past, c, "g:1") && ownedBy(now, c, "s:1") {
			k = c
		}
	}
	for _, tc := range []struct {
		name       string
		g, a       *fakePeeker // a is g's successor in past without g
		want       string
		wantAskedA bool
	}{
		{"gone after most of the timeout: the successor has a timeout of its own",
			// Each answers 400 ms before its deadline, a margin for a loaded machine under
			// -race; with one timeout shared, the successor would be 200 ms late.
			&fakePeeker{err: unavailable, after: timeout * 6 / 10}, &fakePeeker{value: []byte("v"), after: timeout * 6 / 10}, "v", true},
		{"no answer in time ends the peek",
			&fakePeeker{err: unavailable, after: timeout * 3 / 2}, &fakePeeker{value: []byte("v")}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{PeekTimeout: timeout}), withClock(newFakeClock()))
			r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
			t.Cleanup(func() { r.stop(); r.closeClients() })
			r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"),
				clients: map[string]peerGetter{"a:1": tc.a, "g:1": tc.g},
				handoff: &handoffState{self: "s:1", past: []pastRing{{ring: past}}}})
			value, ok := r.peekPrevious(t.Context(), "g", k)
			if string(value) != tc.want || ok != (tc.want != "") || (tc.a.asked.Load() > 0) != tc.wantAskedA {
				t.Errorf("peekPrevious(%s) = %q, %v, successor asked %d times; want %q, asked: %v",
					k, value, ok, tc.a.asked.Load(), tc.want, tc.wantAskedA)
			}
		})
	}
}

// TestPeekOfAKeyThisPodDoesNotOwnFollowsAGoneOwner: a key this pod loads though its ring gives
// it to another pod (its Get to that owner failed) is peeked from that owner and, when the owner
// is gone (Unavailable), from the owner's successor in this pod's ring. At 150 pods most keys
// loaded again in a rollout were asked through pods whose stale rings still named an owner that
// had exited; its successor held the entry.
func TestPeekOfAKeyThisPodDoesNotOwnFollowsAGoneOwner(t *testing.T) {
	now := testRing(t, "a:1", "b:1", "g:1", "s:1")
	without := testRing(t, "a:1", "b:1", "s:1")
	var key string
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); ownedBy(now, k, "g:1") && ownedBy(without, k, "b:1") {
			key = k
		}
	}
	cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	g, b := &fakePeeker{err: status.Error(codes.Unavailable, "connection refused")}, &fakePeeker{value: []byte("v")}
	r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"),
		clients: map[string]peerGetter{"a:1": &fakePeeker{err: errNotCached}, "b:1": b, "g:1": g},
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: testRing(t, "a:1", "b:1", "g:1")}}}})
	if value, ok := r.peekPrevious(t.Context(), "g", key); string(value) != "v" || !ok {
		t.Errorf("peekPrevious(%s) = %q, %v; want the successor's v", key, value, ok)
	}
	if g.asked.Load() != 1 || b.asked.Load() != 1 {
		t.Errorf("the gone owner was asked %d times and its successor %d; want once each", g.asked.Load(), b.asked.Load())
	}
}

// TestPeekOfAKeyThisPodDoesNotOwnFollowsAGoneOwnerByItsOlderRing: when this pod, which does
// not hold the key, is the gone owner's successor in its own ring, the successor asked is the
// one in the newest past ring in which the gone owner owned the key: the gone owner pushed its
// entries by its ring, from before this pod joined. At 150 pods the EndpointSlices listed
// exited pods for 20-40 s, and a pod that joined meanwhile loaded those keys again.
func TestPeekOfAKeyThisPodDoesNotOwnFollowsAGoneOwnerByItsOlderRing(t *testing.T) {
	now := testRing(t, "a:1", "b:1", "g:1", "s:1")
	before := testRing(t, "a:1", "b:1", "g:1") // before this pod joined
	withoutNow, withoutBefore := testRing(t, "a:1", "b:1", "s:1"), testRing(t, "a:1", "b:1")
	var key string
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); ownedBy(now, k, "g:1") && ownedBy(withoutNow, k, "s:1") &&
			ownedBy(before, k, "g:1") && ownedBy(withoutBefore, k, "b:1") {
			key = k
		}
	}
	cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	a, g, b := &fakePeeker{err: errNotCached}, &fakePeeker{err: status.Error(codes.Unavailable, "connection refused")},
		&fakePeeker{value: []byte("v")}
	r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"),
		clients: map[string]peerGetter{"a:1": a, "b:1": b, "g:1": g},
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: before, without: true}}}})
	if value, ok := r.peekPrevious(t.Context(), "g", key); string(value) != "v" || !ok {
		t.Errorf("peekPrevious(%s) = %q, %v; want v from b, g's successor before this pod joined", key, value, ok)
	}
	if g.asked.Load() != 1 || b.asked.Load() != 1 || a.asked.Load() != 0 {
		t.Errorf("asked g %d times, b %d, a %d; want g and b once each", g.asked.Load(), b.asked.Load(), a.asked.Load())
	}
}

// TestPeekFollowsAGoneOwnerByTheRingItPushedBy: when this pod, loading a key it owns, is a
// gone previous owner's successor in the newest past ring in which that owner owned the
// key, the successor asked is the one in the next older such ring (from before this pod
// joined): the gone owner pushed its entries by a ring without this pod, or this pod would
// hold the key.
func TestPeekFollowsAGoneOwnerByTheRingItPushedBy(t *testing.T) {
	now, newer, older := testRing(t, "a:1", "b:1", "s:1"), testRing(t, "a:1", "b:1", "g:1", "s:1"), testRing(t, "a:1", "b:1", "g:1")
	withoutNewer, withoutOlder := testRing(t, "a:1", "b:1", "s:1"), testRing(t, "a:1", "b:1")
	var key string
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); ownedBy(now, k, "s:1") && ownedBy(newer, k, "g:1") && ownedBy(withoutNewer, k, "s:1") &&
			ownedBy(older, k, "g:1") && ownedBy(withoutOlder, k, "b:1") {
			key = k
		}
	}
	cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second, Window: time.Minute}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	clk := newFakeClock()
	a, g, b := &fakePeeker{err: errNotCached}, &fakePeeker{err: status.Error(codes.Unavailable, "connection refused")},
		&fakePeeker{value: []byte("v")}
	r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"),
		clients: map[string]peerGetter{"a:1": a, "b:1": b, "g:1": g}, // g is leaving: still a peer
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: newer, until: clk.Now()}, {ring: older, until: clk.Now(), without: true}}}})
	if value, ok := r.peekPrevious(t.Context(), "g", key); string(value) != "v" || !ok {
		t.Errorf("peekPrevious(%s) = %q, %v; want v from b, g's successor before this pod joined", key, value, ok)
	}
	if g.asked.Load() != 1 || b.asked.Load() != 1 || a.asked.Load() != 0 {
		t.Errorf("asked g %d times, b %d, a %d; want g and b once each", g.asked.Load(), b.asked.Load(), a.asked.Load())
	}
}

// TestPeekFollowsSuccessorsThatAreGoneToo: when a gone previous owner's successor is gone too
// (in a rolling update a quarter of the pods leave at once, and entries hop from one leaving
// pod to the next), the next successor, the key's owner in that ring without both, is asked.
func TestPeekFollowsSuccessorsThatAreGoneToo(t *testing.T) {
	past := testRing(t, "a:1", "b:1", "c:1", "g:1")
	now := testRing(t, "a:1", "b:1", "c:1", "s:1")
	var key, first, second string
	for i := 0; key == ""; i++ {
		k := "k" + strconv.Itoa(i)
		if !ownedBy(now, k, "s:1") || !ownedBy(past, k, "g:1") {
			continue
		}
		w1 := testRing(t, "a:1", "b:1", "c:1")
		first = w1.members()[w1.owner(k)]
		w2 := ringWithout(w1.members(), first)
		key, second = k, w2.members()[w2.owner(k)]
	}
	cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	unavailable := status.Error(codes.Unavailable, "connection refused")
	peers := map[string]*fakePeeker{"a:1": {err: errNotCached}, "b:1": {err: errNotCached}, "c:1": {err: errNotCached},
		"g:1": {err: unavailable}}
	peers[first].err = unavailable
	peers[second].value, peers[second].err = []byte("v"), nil
	clients := map[string]peerGetter{}
	for id, p := range peers {
		clients[id] = p
	}
	r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"), clients: clients,
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: past}}}})
	if value, ok := r.peekPrevious(t.Context(), "g", key); string(value) != "v" || !ok {
		t.Errorf("peekPrevious(%s) = %q, %v; want v from %s, the successor of g's successor %s", key, value, ok, second, first)
	}
	for id, want := range map[string]int32{"g:1": 1, first: 1, second: 1} {
		if got := peers[id].asked.Load(); got != want {
			t.Errorf("%s asked %d times; want %d", id, got, want)
		}
	}
}

// TestPeekBuildsFewRingsWithoutGoneOwners: the loads of a view build at most one ring per
// past ring to find the successors of owners gone from the view, however many keys they
// load: a ring takes about a millisecond to build at 150 peers and holds 128 KiB, and in
// a rolling update many owners of a ring a minute old, and their successors, have exited.
func TestPeekBuildsFewRingsWithoutGoneOwners(t *testing.T) {
	var live, all []string
	for i := range 8 {
		live = append(live, fmt.Sprintf("p%d:1", i))
	}
	all = slices.Clone(live)
	for i := range 24 {
		all = append(all, fmt.Sprintf("g%d:1", i)) // gone from the view
	}
	past, now := testRing(t, all...), testRing(t, append(slices.Clone(live), "s:1")...)
	cfg := testConfig(WithHandoff(Handoff{PeekTimeout: time.Second}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	clients := map[string]peerGetter{}
	for _, id := range live {
		clients[id] = &fakePeeker{err: errNotCached}
	}
	r.snap.Store(&snapshot{ring: now, self: slices.Index(now.members(), "s:1"), clients: clients,
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: past}}}})
	for i := range 2000 {
		r.peekPrevious(t.Context(), "g", "k"+strconv.Itoa(i))
	}
	built := 0
	r.withouts.Range(func(any, any) bool { built++; return true })
	if built > 1 {
		t.Errorf("2000 loads built %d rings without gone owners; want at most 1, one per past ring", built)
	}
}

// TestPeekAsksThePreviousOwnerAMissNames: a previous owner that misses a peek and names
// the key's previous owners by its own rings is followed by the first of them that is a
// peer of this pod, other than this pod and the peers asked or to be asked, in place of
// the oldest previous owner if there are maxPeeks.
func TestPeekAsksThePreviousOwnerAMissNames(t *testing.T) {
	single := func(id string) pastRing { return pastRing{ring: testRing(t, id)} } // id owns every key
	for _, tc := range []struct {
		name      string
		past      []pastRing
		named     []string
		want      string // the value peeked; "" for none
		wantAsked string // the peers asked, in order
	}{
		{"the named owner has the entry", []pastRing{single("p:1")}, []string{"q:1"}, "v", "p:1 q:1"},
		{"this pod is not asked", []pastRing{single("p:1")}, []string{"s:1"}, "", "p:1"},
		{"no peer of this pod is not asked", []pastRing{single("p:1")}, []string{"z:9"}, "", "p:1"},
		{"the first peer named is asked", []pastRing{single("p:1")}, []string{"s:1", "z:9", "q:1"}, "v", "p:1 q:1"},
		{"a peer to be asked anyway is not asked twice", []pastRing{single("p:1"), single("q:1")}, []string{"q:1"}, "v", "p:1 q:1"},
		{"it takes the oldest previous owner's place", []pastRing{single("p:1"), single("a:1"), single("b:1")},
			[]string{"c:1"}, "", "p:1 c:1 a:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{Window: time.Minute, PeekTimeout: time.Second}), withClock(newFakeClock()))
			r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
			t.Cleanup(func() { r.stop(); r.closeClients() })
			peers := map[string]*fakePeeker{"p:1": {err: &peekMissed{err: errNotCached, previous: tc.named}},
				"q:1": {value: []byte("v")}, "a:1": {err: errNotCached}, "b:1": {err: errNotCached}, "c:1": {err: errNotCached}}
			clients := map[string]peerGetter{}
			for id, p := range peers {
				clients[id] = p
			}
			now := testRing(t, "s:1")
			r.snap.Store(&snapshot{ring: now, self: 0, clients: clients, handoff: &handoffState{self: "s:1", past: tc.past}})
			value, ok := r.peekPrevious(t.Context(), "g", "k")
			if string(value) != tc.want || ok != (tc.want != "") {
				t.Errorf("peekPrevious = %q, %v; want %q", value, ok, tc.want)
			}
			var asked []string
			for _, id := range []string{"p:1", "q:1", "c:1", "a:1", "b:1"} {
				if n := peers[id].asked.Load(); n > 0 {
					asked = append(asked, id)
					if n > 1 {
						t.Errorf("%s asked %d times", id, n)
					}
				}
			}
			if got := strings.Join(asked, " "); got != tc.wantAsked {
				t.Errorf("peers asked: %s; want %s", got, tc.wantAsked)
			}
		})
	}
}

// slowFirstPeeker answers its first peek only when the peek's deadline has passed, and
// later ones at once with value: a peer whose answer, or the connection to it, came while
// the asking pod could not run.
type slowFirstPeeker struct {
	fakePeeker
	slowAlways bool
}

func (f *slowFirstPeeker) Peek(ctx context.Context, _, _ string) ([]byte, error) {
	if f.asked.Add(1) == 1 || f.slowAlways {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return f.value, nil
}

// TestPeekAsksAgainAfterATimeoutWhileThisPodWasStarved: a peek that timed out while this
// pod was starved of CPU (a goroutine waited longer than lagLimit to run) asks that peer
// once more, once per load; a timeout while it was not ends the peek. At 150 pods on two
// cores a pod's own peeks timed out 800 ms after they began, the entry held by the peer
// asked, whose connection was ready by then.
func TestPeekAsksAgainAfterATimeoutWhileThisPodWasStarved(t *testing.T) {
	for _, tc := range []struct {
		name       string
		starved    bool
		slowAlways bool
		want       string // the value peeked; "" for none
		wantAsked  int32
	}{
		{name: "starved: asked again", starved: true, want: "v", wantAsked: 2},
		{name: "not starved: the timeout ends the peek", wantAsked: 1},
		{name: "starved, and the peer slow again: asked twice only", starved: true, slowAlways: true, wantAsked: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{Window: time.Minute, PeekTimeout: 20 * time.Millisecond}), withClock(newFakeClock()))
			r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
			t.Cleanup(func() { r.stop(); r.closeClients() })
			var runs atomic.Uint64
			r.lateRuns = func() uint64 {
				if tc.starved {
					return runs.Add(1)
				}
				return 0
			}
			p := &slowFirstPeeker{fakePeeker: fakePeeker{value: []byte("v")}, slowAlways: tc.slowAlways}
			r.snap.Store(&snapshot{ring: testRing(t, "s:1"), self: 0, clients: map[string]peerGetter{"p:1": p},
				handoff: &handoffState{self: "s:1", past: []pastRing{{ring: testRing(t, "p:1")}}}})
			value, ok := r.peekPrevious(t.Context(), "g", "k")
			if string(value) != tc.want || ok != (tc.want != "") {
				t.Errorf("peekPrevious = %q, %v; want %q", value, ok, tc.want)
			}
			if got := p.asked.Load(); got != tc.wantAsked {
				t.Errorf("the peer was asked %d times, want %d", got, tc.wantAsked)
			}
		})
	}
}

// connectingPeeker is a fakePeeker that reports whether a peek would first connect.
type connectingPeeker struct {
	fakePeeker
	notConnected bool
}

func (c *connectingPeeker) connecting() bool { return c.notConnected }

// TestPeekGivesAPeerNotYetConnectedASecondPeekTimeout: a peer this pod has yet to connect
// to has one more peek timeout, for the connection's setup; a connected peer has one. At
// 150 pods on two cores the most common timeout was a new pod's first connection to the
// pod holding the entry.
func TestPeekGivesAPeerNotYetConnectedASecondPeekTimeout(t *testing.T) {
	const peekTimeout = 800 * time.Millisecond // each answer is 400 ms from its deadline
	for _, tc := range []struct {
		name         string
		notConnected bool
		answerAfter  time.Duration
		want         string // the value peeked; "" for none
	}{
		{name: "not yet connected: answered after one and a half peek timeouts", notConnected: true,
			answerAfter: peekTimeout * 3 / 2, want: "v"},
		{name: "not yet connected: no answer within two peek timeouts", notConnected: true, answerAfter: 4 * peekTimeout},
		{name: "connected: no answer within one peek timeout", answerAfter: peekTimeout * 3 / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{Window: time.Minute, PeekTimeout: peekTimeout}), withClock(newFakeClock()))
			r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
			t.Cleanup(func() { r.stop(); r.closeClients() })
			r.lateRuns = func() uint64 { return 0 } // never starved: one ask only
			p := &connectingPeeker{fakePeeker: fakePeeker{value: []byte("v"), after: tc.answerAfter}, notConnected: tc.notConnected}
			r.snap.Store(&snapshot{ring: testRing(t, "s:1"), self: 0, clients: map[string]peerGetter{"p:1": p},
				handoff: &handoffState{self: "s:1", past: []pastRing{{ring: testRing(t, "p:1")}}}})
			if value, ok := r.peekPrevious(t.Context(), "g", "k"); string(value) != tc.want || ok != (tc.want != "") {
				t.Errorf("peekPrevious = %q, %v; want %q", value, ok, tc.want)
			}
		})
	}
}

// lateHitPeeker answers its first peek with value, but only once the peek's deadline has
// passed (the answer came while the asking pod could not run, and it read it late);
// later peeks time out.
type lateHitPeeker struct {
	value []byte
	asked atomic.Int32
}

func (f *lateHitPeeker) Get(context.Context, *groupcachepb.GetRequest, *groupcachepb.GetResponse) error {
	return errNotCached
}
func (f *lateHitPeeker) Peek(ctx context.Context, _, _ string) ([]byte, error) {
	<-ctx.Done()
	if f.asked.Add(1) == 1 {
		return f.value, nil
	}
	return nil, status.FromContextError(ctx.Err()).Err()
}
func (f *lateHitPeeker) Close() error { return nil }

// TestPeekKeepsAHitReadAfterItsDeadline: a peek that returned the value, but whose
// deadline had passed by the time the load looked (this pod was starved meanwhile), is a
// hit: the value is used and the peer is not asked again.
func TestPeekKeepsAHitReadAfterItsDeadline(t *testing.T) {
	cfg := testConfig(WithHandoff(Handoff{Window: time.Minute, PeekTimeout: 20 * time.Millisecond}), withClock(newFakeClock()))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	var runs atomic.Uint64
	r.lateRuns = func() uint64 { return runs.Add(1) } // starved throughout
	p := &lateHitPeeker{value: []byte("v")}
	r.snap.Store(&snapshot{ring: testRing(t, "s:1"), self: 0, clients: map[string]peerGetter{"p:1": p},
		handoff: &handoffState{self: "s:1", past: []pastRing{{ring: testRing(t, "p:1")}}}})
	value, ok := r.peekPrevious(t.Context(), "g", "k")
	if string(value) != "v" || !ok {
		t.Errorf("peekPrevious = %q, %v; want the value the peer answered, \"v\", true", value, ok)
	}
	if got := p.asked.Load(); got != 1 {
		t.Errorf("the peer was asked %d times, want 1: its answer was a hit", got)
	}
}
