package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/BENCHMARKS.golden.md from testdata/results")

// csvSummaries reads, for a raw file X.txt, the benchstat CSV stored beside it as X.csv,
// so that tests need neither benchstat nor the network. The CSVs in testdata/results were
// made from the raw files there with benchstatArgs(raw, "csv").
func csvSummaries(raw string) (summary, error) {
	data, err := os.ReadFile(strings.TrimSuffix(raw, ".txt") + ".csv")
	if err != nil {
		return nil, err
	}
	return parseBenchstatCSV(data)
}

// TestRenderGolden renders the stored results of a real run (copied from bench/results)
// and compares the report with the golden file.
func TestRenderGolden(t *testing.T) {
	r, err := loadResults(filepath.Join("testdata", "results"), csvSummaries, csvComparisons)
	if err != nil {
		t.Fatal(err)
	}
	got, err := render(r, evaluateGoals(r))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "BENCHMARKS.golden.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("the report differs from %s from line %d:\n got: %q\nwant: %q\n(go test -run TestRenderGolden -update rewrites it)", golden, i+1, g, w)
			}
		}
	}
}

func renderString(t *testing.T, r *results) string {
	t.Helper()
	out, err := render(r, evaluateGoals(r))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestRenderSections(t *testing.T) {
	for _, c := range []struct {
		name      string
		edit      func(r *results)
		contains  []string
		lacks     []string
		transport bool // the transport's explanation is shown
	}{
		{"all met", func(r *results) {}, []string{"| picker: lookup ≤ 20 ns and 0 allocations at every size | at most 10.0 ns (median), 0 allocations | yes |",
			"## 3. Watching a Service\n\nOur watcher"},
			[]string{"## Goals missed", "**no**", "### Profiles"}, false},
		{"a picker goal missed", func(r *results) {
			r.picker.put("allocs/op", "PickPeer/N=3", "ours", cell{Center: 1})
		}, []string{", allocates | **no** |", "## Goals missed: why, and what to change\n\n- **picker: lookup ≤ 20 ns and 0 allocations at every size**: at most 10.0 ns (median), allocates.\n"},
			nil, false},
		{"a transport goal missed", func(r *results) {
			r.remote.put("B/s", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 50e6, VsBase: "-50%"})
		}, []string{"worst 0.50× at 100B × 1 caller | **no** |", "### The transport\n",
			"with small values and one caller ours reaches\n0.50× at 100 B and 1.10× at 4 KiB of HTTPPool's throughput"},
			nil, true},
		{"a goal not measured", func(r *results) {
			r.watchers.drop("heap-KiB", "Heap/endpoints=1000", "informer")
		}, []string{"| not measured: heap-KiB of Heap/endpoints=1000, impl=informer | **not measured** |",
			"- **Watcher: heap ≤ 1/4 of the informer's at 1000 endpoints**: not measured: heap-KiB of Heap/endpoints=1000, impl=informer.",
			"| 1000 | 100 KiB | – | – |"},
			nil, false},
		{"peek misses measured", func(r *results) {}, []string{
			"| hand-off, inside the window: a peek that misses | 250.0 µs | – | 420.0 µs | –, +400.0 µs | 1 | –, – |",
			"| hand-off, outside the window | 4.0 µs | – | 20.0 µs | –, ±0 ~ | 0 | –, – |"},
			[]string{"Not measured in this run (its results predate `BenchmarkPeekMiss`)"}, false},
		{"peek misses not measured", func(r *results) { r.handoff = nil }, []string{
			"## 4. The warm hand-off: cost of a peek miss\n",
			"`NotFound`. The setup is in",
			"no load outside it peeks.\n\nNot measured in this run (its results predate `BenchmarkPeekMiss`).\n",
			"| not measured: peeks/op of PeekMiss, impl=without-handoff (and 7 more) | **not measured** |"},
			[]string{"| hand-off, inside the window"}, false},
		{"the push measured", func(r *results) {}, []string{
			"## 6. The push: handing over a leaving pod's cache\n",
			"at most 32 MiB/s and 256 MiB per change (`pusher.go`), so that a rollout leaves the network to\nserving: at that pace the 64 MiB below take 2 s.",
			"| 3, one leaving | 1024 → 1024 | 2.10 s | 30.5 MiB/s | 64 MiB | 64.1 MiB, 36 KiB | +0.15 % | 2.09 s | 0, 0 |\n",
			"| `PeersManager.NewGroup` | 2.6 µs | 1.3 µs | 14.0 µs | +100.0 ns ~, +2.0 µs ~ | 12, 640 B |\n",
			"| push: a leaving pod hands its 64 MiB cache to the new owners within 15 s (Handoff.Drain's default), every entry stored | 64 MiB in 2.10 s (30.5 MiB/s); 1024 of 1024 entries stored; 64.1 MiB on the wire | yes |"},
			[]string{"its results predate `BenchmarkHandover`", "its results predate `BenchmarkLocalLoad`"}, false},
		{"the push not measured", func(r *results) { r.handover, r.load = nil, nil }, []string{
			"[`bench/handover_test.go`](bench/handover_test.go).\n\nNot measured in this run (its results predate `BenchmarkHandover`).\n",
			"[`bench/localload_test.go`](bench/localload_test.go).\n\nNot measured in this run (its results predate `BenchmarkLocalLoad`).\n",
			"| not measured: BenchmarkHandover (the results predate it) | **not measured** |"},
			[]string{"| 3, one leaving |"}, false},
		{"membership changes measured", func(r *results) {}, []string{
			"### Membership changes: keys of a warm working set of 1000 loaded again\n\n" +
				"| case | hand-off | no hand-off | HTTPPool fed by WatchPeers | failed gets |\n" +
				"| --- | ---: | ---: | ---: | ---: |\n" +
				"| scale-up 3 → 4 | 1 (0.1 %) | 248 (24.8 %) | 270 (27.0 %) | 0 / 0 / 0 |\n" +
				"| scale-down 4 → 3 | 0 (0.0 %) | 215 (21.5 %) | 232 (23.2 %) | 0 / 0 / 3 |\n",
			"controller:\n\n```\ncd e2e && go test -race -count=1 -timeout 30m -run '^TestHandoff' -v .\n```\n\nEach case",
			"| Rolling update of every pod, scale-up and scale-down: at most 1 % of a warm working set loaded again, with zero failed gets | rolling update 5 (0.5 %), "},
			[]string{"**The tests failed**", "Not measured in this run (`-skip-e2e`"}, false},
		{"wake-ups measured", func(r *results) {}, []string{
			"was\nput on a CPU per call: the third field of `/proc/PID/task/*/schedstat`",
			"Thread wake-ups per call, in the caller's process and in the server's:\n\n" +
				"| value | callers | caller HTTPPool | caller ours | caller grpc-bdp | server HTTPPool | server ours | server grpc-bdp | ours − HTTPPool, caller + server |\n" +
				"| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
				"| 100B | 1 | 6 | 6.5 | – | 6 | 7 | – | +1.5 |\n"},
			[]string{"Not measured in this run (its results predate the wake-up counts).\n\nCPU time per call (µs), in the caller's process and in the server's:\n\n|"}, false},
		{"wake-ups not measured", func(r *results) {
			for _, side := range wakeups.sides {
				delete(r.remote, side.unit)
			}
		}, []string{
			"The caller's heap allocations per call, count and bytes:\n\n| value |",
			"Thread wake-ups per call, in the caller's process and in the server's:\n\n" +
				"Not measured in this run (its results predate the wake-up counts).\n\nCPU time per call (µs)"},
			[]string{"| 100B | 1 | 6 | 6.5 |"}, false},
		{"wake-ups of a transport goal missed", func(r *results) {
			r.remote.put("B/s", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 50e6, VsBase: "-50%"})
		}, []string{"4. **Small calls: latency, not work.** With small values and one caller both transports\n" +
			"   wake about as many threads per call and use about as much CPU, so what HTTPPool gains there is\n" +
			"   latency along the call's path. Threads put on a CPU per call, in the caller's process + the\n" +
			"   server's: ours 6.5 + 7 against HTTPPool's 6 + 6 at 100 B and ours 6.5 + 7 against HTTPPool's 6 + 6 at 4 KiB.\n"},
			[]string{"this run did not measure both"}, true},
		{"CPU time measured", func(r *results) {}, []string{
			"*CPU time* is how long the threads of the caller's process, and of the server's, ran on a CPU per\ncall",
			"CPU time per call (µs), in the caller's process and in the server's:\n\n" +
				"| value | callers | caller HTTPPool | caller ours | caller grpc-bdp | server HTTPPool | server ours | server grpc-bdp | ours − HTTPPool, caller + server |\n" +
				"| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
				"| 100B | 1 | 50.0 | 55.0 | – | 40.0 | 42.0 | – | +7.00 |\n"},
			[]string{"Not measured in this run (its results predate the CPU times).\n\n### A whole two-peer miss"}, false},
		{"CPU time not measured", func(r *results) {
			for _, side := range cpuTime.sides {
				delete(r.remote, side.unit)
			}
		}, []string{
			"Thread wake-ups per call, in the caller's process and in the server's:\n\n| value |",
			"CPU time per call (µs), in the caller's process and in the server's:\n\n" +
				"Not measured in this run (its results predate the CPU times).\n\n### A whole two-peer miss"},
			[]string{"| 100B | 1 | 50.0 |"}, false},
		{"CPU time of a transport goal missed", func(r *results) {
			r.remote.put("B/s", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 50e6, VsBase: "-50%"})
			r.remote.put("sec/op", "RemoteGet/size=100B/callers=1", "httppool", cell{Center: 172e-6})
			r.remote.put("sec/op", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 190e-6, VsBase: "+10%"})
		}, []string{"against HTTPPool's 6 + 6 at 4 KiB.\n" +
			"   CPU time per call, in the caller's process + the server's: ours 55.0 + 42.0 µs against HTTPPool's 50.0 + 40.0 µs, " +
			"in calls of 190.0 µs against 172.0 µs at 100 B and ours 55.0 + 42.0 µs against HTTPPool's 50.0 + 40.0 µs at 4 KiB.\n" +
			"   Ours still allocates more,"},
			nil, true},
		{"CPU time of a transport goal missed, wake-ups not counted", func(r *results) {
			r.remote.put("B/s", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 50e6, VsBase: "-50%"})
			for _, side := range wakeups.sides {
				delete(r.remote, side.unit)
			}
		}, []string{"both transports do about as\n   much work per call (this run did not measure both the thread wake-ups and the CPU time that\n" +
			"   show it).\n   CPU time per call, in the caller's process + the server's: ours 55.0 + 42.0 µs"},
			[]string{"Threads put on a CPU per call", "wake about as many threads"}, true},
		{"small calls of a transport goal missed: the library's changes and the experiment", func(r *results) {
			r.remote.put("B/s", "RemoteGet/size=100B/callers=1", "grpc", cell{Center: 50e6, VsBase: "-50%"})
		}, []string{"instead of a goroutine per call, measured\n   " + transportFindings.StreamWorkers + ".\n",
			"a batch under 1000 bytes, `internal/transport/controlbuf.go`) did not close the gap\n   with one caller (still " +
				transportFindings.NoYieldOneCaller + ") and lost the lead\n   with many (" + transportFindings.NoYieldManyCallers + "): the yield is not\n   the cause.\n"},
			[]string{"syscalls"}, true},
		{"peer cost measured", func(r *results) {}, []string{
			"## 7. The cost of N peers\n\nWhat one pod's process pays for a Service of 10, 100 and 1000 reachable peers",
			"keeps at most\n100 idle connections in all",
			"| peers | reading | goroutines HTTPPool | ours | heap HTTPPool | ours | open files HTTPPool | ours |\n" +
				"| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
				"| 10 | peers known, before traffic | 0.01 | 0.01 | 2.4 KiB | 560 B | 0.003 | 0.003 |\n",
			"| 1000 | after a Get to every peer | 0.2 | 1.9 | 3.8 KiB | 6.8 KiB | 0.1 | 1 |\n",
			"| cost of N peers: at 1000 peers ≤ 2 goroutines and ≤ 8 KiB of heap per peer, before traffic and after a Get to each | before traffic: "},
			[]string{"Not measured in this run (its results predate `BenchmarkPeerCost`)", "### The cost of N peers"}, false},
		{"peer cost goal missed", func(r *results) {
			r.peerCost.put("used-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 2.01})
			r.peerCost.put("used-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: 10442})
			r.peerCost.put("srv-goroutines/peer", "PeerCost/N=1000", "grpc", cell{Center: 3})
		}, []string{"- **cost of N peers: at 1000 peers ≤ 2 goroutines and ≤ 8 KiB of heap per peer, before traffic and after a Get to each**: ",
			"### The cost of N peers\n\nAt 1000 peers, before traffic, a peer costs the pod 0.01 goroutines and 560 B of heap: no\n" +
				"peer has a connection until its first call. After a Get to each it costs 2.01 goroutines and\n" +
				"10.2 KiB, what one open grpc-go HTTP/2 client connection holds on the caller:",
			"its contexts, and channelz's socket data.\nThe library opens",
			"closes it after 2 minutes without a call",
			"each connection from a peer costs 3 goroutines and\n5.9 KiB: grpc-go's server transport runs a keepalive goroutine",
			"Going below this would mean replacing\ngrpc-go's HTTP/2 transport.\n\n"},
			[]string{"the heap profile under *Profiles*"}, false},
		{"peer cost goal missed, profiled", func(r *results) {
			r.peerCost.put("used-heap-B/peer", "PeerCost/N=1000", "grpc", cell{Center: 10442})
			var md bytes.Buffer
			writePeerCostProfiles(&md, map[string]string{"used": "table\n"})
			r.profiles = md.Bytes()
		}, []string{"channelz's socket data\n(the heap profile under *Profiles* shows each).\n",
			"### Profiles\n\nTaken by the report", "### PeerCost/N=1000, impl=grpc — where the pod's heap per peer goes\n"},
			nil, false},
		{"peer cost goal not measured: no explanation", func(r *results) { r.peerCost = nil },
			[]string{"- **cost of N peers"}, []string{"### The cost of N peers"}, false},
		{"peer cost not measured", func(r *results) { r.peerCost = nil }, []string{
			"## 7. The cost of N peers\n",
			"the next one.\n\nNot measured in this run (its results predate `BenchmarkPeerCost`).\n",
			"| not measured: BenchmarkPeerCost (the results predate it) | **not measured** |"},
			[]string{"| peers | reading |"}, false},
		{"membership changes not measured", func(r *results) { r.membership = nil }, []string{
			"## 5. The warm hand-off through membership changes\n",
			"and count HTTPPool's.\n\nNot measured in this run (`-skip-e2e`, or results without the e2e tests' output).\n",
			"controller:\n\n```\ncd e2e && go test",
			"| not measured: the e2e hand-off tests' output (-skip-e2e skips them) | **not measured** |"},
			[]string{"### Membership changes"}, false},
		{"membership tests failed", func(r *results) {
			r.membership.Passed = false
			r.membership.Failed = []string{"TestHandoffRollingUpdate/with_hand-off", "TestHandoffRollingUpdate"}
			r.membership.Cases = r.membership.Cases[:2]
		}, []string{"| scale-down 4 → 3 |",
			"**The tests failed** (`TestHandoffRollingUpdate/with_hand-off`, `TestHandoffRollingUpdate`): the table shows",
			"| not measured: no rolling update case in the e2e output | **not measured** |"},
			[]string{"| rolling update |"}, false},
		{"membership run cut short", func(r *results) { r.membership.Passed = false },
			[]string{"**The tests failed** (none reported: the run was cut short)"}, nil, false},
		{"part 3 not run", func(r *results) { r.watchers = nil },
			[]string{"## 3. Watching a Service\n\nNot measured in this run (`-watcher-rounds 0`).\n"},
			[]string{"Watcher:", "### Convergence"}, false},
		{"profiles of a miss", func(r *results) {
			r.picker.put("sec/op", "Rebuild/N=1000", "ours", cell{Center: 20e-3})
			r.profiles = []byte("### Rebuild/N=1000\n\nprofile\n\n")
		}, []string{"### Profiles\n\nTaken by the report", "### Rebuild/N=1000\n\nprofile\n"}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := goodResults()
			c.edit(r)
			out := renderString(t, r)
			for _, s := range c.contains {
				if !strings.Contains(out, s) {
					t.Errorf("the report lacks %q", s)
				}
			}
			for _, s := range c.lacks {
				if strings.Contains(out, s) {
					t.Errorf("the report has %q", s)
				}
			}
			if got := strings.Contains(out, "### The transport\n"); got != c.transport {
				t.Errorf("the transport's explanation shown: %v, want %v", got, c.transport)
			}
			if strings.Contains(out, "<no value>") {
				t.Error("the template printed <no value>")
			}
		})
	}
}

// identifiers are the digits the template's text may hold: names, not figures.
var identifiers = regexp.MustCompile(strings.Join([]string{
	`^#+ \d\. `,     // section numbers
	`^\s*\d\. \*\*`, // list items
	`crc32`, `127\.a\.b\.c:8080`, `1/N`, `410`, `HTTP/2`, `p50`, `p99`, `e2e`, `k8s`,
	`\(1, 5, 15 min\)`,    // the load average's own fields
	`setting both to 0`,   // the options' off value
	"`-watcher-rounds 0`", // the flag's off value
	"`-benchtime 1x`",     // one run of BenchmarkPeerCost
	`127\.1\.x\.y`,        // BenchmarkPeerCost's peers
	"`http2Client`",       // grpc-go's client transport
	`127\.3\.0\.x`,        // BenchmarkHandover's pods
	`127\.4\.0\.1`,        // BenchmarkLocalLoad's pod
}, "|"))

// TestTemplateHasNoFigures checks that every figure the report states comes from the
// data: the template's own text holds no digit but those of names.
func TestTemplateHasNoFigures(t *testing.T) {
	text := regexp.MustCompile(`(?s)\{\{.*?\}\}`).ReplaceAllString(reportTemplate, "")
	for i, line := range strings.Split(text, "\n") {
		if rest := identifiers.ReplaceAllString(line, ""); strings.ContainsAny(rest, "0123456789") {
			t.Errorf("report.md.tmpl: a figure typed into the text (line %d of the text outside actions): %q", i+1, line)
		}
	}
}

func TestMark(t *testing.T) {
	for s, want := range map[status]string{met: "yes", withinNoise: "yes", missed: "**no**", unmeasured: "**not measured**"} {
		if got := mark(s); got != want {
			t.Errorf("mark(%v) = %q, want %q", s, got, want)
		}
	}
}

func TestAndList(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{nil, ""}, {[]int{1}, "1"}, {[]int{1, 64}, "1 and 64"}, {[]int{1, 8, 64}, "1, 8 and 64"}} {
		if got := andList(c.in); got != c.want {
			t.Errorf("andList(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCountRange(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want string
	}{{nil, "–"}, {[]float64{55, 55}, "55"}, {[]float64{96, 93, 95}, "93–96"}, {[]float64{67.5, 54}, "54–67.5"}} {
		if got := countRange(c.in); got != c.want {
			t.Errorf("countRange(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
