package main

import (
	"math"
	"strings"
	"testing"
)

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
		"push: a leaving pod hands its 64 MiB cache to the new owners within 15 s (Handoff.Drain's default), every entry stored",
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

// TestHandoverGoal checks the hand-over's goal: the time within the drain's default and
// every entry stored.
func TestHandoverGoal(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(s summary)
		want   status
		result string // "" to leave it unchecked
	}{
		{"met", func(summary) {}, met, "64 MiB in 2.10 s (30.5 MiB/s); 1024 of 1024 entries stored; 64.1 MiB on the wire"},
		{"at the limit", func(s summary) { s.put("sec/op", handoverRow, "ours", cell{Center: handoverLimit}) }, met, ""},
		{"slower than the drain", func(s summary) { s.put("sec/op", handoverRow, "ours", cell{Center: 15.5}) }, missed, ""},
		{"an entry short", func(s summary) { s.put("received/op", handoverRow, "ours", cell{Center: 1023}) }, missed,
			"64 MiB in 2.10 s (30.5 MiB/s); 1023 of 1024 entries stored; 64.1 MiB on the wire"},
		{"no count of the entries held", func(s summary) { s.drop("held/op", handoverRow, "ours") }, unmeasured,
			"not measured: held/op of Handover/pods=3, impl=ours"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := goodResults()
			c.edit(r.handover)
			v := handoverGoal(r.handover)
			if v.Status != c.want {
				t.Errorf("status %v (%s), want %v", v.Status, v.Result, c.want)
			}
			if c.result != "" && v.Result != c.result {
				t.Errorf("result %q\n          want %q", v.Result, c.result)
			}
		})
	}
	if v := handoverGoal(nil); v.Status != unmeasured || v.Result != "not measured: BenchmarkHandover (the results predate it)" {
		t.Errorf("results that predate it: %v (%s), want not measured, saying so", v.Status, v.Result)
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
		edits  edits  // what differs from the good run
		want   status
		result string // "" to leave the result unchecked
		also   string // prefix of another goal the edits may change
	}{
		// Lookup: every size at most the limit, no allocation.
		{"lookup at the limit", "picker: lookup", edits{put{"picker", "sec/op", "PickPeer/N=1000", "ours", cell{Center: lookupLimit}}}, met, "at most 20.0 ns (median), 0 allocations", ""},
		{"lookup just over the limit", "picker: lookup", edits{put{"picker", "sec/op", "PickPeer/N=3", "ours", cell{Center: above(lookupLimit)}}}, missed, "at most 20.0 ns (median), 0 allocations", ""},
		{"lookup allocates", "picker: lookup", edits{put{"picker", "allocs/op", "PickPeer/N=100", "ours", cell{Center: 1}}}, missed, "at most 10.0 ns (median), allocates", ""},
		{"lookup missing at one size", "picker: lookup", edits{drop{"picker", "sec/op", "PickPeer/N=1000", "ours"}}, unmeasured, "not measured: sec/op of PickPeer/N=1000, impl=ours", ""},
		{"lookup missing everywhere", "picker: lookup", dropEverySize("picker", "sec/op", "PickPeer", "ours"), unmeasured, "not measured: sec/op of PickPeer/N=3, impl=ours (and 3 more)", "picker: ≥"},

		// Speed-up at 100 peers; the parallel figures only inform.
		{"speed-up exactly 5×", "picker: ≥", edits{put{"picker", "sec/op", "PickPeer/N=100", "consistenthash", cell{Center: 50e-9}}}, met, "5.00× (parallel: 24× faster than HTTPPool)", ""},
		{"speed-up under 5×", "picker: ≥", edits{put{"picker", "sec/op", "PickPeer/N=100", "consistenthash", cell{Center: 49e-9}}}, missed, "4.90× (parallel: 24× faster than HTTPPool)", ""},
		{"speed-up without consistenthash", "picker: ≥", edits{drop{"picker", "sec/op", "PickPeer/N=100", "consistenthash"}}, unmeasured, "not measured: sec/op of PickPeer/N=100, impl=consistenthash", ""},
		{"speed-up without the parallel figures", "picker: ≥", edits{drop{"picker", "sec/op", "PickPeerParallel/N=100", "httppool"}}, met, "10× (parallel: – faster than HTTPPool)", ""},

		// Balance and movement, exact figures only.
		{"busiest at the limit", "picker: busiest", edits{setQuality{2, "busiest", busiestLimit}}, met, "at most 1.050 (exact)", ""},
		{"busiest over the limit", "picker: busiest", edits{setQuality{3, "busiest", above(busiestLimit)}}, missed, "", ""},
		{"busiest not exact", "picker: busiest", edits{setQuality{1, "inexact", 0}}, unmeasured, "not measured: exact figures at N=10 (PickPeer disagreed with the slot model)", "picker: keys moved"},
		{"no quality figures", "picker: busiest", edits{without("quality")}, unmeasured, "not measured", "picker: keys moved"},
		{"spurious at the limit", "picker: keys moved", edits{setQuality{3, "join", spuriousLimit}}, met, "at most 0.500 %", ""},
		{"spurious over the limit on a leave", "picker: keys moved", edits{setQuality{0, "leave", above(spuriousLimit)}}, missed, "", ""},

		// Rebuild: the table alone and the whole update.
		{"rebuild at the limit", "picker: rebuild", edits{put{"picker", "sec/op", "Rebuild/N=1000", "ours", cell{Center: rebuildLimit}}}, met, "table 4.00 ms; whole update from the watch event 10.00 ms", ""},
		{"whole update over the limit", "picker: rebuild", edits{put{"picker", "sec/op", "Rebuild/N=1000", "ours", cell{Center: above(rebuildLimit)}}}, missed, "", ""},
		{"rebuild without the root's newRing", "picker: rebuild", edits{drop{"picker", "sec/op", "Rebuild/N=1000", "newRing"}}, unmeasured, "not measured: sec/op of Rebuild/N=1000, impl=newRing", ""},

		// Transport: every case at least equal, or not significantly different.
		{"throughput equal", "transport: throughput", edits{put{"remote", "B/s", remoteRow, "grpc", cell{Center: 100e6}}}, met, "8 of 8 cases at least equal or not significantly different", ""},
		{"throughput behind within noise", "transport: throughput", edits{put{"remote", "B/s", remoteRow, "grpc", cell{Center: 90e6, VsBase: "~"}}}, withinNoise, "8 of 8 cases at least equal or not significantly different", ""},
		{"throughput behind in two cases", "transport: throughput", edits{put{"remote", "B/s", remoteRow, "grpc", cell{Center: 50e6, VsBase: "-50%"}}, put{"remote", "B/s", "RemoteGet/size=4MiB/callers=64", "grpc", cell{Center: 80e6, VsBase: "-20%"}}}, missed, "6 of 8 cases at least equal or not significantly different; worst 0.50× at 100B × 1 caller", ""},
		{"throughput missing a case", "transport: throughput", edits{drop{"remote", "B/s", "RemoteGet/size=4MiB/callers=64", "httppool"}}, unmeasured, "not measured: B/s of RemoteGet/size=4MiB/callers=64, impl=httppool", ""},
		{"p99 equal", "transport: p99", edits{put{"remote", "p99-sec", remoteRow, "grpc", cell{Center: 2e-3}}}, met, "8 of 8 cases at most equal or not significantly different", ""},
		{"p99 worse within noise", "transport: p99", edits{put{"remote", "p99-sec", remoteRow, "grpc", cell{Center: 3e-3, VsBase: "~"}}}, withinNoise, "", ""},
		{"p99 worse in two cases", "transport: p99", edits{put{"remote", "p99-sec", remoteRow, "grpc", cell{Center: 3e-3, VsBase: "+50%"}}, put{"remote", "p99-sec", "RemoteGet/size=4KiB/callers=64", "grpc", cell{Center: 5e-3, VsBase: "+150%"}}}, missed, "6 of 8 cases at most equal or not significantly different; worst 2.50× at 4KiB × 64 callers", ""},

		// Watchers.
		{"convergence equal", "Watcher: convergence", edits{put{"watchers", "p99-ms", "Convergence", "ours", cell{Center: 52}}}, met, "52.0 ms against 52.0 ms (1.00×)", ""},
		{"convergence worse within noise", "Watcher: convergence", edits{put{"watchers", "p99-ms", "Convergence", "informer", cell{Center: 48, VsBase: "~"}}}, withinNoise, "50.0 ms against 48.0 ms (1.04× ~)", ""},
		{"convergence worse", "Watcher: convergence", edits{put{"watchers", "p99-ms", "Convergence", "informer", cell{Center: 40, VsBase: "-20%"}}}, missed, "50.0 ms against 40.0 ms (1.25×)", ""},
		{"convergence without the informer", "Watcher: convergence", edits{drop{"watchers", "p99-ms", "Convergence", "informer"}}, unmeasured, "not measured: p99-ms of Convergence, impl=informer", ""},
		{"heap at a quarter", "Watcher: heap", edits{put{"watchers", "heap-KiB", "Heap/endpoints=1000", "ours", cell{Center: 250}}}, met, "250 KiB against 1000 KiB (0.25)", ""},
		{"heap over a quarter", "Watcher: heap", edits{put{"watchers", "heap-KiB", "Heap/endpoints=1000", "ours", cell{Center: 251}}}, missed, "", ""},
		{"heap of ours missing", "Watcher: heap", edits{drop{"watchers", "heap-KiB", "Heap/endpoints=1000", "ours"}}, unmeasured, "not measured: heap-KiB of Heap/endpoints=1000, impl=ours", ""},
		{"two LISTs at start", "Watcher: exactly one LIST", edits{put{"watchers", "lists/start", "APILoad", "ours", cell{Center: 2}}}, missed, "2 LIST at start, 0 over 20 watch ends", ""},
		{"a LIST on a watch end", "Watcher: exactly one LIST", edits{put{"watchers", "lists/20-ends", "APILoad", "ours", cell{Center: 1}}}, missed, "1 LIST at start, 1 over 20 watch ends", ""},
		{"LISTs at start missing", "Watcher: exactly one LIST", edits{drop{"watchers", "lists/start", "APILoad", "ours"}}, unmeasured, "not measured: lists/start of APILoad, impl=ours", ""},

		// The hand-off: inside the window one peek and 1 ms of p99 more; outside, no change.
		{"peek miss as measured", "hand-off:", nil,
			met, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"p99 inside the window 1 ms more", "hand-off:", edits{put{"handoff", "p99-sec", peekMissRow, insideWindow, cell{Center: 20e-6 + peekP99More}}}, met, "", ""},
		{"p99 inside the window over 1 ms more", "hand-off:", edits{put{"handoff", "p99-sec", peekMissRow, insideWindow, cell{Center: above(20e-6 + peekP99More), VsBase: "+5000%"}}}, missed, "inside: 1 peek a load, p99 +1.00 ms (1.02 ms against 20.0 µs); outside: 0 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"two peeks a load inside the window", "hand-off:", edits{put{"handoff", "peeks/op", peekMissRow, insideWindow, cell{Center: 2}}}, missed, "", ""},
		{"a peek outside the window", "hand-off:", edits{put{"handoff", "peeks/op", peekMissRow, outsideWindow, cell{Center: 0.5}}}, missed, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0.5 peeks, p99 1.00× ~, time 1.00× ~", ""},
		{"p99 outside the window worse within noise", "hand-off:", edits{put{"handoff", "p99-sec", peekMissRow, outsideWindow, cell{Center: 30e-6, VsBase: "~"}}}, withinNoise, "", ""},
		{"p99 outside the window worse", "hand-off:", edits{put{"handoff", "p99-sec", peekMissRow, outsideWindow, cell{Center: 30e-6, VsBase: "+50%"}}}, missed, "inside: 1 peek a load, p99 +400.0 µs (420.0 µs against 20.0 µs); outside: 0 peeks, p99 1.50×, time 1.00× ~", ""},
		{"time outside the window worse", "hand-off:", edits{put{"handoff", "sec/op", peekMissRow, outsideWindow, cell{Center: 5e-6, VsBase: "+25%"}}}, missed, "", ""},
		{"peek miss without the baseline", "hand-off:", edits{drop{"handoff", "p99-sec", peekMissRow, withoutHandoff}}, unmeasured, "not measured: p99-sec of PeekMiss, impl=without-handoff", ""},

		// Membership changes: with the hand-off, at most 1 % of the keys loaded again and no
		// failed Get, in every case; the other modes do not count.
		{"reloads as measured", "Rolling update", nil,
			met, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 0 (0.0 %) of 1000 keys; 0 failed gets", ""},
		{"reloads at the limit", "Rolling update", edits{setMode{"rolling update", "handoff", "reloaded", 10}}, met, "", ""},
		{"reloads over the limit", "Rolling update", edits{setMode{"scale-down", "handoff", "reloaded", 11}}, missed, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 11 (1.1 %) of 1000 keys; 0 failed gets", ""},
		{"a failed get with the hand-off", "Rolling update", edits{setMode{"scale-up", "handoff", "failed", 1}}, missed, "rolling update 5 (0.5 %), scale-up 1 (0.1 %), scale-down 0 (0.0 %) of 1000 keys; 1 failed get", ""},
		{"the other modes do not count", "Rolling update", edits{setMode{"scale-up", "no-handoff", "failed", 2}, setMode{"scale-up", "httppool", "failed", 40},
			setMode{"scale-up", "httppool", "reloaded", 1000}}, met, "", ""},
		{"a case missing", "Rolling update", edits{without("case rolling update")}, unmeasured, "not measured: no rolling update case in the e2e output", ""},
		{"e2e tests not run", "Rolling update", edits{without("membership")}, unmeasured, "not measured: the e2e hand-off tests' output (-skip-e2e skips them)", ""},

		// The cost of N peers: ours at 1000 peers, before traffic and after a Get to each,
		// at most 2 goroutines and 8 KiB of heap per peer; other sizes, the server side and
		// HTTPPool only inform.
		{"peer cost as measured", "cost of N peers", nil, met,
			"before traffic: goroutines 0.01, heap 560 B, open files 0.003 per peer; after a Get to each: goroutines 1.9, heap 6.8 KiB, open files 1 per peer", ""},
		{"peer cost at the limits", "cost of N peers", edits{put{"peerCost", "used-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: costGoroutine}}, put{"peerCost", "used-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: costHeap}}}, met, "before traffic: goroutines 0.01, heap 560 B, open files 0.003 per peer; after a Get to each: goroutines 2, heap 8.0 KiB, open files 1 per peer", ""},
		{"goroutines after the Gets over the limit", "cost of N peers", edits{put{"peerCost", "used-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 2.01}}}, missed, "", ""},
		{"heap before traffic over the limit", "cost of N peers", edits{put{"peerCost", "idle-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: above(costHeap)}}}, missed, "", ""},
		{"smaller Services and the server side do not count", "cost of N peers", edits{put{"peerCost", "used-heap-B/peer", "PeerCost/N=10", "grpc", cell{Center: 40000}}, put{"peerCost", "srv-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 3}}, put{"peerCost", "used-heap-B/peer", "PeerCost/N=1000", "httppool", cell{Center: 1}}}, met, "", ""},
		{"peer cost missing a figure", "cost of N peers", edits{drop{"peerCost", "used-heap-B/peer", "PeerCost/N=1000", "grpc"}}, unmeasured, "not measured: used-heap-B/peer of PeerCost/N=1000, impl=grpc", ""},
		{"peer cost not run", "cost of N peers", edits{without("peerCost")}, unmeasured, "not measured: BenchmarkPeerCost (the results predate it)", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := goodResults()
			c.edits.apply(r)
			vs := evaluateGoals(r)
			v := verdictOf(t, vs, c.goal)
			if v.Status != c.want {
				t.Errorf("status %v (%s), want %v", v.Status, v.Result, c.want)
			}
			if c.result != "" && v.Result != c.result {
				t.Errorf("result %q, want %q", v.Result, c.result)
			}
			for _, other := range vs { // the edits touch one goal
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
