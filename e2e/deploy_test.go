package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// A deploy must not throw the cache away whatever the traffic looks like. The hand-off tests
// (handoff_test.go) make each membership change under one load, a working set asked
// continuously; these make the same changes (membershipChanges) under the two loads that the
// peek alone could not carry over: a hot working set, answered from the other pods' hot caches
// so that a key's owner is rarely asked, and a long tail, each key asked once in minutes, with
// the change made between two asks. And a rollout from the version before pushes: old and new
// pods in one ring.

const (
	// maxSlowestGet is the slowest a Get may be while the deployment changes.
	maxSlowestGet = time.Second

	// hotKeys is the hot working set, asked by hotCallers at once through every pod, warmed
	// by hotWarmPasses passes (each key asked that often through each pod, enough for
	// groupcache to keep a hot copy of most keys in every pod), with a preStop of hotPreStop.
	hotKeys       = 400
	hotCallers    = 8
	hotWarmPasses = 30
	hotPreStop    = time.Second

	// tailKeys is the long tail: each key asked once, then again tailGap later, the change
	// made in between; headKeys are asked throughout, one Get every headEvery, as the head of
	// a real cache's traffic is.
	tailKeys  = 3000
	headKeys  = 50
	headEvery = 20 * time.Millisecond
	tailGap   = 2 * time.Minute
)

// membershipChanges are the changes every load is measured under.
var membershipChanges = []handoffCase{scaleUp, scaleDown, rollingUpdate}

var (
	// scaleUp: 3 → 4 pods, the fourth started and waited for in every ring.
	scaleUp = handoffCase{
		what: "scale-up 3 → 4", pods: 3,
		change: func(ctx context.Context, d *testbed.Deployment) error {
			_, err := d.ScaleUp(ctx)
			return err
		},
	}
	// scaleDown: 4 → 3 pods by a graceful delete of the oldest: BeginDelete, the preStop,
	// SIGTERM; the pod drains and exits, and its Pod is removed.
	scaleDown = handoffCase{
		what: "scale-down 4 → 3", pods: 4,
		change: func(ctx context.Context, d *testbed.Deployment) error {
			return d.Delete(ctx, d.Pods()[0])
		},
	}
	// rollingUpdate: every one of 3 pods replaced as a Deployment with maxSurge 1 does it.
	// Without the hand-off most of the working set is loaded again; that baseline must show.
	rollingUpdate = handoffCase{
		what: "rolling update", pods: 3,
		change: func(ctx context.Context, d *testbed.Deployment) error {
			return d.RollingUpdate(ctx)
		},
		baselineReloads: true,
	}
)

// deployOutcome is what a change did to a load: keys loaded again out of keys, Gets made,
// how many failed (with the first few described), and the slowest.
type deployOutcome struct {
	reloaded     int64
	keys, gets   int
	failed       int
	failures     string
	p99, slowest time.Duration
}

// check fails t unless the outcome meets the hand-off's goal: at most 1 % of the keys
// loaded again, no failed Get, none slower than maxSlowestGet.
func (o deployOutcome) check(t *testing.T, what string) {
	t.Helper()
	if limit := int64(o.keys / 100); o.reloaded > limit {
		t.Errorf("%s loaded %d of %d keys again; want at most %d (1 %%)", what, o.reloaded, o.keys, limit)
	}
	if o.failed > 0 {
		t.Errorf("%d of %d Gets failed during the %s, e.g. %s; want every Get answered", o.failed, o.gets, what, o.failures)
	}
	if o.slowest > maxSlowestGet {
		t.Errorf("the slowest Get during the %s took %s; want at most %s", what, o.slowest.Round(time.Millisecond), maxSlowestGet)
	}
}

func (o deployOutcome) String() string {
	return fmt.Sprintf("%d of %d keys loaded again; %d Gets (p99 %.1fms, slowest %.1fms), %d failed",
		o.reloaded, o.keys, o.gets, testbed.Millis(o.p99), testbed.Millis(o.slowest), o.failed)
}

// outcome is what MeasureReloads measured, as a deployOutcome.
func outcome(r testbed.Reloads) deployOutcome {
	return deployOutcome{reloaded: r.Reloaded, keys: r.Keys, gets: r.Gets, failed: len(r.Failures),
		failures: failuresSummary(r.Failures, 5), p99: r.P99, slowest: r.Max}
}

// startDeployment starts a deployment of n example pods with opts, stopped (and its pods'
// logs printed if the test failed) when the test ends.
func startDeployment(t *testing.T, n int, opts testbed.PodOptions, preStop time.Duration) *testbed.Deployment {
	t.Helper()
	d := &testbed.Deployment{App: newApp(t, testbed.AppOptions{}), Name: "pod", Options: opts, PreStop: preStop, Logf: t.Logf}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range d.Started() {
				t.Logf("log of pod %s:\n%s", p.Name, p.Log(40))
			}
		}
		d.Stop()
	})
	if err := d.Scale(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDeployHotSet: each change under a hot working set asked through every pod many times
// a second, with a preStop of one second: the other pods answer the keys from their hot
// copies, so a key's new owner may be asked first only after its previous owner has exited.
// With the hand-off (the push) at most 1 % is loaded again; without it, the baseline shows.
func TestDeployHotSet(t *testing.T) {
	for _, c := range membershipChanges {
		t.Run(c.what, func(t *testing.T) {
			var logged []string
			for _, m := range handoffModes[:2] { // with the hand-off, and without
				t.Run(m.name, func(t *testing.T) {
					d := startDeployment(t, c.pods, testbed.PodOptions{Env: m.env}, hotPreStop)
					keys := testbed.Keys("hot-", hotKeys)
					r, err := testbed.MeasureReloads(t.Context(), d, keys, hotCallers, hotWarmPasses,
						func(ctx context.Context) error { return c.change(ctx, d) })
					if err != nil {
						t.Fatal(err)
					}
					o := outcome(r)
					t.Logf("hot set, %s %s: %s; the change settled in %s", c.what, m.name, o, r.Took.Round(time.Millisecond))
					logPeeks(t, r)
					logPushes(t, r)
					logged = append(logged, fmt.Sprintf("%d %s", o.reloaded, m.name))
					if m.handoff {
						o.check(t, "hot set, "+c.what)
					} else if c.baselineReloads && o.reloaded == 0 {
						t.Errorf("%s without the hand-off loaded no key again; want the baseline to show reloads", c.what)
					}
				})
			}
			t.Logf("deploy: hot set of %d keys, %s: reloaded %v", hotKeys, c.what, logged)
		})
	}
}

// TestDeployLongTail: each change under a long tail: tailKeys keys, each asked once, then
// again tailGap later (longer than the hand-off's window, so the peek cannot carry them
// over), the change made in between while only a few head keys are asked. With the
// hand-off at most 1 % of all the keys is loaded again. The three changes run in parallel,
// each on its own pods, since each mostly waits.
func TestDeployLongTail(t *testing.T) {
	for _, c := range membershipChanges {
		t.Run(c.what, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			d := startDeployment(t, c.pods, testbed.PodOptions{}, 0)
			head := testbed.StartPacedLoad(ctx, testbed.Keys("head-", headKeys), headEvery, d.Pods()...)
			d.Load = head
			defer head.Stop()
			if err := head.WaitPasses(ctx, 1); err != nil {
				t.Fatal(err)
			}
			tail := testbed.Keys("tail-", tailKeys)
			if _, _, err := testbed.GetAll(ctx, d.Pods(), tail, getsInFlight); err != nil {
				t.Fatalf("the first ask of the tail: %v", err)
			}
			asked := time.Now()
			before, err := d.BackendLoads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := c.change(ctx, d); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			select { // the gap between two asks of a key is the load under test
			case <-time.After(time.Until(asked.Add(tailGap))):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
			_, durations, err := testbed.GetAll(ctx, d.Pods(), tail, getsInFlight)
			failed, failures := 0, ""
			if err != nil {
				failed, failures = 1, err.Error() // GetAll reports the first; the check fails on it
			}
			if err := head.WaitPasses(ctx, 1); err != nil {
				t.Fatal(err)
			}
			head.Stop()
			pods, err := d.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var after int64
			for _, s := range pods {
				after += s.BackendLoads
			}
			all := append(durations, head.Durations()...)
			_, p99, slowest := testbed.Percentiles(all)
			o := deployOutcome{reloaded: after - before, keys: tailKeys + headKeys, gets: len(all),
				failed: failed + len(head.Failures()), failures: failures + failuresSummary(head.Failures(), 5),
				p99: p99, slowest: slowest}
			r := testbed.Reloads{Pods: pods}
			t.Logf("deploy: long tail of %d keys asked %s apart and %d head keys, %s: %s; the change took %s",
				tailKeys, tailGap, headKeys, c.what, o, took.Round(time.Millisecond))
			logPeeks(t, r)
			logPushes(t, r)
			o.check(t, "long tail, "+c.what)
		})
	}
}

// TestDeployFromPreviousVersion: a rolling update from the version before pushes
// (testbed.PreviousVersion) to this one, under the hand-off tests' load: old pods answer
// pushes with Unimplemented and new pods peek them. Measured against the same rollout from
// the previous version to itself (the peek alone): no failed Get, no Get slower than
// maxSlowestGet, and no more keys loaded again than the peek alone or 1 %, whichever is more.
func TestDeployFromPreviousVersion(t *testing.T) {
	rollouts := []struct {
		name string
		to   testbed.PodOptions
	}{
		{"previous to previous (the peek alone)", testbed.PodOptions{Previous: true}},
		{"previous to this version", testbed.PodOptions{}},
	}
	var outcomes []deployOutcome
	for _, ro := range rollouts {
		t.Run(ro.name, func(t *testing.T) {
			d := startDeployment(t, 3, testbed.PodOptions{Previous: true}, 0)
			keys := testbed.Keys("handoff-", handoffKeys)
			r, err := testbed.MeasureReloads(t.Context(), d, keys, handoffCallers, 1, func(ctx context.Context) error {
				d.Options = ro.to // the new pod template
				return d.RollingUpdate(ctx)
			})
			if err != nil {
				t.Fatal(err)
			}
			o := outcome(r)
			outcomes = append(outcomes, o)
			t.Logf("rolling update, %s: %s; the change settled in %s", ro.name, o, r.Took.Round(time.Millisecond))
			logPeeks(t, r)
			logPushes(t, r)
			if o.failed > 0 {
				t.Errorf("%d of %d Gets failed, e.g. %s; want every Get answered", o.failed, o.gets, o.failures)
			}
			if o.slowest > maxSlowestGet {
				t.Errorf("the slowest Get took %s; want at most %s", o.slowest.Round(time.Millisecond), maxSlowestGet)
			}
		})
	}
	if len(outcomes) != len(rollouts) {
		return
	}
	alone, mixed := outcomes[0], outcomes[1]
	t.Logf("deploy: rolling update from the previous version reloaded %d of %d keys to this version, %d to itself (the peek alone)",
		mixed.reloaded, handoffKeys, alone.reloaded)
	if limit := max(alone.reloaded, int64(handoffKeys/100)); mixed.reloaded > limit {
		t.Errorf("the rollout from the previous version to this one loaded %d keys again; want at most %d (the peek alone: %d; 1 %%: %d)",
			mixed.reloaded, limit, alone.reloaded, handoffKeys/100)
	}
}
