package main

// The baseline: this code against the code of an earlier commit (-baseline REV; make bench
// passes the commit that last changed BENCHMARKS.md, the code the previous report measured).
// The report checks REV out into a temporary git worktree, copies this code's
// bench/localload_test.go into it (a baseline that predates BenchmarkLocalLoad has none, and
// both sides must run the same benchmark), builds the bench module's test binary there (with
// the worktree's go.work, or, at a commit older than the workspace, bench/go.mod's replace of
// the library with ../, so the binary holds the library at REV) and removes the worktree
// again; every round then runs the baseline's BenchmarkPickPeer (impl=ours),
// BenchmarkRemoteGet (impl=grpc) and BenchmarkLocalLoad (impl=newgroup) beside the same
// benchmarks of this code. benchstat compares the two, a column per run, and two goals ask
// that nothing got worse beyond noise: one for the picker and the transport, one for a local
// load.

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"math"
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
	baselineLoadRaw    = "baseline-load.txt"   // the baseline's LocalLoad, impl=newgroup
	baselinePickerStat = "benchstat-baseline-picker.txt"
	baselineRemoteStat = "benchstat-baseline-remote.txt"
	baselineLoadStat   = "benchstat-baseline-load.txt"
	baselineBinary     = "baseline.test"
)

// localLoadFile is the benchmark of a local load, in the bench module, that the report
// copies into the baseline's bench module: it is written to build there too.
const localLoadFile = "localload_test.go"

// The benchmarks the baseline runs, as -test.bench selects them: our picker, our
// transport with its defaults at every size and caller count, and a local load through
// NewGroup.
const (
	baselinePickerBench = `^BenchmarkPickPeer$/^N=\d+$/^impl=ours$`
	baselineRemoteBench = `^BenchmarkRemoteGet$/^size=\w+$/^callers=\d+$/^impl=grpc$`
	baselineLoadBench   = `^BenchmarkLocalLoad$/^impl=newgroup$`
)

// The columns of benchstat's comparison: the baseline's figures first, as benchstat's base,
// then this run's.
const (
	baselineColumn = "baseline"
	currentColumn  = "current"
)

// baselinePart is the part of the goal against the baseline: none of the report's parts,
// which compare with other libraries.
const baselinePart part = -1

// baselineComparison is one benchmark the baseline runs: its raw output, this run's file
// with the same benchmark, the benchstat filter that picks those lines from both, and
// benchstat's text summary of the two.
type baselineComparison struct {
	raw, current, filter, stat string
}

var (
	baselinePicker = baselineComparison{baselinePickerRaw, pickerRaw, ".name:PickPeer /impl:ours", baselinePickerStat}
	baselineRemote = baselineComparison{baselineRemoteRaw, remoteRaw, ".name:RemoteGet /impl:grpc", baselineRemoteStat}
	baselineLoad   = baselineComparison{baselineLoadRaw, loadRaw, ".name:LocalLoad /impl:newgroup", baselineLoadStat}
)

// baselineComparisons are every comparison with the baseline.
var baselineComparisons = []baselineComparison{baselinePicker, baselineRemote, baselineLoad}

// ---- Running it ----

// baselineBench is the baseline's test binary.
type baselineBench struct {
	commit string // in full
	bin    string
}

// buildBaseline resolves rev to a commit, checks it out into a temporary git worktree,
// copies this code's localLoadFile into its bench module and builds the bench module's test
// binary there into the work directory; the worktree is gone when it returns.
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
		bench := filepath.Join(dir, "bench")
		if err := copyFile(localLoadFile, filepath.Join(bench, localLoadFile)); err != nil {
			return err
		}
		if _, err := command(bench, baselineEnv(dir), "go", "test", "-c", "-o", b.bin, "."); err != nil {
			return fmt.Errorf("building the baseline's bench module with this code's %s (which must build with "+
				"the bench helpers and library API of the baseline too): %w", localLoadFile, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the baseline %s: %w", shortCommit(b.commit), err)
	}
	return b, nil
}

// copyFile copies the file from to the file to, which it creates or replaces.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// baselineEnv is the environment of the baseline's build in the worktree dir: the
// worktree's own workspace, go.work, which gives the bench module the library of the
// worktree; at a commit older than the workspace none (GOWORK=off), and bench/go.mod's
// replace ../ gives it that library. Named either way, so that a GOWORK in the report's own
// environment cannot give the baseline this checkout's library instead.
func baselineEnv(dir string) []string {
	work := filepath.Join(dir, "go.work")
	if _, err := os.Stat(work); err != nil {
		return []string{"GOWORK=off"}
	}
	return []string{"GOWORK=" + work}
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
	for _, c := range baselineComparisons {
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
	for _, c := range baselineComparisons {
		for _, name := range []string{c.raw, c.stat} {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
				return err
			}
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

// ---- Reading it back ----

// comparer summarises the lines of two files of raw benchmark output that filter picks
// (benchstat's -filter), base's against current's: a column per file, baselineColumn and
// currentColumn, the rows without their impl.
type comparer func(base, current, filter string) (summary, error)

// benchstatCompareCSV compares base and current with benchstat and parses its CSV tables.
func benchstatCompareCSV(base, current, filter string) (summary, error) {
	out, err := quietCommand("", nil, "go", benchstatCompareArgs(base, current, filter, "csv")...)
	if err != nil {
		return nil, err
	}
	return parseBenchstatCSV(out)
}

// baselineResults is the baseline's figures beside this run's.
type baselineResults struct {
	Commit               string  // the baseline's, in full
	Rounds               int     // of each, as run.json says
	picker, remote, load summary // nil when the results lack the baseline's output
}

// loadBaseline compares the baseline's output in dir with this run's, or returns nil when
// no baseline ran (info names none).
func loadBaseline(dir string, info runInfo, compare comparer) (*baselineResults, error) {
	if info.Baseline == "" {
		return nil, nil
	}
	b := &baselineResults{Commit: info.Baseline, Rounds: info.Rounds}
	for _, c := range []struct {
		baselineComparison
		s *summary
	}{{baselinePicker, &b.picker}, {baselineRemote, &b.remote}, {baselineLoad, &b.load}} {
		raw := filepath.Join(dir, c.raw)
		if _, err := os.Stat(raw); os.IsNotExist(err) {
			continue
		}
		var err error
		if *c.s, err = compare(raw, filepath.Join(dir, c.current), c.filter); err != nil {
			return nil, fmt.Errorf("comparing %s with %s: %w", c.raw, c.current, err)
		}
	}
	return b, nil
}

// ---- The goal ----

// baselineMeasure is a figure the goal compares: what the report calls it, its benchstat
// unit, and whether it is the remote Get's (else PickPeer's).
type baselineMeasure struct {
	what, unit string
	remote     bool
}

var baselineMeasures = []baselineMeasure{
	{"PickPeer", "sec/op", false},
	{"p50", "p50-sec", true},
	{"p99", "p99-sec", true},
	{"allocs/op", "allocs/op", true},
}

// baselineCase is a row of a baseline benchmark, and the row in words.
type baselineCase struct{ row, what string }

// baselineCases are the rows of the picker's or the remote Get's measures.
func baselineCases(remote bool) []baselineCase {
	var cs []baselineCase
	if !remote {
		for _, n := range pickerSizes {
			cs = append(cs, baselineCase{fmt.Sprintf("PickPeer/N=%d", n), fmt.Sprintf("%d peers", n)})
		}
		return cs
	}
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			cs = append(cs, baselineCase{fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers), callersText(size, callers)})
		}
	}
	return cs
}

// summaryOf is b's summary of m's benchmark, and the file that holds the baseline's output.
func (b *baselineResults) summaryOf(m baselineMeasure) (summary, string) {
	if m.remote {
		return b.remote, baselineRemoteRaw
	}
	return b.picker, baselinePickerRaw
}

// baselineGoal judges this run against the baseline: at every size and caller count,
// PickPeer's time and the remote Get's p50, p99 and allocations no higher than the
// baseline's, or not significantly different. With fewer rounds than benchstat needs to
// find any difference, a figure higher than the baseline's is not measured rather than
// within noise.
func baselineGoal(b *baselineResults) verdict {
	v := verdict{Part: baselinePart,
		Goal: fmt.Sprintf("no regression against %s: PickPeer ns/op, and RemoteGet (grpc) p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~)",
			shortCommit(b.Commit))}
	var worst []string
	for _, m := range baselineMeasures {
		s, file := b.summaryOf(m)
		var fs []figure
		for _, c := range baselineCases(m.remote) {
			fs = append(fs, b.figure(s, file, m.unit, c.row, m.what+" at "+c.what))
		}
		v.Figures = append(v.Figures, fs...)
		if w, ok := worstFigure(fs); ok {
			worst = append(worst, fmt.Sprintf("%s %s at %s", m.what,
				change(w.Value, w.Limit, w.Noise), strings.TrimPrefix(w.Name, m.what+" at ")))
		}
	}
	v.Result = "worst change: " + strings.Join(worst, "; ")
	return v.judged()
}

// figure is this run's figure of unit in row of s against the baseline's, called name; file
// holds the baseline's output. With fewer rounds than benchstat needs to find any
// difference, a figure higher than the baseline's is not measured rather than within noise.
func (b *baselineResults) figure(s summary, file, unit, row, name string) figure {
	f := figure{Name: name, Cmp: atMost}
	base, okB := s.get(unit, row, baselineColumn)
	cur, okC := s.get(unit, row, currentColumn)
	f.Value, f.Limit, f.Noise = cur.Center, base.Center, cur.VsBase == "~"
	need := detectableRounds(benchstatAlpha)
	switch {
	case s == nil:
		f.Missing = file + ", the baseline's output"
	case !okB:
		f.Missing = fmt.Sprintf("%s of %s, the baseline's", unit, row)
	case !okC:
		f.Missing = fmt.Sprintf("%s of %s, this run's", unit, row)
	case b.Rounds > 0 && b.Rounds < need && f.Value > f.Limit:
		f.Missing = fmt.Sprintf("more rounds (%s ran; benchstat needs %d to tell a change from noise)", plural(b.Rounds, "round"), need)
	}
	return f
}

// localLoadRow is BenchmarkLocalLoad's row; its columns are the cases, and in the
// comparison with the baseline the baseline's and this run's impl=newgroup.
const localLoadRow = "LocalLoad"

// The cases of BenchmarkLocalLoad: groupcache's own group, the reference, and NewGroup's.
const (
	loadReference = "groupcache"
	loadNewGroup  = "newgroup"
)

// loadMeasures are the figures of a local load: what the report calls each, its benchstat
// unit, and how it prints.
var loadMeasures = []struct {
	what, unit string
	format     func(float64) string
}{
	{"time", "sec/op", seconds},
	{"p50", "p50-sec", seconds},
	{"p99", "p99-sec", seconds},
	{"allocs/op", "allocs/op", count},
}

// loadBaselineGoal judges a local load through NewGroup against the baseline's: its time,
// p50, p99 and allocations no higher than the baseline's, or not significantly different.
// The push added a key-log insert to every such load (the root's group.go and keylog.go).
func loadBaselineGoal(b *baselineResults) verdict {
	v := verdict{Part: baselinePart,
		Goal: fmt.Sprintf("load cost unchanged against %s: a load of a key this pod owns through NewGroup outside membership changes, time, p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~)",
			shortCommit(b.Commit))}
	var said []string
	for _, m := range loadMeasures {
		f := b.figure(b.load, baselineLoadRaw, m.unit, localLoadRow, m.what)
		v.Figures = append(v.Figures, f)
		if f.Missing == "" {
			said = append(said, fmt.Sprintf("%s %s → %s (%s)", m.what, m.format(f.Limit), m.format(f.Value), change(f.Value, f.Limit, f.Noise)))
		}
	}
	v.Result = strings.Join(said, "; ")
	return v.judged()
}

// detectableRounds is the fewest rounds of each of two columns in which benchstat's
// Mann-Whitney U test can find a difference at significance level alpha: the smallest n
// whose most extreme outcome, all of one column's samples below all of the other's, has a
// two-sided p-value 2 / C(2n, n) of at most alpha (4 at 0.05).
func detectableRounds(alpha float64) int {
	n := 1
	for 2/binomial(2*n, n) > alpha {
		n++
	}
	return n
}

// binomial is n choose k.
func binomial(n, k int) float64 {
	c := 1.0
	for i := 1; i <= k; i++ {
		c = c * float64(n-k+i) / float64(i)
	}
	return c
}

// worstFigure is the figure of fs with the worst status and, among those, the highest
// value against its limit; false when none was measured.
func worstFigure(fs []figure) (figure, bool) {
	var w figure
	found := false
	for _, f := range fs {
		if f.Missing != "" {
			continue
		}
		if !found || f.status() > w.status() || f.status() == w.status() && rise(f.Value, f.Limit) > rise(w.Value, w.Limit) {
			w, found = f, true
		}
	}
	return w, found
}

// rise is how much x exceeds base, as a fraction of base: 0 when both are 0, +Inf when only
// base is.
func rise(x, base float64) float64 {
	switch {
	case x == base:
		return 0
	case base == 0:
		return math.Inf(1)
	}
	return x/base - 1
}

// change is x against base in %, with its sign, marked ~ when benchstat finds no
// significant difference: "+3.2 %", "−1.0 % ~", "±0".
func change(x, base float64, noise bool) string {
	d := rise(x, base)
	s := "–"
	switch {
	case d == 0:
		s = "±0"
	case !math.IsInf(d, 0) && !math.IsNaN(d):
		s = signed(d*100, func(p float64) string { return fmt.Sprintf("%.1f %%", p) })
	}
	if noise {
		s += " ~"
	}
	return s
}

// ---- The tables ----

// baselineNote is the section on the baseline: the commit and its tables.
type baselineNote struct {
	Commit               string // abbreviated
	Picker, Remote, Load table
}

// baselineSection is the section of b.
func baselineSection(b *baselineResults) *baselineNote {
	note := &baselineNote{Commit: shortCommit(b.Commit)}
	// beside is the baseline's figure → this run's, and the change.
	beside := func(s summary, unit, row string, format func(float64) string) string {
		base, okB := s.get(unit, row, baselineColumn)
		cur, okC := s.get(unit, row, currentColumn)
		if !okB || !okC {
			return "–"
		}
		return fmt.Sprintf("%s → %s (%s)", format(base.Center), format(cur.Center), change(cur.Center, base.Center, cur.VsBase == "~"))
	}
	note.Picker = table{Header: []string{"peers", "PickPeer, one goroutine"}, Align: right(2)}
	for _, n := range pickerSizes {
		note.Picker.Rows = append(note.Picker.Rows, []string{fmt.Sprint(n), beside(b.picker, "sec/op", fmt.Sprintf("PickPeer/N=%d", n), seconds)})
	}
	note.Remote = table{Header: []string{"value", "callers", "p50 (ms)", "p99 (ms)", "allocs/op"}, Align: right(5),
		Rows: remoteCases("RemoteGet", func(row string) []string {
			return []string{beside(b.remote, "p50-sec", row, ms), beside(b.remote, "p99-sec", row, ms), beside(b.remote, "allocs/op", row, count)}
		})}
	note.Load = table{Header: []string{"load"}, Align: []string{"---"}, Rows: [][]string{{"a key this pod owns, through `NewGroup`"}}}
	for _, m := range loadMeasures {
		note.Load.Header = append(note.Load.Header, m.what)
		note.Load.Align = append(note.Load.Align, "---:")
		note.Load.Rows[0] = append(note.Load.Rows[0], beside(b.load, m.unit, localLoadRow, m.format))
	}
	return note
}
