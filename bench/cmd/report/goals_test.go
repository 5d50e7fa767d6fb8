package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// put sets the cell of unit, row and impl.
func (s summary) put(unit, row, impl string, c cell) {
	if s[unit] == nil {
		s[unit] = make(map[string]map[string]cell)
	}
	if s[unit][row] == nil {
		s[unit][row] = make(map[string]cell)
	}
	s[unit][row][impl] = c
}

// drop removes the cell of unit, row and impl.
func (s summary) drop(unit, row, impl string) { delete(s[unit][row], impl) }

// goodResults is a run that meets every goal with room to spare.
func goodResults() *results {
	r := &results{picker: summary{}, remote: summary{}, watchers: summary{}, handoff: summary{}, peerCost: summary{}}
	for _, n := range pickerSizes {
		for bench, ours := range map[string]float64{"PickPeer": 10e-9, "PickPeerParallel": 5e-9} {
			row := fmt.Sprintf("%s/N=%d", bench, n)
			r.picker.put("sec/op", row, "ours", cell{Center: ours})
			r.picker.put("sec/op", row, "consistenthash", cell{Center: 100e-9})
			r.picker.put("sec/op", row, "httppool", cell{Center: 120e-9})
			for _, impl := range []string{"ours", "consistenthash", "httppool"} {
				r.picker.put("allocs/op", row, impl, cell{Center: map[bool]float64{true: 0, false: 1}[impl == "ours"]})
			}
		}
		row := fmt.Sprintf("Rebuild/N=%d", n)
		r.picker.put("sec/op", row, "ours", cell{Center: 5e-3})
		r.picker.put("sec/op", row, "newRing", cell{Center: 4e-3})
		r.quality = append(r.quality, Quality{N: n, Exact: true, BusiestOursExact: 1.04,
			Leave: Moves{OursSpurious: 0.1}, Join: Moves{OursSpurious: 0.2}})
	}
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			row := fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers)
			r.remote.put("B/s", row, "httppool", cell{Center: 100e6})
			r.remote.put("B/s", row, "grpc", cell{Center: 110e6, VsBase: "+10%"})
			r.remote.put("p99-sec", row, "httppool", cell{Center: 2e-3})
			r.remote.put("p99-sec", row, "grpc", cell{Center: 1e-3, VsBase: "-50%"})
			r.remote.put("client-wakeups/op", row, "httppool", cell{Center: 6})
			r.remote.put("client-wakeups/op", row, "grpc", cell{Center: 6.5, VsBase: "~"})
			r.remote.put("server-wakeups/op", row, "httppool", cell{Center: 6})
			r.remote.put("server-wakeups/op", row, "grpc", cell{Center: 7, VsBase: "+17%"})
			r.remote.put("client-cpu-sec/op", row, "httppool", cell{Center: 50e-6})
			r.remote.put("client-cpu-sec/op", row, "grpc", cell{Center: 55e-6, VsBase: "+10%"})
			r.remote.put("server-cpu-sec/op", row, "httppool", cell{Center: 40e-6})
			r.remote.put("server-cpu-sec/op", row, "grpc", cell{Center: 42e-6, VsBase: "~"})
		}
	}
	r.watchers.put("p99-ms", "Convergence", "ours", cell{Center: 50})
	r.watchers.put("p99-ms", "Convergence", "informer", cell{Center: 52, VsBase: "+4%"})
	r.watchers.put("heap-KiB", "Heap/endpoints=1000", "ours", cell{Center: 100})
	r.watchers.put("heap-KiB", "Heap/endpoints=1000", "informer", cell{Center: 1000, VsBase: "+900%"})
	r.watchers.put("lists/start", "APILoad", "ours", cell{Center: 1})
	r.watchers.put("lists/20-ends", "APILoad", "ours", cell{Center: 0})
	for impl, c := range map[string]struct{ peeks, p99, time float64 }{
		withoutHandoff: {0, 20e-6, 4e-6}, outsideWindow: {0, 20e-6, 4e-6}, insideWindow: {1, 420e-6, 250e-6},
	} {
		vs := map[bool]string{true: "", false: "~"}[impl == withoutHandoff]
		if impl == insideWindow {
			vs = "+2000%"
		}
		r.handoff.put("peeks/op", peekMissRow, impl, cell{Center: c.peeks})
		r.handoff.put("p99-sec", peekMissRow, impl, cell{Center: c.p99, VsBase: vs})
		r.handoff.put("sec/op", peekMissRow, impl, cell{Center: c.time, VsBase: vs})
	}
	for _, n := range peerCounts {
		row := peerCostRow(n)
		for impl, c := range map[string]struct{ goroutines, heap, files float64 }{
			"httppool/idle": {0.01, 2500, 0.003}, "httppool/used": {0.2, 3900, 0.1}, "httppool/srv": {1, 10000, 1},
			"grpc/idle": {0.01, 560, 0.003}, "grpc/used": {1.9, 7000, 1}, "grpc/srv": {2, 6000, 1},
		} {
			impl, phase, _ := strings.Cut(impl, "/")
			r.peerCost.put(phase+"-goroutines/peer", row, impl, cell{Center: c.goroutines, CI: "∞"})
			r.peerCost.put(phase+"-heap-B/peer", row, impl, cell{Center: c.heap, CI: "∞"})
			r.peerCost.put(phase+"-files/peer", row, impl, cell{Center: c.files, CI: "∞"})
		}
	}
	r.membership = &membershipRun{Passed: true, Cases: []membershipCase{
		{What: "scale-up 3 → 4", Keys: 1000, Handoff: modeResult{Reloaded: 1, Took: 7 * time.Second},
			NoHandoff: modeResult{Reloaded: 248, Took: 6 * time.Second}, HTTPPool: modeResult{Reloaded: 270, Took: 3 * time.Second}},
		{What: "scale-down 4 → 3", Keys: 1000, Handoff: modeResult{Reloaded: 0, Took: 7 * time.Second},
			NoHandoff: modeResult{Reloaded: 215, Took: 4 * time.Second}, HTTPPool: modeResult{Reloaded: 232, Took: 4 * time.Second, FailedGets: 3}},
		{What: "rolling update", Keys: 1000, Handoff: modeResult{Reloaded: 5, Took: 20 * time.Second},
			NoHandoff: modeResult{Reloaded: 1433, Took: 19 * time.Second}, HTTPPool: modeResult{Reloaded: 1400, Took: 15 * time.Second}},
	}}
	return r
}

// membershipCaseOf is the case of r whose name starts with prefix.
func membershipCaseOf(r *results, prefix string) *membershipCase {
	for i := range r.membership.Cases {
		if strings.HasPrefix(r.membership.Cases[i].What, prefix) {
			return &r.membership.Cases[i]
		}
	}
	panic("no case " + prefix)
}

// verdictOf is the verdict whose goal starts with prefix.
func verdictOf(t *testing.T, vs []verdict, prefix string) verdict {
	t.Helper()
	for _, v := range vs {
		if strings.HasPrefix(v.Goal, prefix) {
			return v
		}
	}
	t.Fatalf("no verdict for a goal starting %q", prefix)
	return verdict{}
}

func TestEvaluateGoalsAllMet(t *testing.T) {
	vs := evaluateGoals(goodResults())
	want := []string{
		"picker: lookup ≤ 20 ns and 0 allocations at every size",
		"picker: ≥ 5× faster than consistenthash at 100 peers",
		"picker: busiest peer ≤ 1.05× fair share",
		"picker: keys moved between surviving peers ≤ 0.5 % on one join or leave",
		"picker: rebuild ≤ 10 ms at 1000 peers",
		"transport: throughput ≥ HTTPPool's at every size and concurrency",
		"transport: p99 no worse than HTTPPool's",
		"Watcher: convergence p99 no worse than the informer's",
		"Watcher: heap ≤ 1/4 of the informer's at 1000 endpoints",
		"Watcher: exactly one LIST in steady state, none on a normal watch end",
		"hand-off: inside the window a peek miss adds at most 1 peek and 1 ms of p99 (loopback); outside it, no change",
		"Rolling update of every pod, scale-up and scale-down: at most 1 % of a warm working set loaded again, with zero failed gets",
		"cost of N peers: at 1000 peers ≤ 2 goroutines and ≤ 8 KiB of heap per peer, before traffic and after a Get to each",
	}
	if len(vs) != len(want) {
		t.Fatalf("%d verdicts, want %d", len(vs), len(want))
	}
	for i, v := range vs {
		if v.Goal != want[i] {
			t.Errorf("goal %d is %q, want %q", i, v.Goal, want[i])
		}
		if v.Status != met {
			t.Errorf("%s: status %v (%s), want met", v.Goal, v.Status, v.Result)
		}
	}
}

func TestEvaluateGoalsWithoutWatchers(t *testing.T) {
	r := goodResults()
	r.watchers = nil // part 3 not run: its goals are not judged, not unmeasured
	for _, v := range evaluateGoals(r) {
		if v.Part == watcherPart {
			t.Errorf("judged %q without part 3", v.Goal)
		}
	}
}

// TestEvaluateGoalsWithoutPeekMiss checks that results that predate BenchmarkPeekMiss
// leave its goal unmeasured, and every other goal as it was.
func TestEvaluateGoalsWithoutPeekMiss(t *testing.T) {
	r := goodResults()
	r.handoff = nil
	for _, v := range evaluateGoals(r) {
		want := met
		if v.Part == handoffPart {
			want = unmeasured
		}
		if v.Status != want {
			t.Errorf("%s: status %v (%s), want %v", v.Goal, v.Status, v.Result, want)
		}
	}
}

func TestEvaluateGoals(t *testing.T) {
	above := func(x float64) float64 { return math.Nextafter(x, math.Inf(1)) }
	remoteRow := "RemoteGet/size=100B/callers=1"
	for _, c := range []struct {
		name   string
		goal   string // prefix of the goal
		edit   func(r *results)
		want   status
		result string // "" to leave the result unchecked
		also   string // prefix of another goal the edit may change
	}{
		// Lookup: every size at most the limit, no allocation.
		{"lookup at the limit", "picker: lookup", func(r *results) {
			r.picker.put("sec/op", "PickPeer/N=1000", "ours", cell{Center: lookupLimit})
		}, met, "at most 20.0 ns (median), 0 allocations", ""},
		{"lookup just over the limit", "picker: lookup", func(r *results) {
			r.picker.put("sec/op", "PickPeer/N=3", "ours", cell{Center: above(lookupLimit)})
		}, missed, "at most 20.0 ns (median), 0 allocations", ""},
		{"lookup allocates", "picker: lookup", func(r *results) {
			r.picker.put("allocs/op", "PickPeer/N=100", "ours", cell{Center: 1})
		}, missed, "at most 10.0 ns (median), allocates", ""},
		{"lookup missing at one size", "picker: lookup", func(r *results) {
			r.picker.drop("sec/op", "PickPeer/N=1000", "ours")
		}, unmeasured, "not measured: sec/op of PickPeer/N=1000, impl=ours", ""},
		{"lookup missing everywhere", "picker: lookup", func(r *results) {
			for _, n := range pickerSizes {
				r.picker.drop("sec/op", fmt.Sprintf("PickPeer/N=%d", n), "ours")
			}
		}, unmeasured, "not measured: sec/op of PickPeer/N=3, impl=ours (and 3 more)", "picker: ≥"},

		// Speed-up at 100 peers; the parallel figures only inform.
		{"speed-up exactly 5×", "picker: ≥", func(r *results) {
			r.picker.put("sec/op", "PickPeer/N=100", "consistenthash", cell{Center: 50e-9})
		}, met, "5.00× (parallel: 24× faster than HTTPPool)", ""},
		{"speed-up under 5×", "picker: ≥", func(r *results) {
			r.picker.put("sec/op", "PickPeer/N=100", "consistenthash", cell{Center: 49e-9})
		}, missed, "4.90× (parallel: 24× faster than HTTPPool)", ""},
		{"speed-up without consistenthash", "picker: ≥", func(r *results) {
			r.picker.drop("sec/op", "PickPeer/N=100", "consistenthash")
		}, unmeasured, "not measured: sec/op of PickPeer/N=100, impl=consistenthash", ""},
		{"speed-up without the parallel figures", "picker: ≥", func(r *results) {
			r.picker.drop("sec/op", "PickPeerParallel/N=100", "httppool")
		}, met, "10× (parallel: – faster than HTTPPool)", ""},

		// Balance and movement, exact figures only.
		{"busiest at the limit", "picker: busiest", func(r *results) {
			r.quality[2].BusiestOursExact = busiestLimit
		}, met, "at most 1.050 (exact)", ""},
		{"busiest over the limit", "picker: busiest", func(r *results) {
			r.quality[3].BusiestOursExact = above(busiestLimit)
		}, missed, "", ""},
		{"busiest not exact", "picker: busiest", func(r *results) {
			r.quality[1].Exact = false
		}, unmeasured, "not measured: exact figures at N=10 (PickPeer disagreed with the slot model)", "picker: keys moved"},
		{"no quality figures", "picker: busiest", func(r *results) {
			r.quality = nil
		}, unmeasured, "not measured", "picker: keys moved"},
		{"spurious at the limit", "picker: keys moved", func(r *results) {
			r.quality[3].Join.OursSpurious = spuriousLimit
		}, met, "at most 0.500 %", ""},
		{"spurious over the limit on a leave", "picker: keys moved", func(r *results) {
			r.quality[0].Leave.OursSpurious = above(spuriousLimit)
		}, missed, "", ""},

		// Rebuild: the table alone and the whole update.
		{"rebuild at the limit", "picker: rebuild", func(r *results) {
			r.picker.put("sec/op", "Rebuild/N=1000", "ours", cell{Center: rebuildLimit})
		}, met, "table 4.00 ms; whole update from the watch event 10.00 ms", ""},
		{"whole update over the limit", "picker: rebuild", func(r *results) {
			r.picker.put("sec/op", "Rebuild/N=1000", "ours", cell{Center: above(rebuildLimit)})
		}, missed, "", ""},
		{"rebuild without the root's newRing", "picker: rebuild", func(r *results) {
			r.picker.drop("sec/op", "Rebuild/N=1000", "newRing")
		}, unmeasured, "not measured: sec/op of Rebuild/N=1000, impl=newRing", ""},

		// Transport: every case at least equal, or not significantly different.
		{"throughput equal", "transport: throughput", func(r *results) {
			r.remote.put("B/s", remoteRow, "grpc", cell{Center: 100e6})
		}, met, "8 of 8 cases at least equal or not significantly different", ""},
		{"throughput behind within noise", "transport: throughput", func(r *results) {
			r.remote.put("B/s", remoteRow, "grpc", cell{Center: 90e6, VsBase: "~"})
		}, withinNoise, "8 of 8 cases at least equal or not significantly different", ""},
		{"throughput behind in two cases", "transport: throughput", func(r *results) {
			r.remote.put("B/s", remoteRow, "grpc", cell{Center: 50e6, VsBase: "-50%"})
			r.remote.put("B/s", "RemoteGet/size=4MiB/callers=64", "grpc", cell{Center: 80e6, VsBase: "-20%"})
		}, missed, "6 of 8 cases at least equal or not significantly different; worst 0.50× at 100B × 1 caller", ""},
		{"throughput missing a case", "transport: throughput", func(r *results) {
			r.remote.drop("B/s", "RemoteGet/size=4MiB/callers=64", "httppool")
		}, unmeasured, "not measured: B/s of RemoteGet/size=4MiB/callers=64, impl=httppool", ""},
		{"p99 equal", "transport: p99", func(r *results) {
			r.remote.put("p99-sec", remoteRow, "grpc", cell{Center: 2e-3})
		}, met, "8 of 8 cases at most equal or not significantly different", ""},
		{"p99 worse within noise", "transport: p99", func(r *results) {
			r.remote.put("p99-sec", remoteRow, "grpc", cell{Center: 3e-3, VsBase: "~"})
		}, withinNoise, "", ""},
		{"p99 worse in two cases", "transport: p99", func(r *results) {
			r.remote.put("p99-sec", remoteRow, "grpc", cell{Center: 3e-3, VsBase: "+50%"})
			r.remote.put("p99-sec", "RemoteGet/size=4KiB/callers=64", "grpc", cell{Center: 5e-3, VsBase: "+150%"})
		}, missed, "6 of 8 cases at most equal or not significantly different; worst 2.50× at 4KiB × 64 callers", ""},

		// Watchers.
		{"convergence equal", "Watcher: convergence", func(r *results) {
			r.watchers.put("p99-ms", "Convergence", "ours", cell{Center: 52})
		}, met, "52.0 ms against 52.0 ms (1.00×)", ""},
		{"convergence worse within noise", "Watcher: convergence", func(r *results) {
			r.watchers.put("p99-ms", "Convergence", "informer", cell{Center: 48, VsBase: "~"})
		}, withinNoise, "50.0 ms against 48.0 ms (1.04× ~)", ""},
		{"convergence worse", "Watcher: convergence", func(r *results) {
			r.watchers.put("p99-ms", "Convergence", "informer", cell{Center: 40, VsBase: "-20%"})
		}, missed, "50.0 ms against 40.0 ms (1.25×)", ""},
		{"convergence without the informer", "Watcher: convergence", func(r *results) {
			r.watchers.drop("p99-ms", "Convergence", "informer")
		}, unmeasured, "not measured: p99-ms of Convergence, impl=informer", ""},
		{"heap at a quarter", "Watcher: heap", func(r *results) {
			r.watchers.put("heap-KiB", "Heap/endpoints=1000", "ours", cell{Center: 250})
		}, met, "250 KiB against 1000 KiB (0.25)", ""},
		{"heap over a quarter", "Watcher: heap", func(r *results) {
			r.watchers.put("heap-KiB", "Heap/endpoints=1000", "ours", cell{Center: 251})
		}, missed, "", ""},
		{"heap of ours missing", "Watcher: heap", func(r *results) {
			r.watchers.drop("heap-KiB", "Heap/endpoints=1000", "ours")
		}, unmeasured, "not measured: heap-KiB of Heap/endpoints=1000, impl=ours", ""},
		{"two LISTs at start", "Watcher: exactly one LIST", func(r *results) {
			r.watchers.put("lists/start", "APILoad", "ours", cell{Center: 2})
		}, missed, "2 LIST at start, 0 over 20 watch ends", ""},
		{"a LIST on a watch end", "Watcher: exactly one LIST", func(r *results) {
			r.watchers.put("lists/20-ends", "APILoad", "ours", cell{Center: 1})
		}, missed, "1 LIST at start, 1 over 20 watch ends", ""},
		{"LISTs at start missing", "Watcher: exactly one LIST", func(r *results) {
			r.watchers.drop("lists/start", "APILoad", "ours")
		}, unmeasured, "not measured: lists/start of APILoad, impl=ours", ""},

		// The hand-off: inside the window one peek and 1 ms of p99 more; outside, no change.
		{"peek miss as measured", "hand-off:", func(r *results) {},
			met, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"p99 inside the window 1 ms more", "hand-off:", func(r *results) {
			r.handoff.put("p99-sec", peekMissRow, insideWindow, cell{Center: 20e-6 + peekP99More})
		}, met, "", ""},
		{"p99 inside the window over 1 ms more", "hand-off:", func(r *results) {
			r.handoff.put("p99-sec", peekMissRow, insideWindow, cell{Center: above(20e-6 + peekP99More), VsBase: "+5000%"})
		}, missed, "inside: 1 peek a load, p99 +1.00 ms (1.02 ms against 20.0 µs); outside: 0 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"two peeks a load inside the window", "hand-off:", func(r *results) {
			r.handoff.put("peeks/op", peekMissRow, insideWindow, cell{Center: 2})
		}, missed, "", ""},
		{"a peek outside the window", "hand-off:", func(r *results) {
			r.handoff.put("peeks/op", peekMissRow, outsideWindow, cell{Center: 0.5})
		}, missed, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0.5 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"p99 outside the window worse within noise", "hand-off:", func(r *results) {
			r.handoff.put("p99-sec", peekMissRow, outsideWindow, cell{Center: 30e-6, VsBase: "~"})
		}, withinNoise, "", ""},
		{"p99 outside the window worse", "hand-off:", func(r *results) {
			r.handoff.put("p99-sec", peekMissRow, outsideWindow, cell{Center: 30e-6, VsBase: "+50%"})
		}, missed, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0 peeks, p99 1.50×, time 1.00× ~", ""},
		{"time outside the window worse", "hand-off:", func(r *results) {
			r.handoff.put("sec/op", peekMissRow, outsideWindow, cell{Center: 5e-6, VsBase: "+25%"})
		}, missed, "", ""},
		{"peek miss without the baseline", "hand-off:", func(r *results) {
			r.handoff.drop("p99-sec", peekMissRow, withoutHandoff)
		}, unmeasured, "not measured: p99-sec of PeekMiss, impl=without-handoff", ""},

		// Membership changes: with the hand-off, at most 1 % of the keys loaded again and no
		// failed Get, in every case; the other modes do not count.
		{"reloads as measured", "Rolling update", func(r *results) {},
			met, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 0 (0.0 %) of 1000 keys; 0 failed gets", ""},
		{"reloads at the limit", "Rolling update", func(r *results) {
			membershipCaseOf(r, "rolling update").Handoff.Reloaded = 10
		}, met, "", ""},
		{"reloads over the limit", "Rolling update", func(r *results) {
			membershipCaseOf(r, "scale-down").Handoff.Reloaded = 11
		}, missed, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 11 (1.1 %) of 1000 keys; 0 failed gets", ""},
		{"a failed get with the hand-off", "Rolling update", func(r *results) {
			membershipCaseOf(r, "scale-up").Handoff.FailedGets = 1
		}, missed, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 0 (0.0 %) of 1000 keys; 1 failed get", ""},
		{"the other modes do not count", "Rolling update", func(r *results) {
			c := membershipCaseOf(r, "scale-up")
			c.NoHandoff.FailedGets, c.HTTPPool.FailedGets, c.HTTPPool.Reloaded = 2, 40, 1000
		}, met, "", ""},
		{"a case missing", "Rolling update", func(r *results) {
			r.membership.Cases = r.membership.Cases[:2]
		}, unmeasured, "not measured: no rolling update case in the e2e output", ""},
		{"e2e tests not run", "Rolling update", func(r *results) {
			r.membership = nil
		}, unmeasured, "not measured: the e2e hand-off tests' output (-skip-e2e skips them)", ""},

		// The cost of N peers: ours at 1000 peers, before traffic and after a Get to each,
		// at most 2 goroutines and 8 KiB of heap per peer; other sizes, the server side and
		// HTTPPool only inform.
		{"peer cost as measured", "cost of N peers", func(r *results) {}, met,
			"before traffic: goroutines 0.01, heap 560 B, open files 0.003 per peer; after a Get to each: goroutines 1.9, heap 6.8 KiB, open files 1 per peer", ""},
		{"peer cost at the limits", "cost of N peers", func(r *results) {
			r.peerCost.put("used-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: costGoroutine})
			r.peerCost.put("used-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: costHeap})
		}, met, "before traffic: goroutines 0.01, heap 560 B, open files 0.003 per peer; after a Get to each: goroutines 2, heap 8.0 KiB, open files 1 per peer", ""},
		{"goroutines after the Gets over the limit", "cost of N peers", func(r *results) {
			r.peerCost.put("used-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 2.01})
		}, missed, "", ""},
		{"heap before traffic over the limit", "cost of N peers", func(r *results) {
			r.peerCost.put("idle-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: above(costHeap)})
		}, missed, "", ""},
		{"smaller Services and the server side do not count", "cost of N peers", func(r *results) {
			r.peerCost.put("used-heap-B/peer", "PeerCost/N=10", "grpc", cell{Center: 40000})
			r.peerCost.put("srv-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 3})
			r.peerCost.put("used-heap-B/peer", "PeerCost/N=1000", "httppool", cell{Center: 1})
		}, met, "", ""},
		{"peer cost missing a figure", "cost of N peers", func(r *results) {
			r.peerCost.drop("used-heap-B/peer", "PeerCost/N=1000", "grpc")
		}, unmeasured, "not measured: used-heap-B/peer of PeerCost/N=1000, impl=grpc", ""},
		{"peer cost not run", "cost of N peers", func(r *results) {
			r.peerCost = nil
		}, unmeasured, "not measured: BenchmarkPeerCost (the results predate it)", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := goodResults()
			c.edit(r)
			vs := evaluateGoals(r)
			v := verdictOf(t, vs, c.goal)
			if v.Status != c.want {
				t.Errorf("status %v (%s), want %v", v.Status, v.Result, c.want)
			}
			if c.result != "" && v.Result != c.result {
				t.Errorf("result %q, want %q", v.Result, c.result)
			}
			for _, other := range vs { // an edit touches one goal
				if other.Goal != v.Goal && (c.also == "" || !strings.HasPrefix(other.Goal, c.also)) && other.Status != met {
					t.Errorf("%s: status %v (%s), want met", other.Goal, other.Status, other.Result)
				}
			}
		})
	}
}

func TestFigureStatus(t *testing.T) {
	for _, c := range []struct {
		name string
		f    figure
		want status
	}{
		{"at most, below", figure{Value: 1, Limit: 2, Cmp: atMost}, met},
		{"at most, equal", figure{Value: 2, Limit: 2, Cmp: atMost}, met},
		{"at most, above", figure{Value: 3, Limit: 2, Cmp: atMost}, missed},
		{"at most, above within noise", figure{Value: 3, Limit: 2, Cmp: atMost, Noise: true}, withinNoise},
		{"at least, equal", figure{Value: 2, Limit: 2, Cmp: atLeast}, met},
		{"at least, below", figure{Value: 1, Limit: 2, Cmp: atLeast}, missed},
		{"exactly, equal", figure{Value: 0, Limit: 0, Cmp: exactly}, met},
		{"exactly, off", figure{Value: 1, Limit: 0, Cmp: exactly}, missed},
		{"NaN holds nothing", figure{Value: math.NaN(), Limit: 5, Cmp: atLeast}, missed},
		{"missing beats everything", figure{Value: 1, Limit: 2, Cmp: atMost, Missing: "x"}, unmeasured},
	} {
		if got := c.f.status(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestStatusOK(t *testing.T) {
	for s, want := range map[status]bool{met: true, withinNoise: true, missed: false, unmeasured: false} {
		if s.ok() != want {
			t.Errorf("status %v: ok() = %v, want %v", s, s.ok(), want)
		}
	}
}
