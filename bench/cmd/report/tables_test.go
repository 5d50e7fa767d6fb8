package main

import (
	"strings"
	"testing"
)

func TestTableString(t *testing.T) {
	got := table{Header: []string{"", "ours", "informer"}, Align: []string{"---", "---:", ":---:"},
		Rows: [][]string{{"p50", "49.6 ms", "49.7 ms"}}}.String()
	want := "| | ours | informer |\n| --- | ---: | :---: |\n| p50 | 49.6 ms | 49.7 ms |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestTablesMissingCells checks that a figure the run lacks shows as "–", not as 0.
func TestTablesMissingCells(t *testing.T) {
	r := goodResults()
	r.picker.drop("sec/op", "PickPeer/N=3", "ours")
	r.picker.drop("allocs/op", "PickPeer/N=3", "httppool")
	r.remote.drop("B/s", "RemoteGet/size=100B/callers=1", "httppool")
	r.remote.drop("server-wakeups/op", "RemoteGet/size=4KiB/callers=64", "httppool")
	r.remote.drop("client-cpu-sec/op", "RemoteGet/size=4KiB/callers=1", "grpc")
	r.watchers.drop("lists/start", "APILoad", "ours")
	r.watchers.drop("p99-ms", "Convergence", "informer")
	r.peerCost.drop("srv-heap-B/peer", "PeerCost/N=100", "httppool")
	for _, c := range []struct {
		name string
		t    table
		row  string // the first cells of the row, "|"-joined as in markdown
		want string
	}{
		{"lookup", lookupTable(r.picker, "PickPeer"), "| 3 |", "| 3 | – | 100.0 ns | 120.0 ns | – | – | 0 / 1 / – |"},
		{"throughput", throughputTable(r.remote, "RemoteGet"), "| 100B | 1 |", "| 100B | 1 | – | 110 MB/s | – | – | – |"},
		{"latency", latencyTable(r.remote, "RemoteGet"), "| 100B | 1 |", "| 100B | 1 | – | – | – | 2.00 | 1.00 | – | 0.50× |"},
		{"allocs", allocsTable(r.remote, "GroupGet"), "| 4MiB | 64 |", "| 4MiB | 64 | –, – | –, – | –, – |"},
		{"wake-ups", *perCallTable(r.remote, "RemoteGet", wakeups), "| 4KiB | 64 |", "| 4KiB | 64 | 6 | 6.5 | – | – | 7 | – | – |"},
		{"CPU time", *perCallTable(r.remote, "RemoteGet", cpuTime), "| 4KiB | 1 |", "| 4KiB | 1 | 50.0 | – | – | 40.0 | 42.0 | – | – |"},
		{"convergence", convergenceTable(r.watchers), "| p99 |", "| p99 | 50.0 ms | – | – |"},
		{"API load", apiLoadTable(r.watchers), "| LIST at start |", "| LIST at start | – | – |"},
		{"API load over the watch ends", apiLoadTable(r.watchers), "| LIST over 20 watch ends |", "| LIST over 20 watch ends | 0 | – |"},
		{"peer cost", peerCostTable(r.peerCost), "| 100 | server,",
			"| 100 | server, after a Get from as many pods | 1 | 2 | – | 5.9 KiB | 1 | 1 |"},
	} {
		var got string
		for _, line := range strings.Split(c.t.String(), "\n") {
			if strings.HasPrefix(line, c.row) {
				got = line
				break
			}
		}
		if got != c.want {
			t.Errorf("%s: row %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTableShapes(t *testing.T) {
	r := goodResults()
	for _, c := range []struct {
		name string
		t    table
		rows int
	}{
		{"lookup", lookupTable(r.picker, "PickPeer"), len(pickerSizes)},
		{"quality", qualityTable(r.quality), len(r.quality)},
		{"rebuild", rebuildTable(r.picker), len(pickerSizes)},
		{"throughput", throughputTable(r.remote, "RemoteGet"), len(valueSizes) * len(callerCounts)},
		{"latency", latencyTable(r.remote, "GroupGet"), len(valueSizes) * len(callerCounts)},
		{"allocs", allocsTable(r.remote, "RemoteGet"), len(valueSizes) * len(callerCounts)},
		{"wake-ups", *perCallTable(r.remote, "RemoteGet", wakeups), len(valueSizes) * len(callerCounts)},
		{"CPU time", *perCallTable(r.remote, "RemoteGet", cpuTime), len(valueSizes) * len(callerCounts)},
		{"convergence", convergenceTable(r.watchers), 2},
		{"heap", heapTable(r.watchers), len(heapEndpoints)},
		{"API load", apiLoadTable(r.watchers), 10},
		{"peer cost", peerCostTable(r.peerCost), len(peerCounts) * len(peerCostPhases)},
	} {
		if len(c.t.Rows) != c.rows {
			t.Errorf("%s: %d rows, want %d", c.name, len(c.t.Rows), c.rows)
		}
		if len(c.t.Align) != len(c.t.Header) {
			t.Errorf("%s: %d alignments for %d columns", c.name, len(c.t.Align), len(c.t.Header))
		}
		for i, row := range c.t.Rows {
			if len(row) != len(c.t.Header) {
				t.Errorf("%s: row %d has %d cells for %d columns", c.name, i, len(row), len(c.t.Header))
			}
		}
	}
}

// TestPerCallTable checks the difference column of the wake-up and CPU time tables, ours
// less HTTPPool over both sides, its ~ when benchstat finds neither side different, and
// that results without the figures have no table.
func TestPerCallTable(t *testing.T) {
	row := "RemoteGet/size=100B/callers=1"
	for _, c := range []struct {
		name           string
		f              perCall
		client, server cell // ours; HTTPPool's are goodResults'
		want           string
	}{
		{"more wake-ups", wakeups, cell{Center: 6.5, VsBase: "~"}, cell{Center: 7, VsBase: "+17%"}, "+1.5"},
		{"fewer wake-ups", wakeups, cell{Center: 5.5, VsBase: "-8%"}, cell{Center: 5.75, VsBase: "~"}, "−0.75"},
		{"wake-ups not significant", wakeups, cell{Center: 6.2, VsBase: "~"}, cell{Center: 6.1, VsBase: "~"}, "+0.3 ~"},
		{"equal wake-ups", wakeups, cell{Center: 6, VsBase: "~"}, cell{Center: 6, VsBase: "~"}, "±0 ~"},
		{"more CPU time", cpuTime, cell{Center: 62e-6, VsBase: "+24%"}, cell{Center: 40.5e-6, VsBase: "~"}, "+12.5"},
		{"less CPU time", cpuTime, cell{Center: 45e-6, VsBase: "-10%"}, cell{Center: 35e-6, VsBase: "-12%"}, "−10.0"},
		{"CPU time not significant", cpuTime, cell{Center: 51e-6, VsBase: "~"}, cell{Center: 41.25e-6, VsBase: "~"}, "+2.25 ~"},
		{"CPU time in ms", cpuTime, cell{Center: 1.55e-3, VsBase: "+3000%"}, cell{Center: 40e-6, VsBase: "~"}, "+1500"},
	} {
		r := goodResults()
		r.remote.put(c.f.sides[0].unit, row, "grpc", c.client)
		r.remote.put(c.f.sides[1].unit, row, "grpc", c.server)
		tab := perCallTable(r.remote, "RemoteGet", c.f)
		if got := tab.Rows[0][len(tab.Rows[0])-1]; got != c.want {
			t.Errorf("%s: ours − HTTPPool %q, want %q", c.name, got, c.want)
		}
	}
	for _, f := range []perCall{wakeups, cpuTime} {
		r := goodResults()
		if tab := perCallTable(r.remote, "GroupGet", f); tab != nil {
			t.Errorf("GroupGet without %s: a table of %d rows, want none", f.sides[0].unit, len(tab.Rows))
		}
		for _, side := range f.sides {
			delete(r.remote, side.unit)
		}
		if tab := perCallTable(r.remote, "RemoteGet", f); tab != nil {
			t.Errorf("results without %s: a table of %d rows, want none", f.sides[0].unit, len(tab.Rows))
		}
	}
}
