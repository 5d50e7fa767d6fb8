package k8s

// Tests of the router: what each view publishes, that a published snapshot is never
// changed, and that nothing is published after stop.

import (
	"maps"
	"slices"
	"testing"
	"time"
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
