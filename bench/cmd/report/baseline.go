package main

// The baseline: this code against the code of an earlier commit (-baseline REV; make bench
// passes the commit that last changed BENCHMARKS.md, the code the previous report measured).
// The report checks REV out into a temporary git worktree, builds the bench module's test
// binary there (bench/go.mod replaces the library with ../, so the binary holds the library
// at REV) and removes the worktree again; every round then runs the baseline's
// BenchmarkPickPeer (impl=ours) and BenchmarkRemoteGet (impl=grpc) beside the same
// benchmarks of this code. benchstat compares the two, a column per run.

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Files in the results directory and the work directory.
const (
	baselinePickerRaw  = "baseline-picker.txt" // the baseline's PickPeer, impl=ours
	baselineRemoteRaw  = "baseline-remote.txt" // the baseline's RemoteGet, impl=grpc
	baselinePickerStat = "benchstat-baseline-picker.txt"
	baselineRemoteStat = "benchstat-baseline-remote.txt"
	baselineBinary     = "baseline.test"
)

// The benchmarks the baseline runs, as -test.bench selects them: our picker, and our
// transport with its defaults at every size and caller count.
const (
	baselinePickerBench = `^BenchmarkPickPeer$/^N=\d+$/^impl=ours$`
	baselineRemoteBench = `^BenchmarkRemoteGet$/^size=\w+$/^callers=\d+$/^impl=grpc$`
)

// The columns of benchstat's comparison: the baseline's figures first, as benchstat's base,
// then this run's.
const (
	baselineColumn = "baseline"
	currentColumn  = "current"
)

// baselineComparison is one benchmark the baseline runs: its raw output, this run's file
// with the same benchmark, the benchstat filter that picks those lines from both, and
// benchstat's text summary of the two.
type baselineComparison struct {
	raw, current, filter, stat string
}

var (
	baselinePicker = baselineComparison{baselinePickerRaw, pickerRaw, ".name:PickPeer /impl:ours", baselinePickerStat}
	baselineRemote = baselineComparison{baselineRemoteRaw, remoteRaw, ".name:RemoteGet /impl:grpc", baselineRemoteStat}
)

// ---- Running it ----

// baselineBench is the baseline's test binary.
type baselineBench struct {
	commit string // in full
	bin    string
}

// buildBaseline resolves rev to a commit, checks it out into a temporary git worktree and
// builds the bench module's test binary there into the work directory; the worktree is gone
// when it returns.
func buildBaseline(rev string) (*baselineBench, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("-baseline %q: not a git revision", rev)
	}
	out, err := quietCommand("", nil, "git", "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("-baseline %s: not a commit of this repository (-baseline= skips the baseline): %w", rev, err)
	}
	b := &baselineBench{commit: strings.TrimSpace(string(out))}
	b.bin, _ = filepath.Abs(filepath.Join(workDir, baselineBinary))
	log.Printf("building the baseline's test binary, the code of %s (%s)", shortCommit(b.commit), rev)
	err = withWorktree("", b.commit, func(dir string) error {
		_, err := command(filepath.Join(dir, "bench"), nil, "go", "test", "-c", "-o", b.bin, ".")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("the baseline %s: %w", shortCommit(b.commit), err)
	}
	return b, nil
}

// withWorktree checks commit out into a temporary worktree of the git repository around
// repo ("" for the current directory's), calls f with the worktree's path and removes the
// worktree, whether f failed or not. A SIGINT or SIGTERM meanwhile does not end the report
// at once: the commands f runs fail (a terminal signals them too) or finish, the worktree is
// removed, and withWorktree returns an error.
func withWorktree(repo, commit string, f func(dir string) error) (err error) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	defer func() {
		select {
		case s := <-sig:
			err = errors.Join(err, fmt.Errorf("interrupted (%v)", s))
		default:
		}
	}()
	dir, err := os.MkdirTemp("", "report-baseline-")
	if err != nil {
		return err
	}
	if _, err := quietCommand(repo, nil, "git", "worktree", "add", "--detach", "--quiet", dir, commit); err != nil {
		return errors.Join(err, forgetWorktree(repo, dir))
	}
	defer func() {
		if _, rmErr := quietCommand(repo, nil, "git", "worktree", "remove", "--force", dir); rmErr != nil {
			err = errors.Join(err, rmErr, forgetWorktree(repo, dir))
		}
	}()
	return f(dir)
}

// forgetWorktree removes whatever is at dir, a worktree that git did not finish adding or
// removing, and lets git forget it.
func forgetWorktree(repo, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	_, err := quietCommand(repo, nil, "git", "worktree", "prune")
	return err
}

// interleave runs a round's benchmarks of this code and, with a baseline, the baseline's
// same benchmarks: in odd rounds this code first, in even rounds the baseline, so that
// neither always runs right after the other (or after the rest of the round) and an order
// effect falls on both alike.
func (b *baselineBench) interleave(round int, current, baseline func() error) error {
	steps := []func() error{current}
	if b != nil {
		steps = append(steps, baseline)
		if round%2 == 0 {
			steps[0], steps[1] = steps[1], steps[0]
		}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// run runs bench of the baseline for a round and appends its output to w, the
// configuration lines only in the first round.
func (b *baselineBench) run(w *bytes.Buffer, round int, bench, benchtime string) error {
	out, err := command(workDir, nil, b.bin, "-test.run", "^$", "-test.bench", bench,
		"-test.benchmem", "-test.benchtime", benchtime)
	if err != nil {
		return fmt.Errorf("the baseline %s: %w", shortCommit(b.commit), err)
	}
	w.Write(keepHeader(out, round == 1))
	return nil
}

// writeBaselineStats writes benchstat's text comparison of each of the baseline's
// benchmarks with this run's into dir.
func writeBaselineStats(dir string) error {
	for _, c := range []baselineComparison{baselinePicker, baselineRemote} {
		out, err := command("", nil, "go", benchstatCompareArgs(filepath.Join(dir, c.raw), filepath.Join(dir, c.current), c.filter, "text")...)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.stat), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// removeBaseline removes a previous run's baseline output from dir: a run without a
// baseline must not show one.
func removeBaseline(dir string) error {
	for _, name := range []string{baselinePickerRaw, baselineRemoteRaw, baselinePickerStat, baselineRemoteStat} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// benchstatCompareArgs are the arguments of go that compare the lines filter picks from
// base and current, one column per file, in format ("text" or "csv").
func benchstatCompareArgs(base, current, filter, format string) []string {
	return []string{"run", benchstatCmd,
		"-alpha", strconv.FormatFloat(benchstatAlpha, 'g', -1, 64),
		"-confidence", strconv.FormatFloat(benchstatConfidence, 'g', -1, 64),
		"-filter", filter, "-ignore", "/impl", "-col", ".file", "-format", format,
		baselineColumn + "=" + base, currentColumn + "=" + current}
}

// shortCommit is a commit's abbreviation in the report.
func shortCommit(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}
