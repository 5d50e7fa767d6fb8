package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// The tests' side of the test bed: each helper calls testbed and fails the test on an error.

// convergeTimeout bounds every wait for the rings to settle. Convergence normally takes
// milliseconds; the bound is generous for a loaded 2-core machine and for the library's
// backoff after an API server outage.
const convergeTimeout = 90 * time.Second

// getsInFlight is how many Gets getAll has in flight at once.
const getsInFlight = 8

var namespaceSeq atomic.Int64

// converging returns the test's context bounded by convergeTimeout, for one wait on the pods
// or the control plane.
func converging(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), convergeTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newApp creates the example's objects in a namespace named after the test.
func newApp(t *testing.T, opts testbed.AppOptions) *testbed.App {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), namespaceSeq.Add(1))
	app, err := cluster.NewApp(t.Context(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// startPod starts one pod and stops its process when the test ends; on failure it prints the
// pod's log.
func startPod(t *testing.T, app *testbed.App, name string, opts testbed.PodOptions) *testbed.Pod {
	t.Helper()
	pod, err := app.StartPod(t.Context(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pod.Stop()
		if t.Failed() {
			t.Logf("log of pod %s:\n%s", pod.Name, pod.Log(30))
		}
	})
	return pod
}

// startPods starts n pods named pod-<first>..; with no options.
func startPods(t *testing.T, app *testbed.App, first, n int) []*testbed.Pod {
	t.Helper()
	var pods []*testbed.Pod
	for i := first; i < first+n; i++ {
		pods = append(pods, startPod(t, app, fmt.Sprintf("pod-%d", i), testbed.PodOptions{}))
	}
	return pods
}

// waitRings waits until every pod in on holds exactly the peers of members, and returns the
// time the last of them got there.
func waitRings(t *testing.T, on, members []*testbed.Pod) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), convergeTimeout)
	defer cancel()
	last, err := testbed.WaitRings(ctx, on, members)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// ringsUnchanged fails the test if any pod marked reported a ring since.
func ringsUnchanged(t *testing.T, marks testbed.RingMarks, when string) {
	t.Helper()
	if err := marks.Unchanged(); err != nil {
		t.Fatalf("%s %v", when, err)
	}
}

// getAll requests every key through the pods round-robin, getsInFlight at a time, and checks
// each value; it returns each answer by key.
func getAll(t *testing.T, pods []*testbed.Pod, keys []string) map[string]testbed.GetResult {
	t.Helper()
	results, _ := getAllTimed(t, pods, keys)
	byKey := make(map[string]testbed.GetResult, len(keys))
	for i, key := range keys {
		byKey[key] = results[i]
	}
	return byKey
}

// getAllTimed is getAll that returns the answers and each request's duration in the order
// of keys.
func getAllTimed(t *testing.T, pods []*testbed.Pod, keys []string) ([]testbed.GetResult, []time.Duration) {
	t.Helper()
	results, durations, err := testbed.GetAll(t.Context(), pods, keys, getsInFlight)
	if err != nil {
		t.Fatal(err)
	}
	return results, durations
}

func stats(t *testing.T, p *testbed.Pod) testbed.Stats {
	t.Helper()
	s, err := p.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
