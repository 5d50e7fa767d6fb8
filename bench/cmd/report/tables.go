package main

// The report's tables, built from the results: a table per view of each part, its header
// next to the cells it heads. render.go places them in the text.

import (
	"fmt"
	"strings"
)

// table is a markdown table.
type table struct {
	Header []string
	Align  []string // per column: "---" (left), "---:" (right), ":---:" (centre)
	Rows   [][]string
}

// String is the table in markdown, a line per row.
func (t table) String() string {
	var b strings.Builder
	for _, row := range append([][]string{t.Header, t.Align}, t.Rows...) {
		b.WriteString("|")
		for _, c := range row {
			if c == "" {
				b.WriteString(" |")
			} else {
				b.WriteString(" " + c + " |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// right is n right-aligned columns.
func right(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = "---:"
	}
	return a
}

// ---- Part 1: picking a peer ----

// lookupTable is PickPeer or PickPeerParallel (bench) at every size: ours against
// consistenthash and HTTPPool.
func lookupTable(s summary, bench string) table {
	t := table{Header: []string{"peers", "ours", "consistenthash", "HTTPPool", "consistenthash ÷ ours", "HTTPPool ÷ ours",
		"allocs/op ours / consistenthash / HTTPPool"}, Align: right(7)}
	for _, n := range pickerSizes {
		row := fmt.Sprintf("%s/N=%d", bench, n)
		ours, _ := s.get("sec/op", row, "ours")
		ch, _ := s.get("sec/op", row, "consistenthash")
		pool, _ := s.get("sec/op", row, "httppool")
		t.Rows = append(t.Rows, []string{fmt.Sprint(n), timeCell(ours), timeCell(ch), timeCell(pool),
			ratio(ch.Center, ours.Center), ratio(pool.Center, ours.Center),
			fmt.Sprintf("%s / %s / %s", num(s, "allocs/op", row, "ours"), num(s, "allocs/op", row, "consistenthash"), num(s, "allocs/op", row, "httppool"))})
	}
	return t
}

// qualityTable is TestPickerQuality's balance and movement at every size it measured.
func qualityTable(quality []Quality) table {
	t := table{Header: []string{"peers", "busiest/fair ours exact (keys)", "consistenthash exact (keys)",
		"leave: moved×N ours (spurious)", "consistenthash (spurious)", "join: moved×N ours (spurious)", "consistenthash (spurious)"},
		Align: right(7)}
	moved := func(n, spurious float64) string { return fmt.Sprintf("%.2f (%.3f %%)", n, spurious) }
	for _, q := range quality {
		t.Rows = append(t.Rows, []string{fmt.Sprint(q.N),
			fmt.Sprintf("%.3f (%.3f)", q.BusiestOursExact, q.BusiestOursKeys), fmt.Sprintf("%.3f (%.3f)", q.BusiestCHExact, q.BusiestCHKeys),
			moved(q.Leave.OursMovedN, q.Leave.OursSpurious), moved(q.Leave.CHMovedN, q.Leave.CHSpurious),
			moved(q.Join.OursMovedN, q.Join.OursSpurious), moved(q.Join.CHMovedN, q.Join.CHSpurious)})
	}
	return t
}

// rebuildTable is BenchmarkRebuild at every size: ours from the watch event, our table
// alone (the root's newRing), consistenthash and HTTPPool.
func rebuildTable(s summary) table {
	t := table{Header: []string{"peers", "ours, event → ring", "ours, table alone", "consistenthash", "HTTPPool",
		"allocs, bytes: event → ring / table / consistenthash / HTTPPool"}, Align: right(6)}
	for _, n := range pickerSizes {
		row := fmt.Sprintf("Rebuild/N=%d", n)
		cells := []string{fmt.Sprint(n)}
		var mem []string
		for _, impl := range []string{"ours", "newRing", "consistenthash", "httppool"} {
			c, _ := s.get("sec/op", row, impl)
			cells = append(cells, timeCell(c))
			mem = append(mem, fmt.Sprintf("%s, %s", num(s, "allocs/op", row, impl), bytesCell(s, row, impl)))
		}
		t.Rows = append(t.Rows, append(cells, strings.Join(mem, " / ")))
	}
	return t
}

// ---- Part 2: a remote Get ----

// remoteCases calls f with the row of bench (RemoteGet or GroupGet) of every value size
// and caller count, and makes a table row of the size, the callers and f's cells.
func remoteCases(bench string, f func(row string) []string) [][]string {
	var rows [][]string
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			row := fmt.Sprintf("%s/size=%s/callers=%d", bench, size, callers)
			rows = append(rows, append([]string{size, fmt.Sprint(callers)}, f(row)...))
		}
	}
	return rows
}

// throughputTable is bench's throughput: HTTPPool, ours and grpc-bdp, and their ratios.
func throughputTable(s summary, bench string) table {
	return table{Header: []string{"value", "callers", "HTTPPool", "ours", "ours ÷ HTTPPool", "grpc-bdp", "grpc-bdp ÷ HTTPPool"},
		Align: right(7), Rows: remoteCases(bench, func(row string) []string {
			h, _ := s.get("B/s", row, "httppool")
			g, _ := s.get("B/s", row, "grpc")
			t, _ := s.get("B/s", row, "grpc-bdp")
			return []string{rateCell(h), rateCell(g), sigRatio(g, h.Center), rateCell(t), sigRatio(t, h.Center)}
		})}
}

// latencyTable is bench's single-call latencies, p50 and p99 in ms.
func latencyTable(s summary, bench string) table {
	return table{Header: []string{"value", "callers", "p50 HTTPPool", "p50 ours", "p50 grpc-bdp", "p99 HTTPPool", "p99 ours",
		"p99 grpc-bdp", "p99 ours ÷ HTTPPool"}, Align: right(9), Rows: remoteCases(bench, func(row string) []string {
		var cells []string
		for _, unit := range []string{"p50-sec", "p99-sec"} {
			for _, impl := range []string{"httppool", "grpc", "grpc-bdp"} {
				c, _ := s.get(unit, row, impl)
				cells = append(cells, ms(c.Center))
			}
		}
		hp, _ := s.get("p99-sec", row, "httppool")
		gp, _ := s.get("p99-sec", row, "grpc")
		return append(cells, sigRatio(gp, hp.Center))
	})}
}

// allocsTable is the caller's heap allocations per call in bench, count and bytes.
func allocsTable(s summary, bench string) table {
	return table{Header: []string{"value", "callers", "HTTPPool", "ours", "grpc-bdp"}, Align: right(5),
		Rows: remoteCases(bench, func(row string) []string {
			var cells []string
			for _, impl := range []string{"httppool", "grpc", "grpc-bdp"} {
				cells = append(cells, fmt.Sprintf("%s, %s", num(s, "allocs/op", row, impl), bytesCell(s, row, impl)))
			}
			return cells
		})}
}

// side is one of the processes in which the remote benchmarks count a figure per call:
// the figure's unit, and the process in the tables' words.
type side struct{ unit, what string }

// perCall is a figure the remote benchmarks count per call in the caller's process and
// in the server's, and how the tables print it.
type perCall struct {
	sides  []side                 // the caller's, then the server's
	format func(x float64) string // a figure
	signed func(d float64) string // a difference, with its sign
	unit   string                 // what the text puts after a figure: "", " µs"
}

var (
	// wakeups is how many times a thread was put on a CPU.
	wakeups = perCall{sides: []side{{"client-wakeups/op", "caller"}, {"server-wakeups/op", "server"}},
		format: threeFigures, signed: signedCount}
	// cpuTime is how long the threads ran on a CPU, in seconds (benchstat's unit for the
	// benchmarks' ns).
	cpuTime = perCall{sides: []side{{"client-cpu-sec/op", "caller"}, {"server-cpu-sec/op", "server"}},
		format: micros, signed: signedMicros, unit: " µs"}
)

// perCallTable is bench's figure f per call in the caller's process and the server's,
// and how much more ours has than HTTPPool on both sides together; nil when the results
// predate f.
func perCallTable(s summary, bench string, f perCall) *table {
	if !measured(s, f.sides[0].unit, bench) {
		return nil
	}
	t := &table{Align: right(3 + 3*len(f.sides))}
	t.Header = []string{"value", "callers"}
	for _, side := range f.sides {
		t.Header = append(t.Header, side.what+" HTTPPool", side.what+" ours", side.what+" grpc-bdp")
	}
	t.Header = append(t.Header, "ours − HTTPPool, caller + server")
	t.Rows = remoteCases(bench, func(row string) []string {
		var cells []string
		var diff float64
		same, ok := true, true // benchstat finds neither side different; both sides measured
		for _, side := range f.sides {
			for _, impl := range []string{"httppool", "grpc", "grpc-bdp"} {
				cells = append(cells, formatCell(s, f.format, side.unit, row, impl))
			}
			h, okH := s.get(side.unit, row, "httppool")
			g, okG := s.get(side.unit, row, "grpc")
			diff += g.Center - h.Center
			same, ok = same && g.VsBase == "~", ok && okH && okG
		}
		d := "–"
		if ok {
			d = f.signed(diff)
			if same {
				d += " ~"
			}
		}
		return append(cells, d)
	})
	return t
}

// ---- Part 3: watching a Service ----

// convergenceTable is BenchmarkConvergence's p50 and p99, ours against the informer.
func convergenceTable(w summary) table {
	t := table{Header: []string{"", "ours", "informer", "ours ÷ informer"}, Align: []string{"---", "---:", "---:", "---:"}}
	for _, unit := range []string{"p50-ms", "p99-ms"} {
		o, _ := w.get(unit, "Convergence", "ours")
		i, _ := w.get(unit, "Convergence", "informer")
		t.Rows = append(t.Rows, []string{strings.TrimSuffix(unit, "-ms"),
			unitCell(w, "%.1f ms", unit, "Convergence", "ours"), unitCell(w, "%.1f ms", unit, "Convergence", "informer"), vsInformer(o, i)})
	}
	return t
}

// heapTable is BenchmarkHeap at every endpoint count, ours against the informer.
func heapTable(w summary) table {
	t := table{Header: []string{"endpoints", "ours", "informer", "ours ÷ informer"}, Align: right(4)}
	for _, n := range heapEndpoints {
		row := fmt.Sprintf("Heap/endpoints=%d", n)
		o, _ := w.get("heap-KiB", row, "ours")
		i, _ := w.get("heap-KiB", row, "informer")
		t.Rows = append(t.Rows, []string{fmt.Sprint(n),
			unitCell(w, "%.0f KiB", "heap-KiB", row, "ours"), unitCell(w, "%.0f KiB", "heap-KiB", row, "informer"), vsInformer(o, i)})
	}
	return t
}

// apiLoadTable is BenchmarkAPILoad's request counts, ours against the informer.
func apiLoadTable(w summary) table {
	t := table{Header: []string{"requests", "ours", "informer"}, Align: []string{"---", "---:", "---:"}}
	ends := fmt.Sprintf("%d-ends", apiLoadEnds)
	for _, u := range []struct{ unit, what string }{
		{"lists/start", "LIST at start"}, {"watches/start", "WATCH at start"},
		{"lists/" + ends, fmt.Sprintf("LIST over %d watch ends", apiLoadEnds)},
		{"watches/" + ends, fmt.Sprintf("WATCH over %d watch ends", apiLoadEnds)},
		{"server-lists/" + ends, fmt.Sprintf("LIST over %d watch ends (server)", apiLoadEnds)},
		{"server-watches/" + ends, fmt.Sprintf("WATCH over %d watch ends (server)", apiLoadEnds)},
		{"lists/410", "LIST for the 410"}, {"watches/410", "WATCH for the 410 (the refused one included)"},
		{"server-lists/410", "LIST for the 410 (server)"}, {"server-watches/410", "WATCH for the 410 (server)"},
	} {
		t.Rows = append(t.Rows, []string{u.what, unitCell(w, "%.0f", u.unit, "APILoad", "ours"), unitCell(w, "%.0f", u.unit, "APILoad", "informer")})
	}
	return t
}

// ---- Part 4: the warm hand-off ----

// peekMissTable is BenchmarkPeekMiss: a load of a key cached nowhere with the hand-off off,
// and with it on, outside and inside its window.
func peekMissTable(s summary) table {
	t := table{Header: []string{"load of a key cached nowhere", "time per load", "p50", "p99", "added to p50, p99",
		"peeks per load", "allocs, bytes per load"}, Align: append([]string{"---"}, right(6)...)}
	// added is unit's median for impl less withoutHandoff's, marked ~ when benchstat finds
	// no significant difference.
	added := func(unit, impl string) string {
		c, ok := s.get(unit, peekMissRow, impl)
		base, okBase := s.get(unit, peekMissRow, withoutHandoff)
		if !ok || !okBase || c.Center == 0 || base.Center == 0 {
			return "–"
		}
		d := signedSeconds(c.Center - base.Center)
		if c.VsBase == "~" {
			d += " ~"
		}
		return d
	}
	for _, c := range []struct{ impl, what string }{
		{withoutHandoff, "no hand-off (`Handoff{Off: true}`)"},
		{outsideWindow, "hand-off, outside the window"},
		{insideWindow, "hand-off, inside the window: a peek that misses"},
	} {
		tc, _ := s.get("sec/op", peekMissRow, c.impl)
		p50, _ := s.get("p50-sec", peekMissRow, c.impl)
		p99, _ := s.get("p99-sec", peekMissRow, c.impl)
		diff := "–"
		if c.impl != withoutHandoff {
			diff = added("p50-sec", c.impl) + ", " + added("p99-sec", c.impl)
		}
		t.Rows = append(t.Rows, []string{c.what, timeCell(tc), timeCell(p50), timeCell(p99), diff,
			num(s, "peeks/op", peekMissRow, c.impl),
			fmt.Sprintf("%s, %s", num(s, "allocs/op", peekMissRow, c.impl), bytesCell(s, peekMissRow, c.impl))})
	}
	return t
}

// ---- Part 5: the warm hand-off through membership changes ----

// membershipTable is the keys each case loaded again in each mode, and the failed Gets of
// the three modes.
func membershipTable(m *membershipRun) table {
	t := table{Header: []string{"case", "hand-off", "no hand-off", "HTTPPool fed by WatchPeers", "failed gets"},
		Align: append([]string{"---"}, right(4)...)}
	reloaded := func(r modeResult, keys int) string {
		return fmt.Sprintf("%d (%.1f %%)", r.Reloaded, reloadPercent(r.Reloaded, keys))
	}
	for _, c := range m.Cases {
		t.Rows = append(t.Rows, []string{c.What, reloaded(c.Handoff, c.Keys), reloaded(c.NoHandoff, c.Keys),
			reloaded(c.HTTPPool, c.Keys), fmt.Sprintf("%d / %d / %d", c.Handoff.FailedGets, c.NoHandoff.FailedGets, c.HTTPPool.FailedGets)})
	}
	return t
}

// ---- Part 6: the cost of N peers ----

// peerCostPhases are BenchmarkPeerCost's readings, as its units start, in the table's words.
var peerCostPhases = []struct{ prefix, what string }{
	{"idle", "peers known, before traffic"},
	{"used", "after a Get to every peer"},
	{"srv", "server, after a Get from as many pods"},
}

// peerCostTable is BenchmarkPeerCost: per peer, at every size and reading, HTTPPool's
// goroutines, heap and open files against ours.
func peerCostTable(s summary) table {
	t := table{Header: []string{"peers", "reading", "goroutines HTTPPool", "ours", "heap HTTPPool", "ours",
		"open files HTTPPool", "ours"}, Align: append([]string{"---:", "---"}, right(6)...)}
	for _, n := range peerCounts {
		row := peerCostRow(n)
		for _, p := range peerCostPhases {
			t.Rows = append(t.Rows, []string{fmt.Sprint(n), p.what,
				perPeerCell(s, p.prefix+"-goroutines/peer", row, "httppool"), perPeerCell(s, p.prefix+"-goroutines/peer", row, "grpc"),
				perPeerBytesCell(s, p.prefix+"-heap-B/peer", row, "httppool"), perPeerBytesCell(s, p.prefix+"-heap-B/peer", row, "grpc"),
				perPeerCell(s, p.prefix+"-files/peer", row, "httppool"), perPeerCell(s, p.prefix+"-files/peer", row, "grpc")})
		}
	}
	return t
}

// ---- Part 6: the push ----

// handoverTable is the hand-over of a leaving pod's cache, one row: what it held and what
// its new owners stored, the time, the bytes pushed and on the wire, and the leaving pod's
// own count of its pushes.
func handoverTable(s summary) table {
	get := func(unit string) cell { c, _ := s.get(unit, handoverRow, "ours"); return c }
	t, received, pushed := get("sec/op"), get("received-B/op"), get("pushed-B/op")
	out, in := get("wire-out-B/op"), get("wire-in-B/op")
	overhead := "–"
	if pushed.Center > 0 && out.Center > 0 {
		overhead = signed((out.Center/pushed.Center-1)*100, func(p float64) string { return fmt.Sprintf("%.2f %%", p) })
	}
	return table{
		Header: []string{"pods", "entries held → stored", "time", "rate", "pushed", "on the wire: out, in",
			"wire out over pushed", "the pusher's time", "failed, dropped"},
		Align: right(9),
		Rows: [][]string{{fmt.Sprintf("%d, one leaving", handoverPods),
			fmt.Sprintf("%s → %s", count(get("held/op").Center), count(get("received/op").Center)),
			timeCell(t), mibPerSecond(received.Center, t.Center), byteSize(pushed.Center),
			byteSize(out.Center) + ", " + byteSize(in.Center), overhead, timeCell(get("push-sec/op")),
			fmt.Sprintf("%s, %s", count(get("failed/op").Center), count(get("dropped/op").Center))}},
	}
}

// loadTable is a local load through groupcache's own group and through NewGroup, with
// what NewGroup adds to the reference's p50 and p99.
func loadTable(s summary) table {
	t := table{Header: []string{"load of a key this pod owns, cached nowhere", "time per load", "p50", "p99",
		"added to p50, p99", "allocs, bytes per load"}, Align: append([]string{"---"}, right(5)...)}
	added := func(unit string) string {
		c, ok := s.get(unit, localLoadRow, loadNewGroup)
		base, okBase := s.get(unit, localLoadRow, loadReference)
		if !ok || !okBase || c.Center == 0 || base.Center == 0 {
			return "–"
		}
		d := signedSeconds(c.Center - base.Center)
		if c.VsBase == "~" {
			d += " ~"
		}
		return d
	}
	for _, c := range []struct{ impl, what string }{
		{loadReference, "`groupcache.NewGroup` (the reference)"},
		{loadNewGroup, "`PeersManager.NewGroup`"},
	} {
		tc, _ := s.get("sec/op", localLoadRow, c.impl)
		p50, _ := s.get("p50-sec", localLoadRow, c.impl)
		p99, _ := s.get("p99-sec", localLoadRow, c.impl)
		diff := "–"
		if c.impl != loadReference {
			diff = added("p50-sec") + ", " + added("p99-sec")
		}
		t.Rows = append(t.Rows, []string{c.what, timeCell(tc), timeCell(p50), timeCell(p99), diff,
			fmt.Sprintf("%s, %s", num(s, "allocs/op", localLoadRow, c.impl), bytesCell(s, localLoadRow, c.impl))})
	}
	return t
}
