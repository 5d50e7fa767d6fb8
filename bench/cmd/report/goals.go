package main

// The goals of the comparison and judging them: evaluateGoals turns one run's results into
// a verdict per goal, with every figure that decided it and the figure's limit. Nothing here
// draws a table; render.go shows the verdicts.

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The goals' thresholds. The goals' wording, the verdicts and the choice of what to
// profile all read them.
const (
	lookupLimit   = 20e-9 // seconds per PickPeer, one goroutine, at every size
	lookupAllocs  = 0     // allocations per PickPeer
	speedupPeers  = 100   // peers at which ours must beat consistenthash…
	speedupMin    = 5.0   // …by this factor
	busiestLimit  = 1.05  // busiest peer's share over the fair share, exact
	spuriousLimit = 0.5   // % of keys moved between peers that both stay, one join or leave
	rebuildPeers  = 1000  // peers at which a rebuild…
	rebuildLimit  = 10e-3 // …takes at most this many seconds
	heapPeers     = 1000  // endpoints at which our watcher's heap…
	heapDivisor   = 4     // …is at most the informer's divided by this
	peekMore      = 1     // peeks a load may add inside the hand-off window…
	peekP99More   = 1e-3  // …and seconds of p99, on loopback
	reloadLimit   = 1.0   // % of a warm working set a membership change loads again, with the hand-off
	costPeers     = 1000  // peers at which a process pays per peer, before traffic and after a Get to each…
	costGoroutine = 2     // …at most this many goroutines…
	costHeap      = 8192  // …and bytes of heap (8 KiB), connections included
	// handoverLimit is how long a leaving pod may take to hand its cache over: Handoff.Drain's
	// default (the root's handoff.go), the most Shutdown serves peers for while the pushes run.
	handoverLimit = 15.0 // seconds
)

// part is the part of the report a goal belongs to.
type part int

const (
	pickerPart part = iota
	transportPart
	watcherPart
	handoffPart
	membershipPart
	pushPart
	peerCostPart
)

// status is the outcome of a figure or a goal, from best to worst: a goal takes the worst
// status of its figures.
type status int

const (
	met         status = iota
	withinNoise        // on the wrong side of its limit, but benchstat finds no significant difference: counts as met
	missed
	unmeasured // a figure the goal needs is not in the results
)

// ok reports whether the goal counts as met.
func (s status) ok() bool { return s == met || s == withinNoise }

// comparison is how a figure must stand to its limit.
type comparison int

const (
	atMost comparison = iota
	atLeast
	exactly
)

// figure is one measurement judged against its limit. The limit is either a threshold or
// the other implementation's figure.
type figure struct {
	Name    string // which measurement: "PickPeer/N=3 sec/op", "100B × 1 caller"
	Value   float64
	Limit   float64
	Cmp     comparison
	Noise   bool   // benchstat finds no significant difference between Value and Limit
	Missing string // what the results lack for this figure; "" when it was measured
}

func (f figure) status() status {
	holds := false // NaN, from a division by zero, holds nothing
	switch f.Cmp {
	case atMost:
		holds = f.Value <= f.Limit
	case atLeast:
		holds = f.Value >= f.Limit
	case exactly:
		holds = f.Value == f.Limit
	}
	switch {
	case f.Missing != "":
		return unmeasured
	case holds:
		return met
	case f.Noise:
		return withinNoise
	}
	return missed
}

// verdict is one goal judged on one run.
type verdict struct {
	Goal    string // as the goals table states it, thresholds included
	Part    part
	Status  status
	Result  string // what was measured, in words; for an unmeasured goal, what is missing
	Figures []figure
}

// evaluateGoals judges every goal on r. The watcher goals are judged only when part 3 ran,
// the goals against the baseline only when a baseline ran; the hand-off goals, the push's
// and the cost of N peers always are (results without their figures are of a run that predates them, or
// skipped the e2e tests).
func evaluateGoals(r *results) []verdict {
	v := []verdict{
		lookupGoal(r.picker),
		speedupGoal(r.picker),
		busiestGoal(r.quality),
		spuriousGoal(r.quality),
		rebuildGoal(r.picker),
		throughputGoal(r.remote),
		latencyGoal(r.remote),
	}
	if r.watchers != nil {
		v = append(v, convergenceGoal(r.watchers), heapGoal(r.watchers), listGoal(r.watchers))
	}
	v = append(v, peekMissGoal(r.handoff), reloadGoal(r.membership), handoverGoal(r.handover), peerCostGoal(r.peerCost))
	if r.baseline != nil {
		v = append(v, baselineGoal(r.baseline), loadBaselineGoal(r.baseline))
	}
	return v
}

// judged sets v's status, the worst of its figures' (unmeasured without figures), and
// for an unmeasured goal replaces the result by what is missing.
func (v verdict) judged() verdict {
	v.Status = met
	if len(v.Figures) == 0 {
		v.Status = unmeasured
	}
	var missing []string
	for _, f := range v.Figures {
		v.Status = max(v.Status, f.status())
		if f.Missing != "" && !slices.Contains(missing, f.Missing) {
			missing = append(missing, f.Missing)
		}
	}
	switch {
	case len(missing) > 1:
		v.Result = fmt.Sprintf("not measured: %s (and %d more)", missing[0], len(missing)-1)
	case len(missing) == 1:
		v.Result = "not measured: " + missing[0]
	case len(v.Figures) == 0:
		v.Result = "not measured"
	}
	return v
}

// lookup is the cell of unit, row and impl, and what is missing when s has none.
func lookup(s summary, unit, row, impl string) (cell, string) {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return c, fmt.Sprintf("%s of %s, impl=%s", unit, row, impl)
	}
	return c, ""
}

// joinMissing joins what figures lack, skipping what they do not.
func joinMissing(ms ...string) string {
	var out []string
	for _, m := range ms {
		if m != "" {
			out = append(out, m)
		}
	}
	return strings.Join(out, "; ")
}

// quotient is a ÷ b, NaN when b is 0.
func quotient(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// limitText prints a threshold as short as it goes: 20, 1.05, 0.5.
func limitText(x float64) string { return fmt.Sprintf("%.3g", x) }

// ---- Part 1: picking a peer ----

func lookupGoal(s summary) verdict {
	v := verdict{Part: pickerPart,
		Goal: fmt.Sprintf("picker: lookup ≤ %s ns and %d allocations at every size", limitText(lookupLimit*1e9), lookupAllocs)}
	maxNs, allocs := 0.0, 0.0
	for _, n := range pickerSizes {
		row := fmt.Sprintf("PickPeer/N=%d", n)
		t, missT := lookup(s, "sec/op", row, "ours")
		a, missA := lookup(s, "allocs/op", row, "ours")
		v.Figures = append(v.Figures,
			figure{Name: row + " sec/op", Value: t.Center, Limit: lookupLimit, Cmp: atMost, Missing: missT},
			figure{Name: row + " allocs/op", Value: a.Center, Limit: lookupAllocs, Cmp: atMost, Missing: missA})
		maxNs, allocs = math.Max(maxNs, t.Center*1e9), math.Max(allocs, a.Center)
	}
	what := "0 allocations"
	if allocs > lookupAllocs {
		what = "allocates"
	}
	v.Result = fmt.Sprintf("at most %.1f ns (median), %s", maxNs, what)
	return v.judged()
}

func speedupGoal(s summary) verdict {
	row, par := fmt.Sprintf("PickPeer/N=%d", speedupPeers), fmt.Sprintf("PickPeerParallel/N=%d", speedupPeers)
	ours, missO := lookup(s, "sec/op", row, "ours")
	ch, missC := lookup(s, "sec/op", row, "consistenthash")
	missing := joinMissing(missO, missC)
	parOurs, _ := s.get("sec/op", par, "ours") // the parallel figures inform, they do not decide
	parPool, _ := s.get("sec/op", par, "httppool")
	v := verdict{Part: pickerPart,
		Goal:   fmt.Sprintf("picker: ≥ %s× faster than consistenthash at %d peers", limitText(speedupMin), speedupPeers),
		Result: fmt.Sprintf("%s (parallel: %s faster than HTTPPool)", ratio(ch.Center, ours.Center), ratio(parPool.Center, parOurs.Center)),
		Figures: []figure{{Name: "consistenthash ÷ ours, " + row, Value: quotient(ch.Center, ours.Center),
			Limit: speedupMin, Cmp: atLeast, Missing: missing}},
	}
	return v.judged()
}

// exactMissing is what is missing when TestPickerQuality could not give exact figures.
func exactMissing(q Quality) string {
	if q.Exact {
		return ""
	}
	return fmt.Sprintf("exact figures at N=%d (PickPeer disagreed with the slot model)", q.N)
}

func busiestGoal(quality []Quality) verdict {
	v := verdict{Part: pickerPart, Goal: fmt.Sprintf("picker: busiest peer ≤ %s× fair share", limitText(busiestLimit))}
	busiest := 0.0
	for _, q := range quality {
		v.Figures = append(v.Figures, figure{Name: fmt.Sprintf("busiest/fair at N=%d", q.N),
			Value: q.BusiestOursExact, Limit: busiestLimit, Cmp: atMost, Missing: exactMissing(q)})
		busiest = math.Max(busiest, q.BusiestOursExact)
	}
	v.Result = fmt.Sprintf("at most %.3f (exact)", busiest)
	return v.judged()
}

func spuriousGoal(quality []Quality) verdict {
	v := verdict{Part: pickerPart,
		Goal: fmt.Sprintf("picker: keys moved between surviving peers ≤ %s %% on one join or leave", limitText(spuriousLimit))}
	spurious := 0.0
	for _, q := range quality {
		for _, m := range []struct {
			what string
			pct  float64
		}{{"leave", q.Leave.OursSpurious}, {"join", q.Join.OursSpurious}} {
			v.Figures = append(v.Figures, figure{Name: fmt.Sprintf("spurious %% on a %s at N=%d", m.what, q.N),
				Value: m.pct, Limit: spuriousLimit, Cmp: atMost, Missing: exactMissing(q)})
			spurious = math.Max(spurious, m.pct)
		}
	}
	v.Result = fmt.Sprintf("at most %.3f %%", spurious)
	return v.judged()
}

func rebuildGoal(s summary) verdict {
	row := fmt.Sprintf("Rebuild/N=%d", rebuildPeers)
	table, missT := lookup(s, "sec/op", row, "newRing")
	whole, missW := lookup(s, "sec/op", row, "ours")
	v := verdict{Part: pickerPart,
		Goal:   fmt.Sprintf("picker: rebuild ≤ %s ms at %d peers", limitText(rebuildLimit*1e3), rebuildPeers),
		Result: fmt.Sprintf("table %s; whole update from the watch event %s", seconds(table.Center), seconds(whole.Center)),
		Figures: []figure{
			{Name: row + " table alone", Value: table.Center, Limit: rebuildLimit, Cmp: atMost, Missing: missT},
			{Name: row + " event → ring", Value: whole.Center, Limit: rebuildLimit, Cmp: atMost, Missing: missW},
		},
	}
	return v.judged()
}

// ---- Part 2: a remote Get ----

// transportCases judges ours (impl=grpc) against HTTPPool in unit on every RemoteGet case;
// better is how ours must stand to HTTPPool's figure.
func transportCases(s summary, unit string, better comparison) []figure {
	var fs []figure
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			row := fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers)
			theirs, missH := lookup(s, unit, row, "httppool")
			ours, missG := lookup(s, unit, row, "grpc")
			fs = append(fs, figure{Name: callersText(size, callers), Value: ours.Center, Limit: theirs.Center, Cmp: better,
				Noise: ours.VsBase == "~", Missing: joinMissing(missH, missG)})
		}
	}
	return fs
}

// casesResult counts the cases that count as met and names the worst of the others, the
// one whose ours ÷ HTTPPool is furthest on the wrong side of 1.
func casesResult(fs []figure, how string) string {
	good, worst, worstAt := 0, math.NaN(), ""
	for _, f := range fs {
		if f.status().ok() {
			good++
			continue
		}
		r := f.Value / f.Limit
		if worstAt == "" || (f.Cmp == atLeast && r < worst) || (f.Cmp == atMost && r > worst) {
			worst, worstAt = r, f.Name
		}
	}
	res := fmt.Sprintf("%d of %d cases %s or not significantly different", good, len(fs), how)
	if worstAt != "" {
		res += fmt.Sprintf("; worst %s at %s", ratioText(worst), worstAt)
	}
	return res
}

func throughputGoal(s summary) verdict {
	fs := transportCases(s, "B/s", atLeast)
	v := verdict{Part: transportPart, Goal: "transport: throughput ≥ HTTPPool's at every size and concurrency",
		Result: casesResult(fs, "at least equal"), Figures: fs}
	return v.judged()
}

func latencyGoal(s summary) verdict {
	fs := transportCases(s, "p99-sec", atMost)
	v := verdict{Part: transportPart, Goal: "transport: p99 no worse than HTTPPool's",
		Result: casesResult(fs, "at most equal"), Figures: fs}
	return v.judged()
}

// ---- Part 3: watching a Service ----

func convergenceGoal(w summary) verdict {
	ours, missO := lookup(w, "p99-ms", "Convergence", "ours")
	informer, missI := lookup(w, "p99-ms", "Convergence", "informer")
	v := verdict{Part: watcherPart, Goal: "Watcher: convergence p99 no worse than the informer's",
		Result: fmt.Sprintf("%.1f ms against %.1f ms (%s)", ours.Center, informer.Center, vsInformer(ours, informer)),
		Figures: []figure{{Name: "Convergence p99", Value: ours.Center, Limit: informer.Center, Cmp: atMost,
			Noise: informer.VsBase == "~", Missing: joinMissing(missO, missI)}},
	}
	return v.judged()
}

func heapGoal(w summary) verdict {
	row := fmt.Sprintf("Heap/endpoints=%d", heapPeers)
	ours, missO := lookup(w, "heap-KiB", row, "ours")
	informer, missI := lookup(w, "heap-KiB", row, "informer")
	v := verdict{Part: watcherPart,
		Goal:   fmt.Sprintf("Watcher: heap ≤ 1/%d of the informer's at %d endpoints", heapDivisor, heapPeers),
		Result: fmt.Sprintf("%.0f KiB against %.0f KiB (%.2f)", ours.Center, informer.Center, quotient(ours.Center, informer.Center)),
		Figures: []figure{{Name: row, Value: ours.Center, Limit: informer.Center / heapDivisor, Cmp: atMost,
			Missing: joinMissing(missO, missI)}},
	}
	return v.judged()
}

func listGoal(w summary) verdict {
	ends := fmt.Sprintf("lists/%d-ends", apiLoadEnds)
	start, missS := lookup(w, "lists/start", "APILoad", "ours")
	end, missE := lookup(w, ends, "APILoad", "ours")
	v := verdict{Part: watcherPart, Goal: "Watcher: exactly one LIST in steady state, none on a normal watch end",
		Result: fmt.Sprintf("%.0f LIST at start, %.0f over %d watch ends", start.Center, end.Center, apiLoadEnds),
		Figures: []figure{
			{Name: "LIST at start", Value: start.Center, Limit: 1, Cmp: exactly, Missing: missS},
			{Name: fmt.Sprintf("LIST over %d watch ends", apiLoadEnds), Value: end.Center, Limit: 0, Cmp: exactly, Missing: missE},
		},
	}
	return v.judged()
}

// ---- Part 4: the warm hand-off ----

// peekMissRow is BenchmarkPeekMiss's row; its columns are the cases.
const peekMissRow = "PeekMiss"

// The cases of BenchmarkPeekMiss: the baseline, the hand-off off, and the hand-off on,
// outside and inside its window.
const (
	withoutHandoff = "without-handoff"
	outsideWindow  = "no-window"
	insideWindow   = "window"
)

// peekMissGoal judges the cost of a peek miss against the same load without the hand-off:
// inside the window at most peekMore peeks and peekP99More of p99 more; outside it no
// peek more and p99 and time per load no worse, or not significantly different.
func peekMissGoal(s summary) verdict {
	var fs []figure
	base := map[string]cell{}
	for _, unit := range []string{"peeks/op", "p99-sec", "sec/op"} {
		c, miss := lookup(s, unit, peekMissRow, withoutHandoff)
		base[unit] = c
		if miss != "" {
			fs = append(fs, figure{Name: "no hand-off " + unit, Missing: miss})
		}
	}
	judge := func(what, unit, impl string, limit float64, cmp comparison) cell {
		c, miss := lookup(s, unit, peekMissRow, impl)
		fs = append(fs, figure{Name: what, Value: c.Center, Limit: limit, Cmp: cmp, Noise: c.VsBase == "~", Missing: miss})
		return c
	}
	inPeeks := judge("peeks a load inside the window", "peeks/op", insideWindow, base["peeks/op"].Center+peekMore, atMost)
	inP99 := judge("p99 inside the window", "p99-sec", insideWindow, base["p99-sec"].Center+peekP99More, atMost)
	outPeeks := judge("peeks a load outside the window", "peeks/op", outsideWindow, base["peeks/op"].Center, exactly)
	outP99 := judge("p99 outside the window", "p99-sec", outsideWindow, base["p99-sec"].Center, atMost)
	outTime := judge("time per load outside the window", "sec/op", outsideWindow, base["sec/op"].Center, atMost)
	v := verdict{Part: handoffPart,
		Goal: fmt.Sprintf("hand-off: inside the window a peek miss adds at most %s peek and %s ms of p99 (loopback); outside it, no change",
			limitText(peekMore), limitText(peekP99More*1e3)),
		Result: fmt.Sprintf("inside: %s peek a load, p99 %s (%s against %s); outside: %s peeks, p99 %s, time %s",
			count(inPeeks.Center), signedSeconds(inP99.Center-base["p99-sec"].Center), seconds(inP99.Center),
			seconds(base["p99-sec"].Center), count(outPeeks.Center), sigRatio(outP99, base["p99-sec"].Center),
			sigRatio(outTime, base["sec/op"].Center)),
		Figures: fs,
	}
	return v.judged()
}

// ---- Part 5: the warm hand-off through membership changes ----

// membershipCases are the cases the reload goal needs, as their names in the e2e output
// start.
var membershipCases = []string{"rolling update", "scale-up", "scale-down"}

// reloadGoal judges the hand-off mode of every case of membershipCases: at most reloadLimit
// % of the working set loaded again, and no failed Get.
func reloadGoal(m *membershipRun) verdict {
	v := verdict{Part: membershipPart,
		Goal: fmt.Sprintf("Rolling update of every pod, scale-up and scale-down: at most %s %% of a warm working set loaded again, with zero failed gets",
			limitText(reloadLimit))}
	var reloads []string
	keys, failed := 0, 0
	for _, name := range membershipCases {
		c, ok := m.find(name)
		missing := ""
		switch {
		case m == nil:
			missing = "the e2e hand-off tests' output (-skip-e2e skips them)"
		case !ok:
			missing = fmt.Sprintf("no %s case in the e2e output", name)
		}
		pct := reloadPercent(c.Handoff.Reloaded, c.Keys)
		v.Figures = append(v.Figures,
			figure{Name: name + " % reloaded", Value: pct, Limit: reloadLimit, Cmp: atMost, Missing: missing},
			figure{Name: name + " failed gets", Value: float64(c.Handoff.FailedGets), Limit: 0, Cmp: exactly, Missing: missing})
		if ok {
			reloads = append(reloads, fmt.Sprintf("%s %d (%.1f %%)", name, c.Handoff.Reloaded, pct))
			keys, failed = c.Keys, failed+c.Handoff.FailedGets
		}
	}
	v.Result = fmt.Sprintf("%s of %d keys; %s", strings.Join(reloads, ", "), keys, plural(failed, "failed get"))
	return v.judged()
}

// plural is "1 failed get", "2 failed gets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// reloadPercent is reloaded in % of keys, NaN without keys.
func reloadPercent(reloaded, keys int) float64 {
	return quotient(float64(reloaded)*100, float64(keys))
}

// ---- Part 6: the push, handing over a leaving pod's cache ----

// handoverPods is the pods of BenchmarkHandover's Service, one of which leaves, and
// handoverMiB the cache the leaving pod holds (bench/handover_test.go).
const (
	handoverPods = 3
	handoverMiB  = 64
)

// handoverRow is BenchmarkHandover's row; its one column is ours.
var handoverRow = fmt.Sprintf("Handover/pods=%d", handoverPods)

// handoverGoal judges the hand-over of a leaving pod's cache: every entry it held stored by
// its new owners, within handoverLimit.
func handoverGoal(s summary) verdict {
	v := verdict{Part: pushPart,
		Goal: fmt.Sprintf("push: a leaving pod hands its %d MiB cache to the new owners within %s s (Handoff.Drain's default), every entry stored",
			handoverMiB, limitText(handoverLimit))}
	t, missT := lookup(s, "sec/op", handoverRow, "ours")
	held, missH := lookup(s, "held/op", handoverRow, "ours")
	got, missR := lookup(s, "received/op", handoverRow, "ours")
	bytes, _ := s.get("received-B/op", handoverRow, "ours")
	wire, _ := s.get("wire-out-B/op", handoverRow, "ours")
	if s == nil { // one reason, not one per figure
		missT, missH, missR = "BenchmarkHandover (the results predate it)", "", ""
	}
	v.Figures = []figure{
		{Name: "time to hand over", Value: t.Center, Limit: handoverLimit, Cmp: atMost, Missing: missT},
		{Name: "entries stored of those held", Value: got.Center, Limit: held.Center, Cmp: exactly, Missing: joinMissing(missH, missR)},
	}
	v.Result = fmt.Sprintf("%s in %s (%s); %s of %s entries stored; %s on the wire", byteSize(bytes.Center), seconds(t.Center),
		mibPerSecond(bytes.Center, t.Center), count(got.Center), count(held.Center), byteSize(wire.Center))
	return v.judged()
}

// ---- Part 7: the cost of N peers ----

// peerCostRow is BenchmarkPeerCost's row of n peers; its columns are httppool and grpc.
func peerCostRow(n int) string { return fmt.Sprintf("PeerCost/N=%d", n) }

// peerCostGoal judges ours (impl=grpc) at costPeers peers: goroutines and heap per peer
// before traffic (idle) and after a Get to every peer (used), each at most its limit. The
// open files per peer only inform: they show whether a peer nobody called has a
// connection.
func peerCostGoal(s summary) verdict {
	row := peerCostRow(costPeers)
	v := verdict{Part: peerCostPart,
		Goal: fmt.Sprintf("cost of N peers: at %d peers ≤ %s goroutines and ≤ %s KiB of heap per peer, before traffic and after a Get to each",
			costPeers, limitText(costGoroutine), limitText(costHeap/1024))}
	var said []string
	for _, phase := range []struct{ prefix, what string }{{"idle", "before traffic"}, {"used", "after a Get to each"}} {
		g, missG := lookup(s, phase.prefix+"-goroutines/peer", row, "grpc")
		h, missH := lookup(s, phase.prefix+"-heap-B/peer", row, "grpc")
		if s == nil { // one reason, not one per figure
			missG, missH = "BenchmarkPeerCost (the results predate it)", "BenchmarkPeerCost (the results predate it)"
		}
		v.Figures = append(v.Figures,
			figure{Name: row + " " + phase.prefix + " goroutines/peer", Value: g.Center, Limit: costGoroutine, Cmp: atMost, Missing: missG},
			figure{Name: row + " " + phase.prefix + " heap/peer", Value: h.Center, Limit: costHeap, Cmp: atMost, Missing: missH})
		said = append(said, fmt.Sprintf("%s: goroutines %s, heap %s, open files %s per peer", phase.what,
			perPeer(g.Center), perPeerBytes(h.Center), perPeerCell(s, phase.prefix+"-files/peer", row, "grpc")))
	}
	v.Result = strings.Join(said, "; ")
	return v.judged()
}
