package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// csvComparisons reads, for the baseline's raw file X.txt, the comparison's benchstat CSV
// stored beside it as X.csv, as csvSummaries does for one file. The CSVs in testdata/results
// were made with benchstatCompareArgs(base, current, filter, "csv") from the files there.
// The baseline's files there are not a run of their own: they hold the run's own lines of
// PickPeer (impl=ours) and RemoteGet (impl=grpc), each round moved to the round before, with
// PickPeer's time × 1.08, RemoteGet's p99 × 0.97 and 4 allocations (150 B) more a call, so
// that the golden report shows a change that benchstat finds, one it does not, and none.
// baseline-load.txt is a run of its own: BenchmarkLocalLoad/impl=newgroup of the code of
// fb9926f (the last commit before the push), in rounds interleaved with those of load.txt.
func csvComparisons(base, current, filter string) (summary, error) {
	return csvSummaries(base)
}

func TestParseFlagsBaseline(t *testing.T) {
	o, err := parseFlags([]string{"-baseline", "HEAD~1"}, io.Discard)
	if err != nil || o.baseline != "HEAD~1" {
		t.Errorf("-baseline HEAD~1: %+v, %v", o, err)
	}
	if o, err = parseFlags(nil, io.Discard); err != nil || o.baseline != "" {
		t.Errorf("no -baseline: %q, %v; want none", o.baseline, err)
	}
}

// TestBaselineBench checks the baseline's -test.bench patterns level by level, as the
// testing package matches them: our picker, our default transport and a load through
// NewGroup, nothing else.
func TestBaselineBench(t *testing.T) {
	matches := func(pattern, name string) bool {
		levels := strings.Split(pattern, "/") // no element has a / of its own
		elems := strings.Split(name, "/")
		if len(elems) > len(levels) {
			return false
		}
		for i, elem := range elems {
			if !regexp.MustCompile(levels[i]).MatchString(elem) {
				return false
			}
		}
		return true
	}
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{baselinePickerBench, "BenchmarkPickPeer/N=3/impl=ours", true},
		{baselinePickerBench, "BenchmarkPickPeer/N=1000/impl=ours", true},
		{baselinePickerBench, "BenchmarkPickPeer/N=3/impl=consistenthash", false},
		{baselinePickerBench, "BenchmarkPickPeer/N=3/impl=httppool", false},
		{baselinePickerBench, "BenchmarkPickPeerParallel/N=3/impl=ours", false},
		{baselinePickerBench, "BenchmarkRebuild/N=3/impl=ours", false},
		{baselineRemoteBench, "BenchmarkRemoteGet/size=100B/callers=1/impl=grpc", true},
		{baselineRemoteBench, "BenchmarkRemoteGet/size=4MiB/callers=64/impl=grpc", true},
		{baselineRemoteBench, "BenchmarkRemoteGet/size=4MiB/callers=64/impl=grpc-bdp", false},
		{baselineRemoteBench, "BenchmarkRemoteGet/size=100B/callers=1/impl=httppool", false},
		{baselineRemoteBench, "BenchmarkGroupGet/size=100B/callers=1/impl=grpc", false},
		{baselineLoadBench, "BenchmarkLocalLoad/impl=newgroup", true},
		{baselineLoadBench, "BenchmarkLocalLoad/impl=groupcache", false},
		{baselineLoadBench, "BenchmarkPeekMiss/impl=window", false},
	} {
		if got := matches(c.pattern, c.name); got != c.want {
			t.Errorf("%s: selected %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBenchstatCompareArgs(t *testing.T) {
	args := strings.Join(benchstatCompareArgs("r/baseline-remote.txt", "r/remote.txt", baselineRemote.filter, "csv"), " ")
	want := "run " + benchstatCmd + " -alpha 0.05 -confidence 0.95 -filter .name:RemoteGet /impl:grpc -ignore /impl -col .file -format csv " +
		"baseline=r/baseline-remote.txt current=r/remote.txt"
	if args != want {
		t.Errorf("got  %s\nwant %s", args, want)
	}
}

// TestInterleave checks the order of a round's runs: this code alone without a baseline,
// with one this code first in odd rounds and the baseline first in even ones, and no run
// after one that failed.
func TestInterleave(t *testing.T) {
	for _, c := range []struct {
		name  string
		base  *baselineBench
		round int
		fail  string // the run that fails
		want  []string
	}{
		{"no baseline", nil, 2, "", []string{"current"}},
		{"odd round", &baselineBench{}, 1, "", []string{"current", "baseline"}},
		{"even round", &baselineBench{}, 2, "", []string{"baseline", "current"}},
		{"first fails", &baselineBench{}, 2, "baseline", []string{"baseline"}},
		{"second fails", &baselineBench{}, 2, "current", []string{"baseline", "current"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ran []string
			step := func(name string) func() error {
				return func() error {
					ran = append(ran, name)
					if name == c.fail {
						return errors.New(name + " failed")
					}
					return nil
				}
			}
			err := c.base.interleave(c.round, step("current"), step("baseline"))
			if !slices.Equal(ran, c.want) {
				t.Errorf("ran %q, want %q", ran, c.want)
			}
			if (err != nil) != (c.fail != "") {
				t.Errorf("error %v, want one: %v", err, c.fail != "")
			}
		})
	}
}

// gitRepo makes a git repository with one commit holding bench/marker, and returns its
// directory and the commit.
func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=report", "-c", "user.email=report@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet")
	if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench", "marker"), []byte("at the commit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "--quiet", "-m", "one")
	return dir, git("rev-parse", "HEAD")
}

// TestWithWorktree checks that the worktree holds the commit while f runs and is gone
// afterwards, from the disk and from git's list, whether f failed or not.
func TestWithWorktree(t *testing.T) {
	repo, commit := gitRepo(t)
	worktrees := func() string {
		out, err := exec.Command("git", "-C", repo, "worktree", "list", "--porcelain").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	for _, fail := range []bool{false, true} {
		var dir string
		err := withWorktree(repo, commit, func(d string) error {
			dir = d
			data, err := os.ReadFile(filepath.Join(d, "bench", "marker"))
			if err != nil || string(data) != "at the commit\n" {
				t.Errorf("the worktree's bench/marker: %q, %v", data, err)
			}
			if !strings.Contains(worktrees(), d) {
				t.Errorf("git does not list the worktree %s", d)
			}
			if fail {
				return errors.New("the build failed")
			}
			return nil
		})
		if fail != (err != nil) {
			t.Errorf("f failed %v: error %v", fail, err)
		}
		if dir == "" {
			t.Fatal("f was not called")
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("f failed %v: the worktree %s is still there (%v)", fail, dir, err)
		}
		if strings.Contains(worktrees(), dir) {
			t.Errorf("f failed %v: git still lists the worktree %s", fail, dir)
		}
	}
	called := false
	err := withWorktree(repo, strings.Repeat("0", 40), func(string) error { called = true; return nil })
	if err == nil || called {
		t.Errorf("a commit that does not exist: error %v, f called %v", err, called)
	}
}

// TestBaselineEnv checks the workspace the baseline builds with, named in full: the
// worktree's go.work when the commit has one, none at a commit older than the workspace.
func TestBaselineEnv(t *testing.T) {
	for _, c := range []struct {
		name   string
		goWork bool
		want   func(dir string) []string
	}{
		{"a commit with go.work", true, func(dir string) []string { return []string{"GOWORK=" + filepath.Join(dir, "go.work")} }},
		{"a commit older than go.work", false, func(string) []string { return []string{"GOWORK=off"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.goWork {
				if err := os.WriteFile(filepath.Join(dir, "go.work"), []byte("go 1.26.0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := baselineEnv(dir), c.want(dir); !slices.Equal(got, want) {
				t.Errorf("baselineEnv: %q, want %q", got, want)
			}
		})
	}
}

// baselineOf is a comparison in which this code equals the baseline everywhere.
func baselineOf() *baselineResults {
	b := &baselineResults{Commit: "0123456789abcdef0123456789abcdef01234567", Rounds: 6, picker: summary{}, remote: summary{},
		load: summary{}}
	for _, m := range baselineMeasures {
		s, _ := b.summaryOf(m)
		for _, c := range baselineCases(m.remote) {
			s.put(m.unit, c.row, baselineColumn, cell{Center: 10})
			s.put(m.unit, c.row, currentColumn, cell{Center: 10, VsBase: "~"})
		}
	}
	for _, m := range loadMeasures {
		b.load.put(m.unit, localLoadRow, baselineColumn, cell{Center: 10})
		b.load.put(m.unit, localLoadRow, currentColumn, cell{Center: 10, VsBase: "~"})
	}
	return b
}

func TestBaselineGoal(t *testing.T) {
	const p99Row, pickRow = "RemoteGet/size=4MiB/callers=64", "PickPeer/N=100"
	for _, c := range []struct {
		name   string
		edit   func(b *baselineResults)
		want   status
		result string // "" to leave it unchecked
	}{
		{"no change", func(b *baselineResults) {}, met,
			"worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 ±0 ~ at 100B × 1 caller; allocs/op ±0 ~ at 100B × 1 caller"},
		{"better everywhere", func(b *baselineResults) {
			for _, m := range baselineMeasures {
				s, _ := b.summaryOf(m)
				for _, c := range baselineCases(m.remote) {
					s.put(m.unit, c.row, currentColumn, cell{Center: 9, VsBase: "-10%"})
				}
			}
		}, met, "worst change: PickPeer −10.0 % at 3 peers; p50 −10.0 % at 100B × 1 caller; p99 −10.0 % at 100B × 1 caller; allocs/op −10.0 % at 100B × 1 caller"},
		{"worse within noise", func(b *baselineResults) {
			b.remote.put("p99-sec", p99Row, currentColumn, cell{Center: 12, VsBase: "~"})
		}, withinNoise, "worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 +20.0 % ~ at 4MiB × 64 callers; allocs/op ±0 ~ at 100B × 1 caller"},
		{"PickPeer slower", func(b *baselineResults) {
			b.picker.put("sec/op", pickRow, currentColumn, cell{Center: 11, VsBase: "+10%"})
		}, missed, "worst change: PickPeer +10.0 % at 100 peers; p50 ±0 ~ at 100B × 1 caller; p99 ±0 ~ at 100B × 1 caller; allocs/op ±0 ~ at 100B × 1 caller"},
		{"a significant rise beats a larger one within noise", func(b *baselineResults) {
			b.remote.put("p99-sec", p99Row, currentColumn, cell{Center: 20, VsBase: "~"})
			b.remote.put("p99-sec", "RemoteGet/size=100B/callers=64", currentColumn, cell{Center: 10.5, VsBase: "+5%"})
		}, missed, "worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 +5.0 % at 100B × 64 callers; allocs/op ±0 ~ at 100B × 1 caller"},
		{"more allocations", func(b *baselineResults) {
			b.remote.put("allocs/op", "RemoteGet/size=100B/callers=1", baselineColumn, cell{Center: 93})
			b.remote.put("allocs/op", "RemoteGet/size=100B/callers=1", currentColumn, cell{Center: 96, VsBase: "+3.23%"})
		}, missed, "worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 ±0 ~ at 100B × 1 caller; allocs/op +3.2 % at 100B × 1 caller"},
		{"allocations from none", func(b *baselineResults) {
			b.remote.put("allocs/op", "RemoteGet/size=100B/callers=1", baselineColumn, cell{Center: 0})
			b.remote.put("allocs/op", "RemoteGet/size=100B/callers=1", currentColumn, cell{Center: 1, VsBase: "+Inf%"})
		}, missed, "worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 ±0 ~ at 100B × 1 caller; allocs/op – at 100B × 1 caller"},
		{"a figure missing from this run", func(b *baselineResults) {
			b.remote.drop("p50-sec", p99Row, currentColumn)
		}, unmeasured, "not measured: p50-sec of RemoteGet/size=4MiB/callers=64, this run's"},
		{"a figure missing from the baseline", func(b *baselineResults) {
			b.picker.drop("sec/op", pickRow, baselineColumn)
		}, unmeasured, "not measured: sec/op of PickPeer/N=100, the baseline's"},
		{"no output of the baseline's remote Get", func(b *baselineResults) { b.remote = nil },
			unmeasured, "not measured: baseline-remote.txt, the baseline's output"},
		{"too few rounds to find a rise", func(b *baselineResults) {
			b.Rounds = 2
			b.remote.put("p99-sec", p99Row, currentColumn, cell{Center: 12, VsBase: "~"})
		}, unmeasured, "not measured: more rounds (2 rounds ran; benchstat needs 4 to tell a change from noise)"},
		{"too few rounds, nothing rose", func(b *baselineResults) {
			b.Rounds = 3
			b.picker.put("sec/op", pickRow, currentColumn, cell{Center: 9, VsBase: "~"})
		}, met, "worst change: PickPeer ±0 ~ at 3 peers; p50 ±0 ~ at 100B × 1 caller; p99 ±0 ~ at 100B × 1 caller; allocs/op ±0 ~ at 100B × 1 caller"},
		{"enough rounds", func(b *baselineResults) {
			b.Rounds = 4
			b.remote.put("p99-sec", p99Row, currentColumn, cell{Center: 12, VsBase: "~"})
		}, withinNoise, ""},
		{"missing beats missed", func(b *baselineResults) {
			b.picker = nil
			b.remote.put("p99-sec", p99Row, currentColumn, cell{Center: 20, VsBase: "+100%"})
		}, unmeasured, "not measured: baseline-picker.txt, the baseline's output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := baselineOf()
			c.edit(b)
			v := baselineGoal(b)
			if want := "no regression against 0123456: PickPeer ns/op, and RemoteGet (grpc) p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~)"; v.Goal != want {
				t.Errorf("goal %q, want %q", v.Goal, want)
			}
			if v.Status != c.want {
				t.Errorf("status %v (%s), want %v", v.Status, v.Result, c.want)
			}
			if c.result != "" && v.Result != c.result {
				t.Errorf("result %q\n          want %q", v.Result, c.result)
			}
			if n := len(pickerSizes) + 3*len(valueSizes)*len(callerCounts); len(v.Figures) != n {
				t.Errorf("%d figures, want %d", len(v.Figures), n)
			}
		})
	}
}

// TestEvaluateGoalsBaseline checks that the goals against the baseline are judged, last,
// only when a baseline ran.
func TestEvaluateGoalsBaseline(t *testing.T) {
	r := goodResults()
	for _, v := range evaluateGoals(r) {
		if v.Part == baselinePart {
			t.Errorf("judged %q without a baseline", v.Goal)
		}
	}
	r.baseline = baselineOf()
	vs := evaluateGoals(r)
	for i, prefix := range []string{"no regression against 0123456:", "load cost unchanged against 0123456:"} {
		v := vs[len(vs)-2+i]
		if v.Part != baselinePart || !strings.HasPrefix(v.Goal, prefix) || v.Status != met {
			t.Errorf("goal %q (part %d), status %v; want %q, met", v.Goal, v.Part, v.Status, prefix)
		}
	}
}

func TestLoadBaselineGoal(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(b *baselineResults)
		want   status
		result string // "" to leave it unchecked
	}{
		{"no change", func(b *baselineResults) {}, met,
			"time 10.00 s → 10.00 s (±0 ~); p50 10.00 s → 10.00 s (±0 ~); p99 10.00 s → 10.00 s (±0 ~); allocs/op 10 → 10 (±0 ~)"},
		{"faster", func(b *baselineResults) {
			b.load.put("sec/op", localLoadRow, currentColumn, cell{Center: 9, VsBase: "-10%"})
		}, met, "time 10.00 s → 9.00 s (−10.0 %); p50 10.00 s → 10.00 s (±0 ~); p99 10.00 s → 10.00 s (±0 ~); allocs/op 10 → 10 (±0 ~)"},
		{"p50 higher within noise", func(b *baselineResults) {
			b.load.put("p50-sec", localLoadRow, currentColumn, cell{Center: 11, VsBase: "~"})
		}, withinNoise, ""},
		{"p50 higher", func(b *baselineResults) {
			b.load.put("p50-sec", localLoadRow, currentColumn, cell{Center: 14, VsBase: "+40%"})
		}, missed, "time 10.00 s → 10.00 s (±0 ~); p50 10.00 s → 14.00 s (+40.0 %); p99 10.00 s → 10.00 s (±0 ~); allocs/op 10 → 10 (±0 ~)"},
		{"more allocations", func(b *baselineResults) {
			b.load.put("allocs/op", localLoadRow, currentColumn, cell{Center: 11, VsBase: "+10%"})
		}, missed, ""},
		{"too few rounds to find a rise", func(b *baselineResults) {
			b.Rounds = 3
			b.load.put("sec/op", localLoadRow, currentColumn, cell{Center: 12, VsBase: "~"})
		}, unmeasured, "not measured: more rounds (3 rounds ran; benchstat needs 4 to tell a change from noise)"},
		{"a figure missing from the baseline", func(b *baselineResults) {
			b.load.drop("p99-sec", localLoadRow, baselineColumn)
		}, unmeasured, "not measured: p99-sec of LocalLoad, the baseline's"},
		{"no output of the baseline's local loads", func(b *baselineResults) { b.load = nil },
			unmeasured, "not measured: baseline-load.txt, the baseline's output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := baselineOf()
			c.edit(b)
			v := loadBaselineGoal(b)
			if want := "load cost unchanged against 0123456: a load of a key this pod owns through NewGroup outside membership changes, time, p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~)"; v.Goal != want {
				t.Errorf("goal %q, want %q", v.Goal, want)
			}
			if v.Status != c.want {
				t.Errorf("status %v (%s), want %v", v.Status, v.Result, c.want)
			}
			if c.result != "" && v.Result != c.result {
				t.Errorf("result %q\n          want %q", v.Result, c.result)
			}
			if len(v.Figures) != len(loadMeasures) {
				t.Errorf("%d figures, want %d", len(v.Figures), len(loadMeasures))
			}
		})
	}
}

func TestDetectableRounds(t *testing.T) {
	for alpha, want := range map[float64]int{0.05: 4, 0.1: 3, 0.01: 5, 1: 1} {
		if got := detectableRounds(alpha); got != want {
			t.Errorf("detectableRounds(%v) = %d, want %d", alpha, got, want)
		}
	}
}

func TestChange(t *testing.T) {
	for _, c := range []struct {
		x, base float64
		noise   bool
		want    string
	}{
		{11, 10, false, "+10.0 %"},
		{9, 10, true, "−10.0 % ~"},
		{10, 10, true, "±0 ~"},
		{0, 0, false, "±0"},
		{1, 0, false, "–"},
		{96, 93, false, "+3.2 %"},
	} {
		if got := change(c.x, c.base, c.noise); got != c.want {
			t.Errorf("change(%v, %v, %v) = %q, want %q", c.x, c.base, c.noise, got, c.want)
		}
	}
}

func TestLoadBaseline(t *testing.T) {
	dir := filepath.Join("testdata", "results")
	if b, err := loadBaseline(dir, runInfo{Rounds: 6}, csvComparisons); b != nil || err != nil {
		t.Errorf("no commit: %+v, %v; want none", b, err)
	}
	r, err := loadResults(dir, csvSummaries, csvComparisons)
	if err != nil {
		t.Fatal(err)
	}
	b := r.baseline
	if b == nil || b.Commit != r.info.Baseline || b.Commit == "" || b.Rounds != r.info.Rounds {
		t.Fatalf("testdata: baseline %+v, run.json's %q", b, r.info.Baseline)
	}
	if c, ok := b.picker.get("sec/op", "PickPeer/N=3", baselineColumn); !ok || c.Center == 0 {
		t.Errorf("no baseline sec/op of PickPeer/N=3: %+v", c)
	}
	if c, ok := b.remote.get("p99-sec", "RemoteGet/size=4MiB/callers=64", currentColumn); !ok || c.VsBase == "" {
		t.Errorf("no current p99 of RemoteGet/size=4MiB/callers=64 against the baseline: %+v", c)
	}
	if c, ok := b.load.get("p50-sec", localLoadRow, currentColumn); !ok || c.VsBase == "" {
		t.Errorf("no current p50 of %s against the baseline: %+v", localLoadRow, c)
	}
	// A run.json that names a baseline without its output: the goal is not measured.
	empty := t.TempDir()
	if b, err = loadBaseline(empty, runInfo{Baseline: "abc", Rounds: 6}, csvComparisons); err != nil || b == nil || b.picker != nil || b.remote != nil || b.load != nil {
		t.Errorf("without the baseline's output: %+v, %v; want a baseline without figures", b, err)
	}
	if v := baselineGoal(b); v.Status != unmeasured {
		t.Errorf("without the baseline's output: %v (%s), want not measured", v.Status, v.Result)
	}
}

func TestRemoveBaseline(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{baselinePickerRaw, baselineRemoteStat, baselineLoadRaw, baselineLoadStat, pickerRaw} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeBaseline(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != pickerRaw {
		t.Errorf("left %v, want only %s", entries, pickerRaw)
	}
}

func TestRenderBaseline(t *testing.T) {
	r := goodResults()
	out := renderString(t, r)
	for _, s := range []string{"## 8. Against the code before: the baseline\n", "alike.\nbenchstat compares", "\nNot measured in this run (no baseline).\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("without a baseline, the report lacks %q", s)
		}
	}
	r.baseline = baselineOf()
	r.baseline.picker.put("sec/op", "PickPeer/N=3", baselineColumn, cell{Center: 20e-9})
	r.baseline.picker.put("sec/op", "PickPeer/N=3", currentColumn, cell{Center: 18e-9, VsBase: "-10%"})
	r.baseline.remote.put("p99-sec", "RemoteGet/size=100B/callers=1", baselineColumn, cell{Center: 1e-3})
	r.baseline.remote.put("p99-sec", "RemoteGet/size=100B/callers=1", currentColumn, cell{Center: 1.1e-3, VsBase: "~"})
	r.baseline.remote.drop("allocs/op", "RemoteGet/size=4MiB/callers=64", baselineColumn)
	r.baseline.load.put("p50-sec", localLoadRow, baselineColumn, cell{Center: 1.2e-6})
	r.baseline.load.put("p50-sec", localLoadRow, currentColumn, cell{Center: 1.7e-6, VsBase: "+41%"})
	out = renderString(t, r)
	for _, s := range []string{
		"### `PickPeer`, baseline `0123456` → this code\n\n| peers | PickPeer, one goroutine |\n| ---: | ---: |\n| 3 | 20.0 ns → 18.0 ns (−10.0 %) |\n",
		"### `BenchmarkRemoteGet` (ours), baseline `0123456` → this code\n\n| value | callers | p50 (ms) | p99 (ms) | allocs/op |\n",
		"| 100B | 1 | 10000 → 10000 (±0 ~) | 1.00 → 1.10 (+10.0 % ~) | 10 → 10 (±0 ~) |\n",
		"| 4MiB | 64 | 10000 → 10000 (±0 ~) | 10000 → 10000 (±0 ~) | – |\n",
		"### `BenchmarkLocalLoad` (`NewGroup`), baseline `0123456` → this code\n\n| load | time | p50 | p99 | allocs/op |\n| --- | ---: | ---: | ---: | ---: |\n" +
			"| a key this pod owns, through `NewGroup` | 10.00 s → 10.00 s (±0 ~) | 1.2 µs → 1.7 µs (+41.7 %) | 10.00 s → 10.00 s (±0 ~) | 10 → 10 (±0 ~) |\n",
		"| load cost unchanged against 0123456: a load of a key this pod owns through NewGroup outside membership changes, time, p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~) | time 10.00 s → 10.00 s (±0 ~); p50 1.2 µs → 1.7 µs (+41.7 %); p99 10.00 s → 10.00 s (±0 ~); allocs/op 10 → 10 (±0 ~) | **no** |",
		"| no regression against 0123456: PickPeer ns/op, and RemoteGet (grpc) p50, p99 and allocs/op no worse than the baseline's, or within noise (benchstat ~) | not measured: allocs/op of RemoteGet/size=4MiB/callers=64, the baseline's | **not measured** |",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("with a baseline, the report lacks %q", s)
		}
	}
	if strings.Contains(out, "(no baseline)") {
		t.Error("with a baseline, the report says it has none")
	}
}
