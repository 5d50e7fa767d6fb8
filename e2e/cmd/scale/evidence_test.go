package main

import (
	"slices"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// TestEvidence: the evidence of a transient ring is every slice event within evidenceWindow
// before it that listed the peer left out or stopped listing it, in order; events of other
// slices and of other addresses, and events outside the window, are left out.
func TestEvidence(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms int, slice, rv string, ready ...string) testbed.SliceEvent {
		return testbed.SliceEvent{At: at(ms), Type: "MODIFIED", Slice: slice, ResourceVersion: rv, Ready: ready}
	}
	events := []testbed.SliceEvent{
		ev(0, "a", "1", "192.0.2.10", "192.0.2.11"),    // before the window
		ev(6000, "a", "2", "192.0.2.10", "192.0.2.11"), // lists it
		ev(7000, "b", "3", "192.0.2.12"),               // another slice, another address
		ev(8000, "a", "4", "192.0.2.11"),               // stops listing it
		ev(8500, "a", "5", "192.0.2.11", "192.0.2.13"), // still without it: nothing moved
		ev(9000, "b", "6", "192.0.2.12", "192.0.2.10"), // lists it in the other slice
		ev(12000, "b", "7", "192.0.2.10"),              // after the ring
	}
	drop := testbed.Drop{Pod: "p", At: at(10000), Peer: "192.0.2.10:8081"}
	var got []string
	for _, e := range evidence(events, drop) {
		got = append(got, e.ResourceVersion)
	}
	if want := []string{"2", "4", "6"}; !slices.Equal(got, want) {
		t.Errorf("evidence = resourceVersions %v; want %v", got, want)
	}
}

// TestFlagsNote: the report quotes the flags a run was given, all but -out, which names
// where the report goes.
func TestFlagsNote(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-out", "../SCALE.md"}, ""},
		{[]string{"-out=../SCALE.md", "-pods", "20"}, " -pods 20"},
		{[]string{"-pods", "12", "-out", "x.md", "-max-endpoints-per-slice", "5"}, " -pods 12 -max-endpoints-per-slice 5"},
	} {
		if got := flagsNote(options{args: tc.args}); got != tc.want {
			t.Errorf("flagsNote(%q) = %q; want %q", tc.args, got, tc.want)
		}
	}
}
