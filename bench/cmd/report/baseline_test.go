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

func TestParseFlagsBaseline(t *testing.T) {
	o, err := parseFlags([]string{"-baseline", "HEAD~1"}, io.Discard)
	if err != nil || o.baseline != "HEAD~1" {
		t.Errorf("-baseline HEAD~1: %+v, %v", o, err)
	}
	if o, err = parseFlags(nil, io.Discard); err != nil || o.baseline != "" {
		t.Errorf("no -baseline: %q, %v; want none", o.baseline, err)
	}
}

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

func TestRemoveBaseline(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{baselinePickerRaw, baselineRemoteStat, pickerRaw} {
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
