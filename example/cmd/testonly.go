package main

// The test-only settings: features of the example that exist for the end-to-end test bed
// (e2e/testbed) and the comparison in the benchmark report (which runs e2e's hand-off tests),
// not for users. Each is off unless its TESTONLY_ variable is set, and example/k8s.yaml sets
// none. Each feature lives in a testonly_*.go file of its own.

import (
	"fmt"
	"os"
)

// testOnlySettings are the test-only settings, read from the environment by readTestOnly:
//
//	TESTONLY_TRANSPORT     "httppool" runs groupcache's HTTPPool, fed by k8s.WatchPeers, on the
//	                       HTTP port instead of a PeersManager, to compare the two
//	                       (testonly_httppool.go); default unset, a PeersManager
//	TESTONLY_RING_HISTORY  "on" keeps every ring the node published and serves them at
//	                       /testonly/rings?since=N (testonly_rings.go); default off
//	TESTONLY_EXIT_STATE    a file to which the example writes its /stats and how long its
//	                       node's Close took, once Close has returned at SIGTERM
//	                       (testonly_exitstate.go); default none
//	TESTONLY_BACKEND_KEYS  "on" makes the backend take 3 s to load keys that start with "slow-"
//	                       and have no record of keys that start with "missing-"
//	                       (testonly_backend.go); default off
//	TESTONLY_CPU_PROFILE   a directory into which the example writes CPU profiles of its
//	                       whole run, one per 10 s, <POD_NAME>-<unix ms>.pprof
//	                       (testonly_cpuprofile.go); default none
type testOnlySettings struct {
	httpPool    bool   // TESTONLY_TRANSPORT=httppool
	ringHistory bool   // TESTONLY_RING_HISTORY=on
	exitState   string // TESTONLY_EXIT_STATE, a file name; "" for none
	backendKeys bool   // TESTONLY_BACKEND_KEYS=on
	cpuProfile  string // TESTONLY_CPU_PROFILE, a directory; "" for none
}

// readTestOnly reads the test-only settings. A value it does not know is an error naming
// the variable, never a silent default: a test that asked for a feature must get it.
func readTestOnly() (testOnlySettings, error) {
	var t testOnlySettings
	switch v := os.Getenv("TESTONLY_TRANSPORT"); v {
	case "":
	case "httppool":
		t.httpPool = true
	default:
		return t, fmt.Errorf("TESTONLY_TRANSPORT=%q: want httppool, or unset for a PeersManager", v)
	}
	switch v := os.Getenv("TESTONLY_RING_HISTORY"); v {
	case "", "off":
	case "on":
		t.ringHistory = true
	default:
		return t, fmt.Errorf("TESTONLY_RING_HISTORY=%q: want on or off", v)
	}
	t.exitState = os.Getenv("TESTONLY_EXIT_STATE")
	t.cpuProfile = os.Getenv("TESTONLY_CPU_PROFILE")
	switch v := os.Getenv("TESTONLY_BACKEND_KEYS"); v {
	case "", "off":
	case "on":
		t.backendKeys = true
	default:
		return t, fmt.Errorf("TESTONLY_BACKEND_KEYS=%q: want on or off", v)
	}
	return t, nil
}
