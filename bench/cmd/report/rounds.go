package main

// Running the benchmarks: the test binaries, the rounds of every benchmark (one hand-over
// of a leaving pod's cache in each), the one run of the cost of N peers, the watcher benchmarks and the e2e hand-off tests on a real control
// plane, and benchstat's summaries, all written to the results directory.

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Files in the work directory.
const (
	benchBinary    = "bench.test"
	rootBinary     = "root.test"
	watchersBinary = "watchers.test"
	profileDirName = "profiles"
)

// handoverBenchtime is BenchmarkHandover's -benchtime: one hand-over a round. Each takes
// a few seconds (64 MiB at the pusher's 32 MiB/s, and three processes to start), so the
// rounds give it as many samples as the other benchmarks for about half a minute.
const handoverBenchtime = "1x"

// rootRebuildBench selects the root module's BenchmarkRebuild of our table alone (newRing),
// whether the root names its sub-benchmarks impl=ours/N=… or, as bench/ does, N=…/impl=ours.
const rootRebuildBench = "^BenchmarkRebuild$/^(impl=ours|N=\\d+)$/^(impl=ours|N=\\d+)$"

// runAll builds the binaries (the baseline's too, with o.baseline), runs the tests, every
// round of benchmarks (with the baseline's beside this code's) and BenchmarkPeerCost once,
// summarises them with benchstat, runs the e2e hand-off tests unless o.skipE2E, and writes
// all of it, run.json included, to o.results.
func runAll(o options) (runInfo, error) {
	start := time.Now()
	info := machineInfo()
	info.Rounds, info.PickerTime, info.RemoteTime = o.rounds, o.pickerTime, o.remoteTime
	info.LoadBefore = loadAverage()

	bin, _ := filepath.Abs(filepath.Join(workDir, benchBinary))
	rootBin, _ := filepath.Abs(filepath.Join(workDir, rootBinary))
	log.Print("building the test binaries")
	if _, err := command("", nil, "go", "test", "-c", "-o", bin, "."); err != nil {
		return info, err
	}
	if _, err := command("..", nil, "go", "test", "-c", "-o", rootBin, "."); err != nil {
		return info, err
	}
	var base *baselineBench // nil without a baseline
	if o.baseline != "" {
		var err error
		if base, err = buildBaseline(o.baseline); err != nil {
			return info, err
		}
		info.Baseline = base.commit
	}

	log.Print("checking the helpers and measuring the pickers' balance and movement")
	quality, _ := filepath.Abs(filepath.Join(o.results, qualityJSON))
	if _, err := command(workDir, []string{"BENCH_QUALITY_OUT=" + quality}, bin,
		"-test.run", "^(TestHelpersStopCleanly|TestPickerQuality)$", "-test.v"); err != nil {
		return info, err
	}

	var picker, remote, handoff, handover, load, basePicker, baseRemote, baseLoad bytes.Buffer
	for round := 1; round <= o.rounds; round++ {
		err := base.interleave(round, func() error {
			log.Printf("round %d of %d: pickers", round, o.rounds)
			out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^Benchmark(PickPeer|PickPeerParallel|Rebuild)$",
				"-test.benchmem", "-test.benchtime", o.pickerTime)
			if err != nil {
				return err
			}
			picker.Write(keepHeader(out, round == 1))
			out, err = command(workDir, nil, rootBin, "-test.run", "^$", "-test.bench", rootRebuildBench,
				"-test.benchmem", "-test.benchtime", o.pickerTime)
			if err != nil {
				return err
			}
			picker.Write(renameRootRebuild(out))
			return nil
		}, func() error {
			log.Printf("round %d of %d: the baseline's picker", round, o.rounds)
			return base.run(&basePicker, round, baselinePickerBench, o.pickerTime)
		})
		if err != nil {
			return info, err
		}
		err = base.interleave(round, func() error {
			log.Printf("round %d of %d: remote gets", round, o.rounds)
			out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^Benchmark(RemoteGet|GroupGet)$",
				"-test.benchmem", "-test.benchtime", o.remoteTime)
			if err != nil {
				return err
			}
			remote.Write(keepHeader(out, round == 1))
			return nil
		}, func() error {
			log.Printf("round %d of %d: the baseline's remote gets", round, o.rounds)
			return base.run(&baseRemote, round, baselineRemoteBench, o.remoteTime)
		})
		if err != nil {
			return info, err
		}
		log.Printf("round %d of %d: peek misses", round, o.rounds)
		out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkPeekMiss$",
			"-test.benchmem", "-test.benchtime", o.remoteTime)
		if err != nil {
			return info, err
		}
		handoff.Write(keepHeader(out, round == 1))
		err = base.interleave(round, func() error {
			log.Printf("round %d of %d: local loads", round, o.rounds)
			out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkLocalLoad$",
				"-test.benchmem", "-test.benchtime", o.remoteTime)
			if err != nil {
				return err
			}
			load.Write(keepHeader(out, round == 1))
			return nil
		}, func() error {
			log.Printf("round %d of %d: the baseline's local loads", round, o.rounds)
			return base.run(&baseLoad, round, baselineLoadBench, o.remoteTime)
		})
		if err != nil {
			return info, err
		}
		log.Printf("round %d of %d: the hand-over of a leaving pod's cache", round, o.rounds)
		out, err = command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkHandover$",
			"-test.benchtime", handoverBenchtime)
		if err != nil {
			return info, err
		}
		handover.Write(keepHeader(out, round == 1))
	}
	// The cost of N peers counts goroutines, heap and files rather than timing anything:
	// one run of each case is enough.
	log.Print("cost of N peers, once")
	peerCost, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkPeerCost$",
		"-test.benchtime", "1x")
	if err != nil {
		return info, err
	}
	raws := map[string][]byte{pickerRaw: picker.Bytes(), remoteRaw: remote.Bytes(), handoffRaw: handoff.Bytes(),
		handoverRaw: handover.Bytes(), loadRaw: load.Bytes(), peerCostRaw: keepHeader(peerCost, true)}
	stats := map[string]string{pickerRaw: pickerStat, remoteRaw: remoteStat, handoffRaw: handoffStat,
		handoverRaw: handoverStat, loadRaw: loadStat, peerCostRaw: peerCostStat}
	if base != nil {
		raws[baselinePickerRaw], raws[baselineRemoteRaw], raws[baselineLoadRaw] = basePicker.Bytes(), baseRemote.Bytes(), baseLoad.Bytes()
	} else if err := removeBaseline(o.results); err != nil { // a previous run's would pass for this run's
		return info, err
	}
	if o.watchers > 0 {
		out, err := runWatchers(o)
		if err != nil {
			return info, err
		}
		raws[watchersRaw], stats[watchersRaw] = out, watchersStat
	}
	if o.skipE2E {
		// A previous run's output would pass for this run's.
		if err := os.Remove(filepath.Join(o.results, membershipRaw)); err != nil && !os.IsNotExist(err) {
			return info, err
		}
	} else {
		raws[membershipRaw] = runMembership()
	}
	for name, data := range raws {
		if err := os.WriteFile(filepath.Join(o.results, name), data, 0o644); err != nil {
			return info, err
		}
	}
	for raw, stat := range stats {
		out, err := command("", nil, "go", benchstatArgs(filepath.Join(o.results, raw), "text")...)
		if err != nil {
			return info, err
		}
		if err := os.WriteFile(filepath.Join(o.results, stat), out, 0o644); err != nil {
			return info, err
		}
	}
	if base != nil {
		if err := writeBaselineStats(o.results); err != nil {
			return info, err
		}
	}
	info.LoadAfter = loadAverage()
	info.Seconds = time.Since(start).Seconds()
	return info, writeJSON(filepath.Join(o.results, runInfoJSON), info)
}

// runWatchers runs part 3 on the real control plane of the e2e test bed (built and cached by
// the test binary itself): convergence and heap for o.watchers rounds, the API server load
// once (its counts do not vary).
func runWatchers(o options) ([]byte, error) {
	bin, _ := filepath.Abs(filepath.Join(workDir, watchersBinary))
	log.Print("building the watcher benchmarks")
	if _, err := command("", nil, "go", "test", "-c", "-o", bin, "./watchers"); err != nil {
		return nil, err
	}
	log.Printf("watchers: convergence and heap, %d rounds (on a real control plane)", o.watchers)
	out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^Benchmark(Convergence|Heap)$",
		"-test.benchtime", "1x", "-test.count", fmt.Sprint(o.watchers))
	if err != nil {
		return nil, err
	}
	log.Printf("watchers: API server load (%d watch ends and a 410)", apiLoadEnds)
	load, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkAPILoad$", "-test.benchtime", "1x")
	if err != nil {
		return nil, err
	}
	return append(keepHeader(out, true), keepHeader(load, false)...), nil
}

// runMembership runs the e2e hand-off tests (membershipArgs) in the e2e module and returns
// their output. Tests that fail do not stop the report: a hand-off that misses its goal is a
// finding the report shows, and the output says what failed.
func runMembership() []byte {
	log.Printf("e2e: membership changes under load, three modes each (on a real control plane): %s", membershipCommand())
	out, err := commandAnyway(filepath.Join("..", "e2e"), nil, "go", membershipArgs...)
	if err != nil {
		log.Printf("e2e: %v; the report shows what the tests measured (output in %s)", err, membershipRaw)
	}
	return out
}

var headerLine = regexp.MustCompile(`^(goos|goarch|pkg|cpu): `)

// keepHeader returns the benchmark lines of out, and the configuration lines (goos,
// pkg, ...) only if header is true.
func keepHeader(out []byte, header bool) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || header && headerLine.MatchString(line) {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

var rootRebuild = regexp.MustCompile(`^BenchmarkRebuild/(?:impl=ours/N=(\d+)|N=(\d+)/impl=ours)(-\d+)?(\s)`)

// renameRootRebuild turns the root's BenchmarkRebuild/impl=ours/N=… or …/N=…/impl=ours
// (newRing alone) into BenchmarkRebuild/N=…/impl=newRing, a column next to ours and
// theirs. Its other lines are dropped, configuration lines too, so benchstat files it
// under the bench package with the rest.
func renameRootRebuild(out []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		if rootRebuild.MatchString(line) {
			b.WriteString(rootRebuild.ReplaceAllString(line, "BenchmarkRebuild/N=${1}${2}/impl=newRing${3}${4}") + "\n")
		}
	}
	return b.Bytes()
}
