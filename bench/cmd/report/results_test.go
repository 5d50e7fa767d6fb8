package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadResults(t *testing.T) {
	r, err := loadResults(filepath.Join("testdata", "results"), csvSummaries, csvComparisons)
	if err != nil {
		t.Fatal(err)
	}
	if r.info.Rounds != 6 || r.info.CPUs != 2 {
		t.Errorf("run.json: %+v", r.info)
	}
	if len(r.quality) != len(pickerSizes) || r.quality[0].N != pickerSizes[0] {
		t.Errorf("quality.json: %d sizes, first N=%d", len(r.quality), r.quality[0].N)
	}
	for name, s := range map[string]summary{"picker": r.picker, "remote": r.remote, "watchers": r.watchers, "handoff": r.handoff,
		"peer cost": r.peerCost, "handover": r.handover, "load": r.load} {
		if len(s) == 0 {
			t.Errorf("no %s summary", name)
		}
	}
	if _, ok := r.picker.get("sec/op", "Rebuild/N=1000", "newRing"); !ok {
		t.Error("the root's newRing is not a column of the picker summary")
	}
	if _, ok := r.peerCost.get("used-heap-B/peer", "PeerCost/N=1000", "grpc"); !ok {
		t.Error("no used-heap-B/peer of PeerCost/N=1000, impl=grpc in the peer cost summary")
	}
	if _, ok := r.handover.get("wire-out-B/op", handoverRow, "ours"); !ok {
		t.Errorf("no wire-out-B/op of %s, impl=ours in the hand-over summary", handoverRow)
	}
	if c, ok := r.load.get("p50-sec", localLoadRow, loadNewGroup); !ok || c.VsBase == "" {
		t.Errorf("no p50 of %s, impl=%s against impl=%s in the load summary: %+v", localLoadRow, loadNewGroup, loadReference, c)
	}
	if len(r.profiles) == 0 {
		t.Error("no profiles")
	}
	if r.membership == nil || len(r.membership.Cases) != len(membershipCases) || !r.membership.Passed {
		t.Errorf("e2e-handoff.txt: %+v; want %d cases of a run that passed", r.membership, len(membershipCases))
	}
}

// TestLoadResultsOptional checks that watchers.txt, handoff.txt, peercost.txt,
// handover.txt, load.txt, e2e-handoff.txt and profiles.txt may be absent, and that the
// rest may not.
func TestLoadResultsOptional(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{runInfoJSON, qualityJSON, "picker.txt", "picker.csv", "remote.txt", "remote.csv"} {
		data, err := os.ReadFile(filepath.Join("testdata", "results", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := loadResults(dir, csvSummaries, csvComparisons)
	if err != nil {
		t.Fatal(err)
	}
	if r.watchers != nil || r.handoff != nil || r.peerCost != nil || r.handover != nil || r.load != nil || r.membership != nil || r.profiles != nil {
		t.Errorf("watchers %v, handoff %v, peer cost %v, handover %v, load %v, membership %v, profiles %q; want none", r.watchers != nil,
			r.handoff != nil, r.peerCost != nil, r.handover != nil, r.load != nil, r.membership != nil, r.profiles)
	}
	if err := os.Remove(filepath.Join(dir, qualityJSON)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadResults(dir, csvSummaries, csvComparisons); err == nil {
		t.Error("no error without quality.json")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	want := runInfo{CPU: "x", CPUs: 2, Rounds: 6, Seconds: 469.7}
	if err := writeJSON(path, want); err != nil {
		t.Fatal(err)
	}
	var got runInfo
	if err := readJSON(path, &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
