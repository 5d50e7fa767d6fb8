package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestKeepHeader(t *testing.T) {
	out := []byte("goos: linux\ngoarch: amd64\npkg: x\ncpu: y\nBenchmarkA-2 1 2 ns/op\nPASS\nok x 1s\n")
	if got := string(keepHeader(out, true)); got != "goos: linux\ngoarch: amd64\npkg: x\ncpu: y\nBenchmarkA-2 1 2 ns/op\n" {
		t.Errorf("with the header: %q", got)
	}
	if got := string(keepHeader(out, false)); got != "BenchmarkA-2 1 2 ns/op\n" {
		t.Errorf("without the header: %q", got)
	}
}

// TestRenameRootRebuild checks that the root's BenchmarkRebuild of ours becomes the newRing
// column, whichever order the root names its sub-benchmarks in.
func TestRenameRootRebuild(t *testing.T) {
	out := []byte("goos: linux\npkg: github.com/groupcache-k8s/k8s\n" +
		"BenchmarkRebuild/impl=ours/N=3-2         \t 1000\t 832000 ns/op\t 942080 B/op\t 5 allocs/op\n" +
		"BenchmarkRebuild/N=10/impl=ours-2        \t 1000\t 859700 ns/op\n" +
		"BenchmarkRebuild/N=100/impl=ours         \t 1000\t 850400 ns/op\n" +
		"BenchmarkRebuild/impl=consistenthash/N=3-2\t 1000\t 17400 ns/op\n" +
		"BenchmarkRebuild/N=3/impl=consistenthash-2\t 1000\t 17400 ns/op\n" +
		"PASS\n")
	want := "BenchmarkRebuild/N=3/impl=newRing-2         \t 1000\t 832000 ns/op\t 942080 B/op\t 5 allocs/op\n" +
		"BenchmarkRebuild/N=10/impl=newRing-2        \t 1000\t 859700 ns/op\n" +
		"BenchmarkRebuild/N=100/impl=newRing         \t 1000\t 850400 ns/op\n"
	if got := string(renameRootRebuild(out)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRootRebuildBench checks the -test.bench pattern level by level, as the testing
// package matches it: ours in either naming, nothing else.
func TestRootRebuildBench(t *testing.T) {
	var levels []*regexp.Regexp
	for _, p := range strings.Split(rootRebuildBench, "/") { // no element has a / of its own
		levels = append(levels, regexp.MustCompile(p))
	}
	matches := func(name string) bool {
		for i, elem := range strings.Split(name, "/") {
			if !levels[i].MatchString(elem) {
				return false
			}
		}
		return true
	}
	for name, want := range map[string]bool{
		"BenchmarkRebuild/impl=ours/N=1000":        true,
		"BenchmarkRebuild/N=1000/impl=ours":        true,
		"BenchmarkRebuild/impl=consistenthash/N=3": false,
		"BenchmarkRebuild/N=3/impl=consistenthash": false,
		"BenchmarkRebuildX/impl=ours/N=3":          false,
		"BenchmarkPickPeer/impl=ours/N=3":          false,
	} {
		if got := matches(name); got != want {
			t.Errorf("%s: selected %v, want %v", name, got, want)
		}
	}
}
