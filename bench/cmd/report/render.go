package main

// Rendering BENCHMARKS.md: the page the template report.md.tmpl is executed with, built
// from the results and the verdicts. Every figure the text quotes is a field of the page.

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"net/http"
	"strings"
	"text/template"
	"time"
)

// idleConnTimeout is how long the library's server keeps a peer's connection open
// without a call, as WithServerOptions' doc states; the library does not export it.
const idleConnTimeout = 2 * time.Minute

// The pusher's budget and the drain's bound, as the root's pusher.go and handoff.go set
// them (pushRate, pushBudget, defaultDrain); the library does not export them.
const (
	pushRate     = 32 << 20 // bytes a second
	pushBudget   = 256 << 20
	defaultDrain = 15 * time.Second
)

//go:embed report.md.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mark": mark,
	"join": strings.Join,
}).Parse(reportTemplate))

// page is what the template renders.
type page struct {
	Info       runInfo
	Minutes    string // the run, profiles included
	Confidence string // of benchstat's intervals, "95 %"
	Alpha      string // benchstat's significance level
	Verdicts   []verdict
	Missed     []verdict // the verdicts not met, unmeasured ones included

	Lookup, Parallel, Quality, Rebuild table
	Moves                              *movesNote // nil without quality figures

	Remote              remoteNote
	RemoteGet, GroupGet remoteTables

	Watchers *watcherTables // nil when part 3 was not run
	PeekMiss *table         // nil when the results predate BenchmarkPeekMiss

	MembershipCommand string          // the e2e hand-off tests' command line, run or not
	Membership        *membershipNote // nil when the e2e hand-off tests were not run

	Push pushNote

	PeerCost peerCostNote

	Baseline *baselineNote // nil when no baseline ran

	Transport    *transportNote    // nil unless a transport goal is not met
	PeerCostMiss *peerCostMissNote // nil unless the cost-of-N-peers goal is missed
	Profiles     string
}

// movesNote is the figures the text after the quality table quotes: moves at the most
// peers TestPickerQuality measured.
type movesNote struct {
	Peers    int
	Ideal    string // 1/N, in % of keys
	Spurious string // ours, worst of leave and join, in % of keys
	MovedN   string // ours, the larger of leave and join, × 1/N
	Limit    string // the goal, in % of keys
}

// remoteNote is the figures the introduction of part 2 quotes.
type remoteNote struct {
	Smallest, Largest string // value sizes
	Callers           string // "1 and 64"
	MaxCallers        int
	DefaultIdle       int // idle connections per host net/http keeps by default
}

type remoteTables struct {
	Throughput, Latency, Allocs table
	Wakeups                     *table // nil when the results predate the wake-up counts
	CPU                         *table // nil when the results predate the CPU times
}

type watcherTables struct {
	Convergence, Heap, APILoad table
	Ends                       int // watch ends BenchmarkAPILoad counts over
}

// membershipNote is part 5: the e2e hand-off tests' table and what the text says of their
// run.
type membershipNote struct {
	Keys   int // the working set, of the first case
	Table  table
	Failed string // the tests that failed, "" when go test passed
}

// pushNote is part 6: the figures its text quotes, and its tables.
type pushNote struct {
	Pods              int
	Cache             string // the leaving pod's, "64 MiB"
	Rate, Budget      string // the pusher's: "32 MiB/s", "256 MiB"
	Ideal             string // the cache at Rate: "2.0 s"
	Drain             string // Handoff.Drain's default: "15 s"
	Handover, Load    *table // nil when the results predate BenchmarkHandover, BenchmarkLocalLoad
	HandoverBenchtime string
}

// peerCostNote is part 7: the figures its text quotes, and its table.
type peerCostNote struct {
	Peers    string // "10, 100 and 1000"
	PoolIdle int    // idle connections net/http's DefaultTransport keeps in all
	Table    *table // nil when the results predate BenchmarkPeerCost
}

// peerCostMissNote is the figures the explanation of the cost of N peers quotes: ours at
// costPeers peers, per peer.
type peerCostMissNote struct {
	Peers                        int
	IdleGoroutines, IdleHeap     string // before traffic
	UsedGoroutines, UsedHeap     string // after a Get to each
	ServerGoroutines, ServerHeap string // the server side of a connection from each
	IdleTimeout                  string // idleConnTimeout: "2 minutes"
	Profiled                     bool   // the profiles show the pod's heap
}

// transportNote is the figures the explanation of the transport's misses quotes.
type transportNote struct {
	OursAllocs, PoolAllocs string   // allocations per call with small values, a range
	BDP                    []string // ours ÷ HTTPPool with grpc's windows, large values and the most callers: "0.36× at 256 KiB × 64 callers"
	Fixed                  []string // the same with the library's windows: "1.04×"
	SmallOneCaller         []string // throughput ours ÷ HTTPPool with small values and one caller
	SmallWakeups           []string // thread wake-ups per call with small values and one caller; nil when not counted
	SmallCPU               []string // CPU time per call with small values and one caller; nil when not measured
	LargeP99               []string // p99 ours ÷ HTTPPool with large values and the most callers
	MaxCallers             int
	Findings               findings
}

// findings are what experiments outside the report's runs measured, each a change to the
// transport against the same code without it, compared by benchstat. The text quotes them
// as they were measured: a run of the report neither checks nor updates them. They are
// here rather than in the template so that its text holds no figure.
type findings struct {
	// grpc.NumStreamWorkers on the server (options.go) against a goroutine per call.
	StreamWorkers string
	// grpc-go's loopy writer yields (runtime.Gosched) before flushing a batch smaller than
	// this many bytes (minBatchSize in internal/transport/controlbuf.go).
	YieldBatch int
	// Time of a small Get with one caller, ours without that yield against HTTPPool.
	NoYieldOneCaller string
	// Time of a small Get with the most callers, ours against HTTPPool: with the yield,
	// and without it.
	NoYieldManyCallers string
}

var transportFindings = findings{
	StreamWorkers:      "11 % less time for a small Get with one caller (benchstat, n=8, p=0.015, caller and server in one process)",
	YieldBatch:         1000,
	NoYieldOneCaller:   "+13 % of time against HTTPPool, p=0.004, n=6",
	NoYieldManyCallers: "at 64 callers its −20 % of time against HTTPPool became ~",
}

// render writes the report of r with its verdicts.
func render(r *results, verdicts []verdict) ([]byte, error) {
	p := page{
		Info:       r.info,
		Minutes:    fmt.Sprintf("%.1f", r.info.Seconds/60),
		Confidence: fmt.Sprintf("%.3g %%", benchstatConfidence*100),
		Alpha:      fmt.Sprintf("%.3g", benchstatAlpha),
		Verdicts:   verdicts,
		Lookup:     lookupTable(r.picker, "PickPeer"),
		Parallel:   lookupTable(r.picker, "PickPeerParallel"),
		Quality:    qualityTable(r.quality),
		Rebuild:    rebuildTable(r.picker),
		Moves:      moves(r.quality),
		Remote: remoteNote{
			Smallest: sizeText(valueSizes[0]), Largest: sizeText(valueSizes[len(valueSizes)-1]),
			Callers: andList(callerCounts), MaxCallers: maxCallers(), DefaultIdle: http.DefaultMaxIdleConnsPerHost,
		},
		RemoteGet: remote(r.remote, "RemoteGet"),
		GroupGet:  remote(r.remote, "GroupGet"),
		Profiles:  string(r.profiles),

		MembershipCommand: membershipCommand(),
		Push: pushNote{Pods: handoverPods, Cache: byteSize(handoverMiB << 20), Rate: byteSize(pushRate) + "/s",
			Budget: byteSize(pushBudget), Ideal: fmt.Sprintf("%.3g s", float64(handoverMiB<<20)/pushRate), Drain: fmt.Sprintf("%g s", defaultDrain.Seconds()),
			HandoverBenchtime: handoverBenchtime},
		PeerCost: peerCostNote{Peers: andList(peerCounts), PoolIdle: http.DefaultTransport.(*http.Transport).MaxIdleConns},
	}
	if r.watchers != nil {
		p.Watchers = &watcherTables{convergenceTable(r.watchers), heapTable(r.watchers), apiLoadTable(r.watchers), apiLoadEnds}
	}
	if r.handoff != nil {
		t := peekMissTable(r.handoff)
		p.PeekMiss = &t
	}
	if r.membership != nil {
		p.Membership = membership(r.membership)
	}
	if r.handover != nil {
		t := handoverTable(r.handover)
		p.Push.Handover = &t
	}
	if r.load != nil {
		t := loadTable(r.load)
		p.Push.Load = &t
	}
	if r.peerCost != nil {
		t := peerCostTable(r.peerCost)
		p.PeerCost.Table = &t
	}
	if r.baseline != nil {
		p.Baseline = baselineSection(r.baseline)
	}
	transportMissed := false
	for _, v := range verdicts {
		if !v.Status.ok() {
			p.Missed = append(p.Missed, v)
			transportMissed = transportMissed || v.Part == transportPart
		}
		if v.Part == peerCostPart && v.Status == missed {
			p.PeerCostMiss = peerCostMiss(r.peerCost, r.profiles)
		}
	}
	if transportMissed {
		p.Transport = transport(r.remote)
	}
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// peerCostMiss is the note on the cost of N peers, from ours at costPeers peers; profiles
// are the report's.
func peerCostMiss(s summary, profiles []byte) *peerCostMissNote {
	row := peerCostRow(costPeers)
	per := func(unit string) string { return perPeerCell(s, unit, row, "grpc") }
	heap := func(unit string) string { return perPeerBytesCell(s, unit, row, "grpc") }
	return &peerCostMissNote{
		Peers:          costPeers,
		IdleGoroutines: per("idle-goroutines/peer"), IdleHeap: heap("idle-heap-B/peer"),
		UsedGoroutines: per("used-goroutines/peer"), UsedHeap: heap("used-heap-B/peer"),
		ServerGoroutines: per("srv-goroutines/peer"), ServerHeap: heap("srv-heap-B/peer"),
		IdleTimeout: duration(idleConnTimeout),
		Profiled:    bytes.Contains(profiles, []byte(peerCostProfileHeading())),
	}
}

// duration is d in words where it is whole minutes, "2 minutes", else as Go prints it.
func duration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

// remote is the tables of bench, RemoteGet or GroupGet.
func remote(s summary, bench string) remoteTables {
	return remoteTables{throughputTable(s, bench), latencyTable(s, bench), allocsTable(s, bench),
		perCallTable(s, bench, wakeups), perCallTable(s, bench, cpuTime)}
}

// mark is a verdict in the goals table's last column.
func mark(s status) string {
	switch s {
	case met, withinNoise:
		return "yes"
	case missed:
		return "**no**"
	}
	return "**not measured**"
}

func maxCallers() int { return callerCounts[len(callerCounts)-1] }

// andList is "1 and 64", "1, 8 and 64".
func andList[T any](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// moves is the note on moves at the most peers TestPickerQuality measured.
func moves(quality []Quality) *movesNote {
	if len(quality) == 0 {
		return nil
	}
	q := quality[0]
	for _, x := range quality {
		if x.N > q.N {
			q = x
		}
	}
	return &movesNote{
		Peers:    q.N,
		Ideal:    fmt.Sprintf("%.3g", 100/float64(q.N)),
		Spurious: fmt.Sprintf("%.3f", math.Max(q.Leave.OursSpurious, q.Join.OursSpurious)),
		MovedN:   fmt.Sprintf("%.2f", math.Max(q.Leave.OursMovedN, q.Join.OursMovedN)),
		Limit:    limitText(spuriousLimit),
	}
}

// membership is part 5 of m. A run that did not pass names the tests that failed, or says
// that it was cut short when go test reported none.
func membership(m *membershipRun) *membershipNote {
	n := &membershipNote{Table: membershipTable(m)}
	if len(m.Cases) > 0 {
		n.Keys = m.Cases[0].Keys
	}
	switch {
	case m.Passed:
	case len(m.Failed) > 0:
		n.Failed = "`" + strings.Join(m.Failed, "`, `") + "`"
	default:
		n.Failed = "none reported: the run was cut short"
	}
	return n
}

// transport is the note on the transport's misses, from RemoteGet's figures.
func transport(s summary) *transportNote {
	row := func(size string, callers int) string {
		return fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers)
	}
	rate := func(size string, callers int, impl string) float64 {
		c, _ := s.get("B/s", row(size, callers), impl)
		return c.Center
	}
	n := &transportNote{MaxCallers: maxCallers(), Findings: transportFindings}
	var ours, pool []float64
	for _, size := range smallValues {
		for _, callers := range callerCounts {
			if c, ok := s.get("allocs/op", row(size, callers), "grpc"); ok {
				ours = append(ours, c.Center)
			}
			if c, ok := s.get("allocs/op", row(size, callers), "httppool"); ok {
				pool = append(pool, c.Center)
			}
		}
		g, _ := s.get("B/s", row(size, 1), "grpc")
		h, _ := s.get("B/s", row(size, 1), "httppool")
		n.SmallOneCaller = append(n.SmallOneCaller, fmt.Sprintf("%s at %s", sigRatio(g, h.Center), sizeText(size)))
		if w := oneCaller(s, row(size, 1), wakeups); w != "" {
			n.SmallWakeups = append(n.SmallWakeups, w+" at "+sizeText(size))
		}
		if c := oneCaller(s, row(size, 1), cpuTime); c != "" {
			// The CPU time beside the wall time: with one caller, a call's time is sec/op.
			g, okG := s.get("sec/op", row(size, 1), "grpc")
			h, okH := s.get("sec/op", row(size, 1), "httppool")
			if okG && okH {
				c += fmt.Sprintf(", in calls of %s against %s", seconds(g.Center), seconds(h.Center))
			}
			n.SmallCPU = append(n.SmallCPU, c+" at "+sizeText(size))
		}
	}
	n.OursAllocs, n.PoolAllocs = countRange(ours), countRange(pool)
	for _, size := range largeValues {
		m := n.MaxCallers
		n.BDP = append(n.BDP, fmt.Sprintf("%s at %s × %d callers", ratioText(rate(size, m, "grpc-bdp")/rate(size, m, "httppool")), sizeText(size), m))
		n.Fixed = append(n.Fixed, ratioText(rate(size, m, "grpc")/rate(size, m, "httppool")))
		gp, _ := s.get("p99-sec", row(size, m), "grpc")
		hp, _ := s.get("p99-sec", row(size, m), "httppool")
		n.LargeP99 = append(n.LargeP99, fmt.Sprintf("%s at %s", sigRatio(gp, hp.Center), sizeText(size)))
	}
	return n
}

// oneCaller is f per call in row, caller + server, ours against HTTPPool: "ours 5.88 +
// 6.07 against HTTPPool's 6.15 + 5.87", "ours 52.1 + 40.3 µs against HTTPPool's 48.0 +
// 37.2 µs"; "" unless all four were measured.
func oneCaller(s summary, row string, f perCall) string {
	var sides [2][]string // ours, HTTPPool
	for _, side := range f.sides {
		for i, impl := range []string{"grpc", "httppool"} {
			c, ok := s.get(side.unit, row, impl)
			if !ok {
				return ""
			}
			sides[i] = append(sides[i], f.format(c.Center))
		}
	}
	return fmt.Sprintf("ours %s%s against HTTPPool's %s%s", strings.Join(sides[0], " + "), f.unit, strings.Join(sides[1], " + "), f.unit)
}

// countRange is "93–96", or one count when they are all equal, or "–" without any.
func countRange(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if count(lo) == count(hi) {
		return count(lo)
	}
	return count(lo) + "–" + count(hi)
}
