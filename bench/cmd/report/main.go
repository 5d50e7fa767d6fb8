// Command report runs the comparison benchmarks of the bench module and writes
// BENCHMARKS.md: it builds the test binaries, runs every benchmark in several rounds
// (each round runs all of them once, so that the noise of a shared machine spreads over
// every implementation alike) but the cost of N peers, which counts rather than times and
// runs once (each round hands a leaving pod's cache over once, BenchmarkHandover, whose
// -benchtime is 1x), summarises the rounds with benchstat, runs the e2e hand-off tests
// (membership changes under load; -skip-e2e skips them), judges the goals, profiles what
// misses one, and renders markdown tables with ratios and verdicts.
//
// With -baseline REV it also compares this code with the code of commit REV, the baseline:
// it checks REV out into a temporary git worktree, copies this code's
// bench/localload_test.go into it, builds the bench module's test binary there (which holds
// the library at REV) and removes the worktree, runs that binary's BenchmarkPickPeer (ours),
// BenchmarkRemoteGet (grpc) and BenchmarkLocalLoad (newgroup) in the same rounds, beside
// this code's, and judges two goals: no regression beyond noise, and the cost of a local
// load unchanged (baseline.go).
//
// Run it from the bench directory (make bench does, with the commit that last changed
// BENCHMARKS.md as the baseline: the code the previous report measured):
//
//	go run ./cmd/report -out ../BENCHMARKS.md -baseline "$(git log -1 --format=%H -- ../BENCHMARKS.md)"
//
// Raw results go to results/ (benchmark output, benchstat summaries, picker quality, the
// e2e tests' output), binaries and profiles to .work/. To re-render BENCHMARKS.md from the
// stored results without running a benchmark:
//
//	go run ./cmd/report -render-only -out ../BENCHMARKS.md
//
// The data flows one way: rounds.go writes the raw results, results.go reads them back
// (through benchstat.go and membership.go), goals.go judges them, profile.go profiles the
// misses, and render.go (with tables.go, format.go and report.md.tmpl) writes the markdown;
// baseline.go does each of these for the baseline. The tests render testdata/results, a copy
// of one run's results with benchstat's CSV beside each raw file (the baseline's files are
// derived from the run's own, as baseline_test.go says), and compare the report with
// testdata/BENCHMARKS.golden.md (-update rewrites it).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"
)

// workDir holds the test binaries and the profiles.
const workDir = ".work"

type options struct {
	out        string
	results    string // the directory of raw results
	rounds     int
	pickerTime string
	remoteTime string
	profile    bool
	renderOnly bool
	watchers   int    // rounds of the watcher benchmarks; 0 skips them
	skipE2E    bool   // skip the e2e hand-off tests
	baseline   string // a git revision whose code runs beside this code (baseline.go); "" skips it
}

func main() {
	log.SetFlags(log.Ltime)
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2) // the flag package has said why
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// parseFlags reads the command line; its defaults are what make bench runs.
func parseFlags(args []string, usage io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&o.out, "out", "../BENCHMARKS.md", "the report to write")
	fs.StringVar(&o.results, "results", "results", "the directory of raw results: written by a run, read by -render-only")
	fs.IntVar(&o.rounds, "rounds", 6, "rounds of every benchmark (benchstat needs 6 for a confidence interval)")
	fs.StringVar(&o.pickerTime, "picker-benchtime", "200ms", "-benchtime of the picker benchmarks")
	fs.StringVar(&o.remoteTime, "remote-benchtime", "500ms", "-benchtime of the remote benchmarks and of BenchmarkPeekMiss")
	fs.BoolVar(&o.profile, "profile", true, "profile the cases that miss a goal")
	fs.BoolVar(&o.renderOnly, "render-only", false, "render the report from the results directory without running anything")
	fs.IntVar(&o.watchers, "watcher-rounds", 3, "rounds of the watcher benchmarks on the real control plane (0 skips them)")
	fs.BoolVar(&o.skipE2E, "skip-e2e", false, "skip the e2e hand-off tests on the real control plane (the report says not measured)")
	fs.StringVar(&o.baseline, "baseline", "", "a git revision whose PickPeer, RemoteGet (grpc) and LocalLoad (newgroup) run in the same rounds, compared with this code's; \"\" skips it (make bench passes the commit that last changed BENCHMARKS.md)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(usage, err)
		return o, err
	}
	return o, nil
}

func run(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run me from the bench module's directory: %w", err)
	}
	if !o.renderOnly {
		for _, dir := range []string{o.results, workDir} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if _, err := runAll(o); err != nil {
			return err
		}
	}
	r, err := loadResults(o.results, benchstatCSV, benchstatCompareCSV)
	if err != nil {
		return err
	}
	verdicts := evaluateGoals(r)
	if !o.renderOnly {
		r.profiles = nil // a previous run's profiles.txt
		if o.profile {
			start := time.Now()
			if r.profiles, err = profileMisses(r); err != nil {
				return err
			}
			r.info.Seconds += time.Since(start).Seconds()
			if err := writeJSON(filepath.Join(o.results, runInfoJSON), r.info); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(o.results, profilesText), r.profiles, 0o644); err != nil {
			return err
		}
	}
	report, err := render(r, verdicts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, report, 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s (the run took %.1f min)", o.out, r.info.Seconds/60)
	return nil
}
