package main

import (
	"slices"
	"testing"
)

// benchstatOut is what benchstat -col /impl -format csv prints: configuration lines, then
// per unit a header of impls, a header of units, rows and a geomean.
const benchstatOut = `goos: linux
pkg: github.com/groupcache-k8s/k8s/bench/watchers
,ours,,informer,,,
,p99-ms,CI,p99-ms,CI,vs base,P
Convergence-2,52.45,∞,52.6,∞,~,p=0.700 n=3
geomean,52.45,,52.6,,+0.29%,

,ours,,informer,,,
,heap-KiB,CI,heap-KiB,CI,vs base,P
Heap/endpoints=1-2,-3.672,∞,97.27,∞,~,p=0.100 n=3
Heap/endpoints=1000-2,95.65,±2%,967.2,±3%,+911.19%,p=0.002 n=6
Heap/endpoints=100,,,167.3,∞,,
`

func TestParseBenchstatCSV(t *testing.T) {
	s, err := parseBenchstatCSV([]byte(benchstatOut))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		unit, row, impl string
		want            cell
	}{
		{"p99-ms", "Convergence", "ours", cell{Center: 52.45, CI: "∞"}}, // the base column has no comparison
		{"p99-ms", "Convergence", "informer", cell{Center: 52.6, CI: "∞", VsBase: "~", P: "p=0.700 n=3"}},
		{"heap-KiB", "Heap/endpoints=1", "ours", cell{Center: -3.672, CI: "∞"}}, // -GOMAXPROCS dropped
		{"heap-KiB", "Heap/endpoints=1000", "informer", cell{Center: 967.2, CI: "±3%", VsBase: "+911.19%", P: "p=0.002 n=6"}},
		{"heap-KiB", "Heap/endpoints=100", "informer", cell{Center: 167.3, CI: "∞"}},
	} {
		got, ok := s.get(c.unit, c.row, c.impl)
		if !ok || got != c.want {
			t.Errorf("%s %s %s: %+v (%v), want %+v", c.unit, c.row, c.impl, got, ok, c.want)
		}
	}
	for _, missing := range [][3]string{
		{"p99-ms", "geomean", "ours"},              // geomeans are skipped
		{"heap-KiB", "Heap/endpoints=100", "ours"}, // an empty cell is no cell
		{"p50-ms", "Convergence", "ours"},          // a unit the output does not have
	} {
		if c, ok := s.get(missing[0], missing[1], missing[2]); ok {
			t.Errorf("%v: %+v, want none", missing, c)
		}
	}
}

func TestParseBenchstatCSVError(t *testing.T) {
	if _, err := parseBenchstatCSV([]byte("a,\"b\n")); err == nil {
		t.Error("no error for malformed CSV")
	}
}

// TestBenchstatArgs checks that benchstat is asked for the levels the report's text quotes.
func TestBenchstatArgs(t *testing.T) {
	got := benchstatArgs("results/picker.txt", "csv")
	want := []string{"run", benchstatCmd, "-alpha", "0.05", "-confidence", "0.95", "-col", "/impl", "-format", "csv", "results/picker.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
