package main

import (
	"errors"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// TestDescribeSlowGets: each slow Get is told in pod names, with the state of the pod asked
// when it started (relative to the update's start) and a change during it.
func TestDescribeSlowGets(t *testing.T) {
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	names := map[string]string{"192.0.2.10:8081": "pod-1", "192.0.2.11:8081": "pod-2"}
	readiness := map[string][]testbed.ReadinessChange{
		"pod-1": {{At: at(-60), Ready: true}},
		"pod-2": {{At: at(-60), Ready: true}, {At: at(12), Ready: false}},
		"pod-3": {{At: at(5), Ready: true}},
	}
	for _, tc := range []struct {
		name string
		get  testbed.SlowGet
		want slowGet
	}{
		{"ready since before the update",
			testbed.SlowGet{Start: at(3), Key: "k", Pod: "pod-1", Took: time.Second,
				Result: testbed.GetResult{Owner: "192.0.2.11:8081", LoadedBy: "pod-2", ServedBy: "pod-1"}},
			slowGet{At: 3 * time.Second, Took: time.Second, Key: "k", Pod: "pod-1", PodState: "ready",
				Owner: "pod-2", Loader: "pod-2", ServedBy: "pod-1"}},
		{"its delete begins during the Get",
			testbed.SlowGet{Start: at(11.5), Key: "k", Pod: "pod-2", Took: 2 * time.Second,
				Result: testbed.GetResult{Owner: "192.0.2.10:8081", LoadedBy: "pod-1"}},
			slowGet{At: 11500 * time.Millisecond, Took: 2 * time.Second, Key: "k", Pod: "pod-2",
				PodState: "ready, not ready 0.5 s into the Get", Owner: "pod-1", Loader: "pod-1"}},
		{"not ready before it, an owner no pod has, failed",
			testbed.SlowGet{Start: at(13), Key: "k", Pod: "pod-2", Took: time.Second,
				Result: testbed.GetResult{Owner: "192.0.2.99:8081"}, Err: errors.New("EOF")},
			slowGet{At: 13 * time.Second, Took: time.Second, Key: "k", Pod: "pod-2",
				PodState: "not ready since +12.0 s", Owner: "192.0.2.99:8081", Fail: "EOF"}},
		{"a new pod",
			testbed.SlowGet{Start: at(6), Key: "k", Pod: "pod-3", Took: time.Second},
			slowGet{At: 6 * time.Second, Took: time.Second, Key: "k", Pod: "pod-3", PodState: "ready since +5.0 s"}},
	} {
		got := describeSlowGets([]testbed.SlowGet{tc.get}, names, readiness, start)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: describeSlowGets = %+v; want %+v", tc.name, got, tc.want)
		}
	}
}
