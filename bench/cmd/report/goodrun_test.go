package main

// The golden run of the goal tests, and the edits a test makes to it: each a value, so
// that a table of cases is data.

import (
	"fmt"
	"slices"
	"strings"
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
	r := &results{picker: summary{}, remote: summary{}, watchers: summary{}, handoff: summary{}, peerCost: summary{},
		handover: summary{}, load: summary{}}
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
	for unit, v := range map[string]float64{"sec/op": 2.1, "held/op": 1024, "received/op": 1024, "sent/op": 1024,
		"pushed-B/op": 64 << 20, "received-B/op": 64 << 20, "wire-out-B/op": 64<<20 + 96<<10, "wire-in-B/op": 36 << 10,
		"push-sec/op": 2.09, "failed/op": 0, "dropped/op": 0} {
		r.handover.put(unit, handoverRow, "ours", cell{Center: v})
	}
	for impl, c := range map[string]struct{ time, p50, p99, allocs, bytes float64 }{
		loadReference: {2.5e-6, 1.2e-6, 12e-6, 12, 630}, loadNewGroup: {2.6e-6, 1.3e-6, 14e-6, 12, 640},
	} {
		vs := map[bool]string{true: "", false: "~"}[impl == loadReference]
		r.load.put("sec/op", localLoadRow, impl, cell{Center: c.time, VsBase: vs})
		r.load.put("p50-sec", localLoadRow, impl, cell{Center: c.p50, VsBase: vs})
		r.load.put("p99-sec", localLoadRow, impl, cell{Center: c.p99, VsBase: vs})
		r.load.put("allocs/op", localLoadRow, impl, cell{Center: c.allocs, VsBase: vs})
		r.load.put("B/op", localLoadRow, impl, cell{Center: c.bytes, VsBase: vs})
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

// edit is one change to a run.
type edit interface{ apply(r *results) }

// edits are changes applied in order.
type edits []edit

func (es edits) apply(r *results) {
	for _, e := range es {
		e.apply(r)
	}
}

// summaryOf is the summary of r named part ("picker", "remote", "watchers", "handoff",
// "handover", "peerCost").
func summaryOf(r *results, part string) summary {
	switch part {
	case "picker":
		return r.picker
	case "remote":
		return r.remote
	case "watchers":
		return r.watchers
	case "handoff":
		return r.handoff
	case "handover":
		return r.handover
	case "peerCost":
		return r.peerCost
	}
	panic("no part " + part)
}

// put sets a cell of a part's summary.
type put struct {
	part, unit, row, impl string
	c                     cell
}

func (p put) apply(r *results) { summaryOf(r, p.part).put(p.unit, p.row, p.impl, p.c) }

// drop removes a cell of a part's summary.
type drop struct{ part, unit, row, impl string }

func (d drop) apply(r *results) { summaryOf(r, d.part).drop(d.unit, d.row, d.impl) }

// dropEverySize drops the cell of bench at every picker size.
func dropEverySize(part, unit, bench, impl string) edits {
	var es edits
	for _, n := range pickerSizes {
		es = append(es, drop{part, unit, fmt.Sprintf("%s/N=%d", bench, n), impl})
	}
	return es
}

// setQuality sets a figure of the quality of the index-th picker size: "busiest" (the
// exact busiest share), "leave" or "join" (the exact spurious moves), or "inexact" (the
// figures are not exact; value unused).
type setQuality struct {
	index int
	field string
	value float64
}

func (q setQuality) apply(r *results) {
	switch f := &r.quality[q.index]; q.field {
	case "busiest":
		f.BusiestOursExact = q.value
	case "leave":
		f.Leave.OursSpurious = q.value
	case "join":
		f.Join.OursSpurious = q.value
	case "inexact":
		f.Exact = false
	default:
		panic("no quality figure " + q.field)
	}
}

// setMode sets a figure ("reloaded" or "failed") of a mode ("handoff", "no-handoff",
// "httppool") in the membership case whose name starts with what.
type setMode struct {
	what, mode, field string
	value             int
}

func (m setMode) apply(r *results) {
	c := membershipCaseOf(r, m.what)
	mode := map[string]*modeResult{"handoff": &c.Handoff, "no-handoff": &c.NoHandoff, "httppool": &c.HTTPPool}[m.mode]
	switch m.field {
	case "reloaded":
		mode.Reloaded = m.value
	case "failed":
		mode.FailedGets = m.value
	default:
		panic("no mode figure " + m.field)
	}
}

// without removes a part of the run: "quality", "membership", "peerCost", or "case X",
// the membership case whose name starts with X.
type without string

func (w without) apply(r *results) {
	switch what := string(w); {
	case what == "quality":
		r.quality = nil
	case what == "membership":
		r.membership = nil
	case what == "peerCost":
		r.peerCost = nil
	case strings.HasPrefix(what, "case "):
		c := membershipCaseOf(r, strings.TrimPrefix(what, "case "))
		r.membership.Cases = slices.DeleteFunc(r.membership.Cases, func(o membershipCase) bool { return o.What == c.What })
	default:
		panic("no part " + what)
	}
}
