// Command report runs the comparison benchmarks of the bench module and writes
// BENCHMARKS.md: it builds the test binaries, runs every benchmark in several rounds
// (each round runs all of them once, so that the noise of a shared machine spreads over
// every implementation alike), summarises the rounds with benchstat, profiles what misses
// a goal, and renders markdown tables with ratios and goal checks.
//
// Run it from the bench directory (make bench does):
//
//	go run ./cmd/report -out ../BENCHMARKS.md
//
// Raw results go to results/ (benchmark output, benchstat summaries, picker quality),
// binaries and profiles to .work/. -render-only re-renders BENCHMARKS.md from results/.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// benchstatCmd is the benchstat the report uses, from the module proxy.
const benchstatCmd = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

type options struct {
	out        string
	rounds     int
	pickerTime string
	remoteTime string
	profile    bool
	renderOnly bool
	watchers   int // rounds of the watcher benchmarks; 0 skips them
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "../BENCHMARKS.md", "the report to write")
	flag.IntVar(&o.rounds, "rounds", 6, "rounds of every benchmark (benchstat needs 6 for a confidence interval)")
	flag.StringVar(&o.pickerTime, "picker-benchtime", "200ms", "-benchtime of the picker benchmarks")
	flag.StringVar(&o.remoteTime, "remote-benchtime", "500ms", "-benchtime of the remote benchmarks")
	flag.BoolVar(&o.profile, "profile", true, "profile the cases that miss a goal")
	flag.BoolVar(&o.renderOnly, "render-only", false, "render the report from results/ without running anything")
	flag.IntVar(&o.watchers, "watcher-rounds", 3, "rounds of the watcher benchmarks on the real control plane (0 skips them)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

const (
	resultsDir = "results"
	workDir    = ".work"
)

// Files in resultsDir.
const (
	pickerRaw      = "picker.txt" // PickPeer, PickPeerParallel, Rebuild (and the root's newRing)
	remoteRaw      = "remote.txt" // RemoteGet, GroupGet
	qualityJSON    = "quality.json"
	pickerStat     = "benchstat-picker.txt"
	remoteStat     = "benchstat-remote.txt"
	watchersRaw    = "watchers.txt" // Convergence, Heap, APILoad on the real control plane
	watchersStat   = "benchstat-watchers.txt"
	watchersBinary = "watchers.test"
	profilesText   = "profiles.txt"
	runInfoJSON    = "run.json"
	benchBinary    = "bench.test"
	rootBinary     = "root.test"
	profileDirName = "profiles"
)

func run(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run me from the bench module's directory: %w", err)
	}
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	var info runInfo
	if o.renderOnly {
		if err := readJSON(filepath.Join(resultsDir, runInfoJSON), &info); err != nil {
			return err
		}
	} else {
		var err error
		if info, err = runAll(o); err != nil {
			return err
		}
	}
	r, err := loadResults(info)
	if err != nil {
		return err
	}
	if o.profile && !o.renderOnly {
		start := time.Now()
		if err := profileMisses(r); err != nil {
			return err
		}
		r.info.Seconds += time.Since(start).Seconds()
		if err := writeJSON(filepath.Join(resultsDir, runInfoJSON), r.info); err != nil {
			return err
		}
	}
	if r.profiles, err = os.ReadFile(filepath.Join(resultsDir, profilesText)); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(o.out, []byte(render(r)), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s (the run took %.1f min)", o.out, r.info.Seconds/60)
	return nil
}

// runAll builds the binaries, runs the tests and every round of benchmarks, and
// summarises them with benchstat.
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

	log.Print("checking the helpers and measuring the pickers' balance and movement")
	quality, _ := filepath.Abs(filepath.Join(resultsDir, qualityJSON))
	if _, err := command(workDir, []string{"BENCH_QUALITY_OUT=" + quality}, bin,
		"-test.run", "^(TestHelpersStopCleanly|TestPickerQuality)$", "-test.v"); err != nil {
		return info, err
	}

	var picker, remote bytes.Buffer
	for round := 1; round <= o.rounds; round++ {
		log.Printf("round %d of %d: pickers", round, o.rounds)
		out, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^Benchmark(PickPeer|PickPeerParallel|Rebuild)$",
			"-test.benchmem", "-test.benchtime", o.pickerTime)
		if err != nil {
			return info, err
		}
		picker.Write(keepHeader(out, round == 1))
		out, err = command(workDir, nil, rootBin, "-test.run", "^$", "-test.bench", "^BenchmarkRebuild$/^impl=ours$",
			"-test.benchmem", "-test.benchtime", o.pickerTime)
		if err != nil {
			return info, err
		}
		picker.Write(renameRootRebuild(out))
		log.Printf("round %d of %d: remote gets", round, o.rounds)
		out, err = command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^Benchmark(RemoteGet|GroupGet)$",
			"-test.benchmem", "-test.benchtime", o.remoteTime)
		if err != nil {
			return info, err
		}
		remote.Write(keepHeader(out, round == 1))
	}
	raws := map[string][]byte{pickerRaw: picker.Bytes(), remoteRaw: remote.Bytes()}
	stats := map[string]string{pickerRaw: pickerStat, remoteRaw: remoteStat}
	if o.watchers > 0 {
		out, err := runWatchers(o)
		if err != nil {
			return info, err
		}
		raws[watchersRaw], stats[watchersRaw] = out, watchersStat
	}
	for name, data := range raws {
		if err := os.WriteFile(filepath.Join(resultsDir, name), data, 0o644); err != nil {
			return info, err
		}
	}
	for raw, stat := range stats {
		out, err := command("", nil, "go", "run", benchstatCmd, "-col", "/impl", filepath.Join(resultsDir, raw))
		if err != nil {
			return info, err
		}
		if err := os.WriteFile(filepath.Join(resultsDir, stat), out, 0o644); err != nil {
			return info, err
		}
	}
	info.LoadAfter = loadAverage()
	info.Seconds = time.Since(start).Seconds()
	return info, writeJSON(filepath.Join(resultsDir, runInfoJSON), info)
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
	log.Print("watchers: API server load (twenty watch ends and a 410 each)")
	load, err := command(workDir, nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkAPILoad$", "-test.benchtime", "1x")
	if err != nil {
		return nil, err
	}
	return append(keepHeader(out, true), keepHeader(load, false)...), nil
}

// command runs name args in dir with env added, and returns its standard output. Its
// standard error goes to ours.
func command(dir string, env []string, name string, args ...string) ([]byte, error) {
	return commandErr(os.Stderr, dir, env, name, args...)
}

// quietCommand is command, with standard error shown only if the command fails.
func quietCommand(dir string, env []string, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	out, err := commandErr(&stderr, dir, env, name, args...)
	if err != nil {
		os.Stderr.Write(stderr.Bytes())
	}
	return out, err
}

func commandErr(stderr io.Writer, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		os.Stderr.Write(out)
		return nil, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
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

var rootRebuild = regexp.MustCompile(`^BenchmarkRebuild/impl=ours/N=(\d+)(-\d+)?(\s)`)

// renameRootRebuild turns the root's BenchmarkRebuild/impl=ours/N=… (newRing alone) into
// BenchmarkRebuild/N=…/impl=newRing, a column next to ours and theirs. Its configuration
// lines are dropped, so benchstat files it under the bench package with the rest.
func renameRootRebuild(out []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		if rootRebuild.MatchString(line) {
			b.WriteString(rootRebuild.ReplaceAllString(line, "BenchmarkRebuild/N=${1}/impl=newRing${2}${3}") + "\n")
		}
	}
	return b.Bytes()
}
