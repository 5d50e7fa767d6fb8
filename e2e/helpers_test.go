package e2e

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// convergeTimeout bounds every wait for the rings to settle. Convergence normally takes
// milliseconds; the bound is generous for a loaded 2-core machine and for the library's
// backoff after an API server outage.
const convergeTimeout = 90 * time.Second

var namespaceSeq atomic.Int64

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

// addrs returns the pods' peer ids.
func addrs(pods []*testbed.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.GroupcacheAddr())
	}
	return out
}

// waitRings waits until every pod in on holds exactly the peers of members, and returns the
// time the last of them got there.
func waitRings(t *testing.T, on, members []*testbed.Pod) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), convergeTimeout)
	defer cancel()
	var last time.Time
	for _, p := range on {
		at, err := p.WaitRing(ctx, addrs(members)...)
		if err != nil {
			t.Fatal(err)
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// getAll requests every key through the pods round-robin, eight at a time, and checks each
// value; it returns each answer by key.
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
	results := make([]testbed.GetResult, len(keys))
	durations := make([]time.Duration, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := pods[i%len(pods)]
			start := time.Now()
			r, err := p.Get(t.Context(), key)
			durations[i] = time.Since(start)
			if err == nil && r.Value != "value of "+key {
				err = fmt.Errorf("Get(%q) through %s = %q", key, p.Name, r.Value)
			}
			results[i], errs[i] = r, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return results, durations
}

// timedGet is one Get of getAtOnce: the pod asked, its answer and how long it took.
type timedGet struct {
	Pod    *testbed.Pod
	Key    string
	Result testbed.GetResult
	Took   time.Duration
	Err    error
}

// getAtOnce asks every key through every pod, all requests at the same instant (one goroutine
// each, released together), each Get with the deadline timeout as an HTTP handler's would have.
// It returns the answers key by key, pods in order within a key, and checks nothing.
func getAtOnce(t *testing.T, pods []*testbed.Pod, keys []string, timeout time.Duration) []timedGet {
	t.Helper()
	gets := make([]timedGet, 0, len(keys)*len(pods))
	for _, key := range keys {
		for _, p := range pods {
			gets = append(gets, timedGet{Pod: p, Key: key})
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range gets {
		g := &gets[i]
		wg.Go(func() {
			<-start
			t0 := time.Now()
			g.Result, g.Err = g.Pod.GetWithTimeout(t.Context(), g.Key, timeout)
			g.Took = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return gets
}

// nearestRank returns the nearest-rank p-th percentile of sorted (ascending, not empty).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// percentiles returns the median, the 99th percentile and the maximum of ds.
func percentiles(ds []time.Duration) (p50, p99, worst time.Duration) {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return nearestRank(sorted, 50), nearestRank(sorted, 99), sorted[len(sorted)-1]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func keysN(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return keys
}

func stats(t *testing.T, p *testbed.Pod) testbed.Stats {
	t.Helper()
	s, err := p.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
