package main

// Profiles of the cases that miss a goal, as markdown for the report. The remote
// benchmarks run their calls in helper processes, which write their own profiles
// (BENCH_PROFILE_DIR); so does BenchmarkPeerCost's pod, a heap profile of each reading;
// the picker benchmarks run in the test process and use -test.cpuprofile.

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// profileMisses profiles the cases that miss a goal, or where ours is behind at all for the
// transport, and returns the pprof output as markdown.
func profileMisses(r *results) ([]byte, error) {
	var md bytes.Buffer
	bin, _ := filepath.Abs(filepath.Join(workDir, benchBinary))

	if small, large := worstTransport(r); small != "" || large != "" {
		for _, c := range []struct{ row, why string }{
			{large, "large values: where the CPU goes on each side (flat), and who copies and clears memory"},
			{small, "small values: per-call work on the caller (flat CPU) and its allocations"},
		} {
			if c.row == "" {
				continue
			}
			if err := profileRemote(&md, bin, c.row, c.why, c.row == large); err != nil {
				return nil, err
			}
		}
	}
	if c, ok := r.picker.get("sec/op", fmt.Sprintf("Rebuild/N=%d", rebuildPeers), "ours"); ok && c.Center > rebuildLimit {
		if err := profilePicker(&md, bin, fmt.Sprintf("^BenchmarkRebuild$/^N=%d$/^impl=ours$", rebuildPeers),
			fmt.Sprintf("Rebuild/N=%d, impl=ours (watch event → new ring)", rebuildPeers)); err != nil {
			return nil, err
		}
	}
	for _, n := range pickerSizes {
		if c, ok := r.picker.get("sec/op", fmt.Sprintf("PickPeer/N=%d", n), "ours"); ok && c.Center > lookupLimit {
			if err := profilePicker(&md, bin, fmt.Sprintf("^BenchmarkPickPeer$/^N=%d$/^impl=ours$", n), fmt.Sprintf("PickPeer/N=%d, impl=ours", n)); err != nil {
				return nil, err
			}
			break
		}
	}
	if readings := peerCostMisses(r.peerCost); len(readings) > 0 {
		if err := profilePeerCost(&md, bin, readings); err != nil {
			return nil, err
		}
	}
	return md.Bytes(), nil
}

// worstTransport returns the RemoteGet rows, among small and large values, where our
// default transport's throughput falls furthest below HTTPPool's, or "" where it never does.
func worstTransport(r *results) (small, large string) {
	worst := map[bool]float64{false: 1, true: 1}
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			row := fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers)
			ours, ok1 := r.remote.get("B/s", row, "grpc")
			theirs, ok2 := r.remote.get("B/s", row, "httppool")
			if !ok1 || !ok2 || theirs.Center == 0 {
				continue
			}
			isLarge := slices.Contains(largeValues, size)
			if ratio := ours.Center / theirs.Center; ratio < worst[isLarge] {
				worst[isLarge] = ratio
				if isLarge {
					large = row
				} else {
					small = row
				}
			}
		}
	}
	return small, large
}

// profileRemote runs row (RemoteGet/size=…/callers=…) for impl=grpc alone, with the
// helpers profiling themselves, and appends the pprof tables.
func profileRemote(md *bytes.Buffer, bin, row, why string, large bool) error {
	parts := strings.Split(row, "/") // RemoteGet, size=…, callers=…
	dir, _ := filepath.Abs(filepath.Join(workDir, profileDirName, strings.ReplaceAll(row, "/", "_")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log.Printf("profiling %s, impl=grpc", row)
	pattern := fmt.Sprintf("^Benchmark%s$/^%s$/^%s$/^impl=grpc$", parts[0], parts[1], parts[2])
	if _, err := command(workDir, []string{"BENCH_PROFILE_DIR=" + dir}, bin,
		"-test.run", "^$", "-test.bench", pattern, "-test.benchtime", "2s"); err != nil {
		return err
	}
	client, server := filepath.Join(dir, "client-grpc.cpu.pprof"), filepath.Join(dir, "server.cpu.pprof")
	fmt.Fprintf(md, "### %s, impl=grpc — %s\n\n", row, why)
	if large {
		sections := []struct{ title, file string }{{"caller (client helper)", client}, {"server helper", server}}
		for _, s := range sections {
			top, err := pprof(bin, s.file, "-top", "-nodecount=12")
			if err != nil {
				return err
			}
			peek, err := pprof(bin, s.file, "-peek", `runtime\.memmove$|runtime\.memclrNoHeapPointers$`)
			if err != nil {
				return err
			}
			fmt.Fprintf(md, "CPU, %s, `go tool pprof -top`:\n\n```\n%s```\n\n", s.title, top)
			fmt.Fprintf(md, "Who copies and clears, %s, `go tool pprof -peek 'runtime.memmove$|runtime.memclrNoHeapPointers$'`:\n\n```\n%s```\n\n", s.title, peek)
		}
		return nil
	}
	top, err := pprof(bin, client, "-top", "-nodecount=15")
	if err != nil {
		return err
	}
	allocs, err := pprof(bin, filepath.Join(dir, "client-grpc.mem.pprof"), "-sample_index=alloc_objects", "-top", "-nodecount=15")
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "CPU, caller, `go tool pprof -top`:\n\n```\n%s```\n\n", top)
	fmt.Fprintf(md, "Allocations, caller, `go tool pprof -sample_index=alloc_objects -top`:\n\n```\n%s```\n\n", allocs)
	return nil
}

// profilePicker runs one picker benchmark with -test.cpuprofile and appends the top.
func profilePicker(md *bytes.Buffer, bin, pattern, title string) error {
	dir, _ := filepath.Abs(filepath.Join(workDir, profileDirName))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prof := filepath.Join(dir, strings.NewReplacer("/", "_", ",", "", " ", "_").Replace(title)+".cpu.pprof")
	log.Printf("profiling %s", title)
	if _, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", "2s",
		"-test.cpuprofile", prof); err != nil {
		return err
	}
	top, err := pprof(bin, prof, "-top", "-nodecount=15")
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "### %s\n\nCPU, `go tool pprof -top`:\n\n```\n%s```\n\n", title, top)
	return nil
}

// peerCostReadings are the readings of BenchmarkPeerCost that the cost-of-N-peers goal
// judges, each with the reading before it, whose heap profile pprof subtracts (-base), and
// what the difference is.
var peerCostReadings = []struct{ reading, before, what string }{
	{"idle", "base", "knowing every peer (before traffic)"},
	{"used", "idle", "a Get to every peer (a connection to each)"},
}

// peerCostHeapArgs are the arguments of go tool pprof for the heap a reading added (-base,
// the reading before, follows them). -prune_from cuts the runtime's stacks at
// runtime.malg, so that new goroutines' descriptors show as the function that makes them
// rather than as runtime.mallocgc, where every allocation ends.
var peerCostHeapArgs = []string{"-sample_index=inuse_space", "-top", "-nodecount=15", `-prune_from=^runtime\.malg$`}

// peerCostMisses returns the readings of peerCostReadings whose figures at costPeers peers
// miss the cost-of-N-peers goal, in their order.
func peerCostMisses(s summary) []string {
	var readings []string
	v := peerCostGoal(s)
	for _, c := range peerCostReadings {
		for _, f := range v.Figures {
			if strings.HasPrefix(f.Name, peerCostRow(costPeers)+" "+c.reading+" ") && f.status() == missed {
				readings = append(readings, c.reading)
				break
			}
		}
	}
	return readings
}

// peerCostHeapFile is the heap profile BenchmarkPeerCost's pod writes of reading, at
// costPeers peers, impl=grpc: named after the helper and the reading.
func peerCostHeapFile(dir, reading string) string {
	return filepath.Join(dir, fmt.Sprintf("peercost-grpc-%d.%s.heap.pprof", costPeers, reading))
}

// profilePeerCost runs BenchmarkPeerCost at costPeers peers for impl=grpc alone, its pod
// writing a heap profile of each reading, and appends, for each of readings, what that
// reading's in-use heap holds beyond the reading's before it.
func profilePeerCost(md *bytes.Buffer, bin string, readings []string) error {
	row := peerCostRow(costPeers)
	dir, _ := filepath.Abs(filepath.Join(workDir, profileDirName, strings.ReplaceAll(row, "/", "_")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log.Printf("profiling %s, impl=grpc", row)
	pattern := fmt.Sprintf("^BenchmarkPeerCost$/^N=%d$/^impl=grpc$", costPeers)
	if _, err := command(workDir, []string{"BENCH_PROFILE_DIR=" + dir}, bin,
		"-test.run", "^$", "-test.bench", pattern, "-test.benchtime", "1x"); err != nil {
		return err
	}
	tops := make(map[string]string)
	for _, c := range peerCostReadings {
		if !slices.Contains(readings, c.reading) {
			continue
		}
		top, err := pprof(bin, peerCostHeapFile(dir, c.reading), slices.Concat(peerCostHeapArgs, []string{"-base", peerCostHeapFile(dir, c.before)})...)
		if err != nil {
			return err
		}
		tops[c.reading] = top
	}
	writePeerCostProfiles(md, tops)
	return nil
}

// peerCostProfileHeading starts the heading of profilePeerCost's tables.
func peerCostProfileHeading() string {
	return fmt.Sprintf("### %s, impl=grpc", peerCostRow(costPeers))
}

// writePeerCostProfiles appends the heap tables of profilePeerCost, tops by reading.
func writePeerCostProfiles(md *bytes.Buffer, tops map[string]string) {
	fmt.Fprintf(md, "%s — where the pod's heap per peer goes\n\n", peerCostProfileHeading())
	for _, c := range peerCostReadings {
		top, ok := tops[c.reading]
		if !ok {
			continue
		}
		fmt.Fprintf(md, "In-use heap that %s added, all %d peers together: the pod's %s reading less its %s one, "+
			"every allocation recorded (`go tool pprof -sample_index=inuse_space -top -prune_from='^runtime\\.malg$'`, "+
			"`-base` the %s reading's profile); `runtime.malg` is new goroutines' descriptors, whose stacks are not heap:"+
			"\n\n```\n%s```\n\n",
			c.what, costPeers, c.reading, c.before, c.before, top)
	}
}

// pprof runs go tool pprof and returns its table without the preamble.
func pprof(bin, prof string, args ...string) (string, error) {
	out, err := command("", nil, "go", append(append([]string{"tool", "pprof"}, args...), bin, prof)...)
	if err != nil {
		return "", err
	}
	return pprofTable(string(out)), nil
}

// pprofTable is pprof's output from its table's header on, blank lines dropped, and its
// Duration line.
func pprofTable(out string) string {
	var b strings.Builder
	table := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "flat%") {
			table = true
		}
		if strings.HasPrefix(line, "Duration:") {
			b.WriteString(line + "\n")
		}
		if table && strings.TrimSpace(line) != "" {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
