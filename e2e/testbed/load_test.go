package testbed

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPick: a pass asks every key once, in order, through the pods in turn, and the next pass
// starts one pod further, so that each key goes through another pod.
func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name        string
		keys, pods  int
		wantKeys    []int // for n = 0, 1, ...
		wantThrough []int
	}{
		{"one pod", 3, 1, []int{0, 1, 2, 0, 1, 2}, []int{0, 0, 0, 0, 0, 0}},
		{"keys a multiple of the pods: shifted each pass", 4, 2, []int{0, 1, 2, 3, 0, 1, 2, 3, 0}, []int{0, 1, 0, 1, 1, 0, 1, 0, 0}},
		{"three keys, three pods", 3, 3, []int{0, 1, 2, 0, 1, 2, 0, 1, 2}, []int{0, 1, 2, 1, 2, 0, 2, 0, 1}},
		{"more pods than keys", 2, 3, []int{0, 1, 0, 1, 0, 1}, []int{0, 1, 1, 2, 2, 0}},
		{"keys + 1 a multiple of the pods: still shifted", 5, 3, []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, []int{0, 1, 2, 0, 1, 1, 2, 0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys, through []int
			for n := range tc.wantKeys {
				k, p := pick(n, tc.keys, tc.pods)
				keys, through = append(keys, k), append(through, p)
			}
			if !slices.Equal(keys, tc.wantKeys) || !slices.Equal(through, tc.wantThrough) {
				t.Errorf("pick over n = 0.. gives keys %v through pods %v; want keys %v through %v", keys, through, tc.wantKeys, tc.wantThrough)
			}
		})
	}
}

// TestPassCounter: a pass is complete once every Get in it has finished, in any order, and
// only after every pass before it.
func TestPassCounter(t *testing.T) {
	for _, tc := range []struct {
		name         string
		size         int
		finish       []int // Gets finished, in this order
		wantComplete int
		wantReported int // how many finish calls reported a completed pass
	}{
		{"nothing finished", 3, nil, 0, 0},
		{"one pass in order", 3, []int{0, 1, 2}, 1, 1},
		{"one pass out of order", 3, []int{2, 0, 1}, 1, 1},
		{"a later pass first waits for the earlier", 2, []int{2, 3, 0}, 0, 0},
		{"the earlier pass completes both", 2, []int{2, 3, 0, 1}, 2, 1},
		{"a pass with a Get missing", 3, []int{0, 1, 3, 4, 5}, 0, 0},
		{"size one", 1, []int{0, 1, 2}, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newPassCounter(tc.size)
			reported := 0
			for _, n := range tc.finish {
				if c.finish(n) {
					reported++
				}
			}
			if c.complete != tc.wantComplete || reported != tc.wantReported {
				t.Errorf("after finishing %v: %d passes complete, %d reported; want %d and %d",
					tc.finish, c.complete, reported, tc.wantComplete, tc.wantReported)
			}
		})
	}
	for _, tc := range []struct{ size, next, want int }{
		{10, 0, 0}, {10, 1, 1}, {10, 10, 1}, {10, 11, 2}, {1, 5, 5},
	} {
		c := newPassCounter(tc.size)
		if got := c.startedBy(tc.next); got != tc.want {
			t.Errorf("passes of %d started once Gets 0 to %d had started = %d, want %d", tc.size, tc.next-1, got, tc.want)
		}
	}
}

// TestLoad: the generator asks every key through every pod it is given, counts the passes,
// names each new loader once, and takes pods in and out of traffic.
func TestLoad(t *testing.T) {
	a, b := &loader{name: "a"}, &loader{name: "b"}
	pa, pb := fakeExample(t, "a", a), fakeExample(t, "b", b)
	keys := Keys("k-", 10)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	load := StartLoad(ctx, keys, 3, pa)
	defer load.Stop()
	if err := load.WaitPasses(ctx, 1); err != nil {
		t.Fatal(err)
	}
	load.Add(pb)
	load.Add(pb) // twice is once
	if err := load.WaitPasses(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if served, _ := b.asked(); len(served) < len(keys) {
		t.Errorf("after two passes with b added, b was asked %d Gets; want at least a pass's worth (%d)", len(served), len(keys))
	}
	// Two passes through a and b ask each key through both: each is named as a loader once.
	byKey := map[string][]string{}
	for _, l := range load.Loads() {
		byKey[l.Key] = append(byKey[l.Key], l.LoadedBy)
		if l.Via != l.LoadedBy || l.At.IsZero() {
			t.Errorf("answer %+v: want it seen via the pod that the fake names as loader, with a time", l)
		}
	}
	for _, key := range keys {
		if got := slices.Sorted(slices.Values(byKey[key])); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("loaders of %s = %v; want a and b, each once", key, byKey[key])
		}
	}

	load.Remove(pa)
	if err := load.WaitPasses(ctx, 1); err != nil { // Gets in flight at Remove finish meanwhile
		t.Fatal(err)
	}
	before, _ := a.asked()
	if err := load.WaitPasses(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if after, _ := a.asked(); len(after) != len(before) {
		t.Errorf("a was asked %d more Gets after it was removed and a pass later; want none", len(after)-len(before))
	}
	load.Stop()
	gets := load.Gets()
	if failures := load.Failures(); len(failures) > 0 {
		t.Errorf("failures = %v; want none", failures)
	}
	if durations := load.Durations(); len(durations) != gets || gets < 5*len(keys) {
		t.Errorf("%d Gets, %d durations; want one each and at least 5 passes of %d", gets, len(durations), len(keys))
	}
}

// TestLoadKeepsTheSlowestGets: of all its Gets a Load keeps the ten slowest, slowest first,
// with the key, the pod asked, when each started and what it answered.
func TestLoadKeepsTheSlowestGets(t *testing.T) {
	delay := map[string]time.Duration{"k-1": 300 * time.Millisecond, "k-3": 150 * time.Millisecond}
	pod := fakeExample(t, "a", &loader{name: "a", delay: delay})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	load := StartLoad(ctx, Keys("k-", 6), 2, pod)
	if err := load.WaitPasses(ctx, 3); err != nil {
		t.Fatal(err)
	}
	load.Stop()
	slowest := load.Slowest()
	if len(slowest) != keptSlowest {
		t.Fatalf("%d Gets kept of %d; want %d", len(slowest), load.Gets(), keptSlowest)
	}
	if !slices.IsSortedFunc(slowest, func(a, b SlowGet) int { return cmp.Compare(b.Took, a.Took) }) {
		t.Errorf("slowest = %+v; want slowest first", slowest)
	}
	for i, g := range slowest {
		want := "k-1"
		if i >= 3 {
			want = "k-3" // three passes: three Gets of each delayed key
		}
		if i < 6 && (g.Key != want || g.Took < delay[want]) {
			t.Errorf("slowest[%d] = %s after %s; want %s, at least %s", i, g.Key, g.Took, want, delay[want])
		}
		if g.Pod != "a" || g.Result.ServedBy != "a" || g.Err != nil || g.Start.Before(start) {
			t.Errorf("slowest[%d] = %+v; want asked through a after %s, answered by a", i, g, start.Format(time.StampMilli))
		}
	}
}

// TestLoadFailures: a wrong value is a failure that names the key and the pod; so is a pod that
// does not answer; the Gets cut short by Stop are not.
func TestLoadFailures(t *testing.T) {
	wrong := fakeExample(t, "w", &loader{name: "w", wrong: map[string]bool{"k-1": true}})
	gone := fakePod("gone", "127.0.0.254") // nothing listens there
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	load := StartLoad(ctx, Keys("k-", 3), 2, wrong)
	if err := load.WaitPasses(ctx, 1); err != nil {
		t.Fatal(err)
	}
	load.Remove(wrong)
	load.Add(gone)
	if err := load.WaitPasses(ctx, 1); err != nil {
		t.Fatal(err)
	}
	load.Stop()
	var wrongKeys, unreachable int
	for _, f := range load.Failures() {
		switch {
		case f.Pod == "w" && f.Key == "k-1" && strings.Contains(f.Err.Error(), `= "stale"`):
			wrongKeys++
		case f.Pod == "gone" && f.Err != nil:
			unreachable++
		default:
			t.Errorf("unexpected failure %+v", f)
		}
		if errors.Is(f.Err, context.Canceled) {
			t.Errorf("a Get cut short by Stop counted as a failure: %+v", f)
		}
		if f.Took <= 0 || f.At.IsZero() {
			t.Errorf("failure %+v: want when it ended and how long it took", f)
		}
	}
	if wrongKeys == 0 || unreachable < 3 {
		t.Errorf("%d wrong values of k-1 and %d Gets to the pod that is gone failed; want at least 1 and 3", wrongKeys, unreachable)
	}
}

// TestWaitPassesNoPods: with no pod to ask no pass completes, and the wait says how far it got.
func TestWaitPassesNoPods(t *testing.T) {
	load := StartLoad(t.Context(), Keys("k-", 3), 2)
	defer load.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := load.WaitPasses(ctx, 1)
	if want := "0 of 1 passes over 3 keys complete"; err == nil || !strings.Contains(err.Error(), want) ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitPasses with no pods = %v; want the deadline, saying %q", err, want)
	}
}

// TestPacedLoad: a paced Load starts one Get per interval, one at a time: two passes over
// five keys take at least ten intervals, and no two Gets overlap.
func TestPacedLoad(t *testing.T) {
	const every = 20 * time.Millisecond
	g := &gauge{}
	pod := fakeExample(t, "a", &loader{name: "a", gauge: g})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	keys := Keys("k-", 5)
	start := time.Now()
	load := StartPacedLoad(ctx, keys, every, pod)
	if err := load.WaitPasses(ctx, 2); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	load.Stop()
	if want := 2 * time.Duration(len(keys)) * every; took < want {
		t.Errorf("two paced passes over %d keys took %v; want at least %v", len(keys), took, want)
	}
	if failures := load.Failures(); len(failures) > 0 {
		t.Errorf("failures = %v; want none", failures)
	}
	if g.most != 1 {
		t.Errorf("at most %d Gets were in flight at once; want 1", g.most)
	}
}
