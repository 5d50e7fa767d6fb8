package testbed

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRingOf(t *testing.T) {
	a, b, c := fakePod("a", "192.0.2.12"), fakePod("b", "192.0.2.10"), fakePod("c", "192.0.2.11")
	for _, tc := range []struct {
		name string
		pods []*Pod
		want []string
	}{
		{"no pods", nil, []string{}},
		{"one pod", []*Pod{a}, []string{"192.0.2.12:8081"}},
		{"sorted, whatever the order of the pods", []*Pod{a, c, b}, []string{"192.0.2.10:8081", "192.0.2.11:8081", "192.0.2.12:8081"}},
		{"the same in another order", []*Pod{b, a, c}, []string{"192.0.2.10:8081", "192.0.2.11:8081", "192.0.2.12:8081"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RingOf(tc.pods...); !slices.Equal(got, tc.want) {
				t.Errorf("RingOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestByPeerID(t *testing.T) {
	a, b := fakePod("a", "192.0.2.10"), fakePod("b", "192.0.2.11")
	m := ByPeerID([]*Pod{a, b})
	if len(m) != 2 || m["192.0.2.10:8081"] != a || m["192.0.2.11:8081"] != b {
		t.Errorf("ByPeerID = %v; want a and b by their peer ids", m)
	}
	if p := m["192.0.2.12:8081"]; p != nil {
		t.Errorf("an unknown peer id gave pod %s; want nil", p.Name)
	}
}

// TestRingMarks: Since is what came after the mark (everything for a pod not marked), and
// Unchanged names the first pod, in marking order, whose ring changed.
func TestRingMarks(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      map[string]int // rings each pod reported before the mark
		after       map[string]int // and after it
		wantSince   map[string]int // len(Since) by pod
		wantChanged string         // pod Unchanged names; "" for none
	}{
		{"nothing reported", nil, nil, map[string]int{"a": 0, "b": 0}, ""},
		{"rings before the mark only", map[string]int{"a": 2, "b": 1}, nil, map[string]int{"a": 0, "b": 0}, ""},
		{"one pod changed after", map[string]int{"a": 1, "b": 1}, map[string]int{"b": 2}, map[string]int{"a": 0, "b": 2}, "b"},
		{"both changed: the first marked is named", map[string]int{"a": 1}, map[string]int{"a": 1, "b": 1}, map[string]int{"a": 1, "b": 1}, "a"},
		{"a pod not marked: all its rings", map[string]int{"c": 2}, map[string]int{"c": 1}, map[string]int{"c": 3}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pods := map[string]*Pod{"a": fakePod("a", "192.0.2.10"), "b": fakePod("b", "192.0.2.11"), "c": fakePod("c", "192.0.2.12")}
			report := func(counts map[string]int) {
				for name, n := range counts {
					for range n {
						pods[name].addRings(t0, [][]string{{name}})
					}
				}
			}
			report(tc.before)
			marks := MarkRings(pods["a"], pods["b"])
			report(tc.after)
			for name, want := range tc.wantSince {
				if got := marks.Since(pods[name]); len(got) != want {
					t.Errorf("Since(%s) = %v, want %d rings", name, got, want)
				}
			}
			err := marks.Unchanged()
			switch {
			case tc.wantChanged == "" && err != nil:
				t.Errorf("Unchanged() = %v, want nil", err)
			case tc.wantChanged != "" && (err == nil || !strings.Contains(err.Error(), "the ring of "+tc.wantChanged+" changed")):
				t.Errorf("Unchanged() = %v, want the ring of %s changed", err, tc.wantChanged)
			}
		})
	}
}

// TestWaitRings: WaitRings returns when the last pod got the ring, not when the last pod was
// asked, and fails if a pod never gets there.
func TestWaitRings(t *testing.T) {
	a, b, c := fakePod("a", "192.0.2.10"), fakePod("b", "192.0.2.11"), fakePod("c", "192.0.2.12")
	ab := RingOf(a, b)
	a.addRings(t0, [][]string{{a.GroupcacheAddr()}})
	a.addRings(t0.Add(2*time.Second), [][]string{ab})
	b.addRings(t0.Add(time.Second), [][]string{{b.GroupcacheAddr(), a.GroupcacheAddr()}}) // any order
	for _, tc := range []struct {
		name     string
		on       []*Pod
		members  []*Pod
		later    func() // a ring reported while WaitRings waits
		wantAt   time.Time
		wantFail bool
	}{
		{"both there already: the later one", []*Pod{b, a}, []*Pod{a, b}, nil, t0.Add(2 * time.Second), false},
		{"no pods to wait on", nil, []*Pod{a}, nil, time.Time{}, false},
		{"one gets there while waiting", []*Pod{a, c}, []*Pod{b, a}, func() { c.addRings(t0.Add(5*time.Second), [][]string{ab}) }, t0.Add(5 * time.Second), false},
		{"one never gets there", []*Pod{a, b}, []*Pod{a, b, c}, nil, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if tc.later != nil {
				go func() {
					time.Sleep(20 * time.Millisecond)
					tc.later()
				}()
			}
			at, err := WaitRings(ctx, tc.on, tc.members)
			if tc.wantFail {
				if err == nil {
					t.Fatalf("WaitRings = %s, nil; want an error", at)
				}
				return
			}
			if err != nil || !at.Equal(tc.wantAt) {
				t.Errorf("WaitRings = %s, %v; want %s", at, err, tc.wantAt)
			}
		})
	}
}

func TestLastRingAt(t *testing.T) {
	p := fakePod("a", "192.0.2.10")
	if at := p.LastRingAt(); !at.IsZero() {
		t.Errorf("LastRingAt with no ring = %s, want zero", at)
	}
	p.addRings(t0, [][]string{{"x"}, {"x", "y"}})
	p.addRings(t0.Add(time.Second), [][]string{{"y"}})
	if at := p.LastRingAt(); !at.Equal(t0.Add(time.Second)) {
		t.Errorf("LastRingAt = %s, want %s", at, t0.Add(time.Second))
	}
}

// TestTransientDrops: a ring that leaves out a peer its previous ring held is a transient
// ring unless that peer's pod was made not ready, or began its delete, after since and
// before the ring; rings before since are not checked; a pod's first ring has nothing to
// drop from.
func TestTransientDrops(t *testing.T) {
	since := t0.Add(10 * time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name string
		// rings of pod a, each [time in s, peers...] as pod names; b and c only take part
		rings    [][]any
		notReady map[string]int // pod name -> second it was made not ready
		want     []string       // "pod a dropped X at s"
	}{
		{"rings that only grow", [][]any{{11, "a"}, {12, "a", "b"}, {13, "a", "b", "c"}}, nil, nil},
		{"a ready peer dropped and taken back", [][]any{{9, "a", "b", "c"}, {12, "a", "c"}, {13, "a", "b", "c"}}, nil,
			[]string{"a dropped b at 12"}},
		{"a peer dropped after it was made not ready", [][]any{{9, "a", "b", "c"}, {12, "a", "c"}}, map[string]int{"b": 11}, nil},
		{"a peer dropped before it was made not ready", [][]any{{9, "a", "b", "c"}, {12, "a", "c"}}, map[string]int{"b": 13},
			[]string{"a dropped b at 12"}},
		{"not ready before since does not excuse a drop", [][]any{{9, "a", "b", "c"}, {12, "a", "c"}}, map[string]int{"b": 5},
			[]string{"a dropped b at 12"}},
		{"a drop before since is not checked", [][]any{{8, "a", "b", "c"}, {9, "a", "c"}}, nil, nil},
		{"a peer of no pod given", [][]any{{9, "a", "x"}, {12, "a"}}, nil, []string{"a dropped x at 12"}},
		{"two peers dropped at once", [][]any{{9, "a", "b", "c"}, {12, "a"}}, map[string]int{"c": 11},
			[]string{"a dropped b at 12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pods := map[string]*Pod{"a": fakePod("a", "192.0.2.10"), "b": fakePod("b", "192.0.2.11"), "c": fakePod("c", "192.0.2.12")}
			id := func(name string) string {
				if p, ok := pods[name]; ok {
					return p.PeerID()
				}
				return "198.18.1.10:8081"
			}
			for _, r := range tc.rings {
				var peers []string
				for _, name := range r[1:] {
					peers = append(peers, id(name.(string)))
				}
				pods["a"].addRings(at(r[0].(int)), [][]string{peers})
			}
			for name, s := range tc.notReady {
				pods[name].readiness = append(pods[name].readiness, ReadinessChange{At: at(s), Ready: false})
			}
			var got []string
			for _, d := range TransientDrops([]*Pod{pods["a"], pods["b"], pods["c"]}, since) {
				name := d.PeerPod
				if name == "" {
					name = "x"
				}
				got = append(got, fmt.Sprintf("%s dropped %s at %d", d.Pod, name, int(d.At.Sub(t0)/time.Second)))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("TransientDrops = %q; want %q", got, tc.want)
			}
		})
	}
}
