package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// Liveness tests (issue 18): a pod frozen as a hung node is (SIGSTOP: its connections stay
// open, nothing answers, its endpoint stays ready) costs its callers one short wait; an
// owner whose backend is slow is waited for; an owner's backend error reaches the caller
// without a second load. They run alone: the first measures latencies.

// TestFrozenPodCostsOneShortWait: with one of four pods frozen for 20 s while the three
// others take Gets of new keys, 8 at a time, no Get fails, at most 2 Gets per calling pod
// take longer than 1 s and none longer than 2 s; within 1 s of SIGCONT the pod loads its
// keys again.
func TestFrozenPodCostsOneShortWait(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	pods := startPods(t, app, 0, 4)
	waitRings(t, pods, pods)
	frozen, callers := pods[3], pods[:3]
	getAll(t, pods, testbed.Keys("frozen-warm-", 60)) // every connection open

	frozen.Freeze()
	t.Cleanup(frozen.Thaw)
	frozenAt := time.Now()
	// The freeze lasts 20 s: the fault's duration, not a wait for anything.
	slow := map[string][]time.Duration{} // Gets over 1 s, by calling pod
	var all []time.Duration
	gets, rounds := 0, 0
	for time.Since(frozenAt) < 20*time.Second {
		keys := testbed.Keys(fmt.Sprintf("frozen-%d-", rounds), 120)
		_, durations, err := testbed.GetAll(t.Context(), callers, keys, getsInFlight)
		if err != nil {
			t.Fatalf("a Get failed while %s was frozen: %v", frozen.Name, err)
		}
		all = append(all, durations...)
		for i, d := range durations {
			if d > time.Second {
				caller := callers[i%len(callers)].Name
				slow[caller] = append(slow[caller], d)
			}
		}
		gets += len(keys)
		rounds++
	}
	for caller, ds := range slow {
		if len(ds) > 2 {
			t.Errorf("%s: %d Gets took longer than 1 s (%v); want at most 2", caller, len(ds), ds)
		}
		for _, d := range ds {
			if d > 2*time.Second {
				t.Errorf("%s: a Get took %v; want none longer than 2 s", caller, d)
			}
		}
	}
	marked := 0
	for _, p := range callers {
		s := stats(t, p)
		marked += int(s.Peers.PeersMarkedUnavailable)
		t.Logf("%s: %d marked, %d calls failed fast", p.Name, s.Peers.PeersMarkedUnavailable, s.Peers.CallsFailedFast)
	}
	if marked == 0 {
		t.Error("no pod marked the frozen pod unavailable")
	}
	p50, p99, worst := testbed.Percentiles(all)
	t.Logf("%s frozen for %v: %d Gets of new keys through 3 pods, none failed; p50 %v, p99 %v, worst %v; over 1 s: %v",
		frozen.Name, time.Since(frozenAt).Round(time.Millisecond), gets, p50, p99, worst, slow)

	// Back: a new key it owns, asked through each caller, is loaded by it within 1 s.
	frozen.Thaw()
	thawed := time.Now()
	var back sync.WaitGroup
	for ci, caller := range callers {
		back.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("frozen-back-%d-%d", ci, i)
				owner, err := caller.Owner(t.Context(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if owner != frozen.PeerID() {
					continue
				}
				r, err := caller.Get(t.Context(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if r.LoadedBy == frozen.Name {
					d := time.Since(thawed)
					if d > time.Second {
						t.Errorf("%s used %s again %v after SIGCONT; want within 1 s", caller.Name, frozen.Name, d)
					}
					t.Logf("%s used %s again %v after SIGCONT", caller.Name, frozen.Name, d.Round(time.Millisecond))
					return
				}
				if time.Since(thawed) > 10*time.Second {
					t.Errorf("%s does not use %s 10 s after SIGCONT", caller.Name, frozen.Name)
					return
				}
			}
		})
	}
	back.Wait()
}

// ownedKeys returns n keys named prefix followed by a number that owner owns in via's ring.
func ownedKeys(t *testing.T, via, owner *testbed.Pod, prefix string, n int) []string {
	t.Helper()
	var keys []string
	for i := 0; len(keys) < n; i++ {
		key := fmt.Sprintf("%s%d", prefix, i)
		got, err := via.Owner(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		if got == owner.PeerID() {
			keys = append(keys, key)
		}
	}
	return keys
}

// TestSlowOwnerIsWaitedFor: an owner whose backend takes 3 s for its keys answers the
// callers' pings meanwhile: every caller waits for its value, none loads the key itself, and
// no caller marks it unavailable.
func TestSlowOwnerIsWaitedFor(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	pods := startPods(t, app, 0, 3)
	waitRings(t, pods, pods)
	owner, callers := pods[0], pods[1:]
	keys := ownedKeys(t, callers[0], owner, "slow-", 4)
	before := map[string]testbed.Stats{}
	for _, p := range pods {
		before[p.Name] = stats(t, p)
	}
	results, durations := getAllTimed(t, callers, keys)
	for i, r := range results {
		if r.LoadedBy != owner.Name || durations[i] < 3*time.Second {
			t.Errorf("slow key %s: loaded by %s after %v; want by %s after 3 s", keys[i], r.LoadedBy, durations[i], owner.Name)
		}
	}
	for _, p := range callers {
		s := stats(t, p)
		if s.BackendLoads != before[p.Name].BackendLoads {
			t.Errorf("%s loaded %d slow keys itself", p.Name, s.BackendLoads-before[p.Name].BackendLoads)
		}
		if s.Peers.PeersMarkedUnavailable != before[p.Name].Peers.PeersMarkedUnavailable {
			t.Errorf("%s marked the slow owner unavailable", p.Name)
		}
	}
	if got := stats(t, owner).BackendLoads - before[owner.Name].BackendLoads; got != int64(len(keys)) {
		t.Errorf("the owner's backend loaded %d times, want %d (once per key)", got, len(keys))
	}
}

// TestOwnerErrorReachesTheCaller: a key the backend has no record of, asked through a pod
// that does not own it, fails with the owner's error, and the backend is asked once in all.
func TestOwnerErrorReachesTheCaller(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	pods := startPods(t, app, 0, 3)
	waitRings(t, pods, pods)
	owner, caller := pods[0], pods[1]
	keys := ownedKeys(t, caller, owner, "missing-", 5)
	total := func() (loads, ownerErrors int64) {
		for _, p := range pods {
			s := stats(t, p)
			loads += s.BackendLoads
			ownerErrors += s.Peers.OwnerErrors
		}
		return loads, ownerErrors
	}
	loads0, errors0 := total()
	for _, key := range keys {
		_, err := caller.Get(t.Context(), key)
		if err == nil || !strings.Contains(err.Error(), "no such record") {
			t.Errorf("Get(%q) through %s: %v; want the owner's error, no such record", key, caller.Name, err)
		}
	}
	loads, ownerErrors := total()
	if loads-loads0 != int64(len(keys)) || ownerErrors-errors0 != int64(len(keys)) {
		t.Errorf("%d Gets of missing keys: %d backend calls and %d owner's errors returned; want %d of each",
			len(keys), loads-loads0, ownerErrors-errors0, len(keys))
	}
}
