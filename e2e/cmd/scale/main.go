// Command scale runs the example at cluster scale on the test bed's real control plane
// (etcd, kube-apiserver, the EndpointSlice controller), by default 150 pods, built without
// the race detector, and writes what it measured to SCALE.md at the root of the repository
// (BENCHMARKS.md links it):
//
//   - convergence: from the status write to every pod's ring, for readiness flips, pods
//     added and pods deleted;
//
//   - the API server's cost per membership change, from its own /metrics, for this library's
//     EndpointSlice watches and for a Pod informer per pod (the way udhos/kubegroup watches),
//     side by side on the same changes;
//
//   - a rolling update of every pod with the Deployment's defaults (maxSurge 25 %,
//     maxUnavailable 25 %) under a steady load, with the hand-off: backend reloads of the warm
//     working set, failed Gets, slowest Get; and what each pod costs at that size;
//
//   - no transient rings: during the rolling update and a scale-down that leaves the
//     EndpointSlices partly empty, no pod's ring ever leaves out a pod that was still ready.
//
//     make scale    (or: cd e2e && go run ./cmd/scale; -pods 12 for a quick run)
//
// It is a program, not a test: it runs for many minutes on purpose, measures rather than
// checks, and writes a report. It still exits with 1 when a ring was transient, a Get failed
// or the hand-off missed its goal, after writing the report that shows it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// stepNames are the steps a run may make after the pods are up, in their usual order.
var stepNames = []string{"converge", "cost", "rollout", "one-by-one", "scale-down"}

// options are the command's flags.
type options struct {
	pods        int
	out         string
	flips       int
	joins       int
	leaves      int
	costChanges int
	maxPerSlice int
	keysPerPod  int
	callers     int
	parallel    int
	scaleDownTo int
	adminPort   int
	steps       string
	logLevel    string
	keepFiles   bool
	cpuProfiles string
	// args are the flags as given, for the report.
	args []string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.IntVar(&o.pods, "pods", 150, "pods of the deployment")
	fs.StringVar(&o.out, "out", "../SCALE.md", "the report to write")
	fs.IntVar(&o.flips, "flips", 10, "readiness flips (each one to not ready and back) for the convergence figures")
	fs.IntVar(&o.joins, "joins", 5, "pods added, one at a time, for the convergence figures")
	fs.IntVar(&o.leaves, "leaves", 5, "pods deleted, one at a time, for the convergence figures")
	fs.IntVar(&o.costChanges, "cost-changes", 4, "changes of each kind (flip, join, leave) while the API server's cost is counted")
	fs.IntVar(&o.maxPerSlice, "max-endpoints-per-slice", 0, "the EndpointSlice controller's --max-endpoints-per-slice; 0 keeps its default, 100 (a small run sets fewer to get several slices)")
	fs.IntVar(&o.keysPerPod, "keys-per-pod", 20, "keys of the rolling update's working set per pod (at least 1000 in all)")
	fs.IntVar(&o.callers, "callers", 8, "Gets the load generator has in flight at once")
	fs.IntVar(&o.parallel, "parallel", 16, "pods started at once when the deployment first comes up")
	fs.IntVar(&o.scaleDownTo, "scale-down-to", 0, "pods left by the scale-down; 0 is a third of -pods")
	fs.StringVar(&o.steps, "steps", strings.Join(stepNames, ","), "the steps to run after the pods are up, comma-separated, in their order (a part of the report for a look at one)")
	fs.StringVar(&o.logLevel, "log-level", "", "the pods' LOG_LEVEL (debug logs each push and peek with its key); empty keeps the example's default")
	fs.BoolVar(&o.keepFiles, "keep-files", false, "keep the control plane's and every pod's log after the run, and say where")
	fs.StringVar(&o.cpuProfiles, "cpu-profiles", "", "a directory (made if missing) for CPU profiles of every pod, one per 10 s of its life, <pod>-<unix ms at its start>.pprof (go tool pprof -top adds up the files it is given); profiling costs CPU of its own")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.pods < 4 {
		return o, fmt.Errorf("-pods %d: want at least 4", o.pods)
	}
	for name := range strings.SplitSeq(o.steps, ",") {
		if !slices.Contains(stepNames, strings.TrimSpace(name)) {
			return o, fmt.Errorf("-steps: unknown step %q (known: %s)", name, strings.Join(stepNames, ", "))
		}
	}
	if o.cpuProfiles != "" {
		dir, err := filepath.Abs(o.cpuProfiles)
		if err != nil {
			return o, fmt.Errorf("-cpu-profiles: %v", err)
		}
		o.cpuProfiles = dir
	}
	if o.scaleDownTo == 0 {
		o.scaleDownTo = max(2, o.pods/3)
	}
	o.adminPort = 9090
	o.args = args
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if !testbed.InNetNS() {
		// Without the race detector: it would multiply every pod's CPU time and memory.
		os.Exit(testbed.BuildAndRerunWith(testbed.BuildOptions{NoRace: true, NoPrevious: true}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	r, err := run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "scale: interrupted; everything it started is stopped and removed")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	r.Took = time.Since(start)
	report, err := render(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(o.out, report, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "scale: wrote %s (%s)\n", o.out, r.Took.Round(time.Second))
	if failed := r.failedGoals(); len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintln(os.Stderr, "scale: goal not met:", f)
		}
		os.Exit(1)
	}
}
