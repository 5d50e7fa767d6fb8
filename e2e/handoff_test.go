package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// The warm hand-off: when a key's owner changes, its new owner peeks the previous owner's cache
// before loading the key, and a leaving pod drains at SIGTERM so that it can still be peeked.
// Each test makes one membership change under a load generator that asks a warm working set of
// 1000 keys continuously through every pod that takes traffic, in three modes (see
// handoffModes): with the hand-off (the default), with HANDOFF=off on every pod, and with
// TESTONLY_TRANSPORT=httppool on every pod (the example's test-only switch), groupcache's
// HTTPPool fed by WatchPeers, what users would pick instead. It counts the keys the pods loaded from their backends again (see
// testbed.MeasureReloads for how: every pod's backendLoads, deleted pods' as they wrote them
// when they exited, after their drain).

const (
	// handoffKeys is the working set.
	handoffKeys = 1000
	// handoffCallers is how many Gets the load generator has in flight at once.
	handoffCallers = 4
	// maxHandoffReloads is the goal of the hand-off: at most 1 % of a warm working set loaded
	// again by a scale-up, a scale-down or a rolling update.
	maxHandoffReloads = handoffKeys / 100
)

// handoffMode is how every pod of a case runs.
type handoffMode struct {
	name string   // names the subtest
	env  []string // every pod's settings
	// handoff: the mode must meet the hand-off's goal (maxHandoffReloads).
	handoff bool
	// countFailures: failed Gets are counted and logged, not failed on. HTTPPool has neither a
	// drain at shutdown nor a loop guard; what that costs is a finding, not a bug of ours.
	countFailures bool
}

// handoffModes are the modes every case runs in, in this order.
var handoffModes = []handoffMode{
	{name: "with hand-off", handoff: true},
	{name: "without hand-off", env: []string{"HANDOFF=off"}},
	{name: "with HTTPPool", env: []string{"TESTONLY_TRANSPORT=httppool"}, countFailures: true},
}

// TestHandoffScaleUp: 3 → 4 pods, the fourth started and waited for in every ring.
func TestHandoffScaleUp(t *testing.T) { testHandoff(t, scaleUp) }

// TestHandoffScaleDown: 4 → 3 pods by a graceful delete of the oldest: BeginDelete, a preStop of
// 2 s, SIGTERM; the pod drains and exits, and its Pod is removed.
func TestHandoffScaleDown(t *testing.T) { testHandoff(t, scaleDown) }

// TestHandoffRollingUpdate: every one of 3 pods replaced as a Deployment with maxSurge 1 does
// it. Without the hand-off most of the working set is loaded again; that baseline must show.
func TestHandoffRollingUpdate(t *testing.T) { testHandoff(t, rollingUpdate) }

// handoffCase is one membership change, made on a deployment of pods pods.
type handoffCase struct {
	what   string
	pods   int
	change func(context.Context, *testbed.Deployment) error
	// baselineReloads: without the hand-off, the change must load some keys again.
	baselineReloads bool
}

// testHandoff measures the change in every mode of handoffModes, each in a subtest, and logs
// their reload counts, how long the changes took and the failed Gets in one line, which the
// benchmark report (bench/cmd/report) parses:
//
//	handoff: rolling update reloaded 5 of 1000 keys with hand-off, 1433 without, 1410 with HTTPPool (changes took 19.1s, 18.7s and 18.2s; failed gets 0, 0 and 0)
func testHandoff(t *testing.T, c handoffCase) {
	var all []*testbed.Reloads
	for _, m := range handoffModes {
		all = append(all, measureHandoff(t, m, c))
	}
	if slices.Contains(all, nil) {
		return
	}
	with, without, pool := all[0], all[1], all[2]
	took := func(r *testbed.Reloads) time.Duration { return r.Took.Round(time.Millisecond) }
	t.Logf("handoff: %s reloaded %d of %d keys with hand-off, %d without, %d with HTTPPool (changes took %s, %s and %s; failed gets %d, %d and %d)",
		c.what, with.Reloaded, handoffKeys, without.Reloaded, pool.Reloaded, took(with), took(without), took(pool),
		len(with.Failures), len(without.Failures), len(pool.Failures))
	appendE2EReport(t, map[string]any{
		"test": t.Name(), "what": "keys of a warm working set loaded again by " + c.what,
		"keys": handoffKeys, "with_handoff": with.Reloaded, "without_handoff": without.Reloaded, "httppool": pool.Reloaded,
		"with_took_ms": roundMillis(with.Took), "without_took_ms": roundMillis(without.Took), "httppool_took_ms": roundMillis(pool.Took),
		"with_failed_gets": len(with.Failures), "without_failed_gets": len(without.Failures), "httppool_failed_gets": len(pool.Failures),
	})
}

// measureHandoff runs one deployment in mode m through the change under the load generator,
// and checks that every Get succeeded (unless m counts failures), and, with the hand-off, that
// at most maxHandoffReloads keys were loaded again; with HANDOFF=off, that some were if the
// case says so. It returns nil if the subtest failed before measuring.
func measureHandoff(t *testing.T, m handoffMode, c handoffCase) *testbed.Reloads {
	var result *testbed.Reloads
	t.Run(m.name, func(t *testing.T) {
		start := time.Now()
		d := &testbed.Deployment{App: newApp(t, testbed.AppOptions{}), Name: "pod", Options: testbed.PodOptions{Env: m.env},
			Logf: t.Logf}
		t.Cleanup(func() {
			if t.Failed() {
				for _, p := range d.Started() {
					t.Logf("log of pod %s:\n%s", p.Name, p.Log(40))
				}
			}
			d.Stop()
		})
		ctx := t.Context()
		if err := d.Scale(ctx, c.pods); err != nil {
			t.Fatal(err)
		}
		keys := testbed.Keys("handoff-", handoffKeys)
		// Fresh pods hold no copies of keys they do not own: one pass warms the working set.
		r, err := testbed.MeasureReloads(ctx, d, keys, handoffCallers, 1, func(ctx context.Context) error { return c.change(ctx, d) })
		if err != nil {
			t.Fatal(err)
		}
		result = &r
		t.Logf("%s %s: %d backend loads before (warm), %d after: %d of %d keys loaded again; %d Gets (p50 %.1fms, p99 %.1fms, max %.1fms), %d failed; the change settled in %s, the case took %s",
			c.what, m.name, r.Before, r.After, r.Reloaded, len(keys), r.Gets, testbed.Millis(r.P50), testbed.Millis(r.P99), testbed.Millis(r.Max),
			len(r.Failures), r.Took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		logPeeks(t, r)
		logPushes(t, r)
		if m.handoff && r.Max > maxSlowestGet {
			t.Errorf("the slowest Get during the %s took %s; want at most %s", c.what, r.Max.Round(time.Millisecond), maxSlowestGet)
		}
		switch {
		case len(r.Failures) > 0 && m.countFailures:
			t.Logf("%d of %d Gets failed during the %s %s (counted, not a failure of this test), e.g. %s",
				len(r.Failures), r.Gets, c.what, m.name, failuresSummary(r.Failures, 5))
		case len(r.Failures) > 0:
			t.Errorf("%d of %d Gets failed during the %s, e.g. %s; want every Get answered", len(r.Failures), r.Gets, c.what, failuresSummary(r.Failures, 5))
		}
		if r.Before < int64(len(keys)) {
			t.Errorf("the warm working set took %d backend loads; want at least one per key (%d)", r.Before, len(keys))
		}
		switch {
		case m.handoff && r.Reloaded > maxHandoffReloads:
			var peekErrors int64
			for _, s := range r.Pods {
				peekErrors += s.Peers.PeekErrors
			}
			t.Errorf("%s with the hand-off loaded %d of %d keys again; want at most %d. Peeks that failed or timed out "+
				"(each loads its key), over the pods' lives: %d. Keys that got a new loader: %s",
				c.what, r.Reloaded, len(keys), maxHandoffReloads, peekErrors, newLoadersSummary(r.NewLoaders, r.Start, 20))
		case !m.handoff && !m.countFailures && c.baselineReloads && r.Reloaded <= 0:
			t.Errorf("%s without the hand-off loaded no key again; want the baseline to show reloads", c.what)
		}
	})
	return result
}

// logPeeks logs each pod's hand-off counters (zero with HANDOFF=off and with HTTPPool) and its
// group's failed calls to peers, after which groupcache loads the key itself.
func logPeeks(t *testing.T, r testbed.Reloads) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(r.Pods)) {
		s := r.Pods[name]
		t.Logf("  %s: backendLoads=%d peer errors=%d; peeks hit=%d missed=%d failed=%d; peeks served=%d (held %d); drain requests=%d",
			name, s.BackendLoads, s.Group.PeerErrors, s.Peers.PeekHits, s.Peers.PeekMisses, s.Peers.PeekErrors,
			s.Peers.PeeksServed, s.Peers.PeekServedHits, s.Peers.DrainRequests)
	}
}

// logPushes logs each pod's push counters (zero with HANDOFF=off, with HTTPPool and on pods
// of the version before pushes).
func logPushes(t *testing.T, r testbed.Reloads) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(r.Pods)) {
		p := r.Pods[name].Peers
		t.Logf("  %s: pushed %d entries (%d bytes, %d failed, %s); received %d (%d bytes), refused %d, dropped %d",
			name, p.PushesSent, p.PushedBytesSent, p.PushFailures, p.PushTime.Round(time.Millisecond),
			p.PushesReceived, p.PushedBytesReceived, p.PushesRefused, p.PushesDropped)
	}
}

// failuresSummary describes the first n failures.
func failuresSummary(failures []testbed.LoadFailure, n int) string {
	var parts []string
	for _, f := range failures[:min(n, len(failures))] {
		parts = append(parts, fmt.Sprintf("%s via %s at %s: %v", f.Key, f.Pod, f.At.Format(time.StampMilli), f.Err))
	}
	return strings.Join(parts, "; ")
}

// newLoadersSummary describes the first n answers that named a new loader, with their time
// since the change started, and counts them by loader.
func newLoadersSummary(loads []testbed.Loaded, start time.Time, n int) string {
	byLoader := map[string]int{}
	for _, l := range loads {
		byLoader[l.LoadedBy]++
	}
	var parts []string
	for _, l := range loads[:min(n, len(loads))] {
		parts = append(parts, fmt.Sprintf("%s loaded by %s, seen via %s at +%s", l.Key, l.LoadedBy, l.Via,
			l.At.Sub(start).Round(time.Millisecond)))
	}
	var counts []string
	for _, name := range slices.Sorted(maps.Keys(byLoader)) {
		counts = append(counts, fmt.Sprintf("%s: %d", name, byLoader[name]))
	}
	return fmt.Sprintf("%d in all (%s): %s", len(loads), strings.Join(counts, ", "), strings.Join(parts, "; "))
}
