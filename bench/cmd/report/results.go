package main

// The raw results of a run, as stored in results/, and loading them back: benchstat's
// summaries of the benchmark output, the picker quality figures that TestPickerQuality
// wrote, the e2e hand-off tests' figures (membership.go), the machine facts and the
// profiles.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Files in the results directory.
const (
	pickerRaw     = "picker.txt"   // PickPeer, PickPeerParallel, Rebuild (and the root's newRing)
	remoteRaw     = "remote.txt"   // RemoteGet, GroupGet
	handoffRaw    = "handoff.txt"  // PeekMiss
	handoverRaw   = "handover.txt" // Handover, one hand-over a round (-benchtime 1x)
	loadRaw       = "load.txt"     // LocalLoad
	qualityJSON   = "quality.json"
	pickerStat    = "benchstat-picker.txt"
	remoteStat    = "benchstat-remote.txt"
	handoffStat   = "benchstat-handoff.txt"
	handoverStat  = "benchstat-handover.txt"
	loadStat      = "benchstat-load.txt"
	watchersRaw   = "watchers.txt" // Convergence, Heap, APILoad on the real control plane
	watchersStat  = "benchstat-watchers.txt"
	membershipRaw = "e2e-handoff.txt" // go test -v of the e2e hand-off tests (membershipArgs)
	peerCostRaw   = "peercost.txt"    // PeerCost, one run (-benchtime 1x)
	peerCostStat  = "benchstat-peercost.txt"
	profilesText  = "profiles.txt"
	runInfoJSON   = "run.json"
)

// The sub-benchmarks the report reads: sizes, values and callers as the benchmarks name
// them (N=…, size=…, callers=…).
var (
	pickerSizes   = []int{3, 10, 100, 1000}
	smallValues   = []string{"100B", "4KiB"}
	largeValues   = []string{"256KiB", "4MiB"}
	valueSizes    = append(append([]string(nil), smallValues...), largeValues...)
	callerCounts  = []int{1, 64}
	heapEndpoints = []int{1, 100, 1000}
	peerCounts    = []int{10, 100, 1000}
)

// apiLoadEnds is how many watch ends BenchmarkAPILoad counts requests over; its units are
// named after it (lists/20-ends).
const apiLoadEnds = 20

// Quality is what TestPickerQuality measured at one size (quality_test.go).
type Quality struct {
	N                int
	Exact            bool
	BusiestOursExact float64
	BusiestOursKeys  float64
	BusiestCHExact   float64
	BusiestCHKeys    float64
	Leave, Join      Moves
}

// Moves is how many keys moved on a leave or a join: as a multiple of the ideal 1/N
// (mean, max) and, between peers that both stay, in % of all keys (worst, mean).
type Moves struct {
	OursMovedN, CHMovedN       float64
	OursSpurious, CHSpurious   float64
	OursSpuriousMean           float64
	OursMovedNMax, CHMovedNMax float64
}

// results is everything the report is rendered from.
type results struct {
	info           runInfo
	picker, remote summary
	watchers       summary        // nil when part 3 was not run
	handoff        summary        // nil when the results predate BenchmarkPeekMiss
	peerCost       summary        // nil when the results predate BenchmarkPeerCost
	handover       summary        // nil when the results predate BenchmarkHandover
	load           summary        // nil when the results predate BenchmarkLocalLoad
	membership     *membershipRun // nil when the e2e hand-off tests were not run
	quality        []Quality
	profiles       []byte // markdown, empty when nothing was profiled

	baseline *baselineResults // nil when no baseline ran
}

// summariser turns a file of raw benchmark output into benchstat's summary.
type summariser func(raw string) (summary, error)

// loadResults reads the results in dir: run.json, quality.json, profiles.txt if any, the
// raw benchmark output, summarised by summarise (watchers.txt, handoff.txt,
// peercost.txt, handover.txt and load.txt only if they exist), the e2e hand-off tests' output if it exists, and the
// baseline's output, if run.json names a baseline, compared with this run's by compare.
func loadResults(dir string, summarise summariser, compare comparer) (*results, error) {
	r := &results{}
	if err := readJSON(filepath.Join(dir, runInfoJSON), &r.info); err != nil {
		return nil, err
	}
	var err error
	if r.picker, err = summarise(filepath.Join(dir, pickerRaw)); err != nil {
		return nil, err
	}
	if r.remote, err = summarise(filepath.Join(dir, remoteRaw)); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, qualityJSON), &r.quality); err != nil {
		return nil, err
	}
	for name, s := range map[string]*summary{watchersRaw: &r.watchers, handoffRaw: &r.handoff, peerCostRaw: &r.peerCost,
		handoverRaw: &r.handover, loadRaw: &r.load} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			if *s, err = summarise(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		}
	}
	if out, err := os.ReadFile(filepath.Join(dir, membershipRaw)); err == nil {
		if r.membership, err = parseMembership(out); err != nil {
			return nil, fmt.Errorf("%s: %w", membershipRaw, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if r.profiles, err = os.ReadFile(filepath.Join(dir, profilesText)); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if r.baseline, err = loadBaseline(dir, r.info, compare); err != nil {
		return nil, err
	}
	return r, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
